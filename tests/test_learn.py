"""`greywatch learn` and `greywatch eval` on a synthetic review history in a real SQLite file.

The team's analysts confirm a run of promotions written in a slang the bundled model has never
seen ("鲸落") and dismiss a lender's own notices: learning must switch to a model that finds the
slang, keep the old versions for `--rollback`, and refuse when there is too little to learn.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from pipelines import model_store
from pipelines.analyze import analyze_text, lexicon_version
from pipelines.classifier import forget_model
from pipelines.errors import ConfigError, InputError
from storage import repo
from storage.models import Finding
from storage.review import review_leads

runner = CliRunner()
BANKS = ["东岳银行", "华信银行", "北岸银行", "江澄农商行", "南屿银行", "恒川银行"]
CITIES = ["杭州", "成都", "武汉", "西安", "长沙", "合肥"]


def slang_promotion(rng: random.Random, i: int) -> str:
    """A promoter's post in an invented slang: no lexicon word, no contact."""
    b, c = rng.choice(BANKS), rng.choice(CITIES)
    k, amount = rng.choice([24, 36, 48, 60]), rng.randint(3, 40)
    return rng.choice(
        [
            f"第{i + 3}天打卡。{c}的鲸落小组今天又帮一位姐妹把{b}的{amount}万谈成了{k}期，"
            f"鲸落流程走完心里踏实多了，想进鲸落小组的留言“鲸落”。",
            f"鲸落日记{i}：{b}那边{amount}万，鲸落老师带着走了一遍流程，{k}期落地。"
            f"还在熬的朋友评论区扣“鲸落”。",
            f"{c}鲸落互助：上周{amount}万的{b}卡，鲸落团队接手后{k}期落地，罚息那块也谈下来了。"
            f"需要的扣“鲸落”排队。",
        ]
    )


def lender_notice(rng: random.Random) -> str:
    b, k = rng.choice(BANKS), rng.choice([3, 6, 12, 24])
    return rng.choice(
        [
            f"{b}信用卡中心：尊敬的持卡人，我们为您提供账单分期服务，{k}期手续费限时优惠，"
            f"详询官方客服或登录{b}App办理。",
            f"{b}温馨提示：还款遇到困难，我们可以帮您申请{k}期延期，请通过官方渠道提交材料，"
            f"我们全程免费。",
        ]
    )


def populate(engine: Engine, confirmed: int, dismissed: int, seed: int = 7) -> None:
    """Store pages with their analyses, then review them as an analyst would."""
    rng = random.Random(seed)
    texts = [("confirmed", slang_promotion(rng, i)) for i in range(confirmed)]
    texts += [("dismissed", lender_notice(rng)) for _ in range(dismissed)]
    with Session(engine) as s:
        pages = []
        for i, (_, text) in enumerate(texts):
            url = f"https://bbs.example.cn/thread-{i}"
            record = repo.PageRecord(
                url=url,
                body=f"<p>{text}</p>".encode(),
                fetched_at=datetime(2026, 11, 20, tzinfo=UTC),
                text=text,
            )
            pages.append((record, analyze_text(text, doc_id=url)))
        repo.save_pages(s, pages, lexicon_version())
        ids = s.scalars(select(Finding.id).order_by(Finding.document_id)).all()
        for status in ("confirmed", "dismissed"):
            chosen = [fid for fid, (st, _) in zip(ids, texts, strict=True) if st == status]
            if chosen:
                review_leads(s, chosen, status)
        # A confirmed lead keeps the categories the analyst filed it under.
        for fid, (st, _) in zip(ids, texts, strict=True):
            if st == "confirmed":
                s.get(Finding, fid).categories = ["debt_relief"]  # type: ignore[union-attr]
        s.commit()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path / "home"))
    forget_model()
    yield tmp_path / "home"
    forget_model()


def test_learn_switches_to_a_better_model_and_rolls_back(sqlite_engine: Engine, home: Path) -> None:
    populate(sqlite_engine, confirmed=24, dismissed=16)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    fresh = slang_promotion(random.Random(99), 50)
    assert analyze_text(fresh).kind != "promotion"  # the bundled model misses the slang
    bundled_version = lexicon_version()

    result = runner.invoke(app, ["learn", "--db", url])
    assert result.exit_code == 0, result.output
    assert "before (m-" in result.output and "after (candidate" in result.output
    assert "switched to m-" in result.output
    version = model_store.active_version()
    assert version is not None
    assert (home / "models" / version / "detector.npz").is_file()
    info = json.loads((home / "models" / version / "info.json").read_text())
    assert info["figures"]["reviewed_pages"] == 40

    forget_model()
    assert analyze_text(fresh).kind == "promotion"  # learned from the team's reviews
    assert lexicon_version() != bundled_version  # so `reanalyze` re-judges stored pages

    listing = runner.invoke(app, ["learn", "--list"])
    assert version in listing.output and "yes" in listing.output

    back = runner.invoke(app, ["learn", "--rollback"])
    assert back.exit_code == 0 and "bundled model" in back.output
    assert model_store.active_version() is None
    again = runner.invoke(app, ["learn", "--rollback"])
    assert isinstance(again.exception, ConfigError)
    assert "nothing to roll back" in str(again.exception)


def test_learn_keeps_the_model_when_reviews_teach_nothing(
    sqlite_engine: Engine, home: Path
) -> None:
    populate(sqlite_engine, confirmed=0, dismissed=12)  # the model already calls these "other"
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["learn", "--db", url])
    assert result.exit_code == 0, result.output
    assert "kept the model in use" in result.output
    assert model_store.active_version() is None
    assert not (home / "models").exists() or not any((home / "models").iterdir())


def test_learn_refuses_with_too_few_reviews(sqlite_engine: Engine, home: Path) -> None:
    populate(sqlite_engine, confirmed=3, dismissed=2)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["learn", "--db", url])
    assert isinstance(result.exception, InputError)
    assert "only 5 reviewed leads" in str(result.exception)


def test_eval_prints_the_confusion_matrix_and_misses(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    lines = [
        {
            "id": "p1",
            "kind": "promotion",
            "categories": ["credit_repair"],
            "text": "专业征信修复，不成功不收费，加V：xinc888",
        },
        {
            "id": "w1",
            "kind": "warning",
            "categories": ["credit_repair"],
            "text": "警方提醒：所谓“征信修复”均为骗局，不良记录不能花钱消除。",
        },
        {
            "id": "o1",
            "kind": "other",
            "categories": [],
            "text": "今天天气晴，下午去公园跑了五公里。",
        },
        {
            "id": "x1",
            "kind": "promotion",
            "categories": ["debt_relief"],
            "text": "今天天气晴，下午去公园跑了五公里。",
        },  # mislabelled on purpose: one miss
    ]
    gold.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    result = runner.invoke(app, ["eval", str(gold)])
    assert result.exit_code == 0, result.output
    assert "4 pages" in result.output and "kind accuracy 0.750" in result.output
    assert "confusion" in result.output and "misses (1)" in result.output and "x1" in result.output
    as_json = runner.invoke(app, ["eval", str(gold), "--json"])
    report = json.loads(as_json.output)
    assert report["confusion"]["promotion"]["other"] == 1
    assert report["kinds"]["warning"]["recall"] == 1.0
    rules = runner.invoke(app, ["eval", str(gold), "--rules"])
    assert "rules only" in rules.output


def test_eval_names_a_bad_line(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"kind": "other", "text": "x"}\n{"kind": "spam", "text": "y"}\n')
    result = runner.invoke(app, ["eval", str(gold)])
    assert isinstance(result.exception, InputError)
    assert "gold.jsonl:2" in str(result.exception)
