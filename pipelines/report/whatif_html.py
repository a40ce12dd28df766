"""Report layer: the reform-preview page (``hedui whatif``), one self-contained HTML file.

It reuses the monthly report's rendering (charts rendered to SVG by vl-convert and inlined, the
same fonts and table style), so it opens offline with no script. Aggregates only: no household
number, no name, no ID number.
"""

from __future__ import annotations

from html import escape

import polars as pl

# the monthly report's style helpers, reused unchanged
from pipelines.report.html import _FONT, _section, _svg, _table
from pipelines.report.whatif_workbook import COSTING
from pipelines.whatif.compare import TRANSITIONS


def _district_totals(summary: pl.DataFrame) -> pl.DataFrame:
    aggs = [pl.col("households").sum(), pl.col("persons").sum()]
    aggs += [pl.col(f"{k}_households").sum() for k in TRANSITIONS]
    aggs += [pl.col(c).sum() for c in ("benefit_before_fen", "benefit_after_fen", "benefit_diff_fen")]
    return summary.group_by("district_code").agg(aggs).sort("district_code")


def _money(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def transitions_chart(summary: pl.DataFrame) -> str | None:
    """SVG bars: households per transition and district (None when nothing changes)."""
    import altair as alt

    totals = _district_totals(summary)
    rows = pl.concat([totals.select(pl.col("district_code").alias("区县"),
                                    pl.lit(label).alias("变化"),
                                    pl.col(f"{key}_households").alias("户数"))
                      for key, label in TRANSITIONS.items()]).filter(pl.col("户数") > 0)
    if rows.is_empty():
        return None
    top = int(rows.group_by("变化").agg(pl.col("户数").sum())["户数"].max() or 0)  # type: ignore[arg-type]
    ticks = list(range(0, top + 1, max(1, -(-top // 8))))  # whole households only
    chart = alt.Chart(rows).mark_bar().encode(
        y=alt.Y("变化:N", title=None, sort=list(TRANSITIONS.values())),
        x=alt.X("sum(户数):Q", title="户数", axis=alt.Axis(format="d", values=ticks)),
        color=alt.Color("区县:N", title="区县代码"),
        tooltip=["区县", "变化", "户数"],
    ).properties(width=520, title="受影响户数（按区县）")
    return _svg(chart)


def cost_chart(summary: pl.DataFrame) -> str | None:
    """SVG bars: monthly benefit difference per district (yuan)."""
    import altair as alt

    totals = _district_totals(summary).select(
        pl.col("district_code").alias("区县"),
        (pl.col("benefit_diff_fen").cast(pl.Float64) / 100).round(2).alias("月保障金差额（元）"))
    if totals.is_empty() or totals["月保障金差额（元）"].abs().sum() == 0:
        return None
    chart = alt.Chart(totals).mark_bar().encode(
        x=alt.X("区县:N", title="区县代码"),
        y=alt.Y("月保障金差额（元）:Q"),
        tooltip=["区县", "月保障金差额（元）"],
    ).properties(width=420, title="每月保障金差额（按区县，元）")
    return _svg(chart)


def render_whatif_html(*, period: str, districts: list[str], version_before: str,
                       version_after: str, proposal: str, generated_at: str,
                       summary: pl.DataFrame, changes: list[dict], notes: list[str]) -> str:
    """The whole page as one HTML string (inline CSS and SVG, no script, no links)."""
    totals = _district_totals(summary)
    table = totals.select(
        pl.col("district_code").alias("区县代码"), pl.col("households").alias("户数"),
        pl.col("persons").alias("在世人数"),
        *[pl.col(f"{k}_households").alias(f"{label}（户）") for k, label in TRANSITIONS.items()],
        pl.col("benefit_before_fen").map_elements(_money, return_dtype=pl.String).alias("调整前（元/月）"),
        pl.col("benefit_after_fen").map_elements(_money, return_dtype=pl.String).alias("调整后（元/月）"),
        pl.col("benefit_diff_fen").map_elements(_money, return_dtype=pl.String).alias("差额（元/月）"),
    )
    diff = int(summary["benefit_diff_fen"].sum()) if summary.height else 0
    newly = int(summary["newly_eligible_households"].sum()) if summary.height else 0
    lost = int(summary["no_longer_eligible_households"].sum()) if summary.height else 0
    exiting = int(summary["entering_gradual_exit_households"].sum()) if summary.height else 0
    params = pl.DataFrame([{"参数": c["parameter"], "适用范围": c["scope"], "现行值": c["before"],
                            "提案值": c["after"]} for c in changes],
                          schema={"参数": pl.String, "适用范围": pl.String, "现行值": pl.String,
                                  "提案值": pl.String})
    head = (
        f"<p>期间 <b>{escape(period)}</b>；区县 {escape('、'.join(districts))}；提案 {escape(proposal)}；"
        f"规则版本 {escape(version_before)} → {escape(version_after)}；生成时间 {escape(generated_at)}。</p>"
        f"<p>按提案重新核定后：新增符合条件 <b>{newly}</b> 户，不再符合条件 <b>{lost}</b> 户，"
        f"进入渐退 <b>{exiting}</b> 户；每月保障金合计变化 <b>{escape(_money(diff))}</b> 元。</p>"
    )
    notes_html = "".join(f"<li>{escape(n)}</li>" for n in notes)
    moved = [f"{k}_households" for k in TRANSITIONS]
    detail = summary.filter(pl.any_horizontal([pl.col(c) > 0 for c in moved])
                            | (pl.col("benefit_diff_fen") != 0)).select(
        pl.col("district_code").alias("区县代码"), pl.col("programme").alias("保障类别"),
        *[pl.concat_str([pl.col(f"{k}_households"), pl.lit(" / "), pl.col(f"{k}_persons")])
          .alias(f"{label}（户/人）") for k, label in TRANSITIONS.items()],
        pl.col("benefit_diff_fen").map_elements(_money, return_dtype=pl.String).alias("差额（元/月）"),
    )
    detail_html = (_table(detail) if detail.height
                   else "<p class=empty>没有任何区县和保障类别受影响。</p>")
    sections = [
        f"<section><h2>各区县汇总</h2>{_table(table)}</section>",
        f"<section><h2>按区县和保障类别（只列受影响的）</h2>{detail_html}</section>",
        _section("受影响户数", transitions_chart(summary)),
        _section("保障金差额", cost_chart(summary)),
        f"<section><h2>参数变化</h2>{_table(params) if params.height else '<p class=empty>提案与现行规则在本期没有差别。</p>'}</section>",
        f"<section><h2>计算口径</h2><p>{escape(COSTING)}</p><ul>{notes_html}</ul></section>",
    ]
    css = (
        f"body{{font-family:{_FONT};margin:2em auto;max-width:960px;color:#222}}"
        "h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}"
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:left}th{background:#eef2f8}.chart svg{max-width:100%;height:auto}.empty{color:#888}"
        "footer{color:#888;font-size:.85em;margin-top:2em}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>政策调整测算 {escape(period)}</title><style>{css}</style></head><body>"
        f"<h1>政策调整测算 · {escape(period)}</h1>{head}{''.join(sections)}"
        "<footer>测算结果不写入数据仓库，不改变任何已发布的核查结果。本页只含汇总数字，不含户编号、姓名和证件号；"
        "逐户明细见同目录的工作簿。</footer></body></html>\n"
    )
