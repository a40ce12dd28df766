"""hedui whatif without a warehouse: statuses and costing on literal frames, and validation.

The proposal is refused before any work when invalid, naming the file and key.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.gradual_exit import empty_history
from pipelines.rulebook import DEFAULT_PARAMETERS, load_rulebook
from pipelines.whatif.compare import (
    ELIGIBLE,
    GRADUAL_EXIT,
    NOT_ELIGIBLE,
    compare,
    outcomes,
)
from pipelines.whatif.proposal import ProposalError, load_proposal

RULES = DEFAULT_PARAMETERS.parent
DISTRICTS = ["990101", "990102", "990103"]


def _assessments(rows: list[tuple[str, str, int, str | None, str]]) -> pl.DataFrame:
    """(household, programme, living members, income per capita, standard)."""
    return pl.DataFrame(
        [{"household_id": h, "district_code": "990101", "urban_rural": "城市", "programme": p,
          "living_members": n, "income_per_capita": None if i is None else Decimal(i),
          "standard": Decimal(s), "rulebook_version": "v"} for h, p, n, i, s in rows],
        schema={"household_id": pl.String, "district_code": pl.String, "urban_rural": pl.String,
                "programme": pl.String, "living_members": pl.Int64,
                "income_per_capita": pl.Decimal(18, 2), "standard": pl.Decimal(18, 2),
                "rulebook_version": pl.String})


def _flags(rows: list[tuple[str, str, dict | None]]) -> pl.DataFrame:
    return pl.DataFrame([{"household_id": h, "flag": f, "evidence": json.dumps(e or {})}
                         for h, f, e in rows],
                        schema={"household_id": pl.String, "flag": pl.String, "evidence": pl.String})


def test_status_and_benefit_follow_the_costing_rules():
    a = _assessments([
        ("H1", "低保", 3, "700.00", "1010.00"),      # (1010 − 700) × 3 = 930.00
        ("H2", "低保", 2, "1100.00", "1010.00"),     # over S: not eligible, 0
        ("H3", "特困", 1, "500.00", "1313.00"),      # T × 1 = 1313.00
        ("H4", "低保边缘", 2, "1000.00", "1010.00"),  # eligible not enrolled: (1010 − 1000) × 2
        ("H5", "监测对象", 1, "900.00", "1010.00"),   # no ELIGIBLE_NOT_ENROLLED: 0
        ("H6", "低保", 0, None, "1010.00"),           # no living member
        ("H7", "低保", 2, "1020.00", "1010.00"),     # in 渐退: keeps 2026-09's benefit
        ("H8", "低保", 1, None, "1010.00"),           # income unknown: benefit unknown
        ("H9", "低保", 1, "200.00", "1010.00"),      # assets over the limit
    ])
    f = _flags([("H2", "INCOME_OVER_STANDARD", None), ("H4", "ELIGIBLE_NOT_ENROLLED", None),
                ("H6", "MEMBER_DECEASED", None),
                ("H7", "INCOME_OVER_STANDARD", {"gradual_exit": {
                    "month": 1, "months": 6, "first_month_over": "2026-10",
                    "last_benefit_month": "2027-03", "in_gradual_exit": True}}),
                ("H9", "ASSETS_OVER_LIMIT", None), ("H9", "HIGH_MEDICAL_EXPENSE", None)])
    history = pl.DataFrame([{"period": "2026-09", "household_id": "H7", "district_code": "990101",
                             "programme": "低保", "living_members": 2,
                             "income_per_capita": Decimal("960.50"), "standard": Decimal("1010.00")}],
                           schema=empty_history().schema)
    got = {r["household_id"]: r for r in outcomes(a, f, history).iter_rows(named=True)}
    expected = {"H1": (ELIGIBLE, 93000), "H2": (NOT_ELIGIBLE, 0), "H3": (ELIGIBLE, 131300),
                "H4": (ELIGIBLE, 2000), "H5": (NOT_ELIGIBLE, 0), "H6": (NOT_ELIGIBLE, 0),
                "H7": (GRADUAL_EXIT, 9900), "H8": (ELIGIBLE, None), "H9": (NOT_ELIGIBLE, 0)}
    assert {h: (r["status"], r["benefit_fen"]) for h, r in got.items()} == expected
    assert got["H9"]["flags"] == ["ASSETS_OVER_LIMIT", "HIGH_MEDICAL_EXPENSE"]


def test_gradual_exit_without_the_month_before_is_costed_as_unknown():
    a = _assessments([("H7", "低保", 2, "1020.00", "1010.00")])
    f = _flags([("H7", "INCOME_OVER_STANDARD", {"gradual_exit": {
        "month": 2, "months": 6, "first_month_over": "2026-09", "last_benefit_month": "2027-02",
        "in_gradual_exit": True}})])
    row = outcomes(a, f, empty_history()).row(0, named=True)
    assert row["status"] == GRADUAL_EXIT and row["benefit_fen"] is None


def test_compare_counts_transitions_persons_and_cost_by_district():
    rules = load_rulebook().at(date(2026, 10, 31))
    before_a = _assessments([("H1", "低保", 3, "1050.00", "1010.00"),
                             ("H2", "低保", 2, "700.00", "1010.00"),
                             ("H3", "低保", 1, "900.00", "1010.00")])
    after_a = _assessments([("H1", "低保", 3, "1050.00", "1100.00"),
                            ("H2", "低保", 2, "700.00", "1100.00"),
                            ("H3", "低保", 1, "900.00", "1100.00")])
    before_f = _flags([("H1", "INCOME_OVER_STANDARD", {"thresholds": {"standard": {
        "value": 1010.0, "parameters": ["dibao_standard"]}}})])
    after_f = _flags([])
    before, after = (outcomes(before_a, before_f, empty_history()),
                     outcomes(after_a, after_f, empty_history()))
    c = compare(before, after, before_flags=before_f, after_flags=after_f, before_rules=rules,
                after_rules=rules)
    row = c.summary.row(0, named=True)
    assert (row["newly_eligible_households"], row["newly_eligible_persons"]) == (1, 3)
    assert row["changing_flags_households"] == 1 and row["no_longer_eligible_households"] == 0
    # by hand: H1 0 → (1100 − 1050) × 3 = 150; H2 (1010 − 700) × 2 = 620 → 800, +180;
    # H3 110 → 200, +90: 420.00 yuan a month
    assert row["benefit_diff_fen"] == 15000 + 18000 + 9000
    assert c.changed["household_id"].sort().to_list() == ["H1", "H2", "H3"]


# --------------------------------------------------------------------------- the proposal


def _proposal(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "proposal"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_the_adopted_rules_folder_is_a_valid_proposal_and_its_cases_run():
    p = load_proposal(RULES, period="2026-10", districts=DISTRICTS)
    assert p.cases_run > 90
    assert p.rulebook.at(date(2026, 10, 31)).version == p.adopted.at(date(2026, 10, 31)).version


def test_a_file_overlay_changes_only_that_parameter(tmp_path):
    folder = _proposal(tmp_path, "gradual_exit_months.yaml",
                       "description: d\nunit: months\nreference: r\nvalues:\n"
                       "  0001-01-01: 0\n  2026-10-01: 6\n")
    p = load_proposal(folder, period="2026-10", districts=DISTRICTS)
    after, before = p.rulebook.at(date(2026, 10, 31)), p.adopted.at(date(2026, 10, 31))
    assert after.values["gradual_exit_months"] == 6
    assert {k: v for k, v in after.values.items() if k != "gradual_exit_months"} == \
        {k: v for k, v in before.values.items() if k != "gradual_exit_months"}
    assert p.files == ("gradual_exit_months.yaml",)


@pytest.mark.parametrize(("name", "text", "words"), [
    ("dibao_standard.yaml",
     (DEFAULT_PARAMETERS / "dibao_standard.yaml").read_text(encoding="utf-8").replace(
         "2026-07-01: 869", "2026-07-01: 八百"),
     ["dibao_standard.yaml", "values.990102.城市.2026-07-01", "not a number"]),
    ("income_window_months.yaml",
     "description: d\nunit: months\nreference: r\nvalues:\n  2026-10-01: 6\n  2026-01-01: 12\n",
     ["income_window_months.yaml", "2026-01-01", "ascend"]),
    ("employment_cost_deduction_rate.yaml",
     "description: d\nunit: percent\nreference: r\nvalues:\n  0001-01-01: 20\n",
     ["employment_cost_deduction_rate.yaml", "unit", "ratio"]),
    ("dibao_standrd.yaml", "description: d\nunit: x\nreference: r\nvalues:\n  0001-01-01: 1\n",
     ["dibao_standrd.yaml", "没有参数 dibao_standrd"]),
    ("assets_limit_months.yaml", "description: d\nunit: months\nvalues:\n  0001-01-01: 24\n",
     ["assets_limit_months.yaml", "'reference'"]),
    ("gradual_exit_months.yaml",
     "description: d\nunit: months\nreference: r\nvalues:\n  0001-01-01: -2\n",
     ["gradual_exit_months", "at least 0"]),
])
def test_an_invalid_proposal_is_refused_naming_the_file_and_key(tmp_path, name, text, words):
    folder = _proposal(tmp_path, name, text)
    with pytest.raises(ProposalError) as err:
        load_proposal(folder, period="2026-10", districts=DISTRICTS)
    message = str(err.value)
    assert message.startswith("提案规则无效")
    for w in words:
        assert w in message


def test_a_standard_ended_for_a_district_in_scope_is_refused(tmp_path):
    text = (DEFAULT_PARAMETERS / "dibao_standard.yaml").read_text(encoding="utf-8")
    for s in ("642", "325"):  # both 城乡类别 of 990103
        text = text.replace(f"      2026-07-01: {s}\n", f"      2026-07-01: {s}\n      2026-09-01: null\n")
    folder = _proposal(tmp_path, "dibao_standard.yaml", text)
    with pytest.raises(ProposalError, match="990103"):
        load_proposal(folder, period="2026-10", districts=DISTRICTS)
    # the same proposal is fine for the districts that keep their standard
    load_proposal(folder, period="2026-10", districts=["990101"])


def test_a_proposal_whose_own_policy_cases_fail_is_refused(tmp_path):
    folder = tmp_path / "proposal"
    shutil.copytree(RULES, folder)
    (folder / "parameters" / "dibao_standard.yaml").write_text(
        (DEFAULT_PARAMETERS / "dibao_standard.yaml").read_text(encoding="utf-8").replace(
            "      2026-07-01: 1010\n    农村", "      2026-07-01: 1100\n    农村"), encoding="utf-8")
    with pytest.raises(ProposalError) as err:
        load_proposal(folder, period="2026-10", districts=DISTRICTS)
    assert "政策测试用例" in str(err.value) and "1分 above S" in str(err.value)


def test_a_missing_proposal_folder_is_refused(tmp_path):
    with pytest.raises(ProposalError, match="不存在"):
        load_proposal(tmp_path / "nowhere", period="2026-10", districts=DISTRICTS)


def test_the_parameter_named_is_the_one_behind_the_change():
    from pipelines.policy_cases import with_parameters

    day = date(2026, 10, 31)
    before_rules = load_rulebook().at(day)
    after_rules = with_parameters(load_rulebook(), {"medical_min_amount": 5000,
                                                    "gradual_exit_months": 6}).at(day)
    a = _assessments([("H1", "低保", 1, "700.00", "1010.00"),
                      ("H2", "低保", 1, "700.00", "1010.00")])
    after_f = _flags([("H1", "HIGH_MEDICAL_EXPENSE", {"thresholds": {
        "medical_min_amount": {"value": 5000.0, "parameters": ["medical_min_amount"]}}})])
    no_flags = _flags([])
    c = compare(outcomes(a, no_flags, empty_history()), outcomes(a, after_f, empty_history()),
                before_flags=no_flags, after_flags=after_f, before_rules=before_rules,
                after_rules=after_rules)
    assert c.changed_parameters == ["gradual_exit_months", "medical_min_amount"]
    assert c.changed.select("household_id", "parameters").rows() == [("H1", "medical_min_amount")]
