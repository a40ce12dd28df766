"""Assess layer: assess_period on small literal frames (households, scope, rulebook edits)."""

from __future__ import annotations

import json
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pandera.errors
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.assess import ASSESSMENT_COLUMNS, FLAG_COLUMNS, _round_half_away, assess_period
from pipelines.periods import window
from pipelines.policy_cases import HOUSEHOLD, build_case
from pipelines.rulebook import DEFAULT_PARAMETERS, Rulebook, RulebookError, load_rulebook
from pipelines.sources import EXTRACT_SOURCES
from schemas.published import ASSESSMENTS, FLAGS_TABLE

P = "2026-10"


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook()


def _register(rows: list[tuple[str, str, str, str, str]]) -> pl.DataFrame:
    """(household_id, person_id, district_code, urban_rural, programme) rows."""
    return pl.DataFrame(
        [{"household_id": h, "person_id": p, "district_code": d, "urban_rural": u, "programme": g,
          "disability_grade": None, "serious_illness": "否"} for h, p, d, u, g in rows],
        schema={c: pl.String for c in ("household_id", "person_id", "district_code", "urban_rural",
                                       "programme", "disability_grade", "serious_illness")},
    )


def _deliveries(months: list[str], *, skip: frozenset[tuple[str, str]] = frozenset()) -> pl.DataFrame:
    return pl.DataFrame(
        [{"period": m, "source": s, "files_accepted": 0 if (s, m) in skip else 1, "files_refused": 0}
         for m in months for s in EXTRACT_SOURCES])


def _pension(rows: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    """(folder period, record_no, person_id, amount_fen) rows, paid in the folder's month."""
    return pl.DataFrame(
        [{"source": "pension", "period": f, "record_no": r, "person_id": p, "link_method": "exact",
          "income_month": f, "amount_fen": a} for f, r, p, a in rows])


def _flags(result: Any) -> set[tuple[str, str]]:
    return set(result.flags.select("household_id", "flag").iter_rows())


def test_records_count_for_the_household_of_p_register_not_of_the_folder(rulebook: Rulebook) -> None:
    # p3 lived in H1 when 2026-08 was delivered; on P's register p3 is in H2
    register = _register([("H1", "p1", "990101", "城市", "低保"),
                          ("H2", "p2", "990101", "城市", "低保"),
                          ("H2", "p3", "990101", "城市", "低保")])
    facts = {"pension": _pension([("2026-08", "r1", "p3", 1_500_000),
                                  ("2026-09", "r2", "ghost", 9_900_000)])}
    result = assess_period(period=P, register=register, facts=facts,
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook)
    rows = {r["household_id"]: r for r in result.assessments.iter_rows(named=True)}
    assert rows["H1"]["benefit_income"] == Decimal("0.00")
    assert rows["H2"]["benefit_income"] == Decimal("15000.00")
    # 15000 / 6 / 2 = 1250 > 1010
    assert rows["H2"]["income_per_capita"] == Decimal("1250.00")
    assert _flags(result) == {("H2", "INCOME_OVER_STANDARD")}


def test_death_of_someone_not_on_p_register_raises_nothing(rulebook: Rulebook) -> None:
    register = _register([("H1", "p1", "990101", "城市", "低保")])
    deaths = pl.DataFrame({"source": ["deaths"], "period": [P], "record_no": ["d1"],
                           "person_id": ["p9"], "link_method": ["exact"],
                           "died_on": [pl.Series(["2026-10-02"]).str.to_date()[0]]})
    result = assess_period(period=P, register=register, facts={"deaths": deaths},
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook)
    assert result.flags.is_empty()
    assert result.assessments["living_members"].to_list() == [1]


def test_districts_limit_the_households_assessed(rulebook: Rulebook) -> None:
    register = _register([("H1", "p1", "990101", "城市", "监测对象"),
                          ("H2", "p2", "990102", "农村", "监测对象")])
    result = assess_period(period=P, register=register, facts={},
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook,
                           districts=["990102"])
    assert result.assessments["household_id"].to_list() == ["H2"]
    assert _flags(result) == {("H2", "ELIGIBLE_NOT_ENROLLED")}


@pytest.mark.parametrize("districts", [None, ["990101", "990199"]])
def test_a_district_in_scope_without_a_standard_fails_naming_it(
    rulebook: Rulebook, districts: list[str] | None
) -> None:
    register = _register([("H1", "p1", "990101", "城市", "低保"),
                          ("H2", "p2", "990199", "城市", "低保")])
    with pytest.raises(RulebookError, match="990199"):
        assess_period(period=P, register=register, facts={},
                      deliveries=_deliveries(window(P, 6)), rulebook=rulebook, districts=districts)


def test_unknown_urban_rural_leaves_the_standard_unknown(rulebook: Rulebook) -> None:
    register = _register([("H1", "p1", "990101", "城镇", "低保")])
    facts = {"pension": _pension([(P, "r1", "p1", 9_000_000)])}
    result = assess_period(period=P, register=register, facts=facts,
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook)
    assert result.assessments["standard"].to_list() == [None]
    assert result.flags.is_empty()
    assert {"code": "no_standard", "households": 1, "period": P} in result.notes


def test_outputs_match_the_published_schemas(rulebook: Rulebook) -> None:
    register = _register([("H1", "p1", "990101", "城市", "低保"),
                          ("H2", "p2", "990103", "农村", "特困"),
                          ("H3", "p3", "990102", "城市", "低保边缘")])
    facts = {"pension": _pension([(P, "r1", "p1", 9_000_000), (P, "r2", "p3", 12_345_678)])}
    result = assess_period(period=P, register=register, facts=facts,
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook)
    assert tuple(result.assessments.columns) == ASSESSMENT_COLUMNS
    assert tuple(result.flags.columns) == FLAG_COLUMNS
    ASSESSMENTS.validate(result.assessments)
    FLAGS_TABLE.validate(result.flags)
    assert result.assessments["standard"].to_list() == [Decimal("1010.00"), Decimal("423.00"),
                                                        Decimal("869.00")]
    evidence = result.flags.filter(pl.col("household_id") == "H3")["evidence"].item()
    # money is a JSON number in yuan with two decimals: 123456.78 / 6 = 20576.13
    assert re.search(r'"income_per_capita":20576\.13[,}]', evidence)
    assert json.loads(evidence)["thresholds"]["marginal_income_limit"] == {
        "value": 1303.5, "parameters": ["marginal_multiplier", "dibao_standard"]}
    assert set(result.flags["rulebook_version"]) == {rulebook.at(
        pl.Series(["2026-10-31"]).str.to_date()[0]).version}


def test_notes_never_carry_ids(rulebook: Rulebook) -> None:
    register = _register([("H-SECRET", "110105194912310021", "990101", "城市", "低保")])
    result = assess_period(period=P, register=register, facts={},
                           deliveries=_deliveries(window(P, 6), skip=frozenset({("bank", P)})),
                           rulebook=rulebook)
    assert result.notes
    assert not any("110105194912310021" in n or "H-SECRET" in n for n in result.notes)


def test_facts_lacking_a_rule_column_fail_naming_source_and_column(rulebook: Rulebook) -> None:
    register = _register([("H1", "p1", "990101", "城市", "低保")])
    with pytest.raises(ValueError, match=r"facts\['bank'\] lacks column\(s\) balance_fen"):
        assess_period(period=P, register=register,
                      facts={"bank": pl.DataFrame({"period": [P], "record_no": ["b"],
                                                   "person_id": ["p1"], "link_method": ["exact"]})},
                      deliveries=_deliveries(window(P, 6)), rulebook=rulebook)


def test_editing_a_standard_in_yaml_changes_the_flags(tmp_path: Path) -> None:
    case = {"period": P, "household": {"programme": "低保"},
            "records": {"pension": [{"who": "A", "month": P, "yuan": 6300}]}}
    before = assess_period(**build_case(case), rulebook=load_rulebook())
    assert before.flags["flag"].to_list() == ["INCOME_OVER_STANDARD"]
    folder = tmp_path / "parameters"
    shutil.copytree(DEFAULT_PARAMETERS, folder)
    path = folder / "dibao_standard.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("2026-07-01: 1010", "2026-07-01: 1050"),
                    encoding="utf-8")
    after = assess_period(**build_case(case), rulebook=load_rulebook(folder))
    assert after.flags.is_empty()
    assert after.assessments["standard"].to_list() == [Decimal("1050.00")]
    assert after.assessments["rulebook_version"][0] != before.assessments["rulebook_version"][0]


def test_a_shorter_window_divides_by_its_own_months_but_income_drop_keeps_six(tmp_path: Path) -> None:
    folder = tmp_path / "parameters"
    shutil.copytree(DEFAULT_PARAMETERS, folder)
    (folder / "income_window_months.yaml").write_text(
        "description: W\nunit: months\nreference: test\nvalues:\n  0001-01-01: 3\n", encoding="utf-8")
    case = {"period": P, "household": {"programme": "低保"},
            "records": {"pension": [{"who": "A", "month": "2026-05", "yuan": 9000},
                                    {"who": "A", "month": "2026-06", "yuan": 9000},
                                    {"who": "A", "month": "2026-07", "yuan": 9000},
                                    {"who": "A", "month": "2026-10", "yuan": 3030}]}}
    result = assess_period(**build_case(case), rulebook=load_rulebook(folder))
    row = result.assessments.row(0, named=True)
    assert row["income_per_capita"] == Decimal("1010.00")  # 3030 / 3 months of W
    assert set(result.flags["flag"]) == {"INCOME_DROP"}


def _eligible_case(pension_fen: int, wage_fen: int, bank_fen: int, members: int) -> dict[str, Any]:
    return {
        "period": P,
        "household": {"programme": "低保边缘",
                      "members": {chr(65 + i): {} for i in range(members)}},
        "records": {
            "pension": [{"who": "A", "month": P, "yuan": Decimal(pension_fen) / 100}],
            "tax_wages": [{"who": "A", "month": "2026-09", "yuan": Decimal(wage_fen) / 100}],
            "bank": [{"who": "A", "yuan": Decimal(bank_fen) / 100}],
        },
    }


@settings(max_examples=20, deadline=None)
@given(
    pension=st.integers(0, 2_000_000), wage=st.integers(0, 2_000_000),
    bank=st.integers(0, 6_000_000), members=st.integers(1, 3),
    more_pension=st.integers(0, 1_000_000), more_wage=st.integers(0, 1_000_000),
)
def test_more_income_never_makes_a_household_newly_eligible(
    pension: int, wage: int, bank: int, members: int, more_pension: int, more_wage: int
) -> None:
    rb = load_rulebook()
    low = assess_period(**build_case(_eligible_case(pension, wage, bank, members)), rulebook=rb)
    high = assess_period(**build_case(
        _eligible_case(pension + more_pension, wage + more_wage, bank, members)), rulebook=rb)
    low_flags, high_flags = set(low.flags["flag"]), set(high.flags["flag"])
    if "ELIGIBLE_NOT_ENROLLED" in high_flags:
        assert "ELIGIBLE_NOT_ENROLLED" in low_flags
    if "MARGINAL_NO_LONGER" in low_flags:
        assert "MARGINAL_NO_LONGER" in high_flags
    assert (high.assessments["income_per_capita"][0] >= low.assessments["income_per_capita"][0])
    assert low.assessments["household_id"].to_list() == [HOUSEHOLD]


def test_an_empty_register_gives_empty_tables(rulebook: Rulebook) -> None:
    result = assess_period(period=P, register=_register([]), facts={},
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook)
    assert result.assessments.is_empty() and result.flags.is_empty()
    assert tuple(result.flags.columns) == FLAG_COLUMNS
    ASSESSMENTS.validate(result.assessments)


def test_a_register_lacking_a_column_fails_naming_it(rulebook: Rulebook) -> None:
    with pytest.raises(ValueError, match="register lacks column"):
        assess_period(period=P, register=_register([]).drop("programme"), facts={},
                      deliveries=_deliveries(window(P, 6)), rulebook=rulebook)


def test_rows_not_matched_count_nowhere(rulebook: Rulebook) -> None:
    register = _register([("H1", "p1", "990101", "城市", "低保")])
    pension = _pension([(P, "r1", "p1", 9_000_000), (P, "r2", "p1", 9_000_000)]).with_columns(
        status=pl.Series(["review", "matched"]))
    result = assess_period(period=P, register=register, facts={"pension": pension},
                           deliveries=_deliveries(window(P, 6)), rulebook=rulebook)
    assert result.assessments["benefit_income"].to_list() == [Decimal("90000.00")]


@settings(max_examples=200, deadline=None)
@given(num=st.integers(-10**15, 10**15), den=st.integers(1, 10**6))
def test_per_capita_rounding_is_half_away_from_zero(num: int, den: int) -> None:
    got = pl.select(_round_half_away(pl.lit(num, dtype=pl.Int128), den)).item()
    with localcontext() as ctx:
        ctx.prec = 50
        want = (Decimal(num) / Decimal(den)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert got == int(want)


@pytest.mark.parametrize("evidence", ['{"quantities":{},"thresholds":{}}', "not json",
                                      '{"quantities":{},"records":[]}'])
def test_flags_schema_refuses_evidence_without_its_parts(evidence: str) -> None:
    flags = pl.DataFrame({"period": [P], "household_id": ["H1"], "district_code": ["990101"],
                          "flag": ["MEMBER_DECEASED"], "evidence": [evidence],
                          "rulebook_version": ["abc"]})
    with pytest.raises(pandera.errors.SchemaError, match="evidence_json"):
        FLAGS_TABLE.validate(flags)
