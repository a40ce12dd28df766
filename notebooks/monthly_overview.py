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

    from pipelines.report.layout import FLAG_LABELS

    return FLAG_LABELS, Path, alt, duckdb, mo, os, pl


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
def _(FLAG_LABELS, con, period_picker):
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
    # the table is shown once, with the chart below (a cell's last expression is displayed)
    overview = overview.rename(lambda c: FLAG_LABELS.get(c, c)).rename(
        {"district_code": "区县代码", "assessed": "评估户数"})
    return by_district, overview, period


@app.cell
def _(FLAG_LABELS, alt, by_district, mo, overview, period, pl):
    shown = by_district.select(
        pl.col("flag").replace_strict(FLAG_LABELS, default=pl.col("flag")).alias("标记"),
        pl.col("district_code").alias("区县代码"), pl.col("households").alias("户数"))
    flag_chart = alt.Chart(shown).mark_bar().encode(
        y=alt.Y("标记:N", sort="-x", title=None, axis=alt.Axis(labelLimit=400)),
        x=alt.X("sum(户数):Q", title="标记户数", axis=alt.Axis(format="d", tickMinStep=1)),
        color=alt.Color("区县代码:N", title="区县代码"),
    ).properties(title=f"{period} 各类标记户数（按区县）")
    mo.vstack([mo.md(f"## 标记分布 {period}"), mo.ui.table(overview), flag_chart])
    return


@app.cell
def _(FLAG_LABELS, alt, con, mo, pl):
    trend = con.sql(
        """
        SELECT period, flag, count(DISTINCT household_key) AS households
        FROM analyst.flags GROUP BY period, flag ORDER BY period, flag
        """
    ).pl()
    trend_shown = trend.select(
        pl.col("period").alias("期间"),
        pl.col("flag").replace_strict(FLAG_LABELS, default=pl.col("flag")).alias("标记"),
        pl.col("households").alias("户数"))
    trend_chart = alt.Chart(trend_shown).mark_line(point=True).encode(
        x=alt.X("期间:O", title="期间", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("户数:Q", title="标记户数", axis=alt.Axis(format="d", tickMinStep=1)),
        color=alt.Color("标记:N", title="标记", legend=alt.Legend(labelLimit=400)),
    ).properties(title="各月标记户数趋势")
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
            pl.when(pl.col("distance") > 0).then(pl.lit("高于标准，10% 以内"))
            .otherwise(pl.lit("不高于标准，10% 以内")).alias("side")
        )
        .group_by("district_code", "programme", "side")
        .agg(pl.len().alias("households"))
        .sort("district_code", "programme", "side")
        .rename({"district_code": "区县代码", "programme": "保障类别", "side": "位置", "households": "户数"})
    )
    within = int(sensitivity["户数"].sum())
    mo.vstack([
        mo.md(f"## 阈值敏感性\n\n{period}：月人均收入在保障标准 ±10% 以内的家庭 **{within}** 户"
              f"（共有收入数据的 {near.height} 户）。"),
        mo.ui.table(sensitivity),
    ])
    return near, sensitivity, within


@app.cell
def _(alt, mo, near, pl):
    clipped = near.select(pl.col("distance").clip(-1.0, 1.0).alias("距离"),
                          pl.col("programme").alias("保障类别"))
    distance_chart = alt.Chart(clipped).mark_bar().encode(
        x=alt.X("距离:Q", bin=alt.Bin(step=0.05), title="（月人均收入 − 标准）÷ 标准，超出 ±100% 的计为 ±100%",
                axis=alt.Axis(format="%")),
        y=alt.Y("count():Q", title="户数"),
        color=alt.Color("保障类别:N", title="保障类别"),
    ).properties(title="月人均收入与保障标准的距离")
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
