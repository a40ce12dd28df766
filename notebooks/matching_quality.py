"""Analyst notebook: how well extract records link to the register — scores, review queue, rates.

Reads only the pseudonymised ``analyst.*`` tables of the analyst database (read-only):
``$HEDUI_ANALYST_DB``, else ``<stem>-analyst.duckdb`` beside ``$HEDUI_WAREHOUSE`` (default
``warehouse/hedui-analyst.duckdb``). Run ``marimo edit
notebooks/matching_quality.py`` to explore, or ``python notebooks/matching_quality.py`` headless.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import os
    from pathlib import Path

    import altair as alt
    import duckdb
    import marimo as mo
    import polars as pl

    from pipelines.report.layout import SOURCE_LABELS

    #: link status as the charts show it
    STATUS_LABELS = {"matched": "已匹配", "review": "待复核", "unmatched": "未匹配"}
    return Path, SOURCE_LABELS, STATUS_LABELS, alt, duckdb, mo, os, pl


@app.cell
def _(Path, duckdb, mo, os):
    # analysts open the pseudonymised analyst file beside the warehouse, never the warehouse
    _full = Path(os.environ.get("HEDUI_WAREHOUSE", "warehouse/hedui.duckdb"))
    warehouse = Path(os.environ.get("HEDUI_ANALYST_DB") or _full.with_name(_full.stem + "-analyst.duckdb"))
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist; set HEDUI_WAREHOUSE")
    con = duckdb.connect(str(warehouse), read_only=True)
    periods = [r[0] for r in con.sql("SELECT DISTINCT period FROM analyst.links ORDER BY period").fetchall()]
    if not periods:
        raise ValueError(f"warehouse {warehouse} has no links yet")
    period_picker = mo.ui.dropdown(options=periods, value=periods[-1], label="交付期间")
    mo.md(f"# 匹配质量\n\n仓库 `{warehouse}`，{len(periods)} 个交付月份。")
    return con, period_picker


@app.cell
def _(period_picker):
    period_picker
    return


@app.cell
def _(con, mo, period_picker, pl):
    period = period_picker.value
    by_source = con.sql(
        "SELECT source, status, count(*) AS records FROM analyst.links WHERE period = $p "
        "GROUP BY source, status ORDER BY source, status",
        params={"p": period},
    ).pl()
    rates = (
        by_source.pivot(on="status", index="source", values="records")
        .fill_null(0)
        .with_columns(total=pl.sum_horizontal(pl.exclude("source")))
    )
    for status in ("matched", "review", "unmatched"):
        if status not in rates.columns:
            rates = rates.with_columns(pl.lit(0, dtype=pl.Int64).alias(status))
    rates = rates.with_columns(
        (pl.col(s) / pl.col("total")).round(4).alias(f"{s}_rate") for s in ("matched", "review", "unmatched")
    ).sort("source")
    assert (rates["matched"] + rates["review"] + rates["unmatched"] == rates["total"]).all()
    mo.vstack([mo.md(f"## 各来源匹配率 {period}"), mo.ui.table(rates)])
    return by_source, period, rates


@app.cell
def _(SOURCE_LABELS, STATUS_LABELS, alt, by_source, mo, period, pl):
    rate_chart = alt.Chart(by_source.select(
        pl.col("source").replace_strict(SOURCE_LABELS, default=pl.col("source")).alias("来源"),
        pl.col("status").replace_strict(STATUS_LABELS, default=pl.col("status")).alias("状态"),
        pl.col("records").alias("记录数"),
    )).mark_bar().encode(
        y=alt.Y("来源:N", title=None, axis=alt.Axis(labelLimit=400)),
        x=alt.X("sum(记录数):Q", stack="normalize", title="占该来源记录的比例", axis=alt.Axis(format="%")),
        color=alt.Color("状态:N", title="匹配状态", scale=alt.Scale(domain=list(STATUS_LABELS.values()))),
    ).properties(title=f"{period} 各来源记录的匹配状态")
    mo.vstack([rate_chart])
    return


@app.cell
def _(STATUS_LABELS, alt, con, mo, period, pl):
    scores = con.sql(
        "SELECT source, status, method, score, match_weight FROM analyst.links "
        "WHERE period = $p AND score IS NOT NULL",
        params={"p": period},
    ).pl()
    score_chart = alt.Chart(scores.select(
        pl.col("score").alias("匹配概率"),
        pl.col("status").replace_strict(STATUS_LABELS, default=pl.col("status")).alias("状态"),
    )).mark_bar().encode(
        x=alt.X("匹配概率:Q", bin=alt.Bin(step=0.05), title="匹配概率"),
        y=alt.Y("count():Q", title="记录数"),
        color=alt.Color("状态:N", title="匹配状态", scale=alt.Scale(domain=list(STATUS_LABELS.values()))),
    ).properties(title=f"{period} 匹配概率分布")
    methods = scores.group_by("status", "method").len("records").sort("status", "records", descending=[False, True])
    mo.vstack([mo.md("## 得分分布"), score_chart, mo.md("### 各判定方法的记录数"), mo.ui.table(methods)])
    return methods, scores


@app.cell
def _(SOURCE_LABELS, alt, con, mo, pl):
    queue = con.sql(
        """
        SELECT period, source, count(*) AS in_review,
               count(DISTINCT candidate_person_key) AS candidate_persons
        FROM analyst.links WHERE status = 'review'
        GROUP BY period, source ORDER BY period, source
        """
    ).pl()
    queue_chart = alt.Chart(queue.select(
        pl.col("period").alias("交付月份"),
        pl.col("source").replace_strict(SOURCE_LABELS, default=pl.col("source")).alias("来源"),
        pl.col("in_review").alias("待复核记录数"),
    )).mark_bar().encode(
        x=alt.X("交付月份:O", title="交付月份", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sum(待复核记录数):Q", title="待复核记录数"),
        color=alt.Color("来源:N", title="来源", legend=alt.Legend(labelLimit=400)),
    ).properties(title="各交付月份的待复核记录")
    total_review = int(queue["in_review"].sum())
    mo.vstack([mo.md(f"## 待复核队列\n\n共 **{total_review}** 条记录待复核。"), queue_chart, mo.ui.table(queue)])
    return queue, total_review


@app.cell
def _(con, mo, period):
    quarantine = con.sql(
        "SELECT source, reason, count(*) AS rows FROM analyst.quarantine WHERE period = $p "
        "GROUP BY source, reason ORDER BY rows DESC, source, reason",
        params={"p": period},
    ).pl()
    mo.vstack([mo.md(f"## 隔离原因 {period}"), mo.ui.table(quarantine)])
    return (quarantine,)


if __name__ == "__main__":
    app.run()
