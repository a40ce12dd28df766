"""Report layer: the period's HTML report — one self-contained file, charts inlined as SVG.

Analysts and managers read it offline: altair charts are rendered to SVG by vl-convert and
embedded, so the page needs no script and no network. It shows aggregates only: no ID number,
no name, no household number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import polars as pl

from pipelines.deliveries import delivery_warnings
from pipelines.reasons import count_by_kind
from pipelines.report.layout import FLAG_LABELS, SOURCE_LABELS
from pipelines.report.page import _FONT, _section, _svg, _table
from pipelines.report.text import display_width

STATUS_LABELS = {"matched": "已匹配", "review": "待复核", "unmatched": "未匹配"}
_TOP_REASONS = 15


@dataclass(frozen=True)
class ReportData:
    """The aggregates the HTML report shows (frames of :mod:`pipelines.report.data`)."""

    period: str
    districts: list[str]
    generated_at: str
    rulebook_versions: list[str]
    flag_counts: pl.DataFrame
    household_counts: pl.DataFrame
    match_rates: pl.DataFrame
    quarantine: pl.DataFrame
    review_count: int
    #: the delivery months the review count covers, oldest first
    lookback: list[str]
    #: the pseudonymised analyst database analysts should query for detail (file name)
    analyst_db: str | None = None
    #: the period's ``fairness`` rows (pipelines/report/fairness.py); None: no section data
    fairness: pl.DataFrame | None = None
    #: sources whose delivery changed sharply from the month before (pipelines/deliveries.py)
    delivery_changes: list[dict] = field(default_factory=list)


def _labelled(column: str, labels: dict[str, str], alias: str) -> pl.Expr:
    return pl.col(column).replace_strict(labels, default=pl.col(column)).alias(alias)


def flags_by_district_chart(counts: pl.DataFrame, *, period: str) -> str | None:
    """SVG bar chart of households flagged in ``period`` per flag and district (None if none)."""
    import altair as alt
    rows = counts.filter(pl.col("period") == period).select(
        _labelled("flag", FLAG_LABELS, "标记"),
        pl.col("district_code").alias("区县"),
        pl.col("households").alias("户数"),
    )
    if rows.is_empty():
        return None
    chart = alt.Chart(rows).mark_bar().encode(
        y=alt.Y("标记:N", sort="-x", title=None, axis=alt.Axis(labelLimit=_label_limit(rows["标记"]))),
        x=alt.X("sum(户数):Q", title="标记户数", axis=alt.Axis(format="d", tickMinStep=1)),
        color=alt.Color("区县:N", title="区县代码"),
        tooltip=["标记", "区县", "户数"],
    ).properties(width=520, title=f"{period} 各类标记户数（按区县）")
    return _svg(chart)


def trend_chart(counts: pl.DataFrame) -> str | None:
    """SVG chart of households flagged per month and flag, over all months present.

    Several months: a line per flag. One month: labelled bars (a line needs two points).
    """
    import altair as alt
    rows = counts.group_by("period", "flag").agg(pl.col("households").sum()).select(
        pl.col("period").alias("期间"),
        _labelled("flag", FLAG_LABELS, "标记"),
        pl.col("households").alias("户数"),
    ).sort("期间", "标记")
    if rows.is_empty():
        return None
    legend = alt.Legend(labelLimit=_label_limit(rows["标记"]))
    if rows["期间"].n_unique() == 1:
        month = rows["期间"][0]
        base = alt.Chart(rows).encode(
            y=alt.Y("标记:N", sort="-x", title=None, axis=alt.Axis(labelLimit=_label_limit(rows["标记"]))),
            x=alt.X("户数:Q", title=f"{month} 标记户数", axis=alt.Axis(format="d", tickMinStep=1)),
            tooltip=["期间", "标记", "户数"],
        )
        chart = (base.mark_bar(color="#4C78A8") + base.mark_text(align="left", dx=3).encode(
            text=alt.Text("户数:Q", format="d"))).properties(
            width=480, title=f"各月标记户数趋势（仓库中只有 {month} 一个月，暂无趋势）")
        return _svg(chart)
    base = alt.Chart(rows).encode(
        x=alt.X("期间:O", title="期间", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("户数:Q", title="标记户数", axis=alt.Axis(format="d", tickMinStep=1)),
        color=alt.Color("标记:N", title="标记", legend=legend),
        tooltip=["期间", "标记", "户数"],
    )
    chart = (base.mark_line() + base.mark_point(filled=True)).properties(
        width=480, height=220, title="各月标记户数趋势"
    )
    return _svg(chart)


def match_rate_chart(rates: pl.DataFrame, *, period: str) -> str | None:
    """SVG stacked bar of each source's records by link status (share of the source)."""
    import altair as alt
    if rates.is_empty():
        return None
    rows = rates.select(
        _labelled("source", SOURCE_LABELS, "来源"),
        _labelled("status", STATUS_LABELS, "状态"),
        pl.col("records").alias("记录数"),
    )
    chart = alt.Chart(rows).mark_bar().encode(
        y=alt.Y("来源:N", title=None, axis=alt.Axis(labelLimit=_label_limit(rows["来源"]))),
        x=alt.X("sum(记录数):Q", stack="normalize", title="占该来源记录的比例", axis=alt.Axis(format="%")),
        color=alt.Color(
            "状态:N", title="匹配状态",
            scale=alt.Scale(domain=list(STATUS_LABELS.values()), range=["#4C78A8", "#F58518", "#B0B0B0"]),
        ),
        tooltip=["来源", "状态", "记录数"],
    ).properties(width=520, title=f"{period} 交付记录匹配情况（按来源）")
    return _svg(chart)


def quarantine_reasons(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Quarantined rows per kind of reason, in Chinese, each row counted once.

    Kinds come from :func:`pipelines.reasons.count_by_kind`: the Chinese sentences with their
    values left out (so no ID number or amount reaches the page); a row with several problems
    counts once, under all of them together, so that ``rows`` sums to the rows quarantined.
    Columns: ``reason, rows, sources`` (most frequent first).
    """
    if "source" not in quarantine.columns:
        quarantine = quarantine.with_columns(pl.lit(None, pl.String).alias("source"))
    counted = count_by_kind(quarantine.select("source", "reason"))
    sources = [
        "、".join(f"{SOURCE_LABELS.get(s['source'], s['source'] or '未知')} {s['rows']}" for s in by)
        for by in counted["by_source"].to_list()
    ]
    return counted.select(pl.col("kind").alias("reason"), "rows").with_columns(
        pl.Series("sources", sources, dtype=pl.String))


def quarantine_chart(quarantine: pl.DataFrame, *, period: str) -> str | None:
    """SVG bar chart of the most frequent quarantine reasons of ``period``'s delivery."""
    import altair as alt
    reasons = quarantine_reasons(quarantine.filter(pl.col("period") == period)).head(_TOP_REASONS)
    if reasons.is_empty():
        return None
    rows = reasons.select(pl.col("reason").alias("原因"), pl.col("rows").alias("行数"))
    chart = alt.Chart(rows).mark_bar(color="#E45756").encode(
        y=alt.Y("原因:N", sort="-x", title=None, axis=alt.Axis(labelLimit=_label_limit(rows["原因"]))),
        x=alt.X("行数:Q", title="隔离行数", axis=alt.Axis(format="d", tickMinStep=1)),
        tooltip=["原因", "行数"],
    ).properties(width=360, title=f"{period} 交付数据隔离原因")
    return _svg(chart)


def _label_limit(labels: pl.Series) -> int:
    """A label width (px) that fits the longest label: Vega cuts longer ones with an ellipsis."""
    widest = labels.to_frame("t").select(display_width(pl.col("t")).max()).item() or 0
    return int(widest) * 8 + 24


def _district_table(data: ReportData) -> pl.DataFrame:
    counts = data.flag_counts.filter(pl.col("period") == data.period)
    wide = data.household_counts.select(
        pl.col("district_code").alias("区县代码"),
        pl.col("assessed").alias("评估户数"),
        pl.col("flagged").alias("标记户数"),
    )
    for flag, label in FLAG_LABELS.items():
        per = counts.filter(pl.col("flag") == flag).select(
            pl.col("district_code").alias("区县代码"), pl.col("households").alias(label)
        )
        if per.height:
            wide = wide.join(per, on="区县代码", how="left", maintain_order="left").with_columns(
                pl.col(label).fill_null(0)
            )
    return wide


def render_html(data: ReportData) -> str:
    """The whole report page as one HTML string (inline CSS and SVG, no script, no links).

    Parameters
    ----------
    data : ReportData
        The aggregates to show.
    """
    from pipelines.report.fairness import fairness_section

    period = data.period
    total_q = data.quarantine.filter(pl.col("period") == period).height
    reasons = quarantine_reasons(data.quarantine.filter(pl.col("period") == period)).select(
        pl.col("reason").alias("原因"), pl.col("rows").alias("行数"), pl.col("sources").alias("来源")
    )
    summary = (
        f"<p>期间 <b>{escape(period)}</b>；区县 {escape('、'.join(data.districts))}；"
        f"规则版本 {escape('、'.join(data.rulebook_versions) or '未知')}；生成时间 {escape(data.generated_at)}。</p>"
        f"<p>{escape(data.lookback[0])} 至 {escape(period)} 交付、仍待复核的匹配记录 <b>{data.review_count}</b> 条；"
        f"{escape(period)} 交付中被隔离的行或文件 <b>{total_q}</b> 个。明细见各区县核查工作簿。</p>"
    )
    warnings = delivery_warnings({"delivery_changes": data.delivery_changes})
    sections = [
        *([f'<section class="warn"><h2>交付行数突变</h2><ul>'
           f'{"".join(f"<li>{escape(w)}</li>" for w in warnings)}</ul></section>'] if warnings else []),
        f"<section><h2>各区县概况</h2>{_table(_district_table(data))}</section>",
        _section("标记分布", flags_by_district_chart(data.flag_counts, period=period)),
        _section("趋势", trend_chart(data.flag_counts)),
        _section("匹配率（整批交付，不分区县）", match_rate_chart(data.match_rates, period=period)),
        _section("隔离原因（整批交付，不分区县）", quarantine_chart(data.quarantine, period=period),
                 _table(reasons) if reasons.height else ""),
        fairness_section(data.fairness, period=period),
    ]
    css = (
        f"body{{font-family:{_FONT};margin:2em auto;max-width:960px;color:#222}}"
        "h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}"
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;"
        "text-align:left}th{background:#eef2f8}.chart svg{max-width:100%;height:auto}.empty{color:#888}"
        ".warn{color:#a15c00}"
        "footer{color:#888;font-size:.85em;margin-top:2em}"
        ".warn{background:#fff4e5;border-left:4px solid #e8a33d;padding:.2em 1em}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>核对月报 {escape(period)}</title><style>{css}</style></head><body>"
        f"<h1>居民家庭经济状况核对月报 · {escape(period)}</h1>{summary}{''.join(sections)}"
        "<footer>标记是核查线索，不是处理决定；请按工作簿逐户核实。本报告只含汇总数字，不含姓名和证件号。"
        f"{_analyst_note(data.analyst_db)}</footer>"
        "</body></html>\n"
    )


def _analyst_note(analyst_db: str | None) -> str:
    if not analyst_db:
        return ""
    # named, not linked: the page stays self-contained (no href), and the file sits beside the warehouse
    return (f"<br>分析明细请查询假名化的分析库 <code>{escape(analyst_db)}</code>"
            "（与仓库同一目录，只含假名键，不含姓名、证件号、电话和地址），不要打开完整仓库。")
