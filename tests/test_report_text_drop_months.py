"""INCOME_DROP's words name the months in force for the flag's period (issue 16).

The evidence keeps its stable codes ``avg_last3``/``avg_prev3`` whatever
``income_drop_months``/``income_drop_recent_months`` are; the sentence and the 计算值 labels say
近k个月 and 前n−k个月 of the rules in force, and read as before under the defaults 6 and 3.
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from pipelines.assess import assess_period
from pipelines.policy_cases import build_case, with_parameters
from pipelines.report.text import describe_quantities, explain_flag, parse_evidence
from pipelines.report.workbook import flag_sheet
from pipelines.rulebook import Rulebook, Rules, load_rulebook

DAY = date(2026, 10, 31)


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook()


def _drop_evidence(rulebook: Rulebook, months: int) -> tuple[dict, Rules]:
    """Assess one household whose income stopped 3 months ago, under ``income_drop_months``."""
    book = with_parameters(rulebook, {"income_drop_months": months})
    earlier = [f"2026-{m:02d}" for m in range(11 - months, 8)]
    case = {"period": "2026-10", "household": {"programme": "监测对象"}, "window_months": months,
            "records": {"pension": [{"who": "A", "month": m, "yuan": 1000} for m in earlier]}}
    result = assess_period(**build_case(case), rulebook=book)
    row = result.flags.filter(pl.col("flag") == "INCOME_DROP")
    assert row.height == 1
    return json.loads(row["evidence"][0]), book.at(DAY)


def test_the_defaults_read_as_before_and_keep_the_evidence_codes(rulebook: Rulebook) -> None:
    evidence, rules = _drop_evidence(rulebook, 6)
    assert rules.version == rulebook.at(DAY).version
    assert set(evidence["quantities"]) == {"living_members", "avg_last3", "avg_prev3"}
    text = json.dumps(evidence)
    expected = "近3个月家庭月均收入 0.00 元，前3个月月均 1,000.00 元，低于骤降阈值 700.00 元"
    assert explain_flag("INCOME_DROP", text, rules=rules) == expected
    assert explain_flag("INCOME_DROP", text) == expected
    described = describe_quantities(text, rules=rules)
    assert described == describe_quantities(text)
    assert "近3个月家庭月均收入：0.00 元；前3个月家庭月均收入：1,000.00 元" in described


def test_eight_months_split_three_against_five(rulebook: Rulebook) -> None:
    evidence, rules = _drop_evidence(rulebook, 8)
    # the evidence is the same shape: stable codes, whatever the months
    assert set(evidence["quantities"]) == {"living_members", "avg_last3", "avg_prev3"}
    assert evidence["quantities"]["avg_prev3"] == 1000
    assert rules.version != rulebook.at(DAY).version
    assert explain_flag("INCOME_DROP", json.dumps(evidence), rules=rules) == \
        "近3个月家庭月均收入 0.00 元，前5个月月均 1,000.00 元，低于骤降阈值 700.00 元"
    assert "近3个月家庭月均收入：0.00 元；前5个月家庭月均收入：1,000.00 元" in \
        describe_quantities(parse_evidence(json.dumps(evidence)), rules=rules)


def test_the_sheet_words_a_row_by_the_rules_only_under_their_version(rulebook: Rulebook) -> None:
    evidence, rules = _drop_evidence(rulebook, 8)
    row = {"period": "2026-10", "district_code": "990101", "household_id": "H1", "programme": "监测对象",
           "street": "街道", "head_name": "张三", "head_id": "110101199001011234",
           "flag": "INCOME_DROP", "evidence": json.dumps(evidence), "decision": None,
           "decision_reason": None, "decided_by": None, "decided_at": None, "re_raised": False,
           "history": []}
    flags = pl.DataFrame([{**row, "rulebook_version": rules.version},
                          {**row, "household_id": "H2", "rulebook_version": "000000000000"}])
    sheet = flag_sheet(flags, rules=rules)
    reasons = sheet["原因说明"].to_list()
    assert "前5个月月均" in reasons[0]
    # a row assessed under another version is not worded by rules it was not assessed under
    assert "前3个月月均" in reasons[1]
    assert "前5个月家庭月均收入" in sheet["计算值"][0]
