"""Rule values that were Python constants, now dated parameters of rules/parameters/.

The 6-month INCOME_DROP comparison and its 3-vs-3 split, the vehicle types never counted, the
vehicle and business statuses counted, the business roles counted and the severe 残疾等级 are
parameter files (``kind: words`` for the word lists), validated by pipelines/rulebook.py, and
the assessment reads them from the rules in force.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.assess import assess_period
from pipelines.policy_cases import build_case
from pipelines.rulebook import DEFAULT_PARAMETERS, RulebookError, load_rulebook

DAY = date(2026, 10, 31)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "parameters"
    shutil.copytree(DEFAULT_PARAMETERS, target)
    return target


def _words(folder: Path, name: str, values: str, *, default: str | None = None) -> None:
    extra = f"version_default: {default}\n" if default else ""
    (folder / f"{name}.yaml").write_text(
        f"description: test\nunit: 类别\nreference: test\nkind: words\n{extra}values:\n{values}",
        encoding="utf-8")


def test_the_default_rulebook_states_the_former_constants() -> None:
    rules = load_rulebook().at(DAY)
    assert rules.words_of("vehicle_exempt_types") == ("普通二轮摩托车", "残疾人专用车")
    assert rules.words_of("vehicle_counted_statuses") == ("正常",)
    assert rules.words_of("severe_disability_grades") == ("一级", "二级")
    assert rules.words_of("business_roles") == ("法定代表人", "股东")
    assert rules.words_of("business_counted_statuses") == ("存续",)
    assert (rules.value("income_drop_months"), rules.value("income_drop_recent_months")) == (6, 3)


def test_a_value_equal_to_its_version_default_keeps_the_version_another_changes_it(folder: Path) -> None:
    before = load_rulebook(folder).at(DAY).version
    # a word list equal to version_default (even re-dated) leaves the version as it was
    _words(folder, "business_roles", "  0001-01-01: [法定代表人]\n  2020-01-01: [法定代表人, 股东]\n",
           default="[法定代表人, 股东]")
    assert load_rulebook(folder).at(DAY).version == before
    _words(folder, "business_roles", "  0001-01-01: [法定代表人]\n", default="[法定代表人, 股东]")
    assert load_rulebook(folder).at(DAY).version != before
    # without version_default every value is hashed
    _words(folder, "business_roles", "  0001-01-01: [法定代表人, 股东]\n")
    assert load_rulebook(folder).at(DAY).version != before


@pytest.mark.parametrize(("values", "message"), [
    ("  0001-01-01: 3\n", "not a list of words"),
    ("  0001-01-01: []\n", "not a list of words"),
    ("  0001-01-01: [股东, 股东]\n", "names a word twice"),
    ("  0001-01-01: [股东, '']\n", "not a list of words"),
])
def test_bad_word_lists_are_refused_naming_the_file(folder: Path, values: str, message: str) -> None:
    _words(folder, "business_roles", values)
    with pytest.raises(RulebookError, match=f"business_roles.yaml.*{message}"):
        load_rulebook(folder)


def test_a_missing_former_constant_is_refused(folder: Path) -> None:
    (folder / "vehicle_exempt_types.yaml").unlink()
    with pytest.raises(RulebookError, match="vehicle_exempt_types.yaml"):
        load_rulebook(folder)


def test_an_unknown_kind_is_refused(folder: Path) -> None:
    (folder / "business_roles.yaml").write_text(
        "description: t\nunit: t\nreference: t\nkind: text\nvalues:\n  0001-01-01: [股东]\n",
        encoding="utf-8")
    with pytest.raises(RulebookError, match="kind must be one of"):
        load_rulebook(folder)


BUSINESS = {"period": "2026-10", "household": {"programme": "低保"},
            "records": {"business": [{"who": "A", "role": "监事", "capital_wan": 50,
                                      "status": "在营"}]}}


def _flags(case: dict, folder: Path | None = None) -> list[str]:
    result = assess_period(**build_case(case), rulebook=load_rulebook(folder))
    return result.flags.get_column("flag").to_list()


def test_business_roles_and_statuses_are_read_from_the_rules(folder: Path) -> None:
    assert _flags(BUSINESS) == []
    _words(folder, "business_roles", "  0001-01-01: [法定代表人, 股东, 监事]\n")
    assert _flags(BUSINESS, folder) == []  # 在营 is not a status counted yet
    _words(folder, "business_counted_statuses", "  0001-01-01: [存续, 在营]\n")
    assert _flags(BUSINESS, folder) == ["PROPERTY_OVER_LIMIT"]


def test_vehicle_types_statuses_and_severe_grades_are_read_from_the_rules(folder: Path) -> None:
    case = {"period": "2026-10", "household": {"programme": "低保",
                                               "members": {"A": {"disability": "三级"}}},
            "records": {"vehicles": [{"who": "A", "type": "普通二轮摩托车", "status": "注销"}]}}
    assert _flags(case) == []
    _words(folder, "vehicle_counted_statuses", "  0001-01-01: [正常, 注销]\n")
    assert _flags(case, folder) == []  # a motorcycle is never counted
    _words(folder, "vehicle_exempt_types", "  0001-01-01: [残疾人专用车]\n")
    assert _flags(case, folder) == ["PROPERTY_OVER_LIMIT"]
    _words(folder, "severe_disability_grades", "  0001-01-01: [一级, 二级, 三级]\n")
    assert _flags(case, folder) == []  # one vehicle exempt for a severely disabled member


def _number(folder: Path, name: str, value: int) -> None:
    (folder / f"{name}.yaml").write_text(
        f"description: t\nunit: months\nreference: t\nvalues:\n  0001-01-01: {value}\n",
        encoding="utf-8")


DROP = {"period": "2026-10", "household": {"programme": "低保"},
        # 2026-05..07: 3000 a month; 2026-08: 3000; 2026-09..10: nothing
        "records": {"pension": [{"who": "A", "month": m, "yuan": 3000}
                                for m in ("2026-05", "2026-06", "2026-07", "2026-08")]}}


def test_the_income_drop_split_is_read_from_the_rules(folder: Path) -> None:
    # 3 vs 3: recent (08..10) averages 1000, earlier (05..07) 3000 -> a drop
    result = assess_period(**build_case(DROP), rulebook=load_rulebook())
    assert "INCOME_DROP" in result.flags.get_column("flag").to_list()
    # 4 vs 2 (recent 07..10 average 1500, earlier 05..06 average 3000): 1500 < 0.7 x 3000
    _number(folder, "income_drop_recent_months", 4)
    result = assess_period(**build_case(DROP), rulebook=load_rulebook(folder))
    drop = result.flags.filter(pl.col("flag") == "INCOME_DROP")
    assert drop.height == 1
    assert '"avg_last3":1500.00,"avg_prev3":3000.00' in drop.item(0, "evidence")
    assert '"income_drop_limit":{"value":2100.00' in drop.item(0, "evidence")
    # 2 months, 1 vs 1 (recent 10, earlier 09: no income): the earlier average is 0, no drop
    _number(folder, "income_drop_months", 2)
    _number(folder, "income_drop_recent_months", 1)
    result = assess_period(**build_case(DROP), rulebook=load_rulebook(folder))
    assert result.flags.filter(pl.col("flag") == "INCOME_DROP").is_empty()


def test_a_recent_part_not_shorter_than_the_drop_months_is_refused(folder: Path) -> None:
    _number(folder, "income_drop_recent_months", 6)
    with pytest.raises(RulebookError, match="income_drop_recent_months .* fewer than income_drop_months"):
        assess_period(**build_case(DROP), rulebook=load_rulebook(folder))
