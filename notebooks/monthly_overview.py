"""Analyst notebook: the month's flags by kind and district, their trend, and threshold sensitivity.

Reads only the pseudonymised ``analyst.*`` tables of the analyst database (read-only):
``$HEDUI_ANALYST_DB``, else ``<stem>-analyst.duckdb`` beside ``$HEDUI_WAREHOUSE`` (default
``warehouse/hedui-analyst.duckdb``). Run ``marimo edit
notebooks/monthly_overview.py`` to explore, or ``python notebooks/monthly_overview.py`` headless.
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

    return Path, alt, duckdb, mo, os, pl


@app.cell
def _(Path, duckdb, mo, os):
    # analysts open the pseudonymised analyst file beside the warehouse, never the warehouse
    _full = Path(os.environ.get("HEDUI_WAREHOUSE", "warehouse/hedui.duckdb"))
    warehouse = Path(os.environ.get("HEDUI_ANALYST_DB") or _full.with_name(_full.stem + "-analyst.duckdb"))
    if not warehouse.is_file():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist; set HEDUI_WAREHOUSE")
    con = duckdb.connect(str(warehouse), read_only=True)
    periods = [r[0] for r in con.sql(
        "SELECT DISTINCT period FROM analyst.assessments ORDER BY period").fetchall()]
    if not periods:
        raise ValueError(f"warehouse {warehouse} has no assessments yet")
    period_picker = mo.ui.dropdown(options=periods, value=periods[-1], label="期间")
    mo.md(f"# 月度概况\n\n仓库 `{warehouse}`，已有 {len(periods)} 个月的评估。")
    return con, period_picker


@app.cell
def _(period_picker):
    period_picker
    return


@app.cell
def _(con, period_picker, pl):
    period = period_picker.value
    by_district = con.sql(
        """
        SELECT district_code, flag, count(DISTINCT household_key) AS households,
               count(DISTINCT household_key) FILTER (WHERE decision = 'dismissed') AS dismissed
        FROM analyst.flags WHERE period = $p
        GROUP BY district_code, flag ORDER BY district_code, flag
        """,
        params={"p": period},
    ).pl()
    wide = by_district.pivot(on="flag", index="district_code", values="households").fill_null(0)
    assessed = con.sql(
        "SELECT district_code, count(*) AS assessed FROM analyst.assessments WHERE period = $p "
        "GROUP BY district_code ORDER BY district_code",
        params={"p": period},
    ).pl()
    overview = assessed.join(wide, on="district_code", how="left", maintain_order="left").fill_null(0)
    assert overview.height == assessed.height
    overview.select(pl.all())
    return by_district, overview, period


@app.cell
def _(alt, by_district, mo, overview, period):
    flag_chart = alt.Chart(by_district).mark_bar().encode(
        y=alt.Y("flag:N", sort="-x", title=None),
        x=alt.X("sum(households):Q", title="households flagged"),
        color=alt.Color("district_code:N", title="district"),
    ).properties(title=f"Flags by kind and district, {period}")
    mo.vstack([mo.md(f"## 标记分布 {period}"), mo.ui.table(overview), flag_chart])
    return


@app.cell
def _(alt, con, mo):
    trend = con.sql(
        """
        SELECT period, flag, count(DISTINCT household_key) AS households
        FROM analyst.flags GROUP BY period, flag ORDER BY period, flag
        """
    ).pl()
    trend_chart = alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("period:O", title="period"),
        y=alt.Y("households:Q", title="households flagged"),
        color=alt.Color("flag:N"),
    ).properties(title="Households flagged per month")
    mo.vstack([mo.md("## 趋势"), trend_chart])
    return (trend,)


@app.cell
def _(con, mo, period, pl):
    # Threshold sensitivity: households whose income per capita lies within 10% of their
    # standard (S, or T for 特困) are the ones a small change of S or of income would flip.
    margin = 0.10
    near = con.sql(
        """
        SELECT district_code, programme, income_per_capita::DOUBLE AS income,
               standard::DOUBLE AS standard,
               (income_per_capita::DOUBLE - standard::DOUBLE) / standard::DOUBLE AS distance
        FROM analyst.assessments
        WHERE period = $p AND income_per_capita IS NOT NULL AND standard > 0
        """,
        params={"p": period},
    ).pl()
    sensitivity = (
        near.filter(pl.col("distance").abs() <= margin)
        .with_columns(
            pl.when(pl.col("distance") > 0).then(pl.lit("above S, within 10%"))
            .otherwise(pl.lit("at or below S, within 10%")).alias("side")
        )
        .group_by("district_code", "programme", "side")
        .agg(pl.len().alias("households"))
        .sort("district_code", "programme", "side")
    )
    within = int(sensitivity["households"].sum())
    mo.vstack([
        mo.md(f"## 阈值敏感性\n\n{period}：月人均收入在保障标准 ±10% 以内的家庭 **{within}** 户"
              f"（共有收入数据的 {near.height} 户）。"),
        mo.ui.table(sensitivity),
    ])
    return near, sensitivity, within


@app.cell
def _(alt, mo, near, pl):
    clipped = near.with_columns(pl.col("distance").clip(-1.0, 1.0))
    distance_chart = alt.Chart(clipped).mark_bar().encode(
        x=alt.X("distance:Q", bin=alt.Bin(step=0.05), title="(income - S) / S, clipped to ±100%"),
        y=alt.Y("count():Q", title="households"),
        color=alt.Color("programme:N"),
    ).properties(title="Distance of income per capita from the standard")
    mo.vstack([mo.md("### 收入与标准的距离"), distance_chart])
    return


@app.cell
def _(con, mo):
    runs = con.sql(
        "SELECT run_id, flow, period, status, started_at, finished_at, rulebook_version, code_version "
        "FROM analyst.runs ORDER BY started_at DESC LIMIT 10"
    ).pl()
    mo.vstack([mo.md("## 最近的运行"), mo.ui.table(runs)])
    return


if __name__ == "__main__":
    app.run()
