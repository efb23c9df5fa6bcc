"""extract_contacts: every alias and obfuscation from the glossary, and the look-alikes that are
not contacts (masked numbers, ID/bank/order numbers, amounts, dates, prose numerals).

Each case lists every contact expected as (kind, value, raw): the extraction must find exactly
those, and each span must quote the original text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.contacts_eval import load, score
from pipelines.contact_labels import labels_before
from pipelines.contacts import _rules, extract_contacts
from pipelines.normalize import normalize

SEED = (
    Path(__file__).resolve().parent
    / "pages"
    / (
        "www.example-rebao.tw__caijing__20231014-5127.txt"  # a seed warning article
    )
)

M1 = "+8613800138000"
M2 = "+8613912345678"

PHONES = [
    ("联系电话：13800138000", [("phone", M1, "13800138000")]),
    ("手机13912345678，随时来电", [("phone", M2, "13912345678")]),
    ("征信修复热线15012345678", [("phone", "+8615012345678", "15012345678")]),
    ("上岸咨询：18612345678 王经理", [("phone", "+8618612345678", "18612345678")]),
    ("停息挂账找李律师 19912345678", [("phone", "+8619912345678", "19912345678")]),
    ("座机：010-62881234", [("phone", "+861062881234", "010-62881234")]),
    ("深圳办公室 0755-8888 8888", [("phone", "+8675588888888", "0755-8888 8888")]),
    ("上海(021)62881234", [("phone", "+862162881234", "(021)62881234")]),
    ("上海（021）6288 1234", [("phone", "+862162881234", "（021）6288 1234")]),
    ("杭州0571-88888888欢迎来电", [("phone", "+8657188888888", "0571-88888888")]),
    ("广州 020 8765 4321", [("phone", "+862087654321", "020 8765 4321")]),
    ("全国热线 400-820-8820", [("phone", "+864008208820", "400-820-8820")]),
    ("免费热线：800-820-8820", [("phone", "+868008208820", "800-820-8820")]),
    ("客服4006009999", [("phone", "+864006009999", "4006009999")]),
    ("+86 138 0013 8000", [("phone", M1, "+86 138 0013 8000")]),
    ("Tel: +86-10-6288-1234", [("phone", "+861062881234", "+86-10-6288-1234")]),
    ("0086 13800138000", [("phone", M1, "0086 13800138000")]),
    ("86-13912345678", [("phone", M2, "86-13912345678")]),
    (
        "电话：010-62881234，手机：13912345678",
        [("phone", "+861062881234", "010-62881234"), ("phone", M2, "13912345678")],
    ),
    (
        "13800138000 / 13912345678 均可",
        [("phone", M1, "13800138000"), ("phone", M2, "13912345678")],
    ),
    ("订单问题请联系13800138000", [("phone", M1, "13800138000")]),
    (
        "13800138000 13912345678",
        [("phone", M1, "13800138000"), ("phone", M2, "13912345678")],
    ),
    (
        "发布于2023-10-27 13800138000",
        [("phone", M1, "13800138000")],
    ),
    (
        "热线一13800138000 热线二13912345678",
        [("phone", M1, "13800138000"), ("phone", M2, "13912345678")],
    ),
]

EXTENSIONS = [
    ("总机021-62881234转8001", [("phone", "+862162881234", "021-62881234转8001")]),
    ("010-62881234-123", [("phone", "+861062881234", "010-62881234-123")]),
    ("0755-88888888 ext 66", [("phone", "+8675588888888", "0755-88888888 ext 66")]),
    ("☎ 400-820-8820 转 2", [("phone", "+864008208820", "400-820-8820 转 2")]),
]

OBFUSCATED = [
    ("电话：１３８００１３８０００", [("phone", M1, "１３８００１３８０００")]),
    ("１３８－００１３－８０００", [("phone", M1, "１３８－００１３－８０００")]),
    ("①③⑧⓪⓪①③⑧⓪⓪⓪", [("phone", M1, "①③⑧⓪⓪①③⑧⓪⓪⓪")]),
    ("⑬⑧0013⑧000", [("phone", M1, "⑬⑧0013⑧000")]),
    ("❶❸❽⓿⓿❶❸❽⓿⓿⓿", [("phone", M1, "❶❸❽⓿⓿❶❸❽⓿⓿⓿")]),
    ("1️⃣3️⃣8️⃣0️⃣0️⃣1️⃣3️⃣8️⃣0️⃣0️⃣0️⃣", [("phone", M1, "1️⃣3️⃣8️⃣0️⃣0️⃣1️⃣3️⃣8️⃣0️⃣0️⃣0️⃣")]),
    ("手机：一三八零零一三八零零零", [("phone", M1, "一三八零零一三八零零零")]),
    ("壹叁捌零零壹叁捌零零零", [("phone", M1, "壹叁捌零零壹叁捌零零零")]),
    ("幺三八洞洞幺三八洞洞洞", [("phone", M1, "幺三八洞洞幺三八洞洞洞")]),
    ("么三九一二三四五六七八", [("phone", M2, "么三九一二三四五六七八")]),
    ("幺三九幺两三四五六七八", [("phone", M2, "幺三九幺两三四五六七八")]),
    ("一三八〇〇一三八〇〇〇", [("phone", M1, "一三八〇〇一三八〇〇〇")]),
    ("手机：一三8-0013-捌零零零", [("phone", M1, "一三8-0013-捌零零零")]),
    ("138-0013-8000", [("phone", M1, "138-0013-8000")]),
    ("138 0013 8000", [("phone", M1, "138 0013 8000")]),
    ("138✨0013✨8000", [("phone", M1, "138✨0013✨8000")]),
    ("138★0013★8000", [("phone", M1, "138★0013★8000")]),
    ("139❤️1234❤️5678", [("phone", M2, "139❤️1234❤️5678")]),
    ("138.0013.8000", [("phone", M1, "138.0013.8000")]),
    ("138/0013/8000", [("phone", M1, "138/0013/8000")]),
    ("138\n0013\n8000", [("phone", M1, "138\n0013\n8000")]),
    ("138&nbsp;0013&nbsp;8000", [("phone", M1, "138&nbsp;0013&nbsp;8000")]),
    ("138\u00a00013\u00a08000", [("phone", M1, "138\u00a00013\u00a08000")]),
    ("138\u200b0013\u200c8000", [("phone", M1, "138\u200b0013\u200c8000")]),
    ("1 3 8 0 0 1 3 8 0 0 0", [("phone", M1, "1 3 8 0 0 1 3 8 0 0 0")]),
    ("138—0013—8000", [("phone", M1, "138—0013—8000")]),
    ("📞138 0013 8000📞", [("phone", M1, "138 0013 8000")]),
    ("１３８ ⓪⓪①③ ８０００", [("phone", M1, "１３８ ⓪⓪①③ ８０００")]),
    ("+８６ １３８ ００１３ ８０００", [("phone", M1, "+８６ １３８ ００１３ ８０００")]),
    ("聯繫電話：壹參捌零零壹參捌零零零", [("phone", M1, "壹參捌零零壹參捌零零零")]),
    ("電話：0755-8888 8888", [("phone", "+8675588888888", "0755-8888 8888")]),
]

WECHAT_IDS = [
    ("微信：abc_123456", [("wechat", "abc_123456", "abc_123456")]),
    ("薇信：zhang-san88", [("wechat", "zhang-san88", "zhang-san88")]),
    ("威信 Li_si2023 备注征信", [("wechat", "li_si2023", "Li_si2023")]),
    ("徽信：wang_wu666", [("wechat", "wang_wu666", "wang_wu666")]),
    ("V信：credit_fix01", [("wechat", "credit_fix01", "credit_fix01")]),
    ("v信：creditfix02", [("wechat", "creditfix02", "creditfix02")]),
    ("vx：zhengxin888", [("wechat", "zhengxin888", "zhengxin888")]),
    ("VX:ZhengXin888", [("wechat", "zhengxin888", "ZhengXin888")]),
    ("wx：hk_tuibao1", [("wechat", "hk_tuibao1", "hk_tuibao1")]),
    ("WX：HK_tuibao1", [("wechat", "hk_tuibao1", "HK_tuibao1")]),
    ("卫星：tuibao_2023", [("wechat", "tuibao_2023", "tuibao_2023")]),
    ("🛰️：tuibao_2023", [("wechat", "tuibao_2023", "tuibao_2023")]),
    ("➕V：jianmian666", [("wechat", "jianmian666", "jianmian666")]),
    ("加V：jianmian666", [("wechat", "jianmian666", "jianmian666")]),
    ("+v：jianmian666", [("wechat", "jianmian666", "jianmian666")]),
    ("微❤️：fenqi_2023", [("wechat", "fenqi_2023", "fenqi_2023")]),
    ("薇：fenqi_2023", [("wechat", "fenqi_2023", "fenqi_2023")]),
    ("V：fenqi_2023", [("wechat", "fenqi_2023", "fenqi_2023")]),
    ("加我：fenqi_2023", [("wechat", "fenqi_2023", "fenqi_2023")]),
    ("加微信 abc_123456 了解详情", [("wechat", "abc_123456", "abc_123456")]),
    ("加我微信：abc_123456", [("wechat", "abc_123456", "abc_123456")]),
    ("微信号：wxid_abcd1234efgh", [("wechat", "wxid_abcd1234efgh", "wxid_abcd1234efgh")]),
    ("私聊 wxid_k2j3h4g5f6", [("wechat", "wxid_k2j3h4g5f6", "wxid_k2j3h4g5f6")]),
    ("微信號：tuibao_hk88", [("wechat", "tuibao_hk88", "tuibao_hk88")]),
    ("ＶＸ：ｔｕｉｂａｏ８８", [("wechat", "tuibao88", "ｔｕｉｂａｏ８８")]),
    ("微信（zx_fix2023）", [("wechat", "zx_fix2023", "zx_fix2023")]),
]

WECHAT_PHONES = [
    ("微信：13800138000", [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")]),
    (
        "vx 139-1234-5678",
        [("phone", M2, "139-1234-5678"), ("wechat", "13912345678", "139-1234-5678")],
    ),
    (
        "加V：一三八零零一三八零零零",
        [
            ("phone", M1, "一三八零零一三八零零零"),
            ("wechat", "13800138000", "一三八零零一三八零零零"),
        ],
    ),
    (
        "微❤️ 138✨0013✨8000",
        [("phone", M1, "138✨0013✨8000"), ("wechat", "13800138000", "138✨0013✨8000")],
    ),
    (
        "薇信：+86 139 1234 5678",
        [("phone", M2, "+86 139 1234 5678"), ("wechat", "13912345678", "+86 139 1234 5678")],
    ),
    (
        "微信同号：13800138000",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "13800138000（微信同号）",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "手机/微信同步：13912345678",
        [("phone", M2, "13912345678"), ("wechat", "13912345678", "13912345678")],
    ),
    (
        "电话13912345678同微信",
        [("phone", M2, "13912345678"), ("wechat", "13912345678", "13912345678")],
    ),
    (
        "联系人：张先生 13800138000 微信：同号",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "電話：13912345678（微信同號）",
        [("phone", M2, "13912345678"), ("wechat", "13912345678", "13912345678")],
    ),
    (
        "座机021-62881234 手机13912345678 微信同号",
        [
            ("phone", "+862162881234", "021-62881234"),
            ("phone", M2, "13912345678"),
            ("wechat", "13912345678", "13912345678"),
        ],
    ),
]

# A bracketed remark after a number (hours, 微信同号) is not part of its digit run.
REMARKS = [
    ("电话139-1234-5678（24小时）", [("phone", M2, "139-1234-5678")]),
    ("电话139-1234-5678(24小时)", [("phone", M2, "139-1234-5678")]),
    ("138 0013 8000 (9:00-21:00)", [("phone", M1, "138 0013 8000")]),
    ("一三九 1234 5678 （24小时在线）", [("phone", M2, "一三九 1234 5678")]),
    ("座机：010-62881234（9:00-18:00）", [("phone", "+861062881234", "010-62881234")]),
    ("手机13800138000(1)", [("phone", M1, "13800138000")]),
    (
        "13800138000(微信同号)",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "13800138000（24小时）微信同号",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "微信：13912345678（24小时）",
        [("phone", M2, "13912345678"), ("wechat", "13912345678", "13912345678")],
    ),
    ("QQ 12345678（24小时）", [("qq", "12345678", "12345678")]),
    ("QQ：12345678（9:00-21:00）", [("qq", "12345678", "12345678")]),
]

# Filler words between an alias and the id (alias_fillers in the data file).
FILLERS = [
    ("微信详聊：xinc888", [("wechat", "xinc888", "xinc888")]),
    ("微信号码：xinc888", [("wechat", "xinc888", "xinc888")]),
    ("微信搜索 xinc888", [("wechat", "xinc888", "xinc888")]),
    ("加微信详谈 xinc888", [("wechat", "xinc888", "xinc888")]),
    ("V信号 xinc888", [("wechat", "xinc888", "xinc888")]),
    ("微信号是 abc_123456", [("wechat", "abc_123456", "abc_123456")]),
    ("微信联系方式：abc_123456", [("wechat", "abc_123456", "abc_123456")]),
    ("vx搜 tuibao_88", [("wechat", "tuibao_88", "tuibao_88")]),
    ("微信添加：tuibao_88", [("wechat", "tuibao_88", "tuibao_88")]),
    ("威信咨询【tuibao_88】", [("wechat", "tuibao_88", "tuibao_88")]),
    ("微信：idea_2023", [("wechat", "idea_2023", "idea_2023")]),
    (
        "vx同号13800138000",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "微信咨询 13800138000",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "微信号码 139 1234 5678",
        [("phone", M2, "139 1234 5678"), ("wechat", "13912345678", "139 1234 5678")],
    ),
    ("微信支付 13800138000", [("phone", M1, "13800138000")]),
    ("QQ号码：12345678", [("qq", "12345678", "12345678")]),
    ("扣扣号码 87654321", [("qq", "87654321", "87654321")]),
    ("QQ联系 87654321", [("qq", "87654321", "87654321")]),
]

QQ = [
    ("QQ：12345678", [("qq", "12345678", "12345678")]),
    ("qq:123456789", [("qq", "123456789", "123456789")]),
    ("QQ号：1234567890", [("qq", "1234567890", "1234567890")]),
    ("QQ群：123456789 进群领取投诉模板", [("qq", "123456789", "123456789")]),
    ("扣扣：87654321", [("qq", "87654321", "87654321")]),
    ("企鹅：87654321", [("qq", "87654321", "87654321")]),
    ("Q：87654321", [("qq", "87654321", "87654321")]),
    ("有问题找 q 87654321", [("qq", "87654321", "87654321")]),
    ("扣扣：八七六五四三二一", [("qq", "87654321", "八七六五四三二一")]),
    ("QQ 一二三四五", [("qq", "12345", "一二三四五")]),
    ("ＱＱ：８７６５４３２１", [("qq", "87654321", "８７６５４３２１")]),
    ("企鵝號：87654321", [("qq", "87654321", "87654321")]),
    ("加QQ 5201314", [("qq", "5201314", "5201314")]),
    ("QQ：12345", [("qq", "12345", "12345")]),
    ("QQ：87654321一起来玩", [("qq", "87654321", "87654321")]),
    ("QQ 8765 4321", [("qq", "87654321", "8765 4321")]),
    ("扣扣群 123456789 入群领模板", [("qq", "123456789", "123456789")]),
    (
        "QQ：12345678 电话 13912345678",
        [("qq", "12345678", "12345678"), ("phone", M2, "13912345678")],
    ),
]

EMAILS_AND_URLS = [
    (
        "邮箱：12345678@qq.com",
        [("email", "12345678@qq.com", "12345678@qq.com"), ("qq", "12345678", "12345678@qq.com")],
    ),
    ("邮箱：Service@Example.com", [("email", "service@example.com", "Service@Example.com")]),
    ("ＡＢＣ＠１６３．ｃｏｍ", [("email", "abc@163.com", "ＡＢＣ＠１６３．ｃｏｍ")]),
    ("投诉模板索取：tousu.help@126.com", [("email", "tousu.help@126.com", "tousu.help@126.com")]),
    (
        "详见http://www.Example.com/zx?id=1",
        [("url", "www.example.com", "http://www.Example.com/zx?id=1")],
    ),
    (
        "https://zhengxin-fix.cn/contact 在线咨询",
        [("url", "zhengxin-fix.cn", "https://zhengxin-fix.cn/contact")],
    ),
    ("官网www.tuibao.net欢迎访问", [("url", "www.tuibao.net", "www.tuibao.net")]),
    ("官网：example.com.cn/about", [("url", "example.com.cn", "example.com.cn/about")]),
    ("访问xyk.top了解", [("url", "xyk.top", "xyk.top")]),
    ("HTTPS://WWW.EXAMPLE.CN", [("url", "www.example.cn", "HTTPS://WWW.EXAMPLE.CN")]),
]

# Emails whose at sign or dots are spelled out, spaced or swapped to get past filters.
SPELLED_EMAILS = [
    (
        "投诉材料发邮箱：xinc888 at 163 dot com",
        [("email", "xinc888@163.com", "xinc888 at 163 dot com")],
    ),
    (
        "退保资料请发 xinc888(at)163.com 备注姓名",
        [("email", "xinc888@163.com", "xinc888(at)163.com")],
    ),
    ("征信修复咨询：xinc888[at]qq.com", [("email", "xinc888@qq.com", "xinc888[at]qq.com")]),
    ("Email: xinc888 AT qq DOT com", [("email", "xinc888@qq.com", "xinc888 AT qq DOT com")]),
    ("代理维权，邮箱xinc888艾特163点com", [("email", "xinc888@163.com", "xinc888艾特163点com")]),
    ("邮箱 xinc888#163.com（#换成@）", [("email", "xinc888@163.com", "xinc888#163.com")]),
    ("联系邮箱：xinc888＠ｑｑ．ｃｏｍ", [("email", "xinc888@qq.com", "xinc888＠ｑｑ．ｃｏｍ")]),
    (
        "邮箱 xinc888 @ 163 . com 24小时回复",
        [("email", "xinc888@163.com", "xinc888 @ 163 . com")],
    ),
    ("發郵件到 xinc888 @163.com", [("email", "xinc888@163.com", "xinc888 @163.com")]),
    ("xinc888（at）sina.com", [("email", "xinc888@sina.com", "xinc888（at）sina.com")]),
    (
        "反催收资料索取 xinc888【at】126.com",
        [("email", "xinc888@126.com", "xinc888【at】126.com")],
    ),
    (
        "网贷协商邮箱：zhang_san at example dot com",
        [("email", "zhang_san@example.com", "zhang_san at example dot com")],
    ),
    (
        "邮箱：tousu.help (at) example.cn",
        [("email", "tousu.help@example.cn", "tousu.help (at) example.cn")],
    ),
    (
        "邮件发到 xinc888@163 dot com dot cn",
        [("email", "xinc888@163.com.cn", "xinc888@163 dot com dot cn")],
    ),
    ("xinc888 at qq.com点击下载模板", [("email", "xinc888@qq.com", "xinc888 at qq.com")]),
    (
        "網貸協商郵箱：xinc888 AT Hotmail DOT com",
        [("email", "xinc888@hotmail.com", "xinc888 AT Hotmail DOT com")],
    ),
    (
        "邮箱 12345678 at qq dot com",
        [
            ("email", "12345678@qq.com", "12345678 at qq dot com"),
            ("qq", "12345678", "12345678 at qq dot com"),
        ],
    ),
    # The id after 微信 is the local part of the email it starts, not a WeChat id of its own.
    ("微信：xinc888 at qq.com", [("email", "xinc888@qq.com", "xinc888 at qq.com")]),
    (
        "停息挂账咨询 xinc888艾特gmail点com 或致电13912345678",
        [("email", "xinc888@gmail.com", "xinc888艾特gmail点com"), ("phone", M2, "13912345678")],
    ),
]

# "QQ邮箱 + number" is number@qq.com by QQ Mail's own convention (and the number is a QQ id).
QQ_MAILBOXES = [
    (
        "QQ邮箱 12345678",
        [("email", "12345678@qq.com", "12345678"), ("qq", "12345678", "12345678")],
    ),
    (
        "材料发我QQ邮箱：87654321，两小时内回复",
        [("email", "87654321@qq.com", "87654321"), ("qq", "87654321", "87654321")],
    ),
    (
        "ＱＱ郵箱：八七六五四三二一",
        [
            ("email", "87654321@qq.com", "八七六五四三二一"),
            ("qq", "87654321", "八七六五四三二一"),
        ],
    ),
    (
        "QQ邮箱：12345678@qq.com",
        [("email", "12345678@qq.com", "12345678@qq.com"), ("qq", "12345678", "12345678@qq.com")],
    ),
    (
        "扣扣邮箱 5201314 收模板",
        [("email", "5201314@qq.com", "5201314"), ("qq", "5201314", "5201314")],
    ),
]

# Look-alikes of a spelled-out email: the site in them is still a site, nothing else is found.
EMAIL_LOOKALIKES = [
    ("please sign in at gmail.com", [("url", "gmail.com", "gmail.com")]),
    ("visit us at example.com", [("url", "example.com", "example.com")]),
    ("资料见 xinc888#example.com", [("url", "example.com", "example.com")]),
    (
        "https://www.example.com/help#qq.com",
        [("url", "www.example.com", "https://www.example.com/help#qq.com")],
    ),
]

ADS = [
    (
        "专业征信修复，逾期记录消除！联系电话：138-0013-8000（微信同号），QQ：12345678，"
        "官网www.zhengxin-fix.cn",
        [
            ("phone", M1, "138-0013-8000"),
            ("wechat", "13800138000", "138-0013-8000"),
            ("qq", "12345678", "12345678"),
            ("url", "www.zhengxin-fix.cn", "www.zhengxin-fix.cn"),
        ],
    ),
    (
        "代理退保，全額退款！聯繫人：陳經理 電話：0755-8888 8888 微信：tuibao_hk88",
        [
            ("phone", "+8675588888888", "0755-8888 8888"),
            ("wechat", "tuibao_hk88", "tuibao_hk88"),
        ],
    ),
    (
        "债务优化，停息挂账，加vx：jianmian666 或致电 13912345678",
        [("wechat", "jianmian666", "jianmian666"), ("phone", M2, "13912345678")],
    ),
    (
        "信用卡逾期？个性化分期找我们！➕V：壹叁玖壹贰叁肆伍陆柒捌",
        [
            ("phone", M2, "壹叁玖壹贰叁肆伍陆柒捌"),
            ("wechat", "13912345678", "壹叁玖壹贰叁肆伍陆柒捌"),
        ],
    ),
    (
        "代投诉、代维权，成功再收费。扣扣：87654321，邮箱 weiquan@163.com",
        [("qq", "87654321", "87654321"), ("email", "weiquan@163.com", "weiquan@163.com")],
    ),
    (
        "網貸逾期協商還款，專業團隊。薇信：fa_wu_2023 手機：①③⑨①②③④⑤⑥⑦⑧",
        [("wechat", "fa_wu_2023", "fa_wu_2023"), ("phone", M2, "①③⑨①②③④⑤⑥⑦⑧")],
    ),
]

NEGATIVES = [
    "138****8000",
    "联系电话：138****8000",
    "139 **** 5678",
    "138xxxx8000",
    "1380013****",
    "138001380001",
    "手机尾号8000的用户",
    "身份证号：11010519491231002X",
    "身份证：110105194912310021",
    "身份證號碼：110105194912310021",
    "卡号：6222021234567890123",
    "6222 0212 3456 7890 123",
    "还款账户 6217 0013 8001 3800",
    "订单号：2023102713800138000",
    "订单号：13800138000",
    "快递单号：SF1380013800012",
    "流水号1380013800012345",
    "20231027145348",
    "2023-09-27 14:53:48",
    "13800元",
    "¥13800138000.00",
    "￥13800138000",
    "借款金额：13800138000元",
    "2023-09-27",
    "2023.10.27",
    "2023/10/27",
    "版本号13.800.138.000",
    "v1.3.8 更新说明",
    "每周一三五营业",
    "三八妇女节快乐",
    "一二三四五六七八九十",
    "二〇二三年十月二十七日",
    "一九九八年成立",
    "QQ：01234567",
    "QQ 1234",
    "QQ：123456789012",
    "2023Q3 营收 12345678 元",
    "微信：ab12",
    "微信公众号：zhengxin",
    "加微信了解详情",
    "附件 a.jpg",
    "请打开 index.html",
    "圆周率3.14159",
    "12345678901",
    "010-1234",
    "62881234",
    "投诉请拨打12315",
    "客服95555",
    "abc@",
    "订单号 13800138000123",
    "微信支付 100元",
    "微信群聊 很热闹",
    "微信私聊了解详情",
    "微信搜索公众号：zhengxin",
    "(24小时)",
    "（24小时在线）",
    "（7×24小时）",
    "订单号(2023)13800138000",
    "身份证 110105(1949)1231002X",
    # spelled-out at signs without a credible mail domain
    "meet at 10 at the office",
    "look at this",
    "Look at that, attach the data",
    "3 at 5元",
    "see you at 8.30",
    "@某人 帮忙看看",
    "圈子里@小王 说的",
    "thanks @john.me",
    "#话题#",
    "#征信修复# 话题讨论",
    "价格#100",
    "邮箱：xinc888 at qq",
    "xinc888 at qq dot comx",
    "邮箱 12345678",
    "QQ邮箱 xinc888",
    "QQ邮箱 1234",
]

# Labels no alias list foresaw, recognised by their sound (tone-less pinyin, near-homophones)
# right before an id (pipelines.contact_labels).
SOUND_LABELS = [
    ("征信修复找我，威芯：xinc888", [("wechat", "xinc888", "xinc888")]),
    ("蔚信 kaka_fix66 备注来意", [("wechat", "kaka_fix66", "kaka_fix66")]),
    ("网贷协商请加喂信：xieshang520", [("wechat", "xieshang520", "xieshang520")]),
    ("徽芯：huifu_zx88 不成功不收费", [("wechat", "huifu_zx88", "huifu_zx88")]),
    ("薇❤：tingxi_2024", [("wechat", "tingxi_2024", "tingxi_2024")]),
    ("抠抠：2387194650", [("qq", "2387194650", "2387194650")]),
    ("秋秋：28374659 投诉模板免费送", [("qq", "28374659", "28374659")]),
    ("球球：3728194056", [("qq", "3728194056", "3728194056")]),
    ("寇寇 4819273650", [("qq", "4819273650", "4819273650")]),
    ("Q号：561728394", [("qq", "561728394", "561728394")]),
    ("企鹅号：917364528", [("qq", "917364528", "917364528")]),
]

# Labels in Latin letters or pinyin, and characters written as their parts.
PINYIN_AND_PARTS = [
    ("征信洗白 wei xin：xinyong_xf", [("wechat", "xinyong_xf", "xinyong_xf")]),
    ("逾期记录可删 wei信：hk_xiufu2", [("wechat", "hk_xiufu2", "hk_xiufu2")]),
    ("微xin：wangdai_xs", [("wechat", "wangdai_xs", "wangdai_xs")]),
    ("V♥：kefu_tb01 退保找我", [("wechat", "kefu_tb01", "kefu_tb01")]),
    ("koukou：613728495", [("qq", "613728495", "613728495")]),
    ("代投诉 kou kou 712839465", [("qq", "712839465", "712839465")]),
    ("Q Q：29384756", [("qq", "29384756", "29384756")]),
    ("微亻言：zhengxin_11", [("wechat", "zhengxin_11", "zhengxin_11")]),
    ("彳微亻言：huifu_vip", [("wechat", "huifu_vip", "huifu_vip")]),
    ("扌口扌口：38291746", [("qq", "38291746", "38291746")]),
    ("口口：87651234", [("qq", "87651234", "87651234")]),
]

# Punctuation, arrows, bracketed remarks and filler words between a label and its id.
STRAY = [
    ("加薇~~~：xinc888", [("wechat", "xinc888", "xinc888")]),
    ("威芯👉 fanli_zx8", [("wechat", "fanli_zx8", "fanli_zx8")]),
    ("加V【备注：征信】 zx_kefu01", [("wechat", "zx_kefu01", "zx_kefu01")]),
    ("微信 （备注“退保”）tuibao_3721", [("wechat", "tuibao_3721", "tuibao_3721")]),
    ("添加威芯 请备注来意 tb_xieshang", [("wechat", "tb_xieshang", "tb_xieshang")]),
    (
        "V：(备注来意) 13800138000",
        [("phone", M1, "13800138000"), ("wechat", "13800138000", "13800138000")],
    ),
    (
        "微信号是 → 一三八零零一三八零零零",
        [
            ("phone", M1, "一三八零零一三八零零零"),
            ("wechat", "13800138000", "一三八零零一三八零零零"),
        ],
    ),
    ("企鹅（备注维权）：3748291056", [("qq", "3748291056", "3748291056")]),
]

# One number offered for both apps.
BOTH_APPS = [
    (
        "微信QQ同号 2389471027",
        [("wechat", "2389471027", "2389471027"), ("qq", "2389471027", "2389471027")],
    ),
    (
        "V/Q：2938475610",
        [("wechat", "2938475610", "2938475610"), ("qq", "2938475610", "2938475610")],
    ),
    (
        "扣/微 1726354890",
        [("wechat", "1726354890", "1726354890"), ("qq", "1726354890", "1726354890")],
    ),
    (
        "微信和扣扣都是 2938471650",
        [("wechat", "2938471650", "2938471650"), ("qq", "2938471650", "2938471650")],
    ),
    (
        "微信、QQ：13800138000",
        [
            ("phone", M1, "13800138000"),
            ("wechat", "13800138000", "13800138000"),
            ("qq", "13800138000", "13800138000"),
        ],
    ),
    ("Q/V：xinc888", [("wechat", "xinc888", "xinc888")]),  # letters are never a QQ number
]

# A QQ-style number offered as WeChat id is a WeChat contact (it used to be dropped).
DIGIT_WECHAT_IDS = [
    ("微信：2389471025", [("wechat", "2389471025", "2389471025")]),
    ("加微信 87654321 备注退保", [("wechat", "87654321", "87654321")]),
    ("V：2389 4710 25", [("wechat", "2389471025", "2389 4710 25")]),
    ("微信：一二三四五六七八九零", [("wechat", "1234567890", "一二三四五六七八九零")]),
    ("微信（1683927450）", [("wechat", "1683927450", "1683927450")]),
]

# Sounds like a label, is not one: no id after it, a count, a date, a code, a masked number.
SOUND_NEGATIVES = [
    "领导干部要树立威信，不能朝令夕改。",
    "他在村里很有威信，大家都听他的。",
    "威信 12000 人参加了今年的马拉松",
    "每次违约扣 50000 积分",
    "南极企鹅 12000 只，数量逐年减少",
    "秋秋 20230915 出生的小猫，求领养",
    "我家猫叫秋秋，今年3岁了",
    "扣扣索索省下 12000 元",
    "口口声声说 10000 元包过",
    "喂信号不好，我听不清你说什么",
    "微星 RTX4090 显卡 售价 12999 元",
    "编号 WX20231027001",
    "2023Q3 营收 12345678 元",
    "Q1 2024 revenue 12345678 RMB",
    "型号V12345",
    "微信：138****8000",
    "微信：1380013****",
    "QQ：12****78",
    "微信同号 16990738727",
]

CASES = PHONES + EXTENSIONS + OBFUSCATED + WECHAT_IDS + WECHAT_PHONES + REMARKS + FILLERS + QQ
CASES += EMAILS_AND_URLS + SPELLED_EMAILS + QQ_MAILBOXES + EMAIL_LOOKALIKES + ADS
CASES += SOUND_LABELS + PINYIN_AND_PARTS + STRAY + BOTH_APPS + DIGIT_WECHAT_IDS
CASES += [(text, []) for text in NEGATIVES + SOUND_NEGATIVES]


def _found(text: str) -> list[tuple[str, str, str]]:
    contacts = extract_contacts(text)
    for c in contacts:
        assert text[c.start : c.end] == c.raw, "raw must be the original text at the span"
    return sorted((c.kind, c.value, c.raw) for c in contacts)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[t[:24] for t, _ in CASES])
def test_extract_contacts(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert _found(text) == sorted(expected)


@pytest.mark.parametrize(
    ("text", "kind", "note"),
    [
        ("电话：13800138000，微信同号", "wechat", "微信同号"),
        ("总机021-62881234转8001", "phone", "ext 8001"),
        ("010-62881234-123", "phone", "ext 123"),
        ("邮箱 12345678@qq.com", "qq", "qq邮箱"),
        ("QQ邮箱 12345678", "email", "qq邮箱"),
        ("邮箱 xinc888 at 163 dot com", "email", ""),
        ("微信：13800138000", "wechat", ""),
        ("13800138000(微信同号)", "wechat", "微信同号"),
        ("vx同号13800138000", "wechat", "微信同号"),
    ],
)
def test_notes_say_how_a_contact_was_inferred(text: str, kind: str, note: str) -> None:
    assert [c.note for c in extract_contacts(text) if c.kind == kind] == [note]


def test_long_ad_is_sorted_unique_and_deterministic() -> None:
    text = "\n".join(t for t, _ in ADS + WECHAT_PHONES) * 3
    first = extract_contacts(text)
    assert first == extract_contacts(text)
    assert [c.start for c in first] == sorted(c.start for c in first)
    keys = [(c.kind, c.value, c.start, c.end) for c in first]
    assert len(keys) == len(set(keys))
    phones = sum(1 for _, expected in ADS + WECHAT_PHONES for e in expected if e[0] == "phone")
    assert sum(1 for c in first if c.kind == "phone") == 3 * phones


def test_keycap_span_keeps_the_trailing_keycap_marks() -> None:
    text = "电话 1️⃣3️⃣8️⃣0️⃣0️⃣1️⃣3️⃣8️⃣0️⃣0️⃣0️⃣ 随时"
    (c,) = extract_contacts(text)
    assert c.raw.endswith("0️⃣") and text[c.end :] == " 随时"


def test_seed_article_warns_but_advertises_no_contact() -> None:
    assert extract_contacts(SEED.read_text(encoding="utf-8")) == []


def test_shared_normalization_gives_the_same_contacts() -> None:
    text = ADS[0][0]
    assert extract_contacts(text, norm=normalize(text)) == extract_contacts(text)
    # a view of some other text is ignored rather than trusted
    assert extract_contacts(text, norm=normalize("无关")) == extract_contacts(text)


def test_rules_come_from_the_data_file_once() -> None:
    assert _rules() is _rules()
    assert _rules().wechat_alias.search("卫星：") and _rules().qq_alias.search("企鹅：")


@pytest.mark.parametrize("text", ["", "   ", "征信修复 停息挂账 代理退保"])
def test_text_without_contacts(text: str) -> None:
    assert extract_contacts(text) == []


def test_phone_validation_agrees_with_phonenumbers_parse() -> None:
    """_phone builds the number directly instead of calling phonenumbers.parse: the verdicts
    and E.164 forms must stay the same for every national form the scanner admits."""
    import random

    import phonenumbers

    from pipelines.contacts import _NATIONAL_RE, _phone

    rng = random.Random(20261125)
    shapes = ("1" + "#" * 10, "0" + "#" * 9, "0" + "#" * 10, "0" + "#" * 11, "400" + "#" * 7)
    checked = 0
    for _ in range(20000):
        national = "".join(rng.choice("0123456789") if c == "#" else c for c in rng.choice(shapes))
        if not _NATIONAL_RE.fullmatch(national):
            continue
        number = phonenumbers.parse(national, "CN")
        want = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(number)
            else None
        )
        got = _phone(national)
        assert (got.e164 if got else None) == want, national
        checked += 1
    assert checked > 15000


def test_labelled_set_recall_and_precision() -> None:
    """The whole labelled set (tests/data/contacts): a regression in any style fails here."""
    items = load()
    assert len(items) >= 280 and sum(1 for i in items if not i.expected) >= 80
    s, _ = score(items)
    assert s.recall() >= 0.90, f"recall {s.recall():.3f}"
    assert s.precision() >= 0.95, f"precision {s.precision():.3f}"


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("威芯：xinc888", {"wechat"}),
        ("徽芯：xinc888", {"wechat"}),  # near-homophone, colon
        ("徽芯 xinc888", set()),  # near-homophone, spaces only: too weak
        ("微：xinc888", {"wechat"}),  # one syllable, colon
        ("扣 12345678", set()),  # one syllable, spaces only
        ("扣/微 12345678", {"wechat", "qq"}),  # one syllable each, beside each other
        ("企鹅号 12345678", {"qq"}),
        ("wei xin 12345678", {"wechat"}),
        ("wx2023", set()),
        ("维信金科 12345678", set()),  # the label sound must end right before the id
    ],
)
def test_labels_before_an_id(text: str, kinds: set[str]) -> None:
    start = next((k for k, ch in enumerate(text) if ch.isdigit() or text[k:].startswith("xinc")), 0)
    assert labels_before(_rules().sound, normalize(text).text, start) == kinds
