"""Rules layer: loading, validating and resolving the dated rulebook (pipelines/rulebook.py)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.assess import assess_period
from pipelines.rulebook import DEFAULT_PARAMETERS, RulebookError, load_rulebook


@pytest.fixture()
def rules_dir(tmp_path: Path) -> Path:
    target = tmp_path / "parameters"
    shutil.copytree(DEFAULT_PARAMETERS, target)
    return target


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


GLOBAL = """description: test parameter
unit: ratio
reference: test document
values:
{values}
"""


def test_default_rulebook_is_the_sample_table_of_rules_md() -> None:
    rb = load_rulebook()
    before, after = rb.at(date(2026, 6, 30)), rb.at(date(2026, 7, 1))
    assert {k: int(v) for k, v in before.standards.items()} == {
        ("990101", "城市"): 980, ("990101", "农村"): 980, ("990102", "城市"): 840,
        ("990102", "农村"): 640, ("990103", "城市"): 620, ("990103", "农村"): 300}
    assert {k: int(v) for k, v in after.standards.items()} == {
        ("990101", "城市"): 1010, ("990101", "农村"): 1010, ("990102", "城市"): 869,
        ("990102", "农村"): 667, ("990103", "城市"): 642, ("990103", "农村"): 325}
    assert {k: int(v) for k, v in after.tekun_standards.items()} == {
        ("990101", "城市"): 1313, ("990101", "农村"): 1313, ("990102", "城市"): 1217,
        ("990102", "农村"): 934, ("990103", "城市"): 835, ("990103", "农村"): 423}
    # before the T table, T = 1.3 x S rounded half up to the yuan
    assert before.tekun_standard("990102", "城市") == 1092
    assert before.tekun_standard("990103", "农村") == 390
    assert after.tekun_from_table == frozenset(after.standards)
    assert before.tekun_from_table == frozenset()


def test_value_looks_up_by_name_district_and_urban_rural() -> None:
    rules = load_rulebook().at(date(2026, 10, 31))
    assert rules.value("dibao_standard", "990102", "农村") == 667
    assert rules.value("tekun_standard", "990102", "农村") == 934
    assert rules.value("marginal_multiplier") == Decimal("1.5")
    with pytest.raises(RulebookError, match="990104"):
        rules.value("dibao_standard", "990104", "城市")
    with pytest.raises(RulebookError, match="no_such_parameter"):
        rules.value("no_such_parameter")


def test_first_standard_is_in_force_from_the_beginning_of_time() -> None:
    assert load_rulebook().at(date(1990, 1, 1)).standard("990101", "城市") == 980


def test_global_defaults_of_rules_md() -> None:
    rules = load_rulebook().at(date(2026, 10, 31))
    assert {n: rules.value(n) for n in (
        "income_window_months", "employment_cost_deduction_rate", "max_residential_units",
        "business_capital_limit_wan", "assets_limit_months", "marginal_multiplier",
        "marginal_assets_limit_months", "income_drop_ratio", "medical_min_amount",
        "medical_income_share")} == {
        "income_window_months": 6, "employment_cost_deduction_rate": Decimal("0.2"),
        "max_residential_units": 1, "business_capital_limit_wan": 10, "assets_limit_months": 24,
        "marginal_multiplier": Decimal("1.5"), "marginal_assets_limit_months": 36,
        "income_drop_ratio": Decimal("0.3"), "medical_min_amount": 10000,
        "medical_income_share": Decimal("0.5")}


def test_version_changes_with_resolved_values_only() -> None:
    rb = load_rulebook()
    assert rb.at(date(2026, 6, 1)).version == rb.at(date(2026, 6, 30)).version
    assert rb.at(date(2026, 6, 30)).version != rb.at(date(2026, 7, 1)).version
    assert len(rb.at(date(2026, 7, 1)).version) == 12


def test_rules_are_frozen() -> None:
    rules = load_rulebook().at(date(2026, 10, 31))
    with pytest.raises(TypeError):
        rules.values["income_window_months"] = Decimal(3)  # type: ignore[index]
    with pytest.raises(AttributeError):
        rules.version = "x"  # type: ignore[misc]


def test_tekun_from_ratio_rounds_half_up(rules_dir: Path) -> None:
    # 1.3 x 325 = 422.5: half up gives 423 (Python's round would give 422)
    text = (rules_dir / "dibao_standard.yaml").read_text(encoding="utf-8")
    _write(rules_dir, "dibao_standard", text.replace("0001-01-01: 300", "0001-01-01: 325"))
    assert load_rulebook(rules_dir).at(date(2026, 6, 30)).tekun_standard("990103", "农村") == 423


def test_null_ends_a_parameter(rules_dir: Path) -> None:
    _write(rules_dir, "medical_min_amount", GLOBAL.format(
        values="  0001-01-01: 10000\n  2027-01-01: null"))
    rb = load_rulebook(rules_dir)
    assert rb.at(date(2026, 12, 31)).value("medical_min_amount") == 10000
    with pytest.raises(RulebookError, match="medical_min_amount"):
        rb.at(date(2027, 1, 1)).value("medical_min_amount")


def test_require_districts_names_the_district_without_a_standard() -> None:
    rules = load_rulebook().at(date(2026, 10, 31))
    rules.require_districts(["990101", "990103"])
    with pytest.raises(RulebookError, match="990199"):
        rules.require_districts(["990101", "990199"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("  2026-07-01: 1\n  2026-01-01: 2", r"x\.yaml: values\.2026-01-01: dates must ascend"),
        ("  2026-07-01: lots", r"x\.yaml: values\.2026-07-01: value 'lots' is not a number"),
        ("  2026-07-01: true", r"x\.yaml: values\.2026-07-01: value True is not a number"),
        ("  someday: 1", r"x\.yaml: values: key 'someday' is not a date"),
        ("  2026-07-01: [1, 2]", r"x\.yaml: values\.2026-07-01: value \[1, 2\] is not a number"),
    ],
)
def test_loader_errors_name_file_and_key(rules_dir: Path, values: str, message: str) -> None:
    _write(rules_dir, "x", GLOBAL.format(values=values))
    with pytest.raises(RulebookError, match=message):
        load_rulebook(rules_dir)


@pytest.mark.parametrize("key", ["description", "unit", "reference"])
def test_loader_requires_metadata(rules_dir: Path, key: str) -> None:
    text = GLOBAL.format(values="  0001-01-01: 1")
    text = "\n".join(line for line in text.splitlines() if not line.startswith(key))
    _write(rules_dir, "x", text)
    with pytest.raises(RulebookError, match=rf"x\.yaml: key '{key}' is missing"):
        load_rulebook(rules_dir)


def test_loader_errors_on_standard_table_name_the_district(rules_dir: Path) -> None:
    text = (rules_dir / "dibao_standard.yaml").read_text(encoding="utf-8")
    _write(rules_dir, "dibao_standard", text.replace("2026-07-01: 869", "2026-07-01: 八百"))
    with pytest.raises(RulebookError, match=r"dibao_standard\.yaml: values\.990102\.城市\.2026-07-01"):
        load_rulebook(rules_dir)


def test_loader_requires_every_parameter(rules_dir: Path) -> None:
    (rules_dir / "income_drop_ratio.yaml").unlink()
    with pytest.raises(RulebookError, match=r"income_drop_ratio\.yaml"):
        load_rulebook(rules_dir)


def test_loader_rejects_invalid_yaml(rules_dir: Path) -> None:
    _write(rules_dir, "x", "description: a: b: c\n")
    with pytest.raises(RulebookError, match=r"x\.yaml: not valid YAML"):
        load_rulebook(rules_dir)


_DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


@settings(max_examples=25, deadline=None)
@given(first=_DAYS, gap=st.integers(min_value=2, max_value=4000), offset=st.data())
def test_a_day_between_two_changes_resolves_to_the_earlier_value(
    tmp_path_factory: pytest.TempPathFactory, first: date, gap: int, offset: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("rb")
    shutil.copytree(DEFAULT_PARAMETERS, folder, dirs_exist_ok=True)
    second = first + timedelta(days=gap)
    _write(folder, "income_drop_ratio", GLOBAL.format(
        values=f"  {first.isoformat()}: 0.25\n  {second.isoformat()}: 0.4"))
    rb = load_rulebook(folder)
    day = first + timedelta(days=offset.draw(st.integers(min_value=0, max_value=gap - 1)))
    assert rb.at(day).value("income_drop_ratio") == Decimal("0.25")
    assert rb.at(second).value("income_drop_ratio") == Decimal("0.4")


def test_a_fractional_window_is_refused_when_assessing(rules_dir: Path) -> None:
    _write(rules_dir, "income_window_months", GLOBAL.format(values="  0001-01-01: 6.5"))
    register = pl.DataFrame({"household_id": ["H1"], "person_id": ["p1"],
                             "district_code": ["990101"], "urban_rural": ["城市"],
                             "programme": ["低保"]})
    deliveries = pl.DataFrame(schema={"period": pl.String, "source": pl.String,
                                      "files_accepted": pl.Int64, "files_refused": pl.Int64})
    with pytest.raises(RulebookError, match="income_window_months .* 6.5"):
        assess_period(period="2026-10", register=register, facts={}, deliveries=deliveries,
                      rulebook=load_rulebook(rules_dir))
