"""Main-text extraction on saved pages named after their (made-up) source URL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import html as lxml_html

from pipelines.normalize import normalize
from pipelines.text import (
    Page,
    clean_title,
    clean_tree,
    decode_html,
    extract_page,
    filter_lines,
    load_rules,
    prose_score,
    render,
)

PAGES = Path(__file__).parent / "pages"

# file, HTTP charset header, encoding used, title, method, must contain, must not contain,
# published, author
CASES = [
    (
        "news.example.cn__2023-09-27__pingan-puhui.html",
        None,
        "utf-8",
        "平安普惠多措并舉打擊金融黑灰產,切實守護消費者合法權益",
        "rules",
        ["日前,2023年", "向12315平臺進行如實反映", "健康有序的市場生態"],
        ["蜘蛛池", "欧美", "免責聲明", "關鍵詞", "熱門推薦", "版權所有", "首頁", "當前位置"],
        "2023-09-27T14:53:48",
        "",
    ),
    (
        "www.example-hot.cn__news__20230927-1453.html",
        None,
        "utf-8",
        "平安普惠多措并舉打擊金融黑灰產,切實守護消費者合法權益",
        "rules",
        ["主動出擊,不留金融黑灰產", "經聲紋比對一致"],
        ["蜘蛛池", "欧美", "一区二区", "免責聲明", "熱門推薦", "來源:今日熱點網"],
        "2023-09-27T14:53:48",
        "",
    ),
    (
        "bbs.example.cn__thread-1024-1-1.html",
        None,
        "gb18030",
        "征信花了网贷逾期的看过来，专业修复",
        "rules",
        [
            "专业征信修复，不良记录可以处理",
            "联系电话：138-2653-0417（微信同号）",
            "楼主这是骗子吧",
            "已经向12315和银保监12378投诉",
        ],
        [
            "3kT9",
            "aZ8x",
            "本帖最后由",
            "只看该作者",
            "使用道具",
            "立即注册",
            "Powered by",
            "发表于 2023-9-27 14:53\n",
        ],
        "2023-09-27T14:53:48",
        "信用小助手",
    ),
    (
        "bbs.example.cn__thread-2048-1-1.html",
        None,
        "utf-8",
        "分享：自己和银行协商分期的经过",
        "rules",
        ["最后招行同意60期", "急用钱的看我签名"],
        ["网贷口子", "秒批秒下"],
        "2023-10-03T20:15:02",
        "自救上岸",
    ),
    (
        "news.example.tw__finance__20231012-8812.html",
        None,
        "big5hkscs",
        "警方破獲「債務協商」詐騙集團 受害者逾百人",
        "rules",
        ["刑事警察局今（12）日宣布破獲", "切勿輕信坊間代辦業者"],
        ["熱門新聞", "颱風小犬", "分享到", "版權所有", "即時"],
        "2023-10-12T09:30:00+08:00",
        "陳志明",
    ),
    (
        "forum.example.hk__viewthread-5566.html",
        None,
        "big5hkscs",
        "有冇人試過搵中介做債務重組？",
        "rules",
        ["係咪呃人㗎", "千祈唔好俾錢"],
        [],
        "",
        "",
    ),
    (
        "sz.example-fenlei.cn__shangwu__55123x.shtml.html",
        None,
        "utf-8",
        "专业征信修复 逾期记录处理 停息挂账协商",
        "rules",
        ["联系电话：13826530417 王经理", "深圳市鑫诚商务信息咨询有限公司", "征信花了可以洗白"],
        ["相关推荐", "深圳信用卡代还", "免费发布信息", "温馨提示", "400-000-0000"],
        "2023-11-02T10:15:00",
        "",
    ),
    (
        "www.example-jiaoyu.cn__article__20231105-hidden-ad.html",
        None,
        "utf-8",
        "如何查询个人征信报告？人民银行征信中心官方渠道一览",
        "rules",
        ["每年前两次查询不收费", "提出异议申请"],
        ["zx88990", "2758006123", "13902650417", "jianmian2023", "张老师"],
        "2023-11-05T08:00:00",
        "",
    ),
    (
        "m.example-news.cn__a__887766.html",
        None,
        "utf-8",
        "警惕“代理退保”陷阱：退保不成反被骗手续费",
        "rules",
        ["多地银保监局发布风险提示", "避免个人信息泄露和财产损"],
        [],
        "",
        "",
    ),
    ("blank.example.cn__index.html", None, "utf-8", "", "fallback", [], [], "", ""),
    (
        "www.example-caijing.cn__html__2023__1108__wrong-header.html",
        "gbk",
        "utf-8",
        "“停息挂账”广告满天飞，律师：小心被收割两次",
        "rules",
        ["让消费者被“收割”两次"],
        ["上一篇", "下一篇", "首页", "来源：财经频道"],
        "2023-11-08",
        "刘洋",
    ),
    (
        "www.example-fz.cn__news__20231110-gbk.html",
        "utf-8",
        "gb18030",
        "福州通报一批“代理维权”违法广告",
        "rules",
        ["与其登记的经营范围明显不符", "仓山区㙟头村"],
        [],
        "2023-11-10",
        "",
    ),
    (
        "www.example-bx.cn__zixun__bom-33.html",
        "iso-8859-1",
        "utf-8",
        "银保监会：警惕“全额退保”骗局",
        "rules",
        ["诱导消费者提供身份证"],
        ["分享到", "QQ空间"],
        "",
        "保险资讯网编辑部",
    ),
    (
        "mp.example-weixin.cn__s__Abc123XyZ.html",
        None,
        "utf-8",
        "网贷逾期不用怕，一招教你合法停息挂账",
        "rules",
        ["➕V：zwyh2023", "成功后收费"],
        ["内部测试文案", "微信扫一扫", "var ct"],
        "2023-11-08T16:00:00",
        "债务优化小课堂",
    ),
    (
        "www.example-gov.cn__xxgk__202309__t20230915_512.html",
        None,
        "utf-8",
        "关于防范“征信修复”类非法金融活动的风险提示",
        "rules",
        ["征信机构的设立须经中国人民银行批准", "可向12315平台或我局举报"],
        ["打印本页", "关闭窗口", "上一篇", "网站标识码", "您当前的位置", "请输入关键字"],
        "2023-09-15T10:00:00",
        "",
    ),
    (
        "tieba.example.cn__p__7788990011.html",
        None,
        "utf-8",
        "信用卡逾期了三个月，银行说可以做个性化分期，靠谱吗？",
        "rules",
        [
            "银行客服说可以申请个性化分期",
            "还可能被拿去做投诉模板",
            "债务规划师小李\n专业协商停息挂账",
        ],
        ["蜘蛛池", "吧友热议", "提额技巧", "贴吧首页"],
        "2023-10-20T21:14:00",
        "",
    ),
    (
        "zhidao.example.cn__question__331.html",
        None,
        "utf-8",
        "征信修复公司是真的吗？",
        "rules",
        ["任何机构都无权删除真实的逾期记录", "报警才追回一部分"],
        ["立即登录"],
        "2023-08-01T12:30:00",
        "",
    ),
    (
        # short-line ad: the density rule alone picks the sidebar blurb, trafilatura wins
        "www.example-weishang.cn__moments__9981.html",
        None,
        "utf-8",
        "王老师的动态",
        "trafilatura",
        ["信用卡停息挂账\n个性化分期最长60期", "王老师：13826530417"],
        [],
        "2023-11-20T08:30:00",
        "",
    ),
    (
        # big-portal article page: the outer container holds the article and ~70 sidebar links
        "finance.example-sina.cn__roll__2023-11-14__doc-imzxkqsn8841.shtml.html",
        None,
        "utf-8",
        "“停息挂账”中介先收费后失联 银行：个性化分期无需第三方",
        "trafilatura",
        ["本报讯（记者 周晓岚）", "个性化分期本来就可以由持卡人自己申请", "或向监管部门反映。"],
        ["财经要闻", "热点排行", "相关新闻", "新浪首页", "版权所有", "文明上网", "About Sina"],
        "2023-11-14T08:32:00+08:00",
        "新浪财经",
    ),
    (
        "www.example-163.cn__23__1120__07__IKF2K3J80519QADE.html",
        None,
        "gb18030",
        "花两千元找人“全额退保”，结果保单没了钱也没了",
        "trafilatura",
        ["家住杭州的陈先生去年接到", "按退保金额的30%支付服务费", "谨防个人信息泄露和资金损失"],
        ["今日推荐", "网易号精选", "相关推荐", "网易首页", "免费邮箱", "公司简介", "本文来源"],
        "2023-11-20T07:15:22+08:00",
        "",
    ),
    (
        "new.example-qq.cn__rain__a__20231122A05XQ200.html",
        None,
        "utf-8",
        "“征信洗白”是骗局！人民银行：逾期记录只要真实，任何机构都无权删除",
        "rules",
        ["声称与征信中心有“内部关系”", "可向12315平台或人民银行分支机构举报"],
        ["24小时热文", "大家都在看", "精彩评论", "说两句", "腾讯公司", "金融诈骗"],
        "2023-11-22T10:05:00",
        "",
    ),
    (
        "www.example-portal.cn__index.html",
        None,
        "utf-8",
        "金融门户",
        "fallback",
        [],
        ["房贷利率下调", "股市午评"],
        "",
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "header", "encoding", "title", "method", "must", "must_not", "published", "author"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_extract_saved_page(
    name: str,
    header: str | None,
    encoding: str,
    title: str,
    method: str,
    must: list[str],
    must_not: list[str],
    published: str,
    author: str,
) -> None:
    page = extract_page((PAGES / name).read_bytes(), url="http://" + name, encoding=header)
    assert (page.encoding, page.title, page.method) == (encoding, title, method)
    assert (page.published, page.author) == (published, author)
    for phrase in must:
        assert phrase in page.text, phrase
    for phrase in must_not:
        assert phrase not in page.text, phrase
    assert "\n\n" not in page.text and page.text == page.text.strip()


@pytest.mark.parametrize(
    "name",
    [
        "news.example.cn__2023-09-27__pingan-puhui.html",
        "www.example-hot.cn__news__20230927-1453.html",
    ],
)
def test_seed_article_survives_normalization_and_spam_is_gone(name: str) -> None:
    page = extract_page((PAGES / name).read_bytes())
    norm = normalize(page.text).text
    assert "平安普惠多措并举" in norm
    for spam in ("蜘蛛池", "欧美", "一区二区", "国产精品"):
        assert spam not in norm
    assert page.text.count("\n") >= 8  # paragraphs stay separate lines


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        (
            "www.example-jiaoyu.cn__article__20231105-hidden-ad.html",
            {"hidden:display:none", "hidden:class:ad-slot-x9", "hidden:id", "hidden:attr"},
        ),
        (
            "bbs.example.cn__thread-1024-1-1.html",
            {"hidden:class:jammer", "hidden:display:none", "boilerplate:quote", "line:本帖最后由"},
        ),
        ("bbs.example.cn__thread-2048-1-1.html", {"spam-linkfarm"}),
        ("news.example.cn__2023-09-27__pingan-puhui.html", {"junk-tag", "spam-linkfarm"}),
        ("www.example-hot.cn__news__20230927-1453.html", {"tail:熱門推薦", "line:免責聲明"}),
        ("news.example.tw__finance__20231012-8812.html", {"nav", "aside", "footer"}),
        ("tieba.example.cn__p__7788990011.html", {"spam-linkfarm"}),
    ],
)
def test_dropped_reasons_are_recorded(name: str, reasons: set[str]) -> None:
    assert reasons <= set(extract_page((PAGES / name).read_bytes()).dropped)


# GB18030-only 㙟, HKSCS-only 㗎: the superset codecs must be used.
GBK_TEXT = "征信修复，仓山区㙟头村"
HK_TEXT = "係咪呃人㗎？債務重組"


@pytest.mark.parametrize(
    ("body", "declared", "text", "encoding"),
    [
        (GBK_TEXT.encode("gb18030"), "gb2312", GBK_TEXT, "gb18030"),
        (GBK_TEXT.encode("gb18030"), "GBK", GBK_TEXT, "gb18030"),
        (GBK_TEXT.encode("gb18030"), "text/html; charset=GB2312", GBK_TEXT, "gb18030"),
        (HK_TEXT.encode("big5hkscs"), "big5", HK_TEXT, "big5hkscs"),
        (b"\xef\xbb\xbf" + "协商还款".encode(), "gbk", "协商还款", "utf-8"),
        ("协商还款".encode(), None, "协商还款", "utf-8"),
        ("协商还款停息挂账".encode(), "gb2312", "协商还款停息挂账", "utf-8"),  # wrong header
        ("代理退保全额退".encode("gb18030"), "utf-8", "代理退保全额退", "gb18030"),  # wrong header
        (
            b'<meta charset="gbk">' + "征信修复找张老师".encode("gbk"),
            "big5",
            '<meta charset="gbk">征信修复找张老师',
            "gb18030",
        ),
        ("債務協商詐騙集團受害者".encode("big5"), None, "債務協商詐騙集團受害者", "big5hkscs"),
        ("征信修复".encode("gb18030"), None, "征信修复", "gb18030"),
        ("征信修复找张老师".encode("gbk"), "ISO-8859-1", "征信修复找张老师", "gb18030"),
        ("征信修复找张老师".encode("gbk"), "x-gbk", "征信修复找张老师", "gb18030"),
        ("café".encode("latin-1"), "iso-8859-1", "café", "iso8859-1"),
        (
            "民眾如有債務問題，應直接向債權銀行洽詢，切勿輕信坊間代辦業者。".encode("big5"),
            None,
            "民眾如有債務問題，應直接向債權銀行洽詢，切勿輕信坊間代辦業者。",
            "big5hkscs",
        ),
        (b"plain ascii", None, "plain ascii", "utf-8"),
        (b"", None, "", "utf-8"),
    ],
)
def test_decode_html(body: bytes, declared: str | None, text: str, encoding: str) -> None:
    assert decode_html(body, declared) == (text, encoding)


def test_decode_html_undecodable_bytes_fall_back_to_gb18030_with_replacement() -> None:
    text, enc = decode_html(b"\x81\x20\xfe\x20" * 3 + "征信".encode("gbk") + b"\x80", "klingon")
    assert enc == "gb18030" and "征信" in text and "\ufffd" in text


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("欧美夫妻性生活网,免费一区二区三区久久,免费人成激情视频在线观看", False),
        ("主站蜘蛛池模板: 国产精品自产拍高潮在线观看| 欧美视频中文字幕| 午夜视频免费", False),
        # an ad listing services is evidence, not spam: no spam markers
        ("征信修复,停息挂账,协商还款,债务优化,个性化分期", True),
        ("日前，2023年金融消费者权益保护教育宣传月活动正式启动，亚洲各地同步开展。", True),
        ("上一篇：银行理财子公司三季度规模回升", False),
        ("版權所有 深圳熱線", False),
        ("2023-11-08 09:12 来源：财经频道 作者：刘洋", False),
        ("2023年11月10日，福州市市场监管局通报了一批违法广告案件，来源于群众举报。", True),
    ],
)
def test_filter_lines(line: str, kept: bool) -> None:
    text, reasons = filter_lines(line, load_rules())
    assert (text == line) is kept
    assert bool(reasons) is not kept


@pytest.mark.parametrize(
    ("raw", "site", "title"),
    [
        ("平安普惠多措并舉打擊金融黑灰產_深圳熱線", "", "平安普惠多措并舉打擊金融黑灰產"),
        ("征信花了怎么办 - 征信交流 - 鹏城论坛 - Powered by Discuz!", "", "征信花了怎么办"),
        ("深圳热线 | 代理退保骗局揭秘", "深圳热线", "代理退保骗局揭秘"),
        ("警惕停息挂账中介-今日热点网", "", "警惕停息挂账中介"),
        ("2023-09-27 征信新规解读", "", "2023-09-27 征信新规解读"),
        ("网贷逾期怎么办？债务优化小课堂", "债务优化小课堂", "网贷逾期怎么办？"),
        ("", "", ""),
    ],
)
def test_clean_title(raw: str, site: str, title: str) -> None:
    assert clean_title(raw, site, load_rules()) == title


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n ",
        b"",
        b"\x00\xff\x00",
        "<<<>>>",
        "<html>",
        "<!-- only a comment -->",
        "<html><body><div style='display:none'>征信修复 13800138000</div></body></html>",
        "<p>" * 3000 + "很深的嵌套",
        '<?xml version="1.0" encoding="utf-8"?><html><body><p>停息挂账</p></body></html>',
    ],
)
def test_degenerate_input_never_raises(html: str | bytes) -> None:
    page = extract_page(html)
    assert isinstance(page, Page)
    assert "13800138000" not in page.text


def test_logo_h1_with_the_site_name_is_not_the_title() -> None:
    page = extract_page(
        "<html><head><title>代理退保骗局揭秘_深圳热线</title></head><body>"
        "<h1>深圳热线</h1><p>所谓全额退保，收取高额手续费后失联。</p></body></html>"
    )
    assert page.title == "代理退保骗局揭秘"


def test_str_with_xml_declaration_keeps_its_text() -> None:
    page = extract_page(
        '<?xml version="1.0" encoding="gbk"?><html><body><p>停息挂账找李老师</p></body></html>'
    )
    assert page.text == "停息挂账找李老师"


def test_str_input_reports_no_encoding_and_page_is_frozen() -> None:
    page = extract_page(
        "<html><head><title>停息挂账_某网</title></head><body><p>正文</p></body></html>"
    )
    assert (page.title, page.encoding) == ("停息挂账", "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        page.text = "x"  # type: ignore[misc]


PORTALS = [
    "finance.example-sina.cn__roll__2023-11-14__doc-imzxkqsn8841.shtml.html",
    "www.example-163.cn__23__1120__07__IKF2K3J80519QADE.html",
    "new.example-qq.cn__rain__a__20231122A05XQ200.html",
]


@pytest.mark.parametrize("name", PORTALS)
def test_portal_article_survives_its_sidebar_link_lists(name: str) -> None:
    """The outer container (article + sidebar lists + rankings) is not a link farm once the
    lists inside are gone: the whole article stays, no list item leaks in."""
    body = (PAGES / name).read_bytes()
    page = extract_page(body)
    root = lxml_html.document_fromstring(decode_html(body, None)[0])
    items = {t for a in root.xpath("//li//a") if len(t := a.text_content().strip()) >= 6}
    assert len(items) >= 30  # distinct headlines in the sidebars, rankings and lists
    assert [t for t in items if t in page.text] == []
    assert prose_score(page.text) >= 500 and page.text.count("\n") >= 6
    assert "spam-linkfarm" in page.dropped


def _links(n: int, text: str) -> str:
    return "".join(f'<li><a href="/n/{i}.html">{text}{i}</a></li>' for i in range(n))


ARTICLE = (
    "<p>"
    + "记者调查发现，所谓停息挂账中介先收费后失联，银行提醒个性化分期无需第三方。" * 3
    + "</p>"
)


@pytest.mark.parametrize(
    ("html", "kept", "gone"),
    [
        (  # article + three sidebar lists in one wrapper: 0.6 link density before the fix
            f"<div id='main'><div class='l'>{ARTICLE}</div><div class='r'>"
            + "".join(f"<ul>{_links(10, '本地要闻今日看点')}</ul>" for _ in range(3))
            + "</div></div>",
            "银行提醒个性化分期无需第三方",
            "本地要闻今日看点",
        ),
        (  # a bare link list is a farm
            f"<div>{ARTICLE}<ul>{_links(8, '热门排行榜')}</ul></div>",
            "记者调查发现",
            "热门排行榜",
        ),
        (  # 62% link text, but 290 characters of plain text: a long block is content
            "<div><p>"
            + "，可自己申请无需中介".join(
                f"<a href='/t/{i}'>人民银行征信中心官方说明第{i}条</a>" for i in range(30)
            )
            + "</p></div>",
            "无需中介",
            "",
        ),
        (  # SEO farm: many links, a little keyword text
            "<div>"
            + ARTICLE
            + "<div class='x'>友情链接："
            + "".join(f"<a href='/s/{i}'>在线观看高清视频{i}</a>" for i in range(20))
            + "</div></div>",
            "记者调查发现",
            "在线观看高清视频",
        ),
        (  # four links are a menu line, not a farm
            "<div><p>返回 <a href='/'>首页</a> <a href='/a'>财经</a> <a href='/b'>理财</a> "
            "<a href='/c'>保险</a></p></div>",
            "保险",
            "",
        ),
    ],
)
def test_link_farms_are_judged_without_the_farms_inside(html: str, kept: str, gone: str) -> None:
    root = lxml_html.document_fromstring(html)
    clean_tree(root, set(), load_rules())
    text = render(root)
    assert kept in text
    if gone:
        assert gone not in text
