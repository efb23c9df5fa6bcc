"""A deterministic generated corpus of mixed documents for the benchmarks.

Ads (with obfuscated contacts), forum chatter, news/warnings (sentences of the seed article
style) and noise, 0.2–5 KB each, so figures reflect the mix greywatch meets when crawling.
"""

from __future__ import annotations

import random

AD_LINES = [
    "专业征信修复，不成功不收费，内部渠道当天处理。",
    "停息挂账、个性化分期、协商还款，专业团队帮你上岸。",
    "代理退保，全额退保，已成功上百单，先办事后收费。",
    "代理维权，代写投诉信，投诉模板一套，需要的私聊。",
    "征✨信✨修✨复 逾期消除 黑户也能做，全国办理。",
    "網貸逾期？停息掛賬找我們，專業處理，免費評估。",
    "砍头息退还、会员费退还、担保费退还，诚招代理，高佣金。",
]
CONTACT_FORMS = [
    "加V：{w}",
    "薇信 {w}",
    "微信同号 {p}",
    "电话：{p3}-{p4a}-{p4b}",
    "☎ {p3} {p4a} {p4b}",
    "扣扣 {q}",
    "联系：１３８-{p4a}-{p4b}",
    "V信: {w} 电话 0755-8600{p4b}",
]
NEWS_LINES = [
    "日前，金融消费者权益保护教育宣传月活动正式启动。",
    "警惕“征信修复”骗局，人民银行提示任何机构都无权删除真实的逾期记录。",
    "黑灰产业链以“代理退保退费”为由，怂恿消费者委托其代理退保，从中收取高额手续费。",
    "经有关部门调查，这家所谓代理维权公司涉嫌虚假宣传，市监局要求其停止开展业务。",
    "一些黑灰产组织设计了大量完整的投诉模板，可批量复制，用于各个场景下的客户投诉。",
    "法院审理查明，被告人以帮助他人消除逾期记录为名骗取钱财，构成诈骗罪。",
]
FORUM_LINES = [
    "楼主说得对，我也遇到过这种情况。",
    "信用卡分期手续费到底怎么算？有没有懂的朋友。",
    "今天去银行办业务排了两个小时的队。",
    "顶一下，期待后续。",
    "深圳南山区租房有推荐的小区吗？预算五千左右。",
    "这个楼盘的物业怎么样，住过的说说。",
]
NOISE_CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过"
    "子说产种面而方后多定行学法所民得经"
)


def _contact(rng: random.Random) -> str:
    form = rng.choice(CONTACT_FORMS)
    return form.format(
        w=f"{rng.choice(['xinc', 'shangan', 'tb', 'law'])}{rng.randint(100, 99999)}",
        p=f"1{rng.choice('3456789')}{rng.randint(100000000, 999999999)}",
        p3=f"1{rng.choice('3589')}{rng.randint(0, 9)}",
        p4a=f"{rng.randint(0, 9999):04d}",
        p4b=f"{rng.randint(0, 9999):04d}",
        q=str(rng.randint(10000, 9999999999)),
    )


def _fill(rng: random.Random, lines: list[str], size: int, contact_every: int = 0) -> str:
    parts: list[str] = []
    total = 0
    while total < size:
        line = rng.choice(lines)
        if contact_every and rng.randrange(contact_every) == 0:
            line += _contact(rng)
        parts.append(line)
        total += len(line.encode("utf-8"))
    return "\n".join(parts)


def generate(n: int, seed: int = 20261125) -> list[str]:
    """`n` documents: 30% ads, 30% forum, 25% news, 15% noise; 0.2–5 KB of UTF-8 each."""
    rng = random.Random(seed)
    docs: list[str] = []
    for _ in range(n):
        size = int(rng.triangular(200, 5000, 900))
        r = rng.random()
        if r < 0.30:
            mix = AD_LINES + FORUM_LINES[:2]
            docs.append(_fill(rng, mix, size, contact_every=2))
        elif r < 0.60:
            docs.append(_fill(rng, FORUM_LINES, size, contact_every=15))
        elif r < 0.85:
            docs.append(_fill(rng, NEWS_LINES + FORUM_LINES[:1], size))
        else:
            k = max(1, size // 3)
            docs.append("".join(rng.choice(NOISE_CHARS) for _ in range(k)))
    return docs
