"""Rules layer, policy cases: run a rulebook's ``tests/*.yaml`` cases against the assessment.

A case names one household (its district, 城乡类别, programme and members), the matched records of
its members, which deliveries were missing or partial, and optionally the warehouse's earlier
assessments of it (``history``, for 低保渐退); it expects assessment quantities (yuan, as
published) and exactly the flags raised. See rules/README.md for the format.

Used by ``tests/test_policy_cases.py`` on the default rulebook and by ``hedui whatif`` on a
proposed rulebook that carries its own cases.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import polars as pl
import yaml

from pipelines.assess import assess_period
from pipelines.gradual_exit import empty_history
from pipelines.periods import window
from pipelines.rulebook import Rulebook, parse_dated
from pipelines.sources import EXTRACT_SOURCES

#: the household every case describes
HOUSEHOLD = "H0001"


class PolicyCaseError(ValueError):
    """A case file that cannot be read as policy cases (message names the file)."""


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
    district = str(hh.get("district", "990101"))
    register = pl.DataFrame(
        [
            {
                "household_id": HOUSEHOLD,
                "person_id": f"P-{key}",
                "district_code": district,
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
    kwargs = {"period": period, "register": register, "facts": facts, "deliveries": deliveries}
    if case.get("history"):
        kwargs["history"] = _history_frame(case["history"], district,
                                           str(hh.get("programme", "低保")))
    return kwargs


def _history_frame(history: dict[Any, dict[str, Any]], district: str, programme: str) -> pl.DataFrame:
    """Earlier assessments of the case's household: ``{month: {income_per_capita, standard}}``."""
    rows = [{
        "period": str(month), "household_id": HOUSEHOLD,
        "district_code": str(row.get("district", district)),
        "programme": row.get("programme", programme),
        "living_members": int(row.get("living_members", 1)),
        "income_per_capita": (None if row.get("income_per_capita") is None
                              else Decimal(str(row["income_per_capita"])).quantize(Decimal("0.01"))),
        "standard": Decimal(str(row["standard"])).quantize(Decimal("0.01")),
    } for month, row in history.items()]
    return pl.DataFrame(rows, schema=empty_history().schema)


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


def load_cases(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(id, case)`` for every case of every ``*.yaml`` file of ``folder``, in file order.

    Raises
    ------
    PolicyCaseError
        Naming the file when it is not a YAML list of cases with ``name``, ``period``, ``expect``.
    """
    cases = []
    for file in sorted(Path(folder).glob("*.yaml")):
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise PolicyCaseError(f"{file}: not valid YAML ({exc})") from None
        if not isinstance(doc, list):
            raise PolicyCaseError(f"{file}: expected a list of cases")
        for i, case in enumerate(doc, start=1):
            if not isinstance(case, dict) or not {"name", "period", "expect"} <= set(case):
                raise PolicyCaseError(f"{file}: case {i} lacks name, period or expect")
            cases.append((f"{file.stem}: {case['name']}", case))
    return cases


def with_parameters(rulebook: Rulebook, overrides: dict[str, Any] | None) -> Rulebook:
    """The rulebook with some global parameters replaced for one case.

    A case says ``parameters: {gradual_exit_months: 3}`` to describe a city that adopted a value
    the default rulebook does not have yet (in force from the beginning of time), or gives dated
    values as a parameter file does, ``parameters: {assets_limit_months: {0001-01-01: 24,
    2026-10-15: 30}}``, to pin which day of P the rulebook is resolved on. A ``kind: words``
    parameter takes a list of words.
    """
    if not overrides:
        return rulebook
    params = dict(rulebook.parameters)
    for name, value in overrides.items():
        if name not in params:
            raise ValueError(f"parameter {name!r} is not in the rulebook")
        if params[name].varies_by:
            raise ValueError(f"parameter {name!r} varies by district: a case cannot override it")
        dated = value if isinstance(value, dict) else {date(1, 1, 1): value}
        params[name] = replace(params[name], series=MappingProxyType(
            {(): parse_dated(params[name], dated, f"case parameters.{name}")}))
    return replace(rulebook, parameters=MappingProxyType(params))


def check_case(case: dict[str, Any], rulebook: Rulebook) -> list[str]:
    """Run one case; the ways the result differs from what it expects (empty: it passes)."""
    rulebook = with_parameters(rulebook, case.get("parameters"))
    result = assess_period(**build_case(case), rulebook=rulebook)
    expect = case["expect"]
    problems: list[str] = []
    row = result.assessments.filter(pl.col("household_id") == HOUSEHOLD).row(0, named=True)
    for name, want in (expect.get("quantities") or {}).items():
        got = row[name]
        if want is None or isinstance(want, (bool, str)):
            ok = got == want
        elif isinstance(got, Decimal) or name in ("income_per_capita", "assets_per_capita"):
            ok = got == Decimal(str(want)).quantize(Decimal("0.01"))
        else:
            ok = got == want
        if not ok:
            problems.append(f"{name}: {got} != {want}")
    got_flags = sorted(result.flags["flag"].to_list())
    if got_flags != sorted(expect.get("flags") or []):
        problems.append(f"flags: {got_flags} != {sorted(expect.get('flags') or [])}")
    evidence = {f: json.loads(e) for f, e in result.flags.select("flag", "evidence").iter_rows()}
    for flag, want in (expect.get("evidence") or {}).items():
        if flag not in evidence:
            problems.append(f"{flag}: no evidence (flag not raised)")
            continue
        got = evidence[flag]
        for name, value in (want.get("quantities") or {}).items():
            if got["quantities"].get(name) != value:
                problems.append(f"{flag} quantity {name}: {got['quantities'].get(name)} != {value}")
        for name, value in (want.get("thresholds") or {}).items():
            have = (got["thresholds"].get(name) or {}).get("value")
            if have != value:
                problems.append(f"{flag} threshold {name}: {have} != {value}")
        if "records" in want:
            have_records = sorted(r["record_no"] for r in got["records"])
            if have_records != sorted(want["records"]):
                problems.append(f"{flag} records: {have_records} != {sorted(want['records'])}")
        if "staff_confirmed_links" in want and got["staff_confirmed_links"] != want["staff_confirmed_links"]:
            problems.append(f"{flag} staff_confirmed_links: {got['staff_confirmed_links']}")
        if "gradual_exit" in want:
            have_state = got.get("gradual_exit")
            if want["gradual_exit"] is None:
                if have_state is not None:
                    problems.append(f"{flag} gradual_exit: {have_state} != None")
            elif have_state is None or any(have_state.get(k) != v for k, v in want["gradual_exit"].items()):
                problems.append(f"{flag} gradual_exit: {have_state} != {want['gradual_exit']}")
    from pipelines.run_notes import word

    worded = [word(n) for n in result.notes]
    for note in expect.get("notes_mention") or []:
        if not any(note in n for n in worded):
            problems.append(f"no note mentions {note!r}")
    if not set(result.flags["rulebook_version"]) <= {row["rulebook_version"]}:
        problems.append("flags carry another rulebook version than the assessment")
    return problems


def run_cases(folder: Path, rulebook: Rulebook) -> tuple[int, list[tuple[str, list[str]]]]:
    """Run every case of ``folder``: ``(cases run, [(case id, problems), …] of failing ones)``."""
    cases = load_cases(folder)
    failing = []
    for case_id, case in cases:
        try:
            problems = check_case(case, rulebook)
        except (KeyError, TypeError, ValueError) as exc:
            problems = [f"the case cannot be run: {exc}"]
        if problems:
            failing.append((case_id, problems))
    return len(cases), failing
