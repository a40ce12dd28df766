"""Report layer tests: the self-contained HTML report, checked as text and in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from pipelines.report import write_reports
from pipelines.report.html import quarantine_reasons

from helpers.report_fixture import IDENTITIES, PERIOD, build_warehouse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = build_warehouse(tmp_path_factory.mktemp("wh") / "hedui.duckdb")
    paths = write_reports(warehouse, period=PERIOD, out=tmp_path_factory.mktemp("out"))
    return paths[-1]


def test_the_report_is_one_file_with_inline_charts_and_nothing_to_fetch(html: Path) -> None:
    text = html.read_text(encoding="utf-8")
    assert html.name == f"hedui-{PERIOD}.html"
    assert text.count("<svg") == 4
    assert "<script" not in text
    # the only URLs are SVG namespace declarations, never something to load
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {
        "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", text)


def test_the_report_shows_counts_per_district_and_flag_and_no_identity(html: Path) -> None:
    text = html.read_text(encoding="utf-8")
    assert [v for v in IDENTITIES if v in text] == []
    assert not re.search(r"H000\d", text)
    for words in ("收入超过保障标准", "不再符合低保边缘条件", "各月标记户数趋势", "税务工资薪金",
                  "文件 … 缺少必需列 余额", "收入额 “…” 不是有效金额"):
        assert words in text
    # the district table: 990101 assessed 2 households, both flagged
    assert re.search(r"<td>990101</td><td>2</td><td>2</td>", text)
    assert re.search(r"<td>990102</td><td>2</td><td>2</td>", text)


def test_quarantine_reasons_are_grouped_by_kind_in_chinese_each_row_once() -> None:
    frame = pl.DataFrame({"source": ["pension", "pension", "bank", "bank", "tax_wages", None, "medical"],
                          "reason": [
        "发放年月 is blank; 发放金额 '12a.5' is not an amount", "发放金额 '1e15' is not an amount",
        "余额 '9.195' has more than two decimals", "余额 '12a.5' has more than two decimals",
        "记录号 120101198001011234 repeats with different values (conflict)", None,
        "证件号 120101198001011234 重复",
    ]})
    got = quarantine_reasons(frame)
    assert got.rows() == [
        ("余额 “…” 的小数超过两位", 2, "金融资产 2"),
        ("发放年月 为空；发放金额 “…” 不是有效金额", 1, "人社养老金/失业金 1"),
        ("发放金额 “…” 不是有效金额", 1, "人社养老金/失业金 1"),
        ("记录号 … 重复出现且内容不同（冲突）", 1, "税务工资薪金 1"),
        ("证件号 … 重复", 1, "医保结算 1"),
        ("（未说明）", 1, "未知 1"),
    ]
    # each row once: the table's 行数 add up to the rows quarantined
    assert got["rows"].sum() == frame.height


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium "
                    "(apt-get install -y --no-install-recommends chromium fonts-noto-cjk)")
def test_the_report_renders_offline_in_chromium(html: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            charts = page.locator(".chart svg").count()
            marks = page.locator(".chart svg path, .chart svg rect").count()
            body = page.inner_text("body")
            cjk_font = page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '核对')")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [html.as_uri()]
    assert charts == 4 and marks > 20
    assert "居民家庭经济状况核对月报" in body and "各区县概况" in body
    assert cjk_font is True
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_chart_labels_are_never_cut() -> None:
    from html import unescape

    from pipelines.report.html import flags_by_district_chart, quarantine_chart

    long_kind = ("医疗总费用 '1e15' is not an amount; 个人自付金额 '1e15' is not an amount; "
                 "结算日期 '2026-11-03' is after the end of the delivery month (2026-10-31)")
    quarantine = pl.DataFrame({"period": [PERIOD] * 3, "source": ["medical"] * 3,
                               "reason": [long_kind, long_kind, "记录号 is blank"]})
    svg = unescape(quarantine_chart(quarantine, period=PERIOD))
    for kind in quarantine_reasons(quarantine)["reason"]:
        assert kind in svg, kind
    counts = pl.DataFrame({"period": [PERIOD] * 2, "district_code": ["990101"] * 2,
                           "flag": ["ELIGIBLE_NOT_ENROLLED", "MARGINAL_NO_LONGER"], "households": [3, 1]})
    svg = unescape(flags_by_district_chart(counts, period=PERIOD))
    assert "可能符合低保条件未纳入" in svg and "不再符合低保边缘条件" in svg


def test_a_trend_of_one_month_is_labelled_bars_not_a_column_of_dots() -> None:
    from pipelines.report.html import trend_chart

    one = pl.DataFrame({"period": [PERIOD] * 2, "district_code": ["990101"] * 2,
                        "flag": ["INCOME_OVER_STANDARD", "INCOME_DROP"], "households": [43, 45]})
    svg = trend_chart(one)
    assert "mark-line" not in svg and "mark-symbol" not in svg
    assert "mark-rect" in svg and "mark-text" in svg
    assert f"只有 {PERIOD} 一个月" in svg and ">45<" in svg and ">43<" in svg
    two = pl.concat([one, one.with_columns(pl.lit("2026-09").alias("period"))])
    assert "mark-line" in trend_chart(two)


def test_the_reason_table_counts_each_quarantined_row_once(html: Path) -> None:
    text = html.read_text(encoding="utf-8")
    table = text[text.index("<h2>隔离原因"):]
    table = table[table.index("<table>"):table.index("</table>")]
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\d+)</td>", table)
    total = re.search(r"交付中被隔离的行或文件 <b>(\d+)</b>", text)
    assert rows and sum(int(n) for n in rows) == int(total.group(1))
