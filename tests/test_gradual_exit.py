"""低保渐退 (pipelines/gradual_exit.py).

The walk back through earlier assessments, the workbook sentence, and that the default rulebook
(gradual_exit_months 0) changes nothing.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import gradual_exit
from pipelines.assess import assess_period
from pipelines.policy_cases import HOUSEHOLD, build_case, with_parameters
from pipelines.report.text import explain_flag
from pipelines.rulebook import RulebookError, load_rulebook

WAGES_OVER = {
    "period": "2026-10", "household": {"programme": "低保"},
    "records": {"tax_wages": [{"who": "A", "month": "2026-10", "yuan": 9000.00}]},
}


def _history(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"period": p, "household_id": h, "district_code": "990101", "programme": "低保",
          "living_members": 1, "income_per_capita": Decimal(i), "standard": Decimal(s)} for p, h, i, s in rows],
        schema=gradual_exit.empty_history().schema)


def _state(case: dict, months: int, history: pl.DataFrame | None) -> dict | None:
    rb = with_parameters(load_rulebook(), {"gradual_exit_months": months})
    result = assess_period(**build_case(case), rulebook=rb, history=history)
    ev = result.flags.filter(pl.col("flag") == "INCOME_OVER_STANDARD")["evidence"]
    assert ev.len() == 1
    return json.loads(ev[0]).get("gradual_exit")


def test_default_rulebook_has_no_gradual_exit_and_the_evidence_is_unchanged():
    rb = load_rulebook()
    assert gradual_exit.months_in_force(rb.at(date(2026, 10, 31))) == 0
    hist = _history([("2026-09", HOUSEHOLD, "1200.00", "1010.00")])
    with_h = assess_period(**build_case(WAGES_OVER), rulebook=rb, history=hist)
    without = assess_period(**build_case(WAGES_OVER), rulebook=rb)
    assert with_h.flags.equals(without.flags)
    assert "gradual_exit" not in with_h.flags["evidence"][0]


def test_a_run_of_months_over_s_counts_back_to_its_first_month():
    hist = _history([("2026-06", HOUSEHOLD, "900.00", "980.00"),
                     ("2026-07", HOUSEHOLD, "1100.00", "1010.00"),
                     ("2026-08", HOUSEHOLD, "1100.00", "1010.00"),
                     ("2026-09", HOUSEHOLD, "1100.00", "1010.00"),
                     # another household's rows never count for this one
                     ("2026-05", "H0002", "1100.00", "980.00")])
    assert _state(WAGES_OVER, 6, hist) == {
        "month": 4, "months": 6, "first_month_over": "2026-07", "last_benefit_month": "2026-12",
        "in_gradual_exit": True}
    assert _state(WAGES_OVER, 3, hist)["in_gradual_exit"] is False


def test_a_month_the_district_was_assessed_without_the_household_ends_the_run():
    # 2026-08 was assessed (another household of the district has a row) but not this household
    hist = _history([("2026-07", HOUSEHOLD, "1100.00", "1010.00"),
                     ("2026-08", "H0002", "500.00", "1010.00"),
                     ("2026-09", HOUSEHOLD, "1100.00", "1010.00")])
    assert _state(WAGES_OVER, 6, hist)["first_month_over"] == "2026-09"


def test_unknown_income_in_a_stored_month_ends_the_run():
    hist = _history([("2026-08", HOUSEHOLD, "1100.00", "1010.00")]).vstack(
        pl.DataFrame([{"period": "2026-09", "household_id": HOUSEHOLD, "district_code": "990101",
                       "programme": "低保", "living_members": 1, "income_per_capita": None,
                       "standard": Decimal("1010.00")}], schema=gradual_exit.empty_history().schema))
    assert _state(WAGES_OVER, 6, hist)["month"] == 1


def test_a_negative_or_fractional_parameter_is_refused():
    for bad in (-1, 1.5):
        rb = with_parameters(load_rulebook(), {"gradual_exit_months": bad})
        with pytest.raises(RulebookError, match="gradual_exit_months"):
            assess_period(**build_case(WAGES_OVER), rulebook=rb)


def test_the_workbook_sentence_says_month_k_of_n_and_the_last_month():
    ev = json.dumps({"quantities": {"income_per_capita": 1200.0}, "thresholds": {
        "standard": {"value": 1010.0, "parameters": ["dibao_standard"]}},
        "gradual_exit": {"month": 2, "months": 6, "first_month_over": "2026-09",
                         "last_benefit_month": "2027-02", "in_gradual_exit": True}})
    text = explain_flag("INCOME_OVER_STANDARD", ev, programme="低保")
    assert "渐退期第 2 个月（共 6 个月）" in text and "2027 年 2 月" in text
    ended = json.loads(ev)
    ended["gradual_exit"].update(month=7, in_gradual_exit=False)
    assert "已于 2027 年 2 月停发" in explain_flag("INCOME_OVER_STANDARD", json.dumps(ended), programme="低保")
    plain = json.loads(ev)
    del plain["gradual_exit"]
    assert "渐退" not in explain_flag("INCOME_OVER_STANDARD", json.dumps(plain), programme="低保")


def test_earlier_assessments_read_the_warehouse_and_this_runs_own_months(tmp_path: Path):
    wh = tmp_path / "hedui.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("""CREATE TABLE assessments (period VARCHAR, household_id VARCHAR,
        district_code VARCHAR, programme VARCHAR, living_members INTEGER,
        income_per_capita DECIMAL(18,2), standard DECIMAL(18,2))""")
    con.execute("""INSERT INTO assessments VALUES ('2026-07','H1','990101','低保',1,1100,1010),
        ('2026-08','H1','990101','低保',1,900,1010), ('2026-10','H1','990101','低保',1,1100,1010)""")
    con.close()
    before = wh.read_bytes()
    scratch = tmp_path / "scratch"
    (scratch / "assess-2026-08").mkdir(parents=True)
    _history([("2026-08", "H1", "1200.00", "1010.00")]).write_parquet(
        scratch / "assess-2026-08" / "assessments.parquet")
    got = gradual_exit.earlier_assessments(wh, scratch, "2026-09").sort("period")
    assert got["period"].to_list() == ["2026-07", "2026-08"]  # P and later are not read
    assert got["income_per_capita"].to_list() == [Decimal("1100.00"), Decimal("1200.00")]
    assert wh.read_bytes() == before
    assert gradual_exit.earlier_assessments(tmp_path / "absent.duckdb", None, "2026-09").height == 0
