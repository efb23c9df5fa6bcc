"""Who posted a page, as social platforms show it: the account name and its IP location.

Platforms print the poster's province beside each post ("IP属地：广东", "发布于 广东",
"IP归属地：上海"); forums print the account after a label ("作者：退保小助手"). These are
pure text patterns over the page text (a source's `fields.account` / `fields.ip_location`
selectors, where configured, take precedence: see `storage.linking`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# Provincial-level divisions as platforms print them (without 省/市/自治区).
PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州",
    "云南", "陕西", "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港",
    "澳门",
)  # fmt: skip
_SUFFIX = r"(?:省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)?"
# After an explicit IP label any place is taken (countries too: "IP属地：美国").
_IP_LABELLED = re.compile(
    r"IP\s*(?:属地|归属地|地址|所在地)\s*[:：]?\s*([\u4e00-\u9fff]{2,4})", re.IGNORECASE
)
_ACCOUNT = re.compile(
    r"(?:作者|发布者|发帖人|楼主|博主|账号|帐号|用户名|昵称)\s*[:：]\s*"
    r"([^\s:：，,。|｜/]{2,24})"
)


@dataclass(frozen=True, slots=True)
class Poster:
    """The account a page names as its poster and the IP location shown ("" when absent)."""

    account: str = ""
    ip_location: str = ""


@lru_cache(maxsize=1)
def _published_from() -> re.Pattern[str]:
    """ "发布于 广东": only a province counts (发布于 is also followed by dates)."""
    names = "|".join(sorted(PROVINCES, key=len, reverse=True))
    return re.compile(rf"发布于\s*({names}){_SUFFIX}(?![\u4e00-\u9fff]{{2}})")


def location_name(raw: str) -> str:
    """A place as platforms show it, without 省/市/自治区: "广东省" → "广东"."""
    place = raw.strip()
    for name in PROVINCES:
        if place.startswith(name):
            return name
    return re.sub(_SUFFIX + "$", "", place) or place


def extract_poster(text: str) -> Poster:
    """The first account label and the first IP location in `text` (either may be "")."""
    if not text:
        return Poster()
    account = ""
    if m := _ACCOUNT.search(text):
        account = m.group(1)
    location = ""
    if ("IP" in text or "ip" in text) and (m := _IP_LABELLED.search(text)):
        location = location_name(m.group(1))
    if not location and "发布于" in text and (m := _published_from().search(text)):
        location = m.group(1)
    return Poster(account, location)
