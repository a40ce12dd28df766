"""Policy cases: rules/tests/*.yaml, each a household situation and what rules.md makes of it.

A case names one household (its district, 城乡类别, programme and members), the matched records of
its members and which deliveries were missing or partial; it expects assessment quantities (yuan,
as published) and exactly the flags raised. See rules/README.md for the format.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from pipelines.assess import assess_period
from pipelines.periods import window
from pipelines.rulebook import Rulebook, load_rulebook
from pipelines.sources import EXTRACT_SOURCES

CASES_DIR = Path(__file__).resolve().parent.parent / "rules" / "tests"
HOUSEHOLD = "H0001"


def _fen(value: Any) -> int:
    amount = Decimal(str(value)) * 100
    if amount != amount.to_integral_value():
        raise ValueError(f"amount {value!r} has more than two decimals")
    return int(amount)


def _month_of(day: Any) -> str:
    return str(day)[:7]


def build_case(case: dict[str, Any]) -> dict[str, Any]:
    """The ``assess_period`` keyword arguments (less the rulebook) for one policy case."""
    period = str(case["period"])
    hh = case.get("household", {})
    members: dict[str, dict[str, Any]] = hh.get("members") or {"A": {}}
    register = pl.DataFrame(
        [
            {
                "household_id": HOUSEHOLD,
                "person_id": f"P-{key}",
                "district_code": str(hh.get("district", "990101")),
                "urban_rural": hh.get("urban_rural", "城市"),
                "programme": hh.get("programme", "低保"),
                "disability_grade": attrs.get("disability"),
                "serious_illness": attrs.get("serious_illness", "否"),
            }
            for key, attrs in members.items()
        ],
        schema={c: pl.String for c in ("household_id", "person_id", "district_code", "urban_rural",
                                       "programme", "disability_grade", "serious_illness")},
    )
    facts: dict[str, pl.DataFrame] = {}
    for source, rows in (case.get("records") or {}).items():
        facts[source] = _facts_frame(source, rows, period)
    months = window(period, max(6, int(case.get("window_months", 6))))
    missing = {(s, str(m)) for s, ms in (case.get("deliveries", {}).get("missing") or {}).items()
               for m in ms}
    partial = {(s, str(m)) for s, ms in (case.get("deliveries", {}).get("partial") or {}).items()
               for m in ms}
    deliveries = pl.DataFrame(
        [
            {"period": m, "source": s, "files_accepted": 0 if (s, m) in missing else 1,
             "files_refused": 1 if (s, m) in partial or (s, m) in missing else 0}
            for m in months for s in EXTRACT_SOURCES
        ],
        schema={"period": pl.String, "source": pl.String, "files_accepted": pl.Int64,
                "files_refused": pl.Int64},
    )
    return {"period": period, "register": register, "facts": facts, "deliveries": deliveries}


def _facts_frame(source: str, rows: list[dict[str, Any]], period: str) -> pl.DataFrame:
    out = []
    for i, r in enumerate(rows, start=1):
        row: dict[str, Any] = {
            "source": source,
            "record_no": str(r.get("record_no", f"{source}-{i}")),
            "person_id": f"P-{r['who']}",
            "link_method": r.get("link", "exact"),
        }
        if source in ("tax_wages", "pension"):
            row |= {"income_month": str(r["month"]), "amount_fen": _fen(r["yuan"]),
                    "period": str(r.get("folder", r["month"]))}
        elif source == "medical":
            row |= {"settled_on": _date(r["date"]), "self_paid_fen": _fen(r["yuan"]),
                    "period": str(r.get("folder", _month_of(r["date"])))}
        elif source == "deaths":
            row |= {"died_on": _date(r["date"]), "period": str(r.get("folder", _month_of(r["date"])))}
        else:
            row["period"] = str(r.get("folder", period))
            if source == "bank":
                row["balance_fen"] = _fen(r["yuan"])
            elif source == "real_estate":
                row |= {"unit_no": r.get("unit"), "usage": r.get("usage", "住宅")}
            elif source == "vehicles":
                row |= {"vehicle_type": r.get("type", "小型轿车"), "vehicle_status": r.get("status", "正常")}
            elif source == "business":
                row |= {"role": r.get("role", "股东"), "capital_wan": float(r["capital_wan"]),
                        "registration_status": r.get("status", "存续")}
        out.append(row)
    return pl.DataFrame(out)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for file in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text(encoding="utf-8")):
            cases.append((f"{file.stem}: {case['name']}", case))
    return cases


CASES = _load_cases()


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook()


def test_policy_cases_exist_for_every_flag() -> None:
    flagged = {f for _, c in CASES for f in c["expect"].get("flags", [])}
    assert flagged == {"INCOME_OVER_STANDARD", "ASSETS_OVER_LIMIT", "PROPERTY_OVER_LIMIT",
                       "ELIGIBLE_NOT_ENROLLED", "MARGINAL_NO_LONGER", "MEMBER_DECEASED",
                       "INCOME_DROP", "HIGH_MEDICAL_EXPENSE"}


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_policy_case(case: dict[str, Any], rulebook: Rulebook) -> None:
    result = assess_period(**build_case(case), rulebook=rulebook)
    expect = case["expect"]
    row = result.assessments.filter(pl.col("household_id") == HOUSEHOLD).row(0, named=True)
    for name, want in expect.get("quantities", {}).items():
        got = row[name]
        if want is None or isinstance(want, (bool, str)):
            assert got == want, f"{name}: {got} != {want}"
        elif isinstance(got, Decimal) or name in ("income_per_capita", "assets_per_capita"):
            assert got == Decimal(str(want)).quantize(Decimal("0.01")), f"{name}: {got} != {want}"
        else:
            assert got == want, f"{name}: {got} != {want}"
    assert sorted(result.flags["flag"].to_list()) == sorted(expect.get("flags", []))
    evidence = {f: json.loads(e) for f, e in result.flags.select("flag", "evidence").iter_rows()}
    for flag, want in (expect.get("evidence") or {}).items():
        got = evidence[flag]
        for name, value in (want.get("quantities") or {}).items():
            assert got["quantities"][name] == value, f"{flag} quantity {name}"
        for name, value in (want.get("thresholds") or {}).items():
            assert got["thresholds"][name]["value"] == value, f"{flag} threshold {name}"
        if "records" in want:
            assert sorted(r["record_no"] for r in got["records"]) == sorted(want["records"])
        if "staff_confirmed_links" in want:
            assert got["staff_confirmed_links"] == want["staff_confirmed_links"]
    for note in expect.get("notes_mention", []):
        assert any(note in n for n in result.notes), f"no note mentions {note!r}: {result.notes}"
    assert set(result.flags["rulebook_version"]) <= {row["rulebook_version"]}
