"""A policy case's own parameter values (pipelines.policy_cases.with_parameters)."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.policy_cases import with_parameters
from pipelines.rulebook import RulebookError, load_rulebook


def test_dated_values_resolve_on_the_day_asked() -> None:
    rb = with_parameters(load_rulebook(), {"assets_limit_months": {date(1, 1, 1): 24,
                                                                   date(2026, 10, 15): 30}})
    assert rb.at(date(2026, 10, 14)).value("assets_limit_months") == 24
    assert rb.at(date(2026, 10, 15)).value("assets_limit_months") == 30


def test_a_single_value_and_a_word_list_hold_from_the_beginning_of_time() -> None:
    rb = with_parameters(load_rulebook(), {"gradual_exit_months": 3,
                                           "business_roles": ["法定代表人"]})
    rules = rb.at(date(1900, 1, 31))
    assert rules.value("gradual_exit_months") == 3
    assert rules.words_of("business_roles") == ("法定代表人",)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"assets_limit_months": {date(2026, 10, 15): 30, date(2026, 10, 1): 24}}, "dates must ascend"),
    ({"assets_limit_months": {"2026-10-32": 30}}, "not a date"),
    ({"business_roles": "股东"}, "not a list of words"),
    ({"assets_limit_months": "三十"}, "not a number"),
])
def test_bad_case_values_are_refused_naming_the_parameter(overrides: dict, message: str) -> None:
    with pytest.raises(RulebookError, match=f"case parameters.*{message}"):
        with_parameters(load_rulebook(), overrides)


def test_a_parameter_that_varies_by_district_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="varies by district"):
        with_parameters(load_rulebook(), {"dibao_standard": 1000})
