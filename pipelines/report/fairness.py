"""Report layer: the fairness section of the HTML report — who the matching fails.

Reads the published ``fairness`` table (see :mod:`pipelines.fairness` for the groups) and shows,
for the records of P's delivery folder, the review and unmatched share of each group of name
kind, ID state, district and source beside the city's, with the counts behind them and the change
from the folder of the month before. Codes and counts only: no identity.
"""

from __future__ import annotations

from html import escape

import duckdb
import polars as pl

from pipelines.fairness import (
    ALL,
    GROUP_LABELS,
    GROUPING_LABELS,
    NO_DISTRICT,
    load_settings,
)
from pipelines.report.page import _section, _svg, _table
from pipelines.warehouse.connection import table_exists

_SHOWN = ("source", "name_kind", "id_state", "district")


def fairness_rows(con: duckdb.DuckDBPyConnection, *, period: str) -> pl.DataFrame:
    """The period's fairness rows over all sources (``source = 'all'``, or the source grouping).

    An older warehouse without the table gives an empty frame.
    """
    if not table_exists(con, "fairness"):
        return pl.DataFrame()
    return con.sql("""SELECT * FROM fairness WHERE period = $p
                      AND (source = 'all' OR grouping = 'source')""", params={"p": period}).pl()


def _labelled(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(
        pl.col("grouping").replace_strict(GROUPING_LABELS, default=pl.col("grouping")).alias("分组"),
        pl.col("group_name").replace_strict(GROUP_LABELS, default=pl.col("group_name")).alias("组"),
    )


def fairness_chart(rows: pl.DataFrame) -> str | None:
    """SVG bars: review and unmatched share per group, one panel per grouping (None if empty)."""
    import altair as alt

    shown = rows.filter(pl.col("grouping").is_in(_SHOWN)
                        & ~((pl.col("grouping") == "district") & (pl.col("group_name") == NO_DISTRICT)))
    if shown.is_empty():
        return None
    long = _labelled(shown).select(
        "分组", "组", pl.col("records").alias("记录数"),
        pl.col("review_share").alias("待复核"), pl.col("unmatched_share").alias("未匹配"),
    ).unpivot(index=["分组", "组", "记录数"], variable_name="指标", value_name="比例")
    chart = alt.Chart(long).mark_bar().encode(
        y=alt.Y("组:N", title=None),
        yOffset=alt.YOffset("指标:N"),
        x=alt.X("比例:Q", title="占该组记录的比例", axis=alt.Axis(format="%")),
        color=alt.Color("指标:N", title="比例",
                        scale=alt.Scale(domain=["待复核", "未匹配"], range=["#F58518", "#B0B0B0"])),
        tooltip=["分组", "组", "指标", alt.Tooltip("比例:Q", format=".1%"), "记录数"],
    ).properties(width=460, height=alt.Step(11)).facet(
        row=alt.Row("分组:N", title=None, sort=[GROUPING_LABELS[g] for g in _SHOWN]),
    ).resolve_scale(y="independent").properties(title="待复核和未匹配比例（按组）")
    return _svg(chart)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    if value is None:
        return "—"
    points = round(100 * value, 1) + 0.0  # + 0.0: no "-0.0"
    return f"{points:+.1f} 个百分点"


def fairness_table_html(rows: pl.DataFrame) -> str:
    """The counts behind the shares, with the city's and the change from last month."""
    if rows.is_empty():
        return ""
    order = {g: i for i, g in enumerate(("city", *_SHOWN))}
    body = _labelled(rows).with_columns(
        pl.col("grouping").replace_strict(order, default=len(order)).alias("_o")
    ).sort("_o", "group_name").select(
        "分组", "组",
        pl.col("records").alias("记录数"), pl.col("matched").alias("已匹配"),
        pl.col("review").alias("待复核"), pl.col("unmatched").alias("未匹配"),
        pl.col("review_share").map_elements(_pct, return_dtype=pl.String).alias("待复核比例"),
        pl.col("unmatched_share").map_elements(_pct, return_dtype=pl.String).alias("未匹配比例"),
        pl.col("review_share_change").map_elements(_points, return_dtype=pl.String)
        .alias("待复核比例较上月"),
        pl.col("unmatched_share_change").map_elements(_points, return_dtype=pl.String)
        .alias("未匹配比例较上月"),
    )
    # map_elements skips nulls: a group with no record last month shows a dash
    return _table(body.with_columns(pl.col("待复核比例较上月", "未匹配比例较上月").fill_null("—")))


def fairness_section(rows: pl.DataFrame | None, *, period: str) -> str:
    """The HTML section: explanation, chart, warnings and the table of counts."""
    title = "匹配对谁更难（公平性：各组待复核和未匹配比例，整批交付）"
    if rows is None or rows.is_empty():
        return _section(title, None)
    settings = load_settings()
    city = rows.filter(pl.col("grouping") == "city")
    c = city.row(0, named=True) if city.height else None
    intro = (
        f"<p>{escape(period)} 交付的 {c['records'] if c else 0} 条记录中，全市待复核比例 "
        f"{_pct(c['review_share'] if c else None)}、未匹配比例 {_pct(c['unmatched_share'] if c else None)}。"
        "下图按姓名类型、证件号状态、区县（记录归属家庭所在区县；未匹配记录无归属）和来源分组；"
        f"某组比例超过全市的 {settings.warn_ratio:g} 倍且记录不少于 {settings.warn_min_records} 条时，"
        "运行摘要会提示。</p>"
    )
    from pipelines.fairness import fairness_warnings

    warnings = fairness_warnings(rows.filter((pl.col("source") == ALL) | (pl.col("grouping") == "source")),
                                 settings=settings)
    notes = "".join(f"<p class=\"warn\">{escape(w)}</p>" for w in warnings)
    return _section(title, fairness_chart(rows), intro + notes + fairness_table_html(rows))
