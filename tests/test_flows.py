"""End-to-end runs on data/sample/: the contract's accounting, idempotency and scoping."""

from __future__ import annotations

import json
import shutil

import duckdb
import polars as pl
import pytest

from pipelines import runner
from pipelines.flags import FLAGS

from conftest import SAMPLE, SAMPLE_PERIOD, read_delivered_csv, run_local_monthly
from helpers.warehouse_dump import CONTRACT_TABLES
from helpers.warehouse_dump import table_dump as _table_dump


def _q(path, sql, params=None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql, params=params).pl() if params is None else con.execute(sql, params).pl()
    finally:
        con.close()


def _analyst_dump(path):
    from pipelines.warehouse import analyst_path

    con = duckdb.connect(str(analyst_path(path)), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analyst' "
            "AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY 1").fetchall()]
        assert tables, "the analyst file has no tables"
        # like the warehouse: every table but the runs log
        return {t: con.sql(f"SELECT * FROM analyst.{t} ORDER BY ALL").fetchall()
                for t in tables if t != "runs"}
    finally:
        con.close()


def test_every_input_row_is_accounted_for(sample_warehouse):
    run = _q(sample_warehouse, "SELECT inputs, status FROM runs")
    assert run["status"].to_list() == ["succeeded"]
    inputs = json.loads(run["inputs"][0])
    assert {e["period"] for e in inputs} == {"2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"}
    for e in inputs:
        if e["role"] == "extract":
            assert e["rows_in"] == e["rows_linked"] + e["rows_quarantined"] + e["rows_duplicate"], e["file"]
        assert len(e["sha256"]) == 64
    links = _q(sample_warehouse, "SELECT count(*) AS n FROM links")["n"][0]
    assert links == sum(e["rows_linked"] for e in inputs if e["role"] == "extract")
    dup = _q(sample_warehouse, """SELECT count(*) AS n FROM (SELECT source, period, record_no
            FROM links GROUP BY ALL HAVING count(*) > 1)""")["n"][0]
    assert dup == 0


def test_links_cover_every_clean_record_exactly_once(sample_warehouse):
    missing = _q(sample_warehouse, """
        SELECT count(*) AS n FROM stg_tax_wages s
        ANTI JOIN links l ON l.source = s.source AND l.period = s.period AND l.record_no = s.record_no""")
    assert missing["n"][0] == 0
    bad = _q(sample_warehouse, """SELECT count(*) AS n FROM links
        WHERE (status = 'matched') != (person_id IS NOT NULL AND household_id IS NOT NULL)""")
    assert bad["n"][0] == 0


def test_published_tables_follow_the_contract(sample_warehouse):
    a = _q(sample_warehouse, "SELECT * FROM assessments")
    assert set(a["period"].unique()) == {SAMPLE_PERIOD}
    # values the contract asks for (the DDL guarantees the columns, not these)
    assert a["household_id"].is_unique().all()
    assert (a["living_members"] <= a["members"]).all() and (a["living_members"] >= 0).all()
    assert (a["standard"] > 0).all() and (a["residential_units"].drop_nulls() >= 0).all()
    assert a["rulebook_version"].str.contains(r"^[0-9a-f]{12}$").all()
    f = _q(sample_warehouse, "SELECT * FROM flags")
    assert set(f["flag"].unique()) <= set(FLAGS)
    assert (f["rulebook_version"] == a["rulebook_version"][0]).all()
    for ev in f["evidence"].to_list()[:50]:
        e = json.loads(ev)
        assert {"quantities", "thresholds", "records"} <= set(e)
    assert f.join(a, on=["period", "household_id"], how="anti").height == 0


@pytest.mark.slow
def test_the_same_command_twice_gives_the_same_warehouse(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse)
    first = {t: _table_dump(warehouse, t) for t in CONTRACT_TABLES}
    analyst_first = _analyst_dump(warehouse)
    run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse)
    second = {t: _table_dump(warehouse, t) for t in CONTRACT_TABLES}
    assert first == second
    # every other table too: only the runs log grows
    assert _analyst_dump(warehouse) == analyst_first
    runs = _q(warehouse, "SELECT run_id FROM runs")
    assert runs.height == 2 and runs["run_id"].n_unique() == 2


@pytest.mark.slow
def test_a_district_run_replaces_only_its_own_rows(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse)
    before = _q(warehouse, "SELECT district_code, count(*) AS n FROM assessments GROUP BY ALL ORDER BY ALL")
    others_before = _table_dump(warehouse, "flags")
    run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse, districts=["990102"])
    after = _q(warehouse, "SELECT district_code, count(*) AS n FROM assessments GROUP BY ALL ORDER BY ALL")
    assert before.to_dicts() == after.to_dicts()
    assert _table_dump(warehouse, "flags") == others_before
    runs = _q(warehouse, "SELECT districts FROM runs ORDER BY started_at")
    assert runs["districts"].to_list() == [None, "990102"]


@pytest.mark.slow
def test_a_district_run_on_an_empty_warehouse_assesses_only_that_district(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", SAMPLE_PERIOD, warehouse, districts=["990103"])
    districts = _q(warehouse, "SELECT DISTINCT district_code FROM assessments")["district_code"].to_list()
    assert districts == ["990103"]
    # links and quarantine are always complete, whatever the district
    assert _q(warehouse, "SELECT count(DISTINCT period) AS n FROM links")["n"][0] == 6


def _copy_sample(tmp_path, months=None):
    incoming = tmp_path / "incoming"
    for folder in sorted((SAMPLE / "incoming").iterdir()):
        if months is None or folder.name in months:
            shutil.copytree(folder, incoming / folder.name)
    return incoming


@pytest.mark.slow
def test_a_missing_earlier_register_leaves_that_folders_records_unmatched(tmp_path):
    incoming = _copy_sample(tmp_path)
    (incoming / "2026-08" / "register.csv").unlink()
    warehouse = tmp_path / "hedui.duckdb"
    summary = run_local_monthly(incoming, SAMPLE_PERIOD, warehouse)
    methods = _q(warehouse, "SELECT DISTINCT status, method FROM links WHERE period = '2026-08'")
    assert methods.to_dicts() == [{"status": "unmatched", "method": "no_register"}]
    assert "2026-08" in summary["folders_without_register"]
    assert {"code": "register_missing", "period": "2026-08"} in summary["notes"]


@pytest.mark.slow
@pytest.mark.parametrize("breakage", ["no_incoming", "no_period_folder", "no_register", "register_column"])
def test_contract_failures_raise_and_leave_the_tables_untouched(tmp_path, breakage):
    incoming = _copy_sample(tmp_path)
    warehouse = tmp_path / "hedui.duckdb"
    run_local_monthly(incoming, "2026-09", warehouse)
    before = {t: _table_dump(warehouse, t) for t in CONTRACT_TABLES}
    if breakage == "no_incoming":
        incoming = tmp_path / "nowhere"
    elif breakage == "no_period_folder":
        shutil.rmtree(incoming / SAMPLE_PERIOD)
    elif breakage == "no_register":
        (incoming / SAMPLE_PERIOD / "register.csv").unlink()
    else:
        reg = incoming / SAMPLE_PERIOD / "register.csv"
        frame = read_delivered_csv(reg)
        frame.rename({"姓名": "名字"}).write_csv(reg)
    with pytest.raises(runner.RunFailed) as exc:
        run_local_monthly(incoming, SAMPLE_PERIOD, warehouse)
    message = str(exc.value)
    expected = {"no_incoming": "nowhere", "no_period_folder": SAMPLE_PERIOD,
                "no_register": "register.csv", "register_column": "姓名"}[breakage]
    assert expected in message
    assert {t: _table_dump(warehouse, t) for t in CONTRACT_TABLES} == before


def test_a_district_without_a_standard_fails_naming_it(tmp_path):
    from pipelines.rulebook import RulebookError

    incoming = _copy_sample(tmp_path, months={"2026-10"})
    reg = incoming / "2026-10" / "register.csv"
    frame = read_delivered_csv(reg)
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("990199"))
                               .otherwise(pl.col("区县代码")).alias("区县代码"))
    frame.write_csv(reg)
    with pytest.raises((RulebookError, runner.RunFailed), match="990199"):
        run_local_monthly(incoming, "2026-10", tmp_path / "hedui.duckdb")


@pytest.mark.slow
def test_quarterly_assesses_each_month_and_summarises(tmp_path):
    warehouse = tmp_path / "hedui.duckdb"
    ctx = runner.RunContext.create(flow="quarterly", incoming=SAMPLE / "incoming", warehouse=warehouse)
    try:
        summary = runner.execute_quarterly(ctx, "2026Q3")
    finally:
        ctx.cleanup()
    periods = _q(warehouse, "SELECT DISTINCT period FROM assessments ORDER BY 1")["period"].to_list()
    assert periods == ["2026-07", "2026-08", "2026-09"]
    qs = _q(warehouse, "SELECT * FROM quarter_summary")
    assert qs.height > 0 and set(qs["quarter"]) == {"2026Q3"}
    flagged = _q(warehouse, """SELECT district_code, flag, count(DISTINCT household_id) AS n
                               FROM flags GROUP BY ALL""")
    joined = qs.join(flagged, on=["district_code", "flag"])
    assert joined.height == qs.height
    assert (joined["households_flagged"] == joined["n"]).all()
    assert (qs["households_new"] <= qs["households_flagged"]).all()
    assert summary["prior_month_assessed"] is True
    assert _q(warehouse, "SELECT period FROM runs")["period"].to_list() == ["2026Q3"]


@pytest.mark.slow
def test_quarterly_new_is_null_when_the_month_before_cannot_be_assessed(tmp_path):
    incoming = _copy_sample(tmp_path)
    (incoming / "2026-06" / "register.csv").unlink()
    warehouse = tmp_path / "hedui.duckdb"
    ctx = runner.RunContext.create(flow="quarterly", incoming=incoming, warehouse=warehouse)
    try:
        runner.execute_quarterly(ctx, "2026Q3")
    finally:
        ctx.cleanup()
    qs = _q(warehouse, "SELECT households_new FROM quarter_summary")
    assert qs.height > 0 and qs["households_new"].null_count() == qs.height


@pytest.mark.slow
def test_an_absent_folder_of_the_window_is_reported_and_the_run_goes_on(tmp_path):
    incoming = _copy_sample(tmp_path)
    shutil.rmtree(incoming / "2026-07")
    summary = run_local_monthly(incoming, SAMPLE_PERIOD, tmp_path / "hedui.duckdb")
    assert summary["folders_missing"] == ["2026-07"]
    assert {"code": "folder_absent", "period": "2026-07"} in summary["notes"]
    assert any(n["code"] == "income_drop_not_computed" for n in summary["notes"])


@pytest.mark.slow
def test_notes_say_medical_and_deaths_are_summed_not_averaged(tmp_path):
    incoming = _copy_sample(tmp_path)
    for m in ("2026-06", "2026-07"):
        for src in ("medical.csv", "deaths.csv", "tax_wages.csv"):
            (incoming / m / src).unlink()
    summary = run_local_monthly(incoming, SAMPLE_PERIOD, tmp_path / "hedui.duckdb")
    notes = summary["notes"]
    assert {"code": "income_source_partial", "source": "tax_wages", "delivered": 4, "months": 6,
            "period": SAMPLE_PERIOD} in notes
    for s in ("medical", "deaths"):
        assert {"code": "source_partial", "source": s, "delivered": 4, "months": 6,
                "period": SAMPLE_PERIOD} in notes
