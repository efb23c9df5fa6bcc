"""The learned detector: frozen split, reproducible training, calibrated verdicts with reasons."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.analyze import analyze_text
from pipelines.classifier import BUNDLED_PATH, KINDS, DetectorModel, load_model, ngram_keys
from pipelines.contacts import extract_contacts
from pipelines.errors import ConfigError, InputError
from pipelines.lexicon import Lexicon
from pipelines.normalize import compact, normalize
from pipelines.signals import build_signals, load_signals, page_signals
from pipelines.train import (
    DEFAULT_C,
    FROZEN_FILE,
    _version,
    featurize,
    fit,
    read_corpus,
    read_examples,
)

# SHA-256 of the frozen test split as it was cut before the first model was trained. If this
# test fails, the split was edited: restore it (it must never be tuned on or changed).
FROZEN_SHA256 = "b54b41826fa4539c19df36d9c56a826226f92fe7ceedbacba8df346807ec9018"


def test_frozen_split_is_unchanged() -> None:
    assert hashlib.sha256(FROZEN_FILE.read_bytes()).hexdigest() == FROZEN_SHA256


def test_frozen_split_never_reaches_training() -> None:
    frozen = {ex.id for ex in read_examples(FROZEN_FILE)}
    dev = [ex.id for ex in read_corpus()]
    assert len(frozen) >= 150
    assert len(dev) == len(set(dev)), "duplicate ids in the development corpus"
    assert frozen.isdisjoint(dev)


def test_corpus_covers_every_kind_and_category() -> None:
    examples = read_corpus()
    assert len(examples) >= 600
    assert {ex.kind for ex in examples} == set(KINDS)
    for cat in ("credit_repair", "debt_relief", "refund_agency", "complaint_agency"):
        assert sum(cat in ex.categories for ex in examples) >= 40, cat
    assert len({ex.genre for ex in examples}) >= 20


def test_bundled_model_was_trained_on_this_corpus() -> None:
    """Editing the corpus, the lexicon or the signals means retraining: scripts/train-model."""
    examples = read_corpus()
    features = featurize(examples)
    model = DetectorModel.load(BUNDLED_PATH)
    assert model.version == _version(features, np.arange(len(examples)), DEFAULT_C), (
        "the bundled model is stale: run scripts/train-model"
    )
    assert BUNDLED_PATH.stat().st_size < 20_000_000


def test_training_is_deterministic() -> None:
    examples = read_corpus()[::4]
    features = featurize(examples)
    a = fit(features, examples, calibrate=False)
    b = fit(features, examples, calibrate=False)
    assert a.version == b.version
    for name in ("w_ngram", "w_signal", "bias", "c_ngram", "c_signal", "c_bias"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_saved_model_loads_identically(tmp_path) -> None:
    model = load_model()
    assert model is not None
    path = tmp_path / "m.npz"
    model.save(path)
    again = DetectorModel.load(path)
    assert again.version == model.version
    assert np.array_equal(again.w_ngram, model.w_ngram)


@pytest.mark.parametrize("content", [b"not a model", b""])
def test_a_broken_model_file_is_named(tmp_path, content: bytes) -> None:
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"broken\.npz: not a greywatch detector model"):
        DetectorModel.load(path)


@pytest.mark.parametrize(
    ("text", "n"),
    [("征信修复", 4 + 3), ("ab", 2 + 1), ("", 0), ("征", 1)],
)
def test_ngram_keys_count_every_unigram_and_bigram(text: str, n: int) -> None:
    keys, _ = ngram_keys(text)
    assert len(keys) == n


def test_the_same_ngram_hashes_the_same_anywhere() -> None:
    a, _ = ngram_keys("上岸")
    b, _ = ngram_keys("负债上岸")
    assert set(a.tolist()) <= set(b.tolist())


# Written for these tests (not in the corpus): promotions in wording the lexicon does not list.
UNSEEN_PROMOTIONS = [
    "负债人的出口在这里\n已为 31,208 位客户定制还款方案\n信用卡｜网贷｜消费贷\n"
    "一对一顾问 · 全程跟进\n【立即领取专属方案】",
    "我们团队专注个人债务规划九年，帮您和机构沟通延期、分期，月供降下来，"
    "生活才能继续。首次评估不收任何费用，留言“方案”即可。",
    "案例｜王** 网贷 11 家 共 26 万\n处理结果：协商分 36 期，罚息全免，月还款从 1.9 万降到 7,300\n"
    "用时：24 天",
]
UNSEEN_OTHERS = [
    "今天天气晴，下午去公园跑了五公里，晚上和朋友吃了火锅。",
    "本店新到一批秋季外套，满 300 减 50，欢迎进店选购。营业时间 9:00-21:00。",
]
UNSEEN_WARNINGS = [
    "市公安局提醒：近期有不法分子冒充“债务咨询公司”，声称可代办延期还款，"
    "收取高额服务费后失联。请通过银行官方渠道协商，切勿轻信。",
]


@pytest.mark.parametrize("text", UNSEEN_PROMOTIONS)
def test_promotions_without_lexicon_words_are_found(text: str) -> None:
    a = analyze_text(text)
    assert a.kind == "promotion", a.detection.reason
    assert a.detection.categories


@pytest.mark.parametrize(
    ("text", "kind"),
    [*((t, "other") for t in UNSEEN_OTHERS), *((t, "warning") for t in UNSEEN_WARNINGS)],
)
def test_others_and_warnings(text: str, kind: str) -> None:
    assert analyze_text(text).kind == kind


@pytest.mark.parametrize("text", UNSEEN_PROMOTIONS + UNSEEN_OTHERS + UNSEEN_WARNINGS)
def test_score_is_a_probability_that_agrees_with_the_kind(text: str) -> None:
    d = analyze_text(text).detection
    assert 0.0 <= d.score <= 1.0
    assert (d.score >= 0.5) == (d.kind == "promotion")
    assert d.kind != "other" or not d.categories


def test_reason_names_the_deciding_signals_in_chinese() -> None:
    reason = analyze_text(UNSEEN_PROMOTIONS[0]).detection.reason
    assert reason.startswith("推广（推广概率 ")
    assert "页面信号" in reason or "文本特征" in reason


def test_rules_only_analysis_stays_available() -> None:
    a = analyze_text("专业征信修复，不成功不收费，加V：xinc888", model=False)
    assert a.kind == "promotion"
    assert a.detection.reason.startswith("推广：")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ('{"kind": "ad", "text": "x"}', "'kind' must be one of"),
        ('{"kind": "other", "categories": ["loans"], "text": "x"}', "'categories' must list"),
        ('{"kind": "other"}', "needs 'text' or 'html'"),
    ],
)
def test_bad_labelled_lines_name_file_and_line(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"kind": "other", "text": "ok"}) + "\n" + line + "\n")
    with pytest.raises(InputError, match=rf"gold.jsonl:2: .*{message}"):
        read_examples(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"words": {"voice": {"words": ["我们"]}}}, "words.voice.label: expected a non-empty"),
        (
            {"words": {"voice": {"label": "口吻", "words": "我们"}}},
            "words.voice.words: expected a list",
        ),
        (
            {"words": {"voice": {"label": "口吻", "words": ["✨"]}}},
            r"words.voice.words\[0\]: empty",
        ),
        ({"patterns": {"p": {"label": "L", "regex": "("}}}, "patterns.p.regex: bad regular"),
        ({"patterns": ["x"]}, "patterns: expected a mapping"),
    ],
)
def test_bad_signal_files_name_file_and_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"signals\.yaml: {message}"):
        build_signals(data, Path("signals.yaml"))


@pytest.mark.parametrize(
    ("text", "signal", "value"),
    [
        ("停息挂账找我 13800138000", "contact_mobile", 1.0),
        ("停息挂账找我 13800138000", "contact_landline", 0.0),
        ("官方客服热线 021-62881234", "contact_landline", 1.0),
        ("信用卡\n网贷\n房贷\n车贷\n立即咨询", "short_lines", 1.0),
        ("我们团队为您定制方案", "w_provider_voice", 2 / 3),  # 我们团队 (longest), 为您
        ("张**，138****2201，已上岸", "p_masked", 0.5),
        ("以下哪项正确？A. 交钱 B. 报警", "p_option", 0.5),
    ],
)
def test_page_signals(text: str, signal: str, value: float) -> None:
    sig = load_signals()
    norm = normalize(text)
    view = compact(norm)
    hits = Lexicon.load().find(view)
    values = page_signals(sig, norm.text, view.text, hits, extract_contacts(text), 0)
    assert values[sig.names.index(signal)] == pytest.approx(value)


@pytest.mark.parametrize("text", UNSEEN_PROMOTIONS + UNSEEN_WARNINGS)
def test_reason_quotes_words_not_punctuation(text: str) -> None:
    reason = analyze_text(text).detection.reason
    if "文本特征" in reason:
        grams = reason.split("文本特征 ", 1)[1].strip("“”").split("”“")
        assert grams and all(g.isalnum() for g in grams), reason
