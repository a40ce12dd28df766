"""Report layer tests: masking, display widths and the Chinese sentences built from evidence."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.report.text import (
    describe_comparison,
    describe_quantities,
    describe_thresholds,
    display_width,
    explain_flag,
    format_yuan,
    mask_id,
    mask_name,
)


def _ev(quantities: dict, thresholds: dict | None = None, records: list | None = None) -> str:
    return json.dumps({
        "quantities": quantities,
        "thresholds": {k: {"value": v, "parameters": [k]} for k, v in (thresholds or {}).items()},
        "records": records or [],
    })


def _apply(expr_fn, values: list[str | None]) -> list[str | None]:
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr_fn(pl.col("v")))["v"].to_list()


def test_id_numbers_keep_four_characters_at_each_end() -> None:
    got = _apply(mask_id, ["120101198001011234", "12010519491231X", " 12010119800101123x ", "1234", "  ", None])
    assert got == ["1201**********1234", "1201*******231X", "1201**********123x", "****", None, None]


def test_names_keep_the_first_character_or_the_first_part_of_a_minority_name() -> None:
    got = _apply(mask_name, ["张伟", "欧阳娜娜", "买买提·艾力", "阿依古丽.买买提", "李 娜", "", None])
    assert got == ["张*", "欧***", "买买提·**", "阿依古丽.***", "李*", None, None]


def test_display_width_counts_cjk_and_full_width_as_two() -> None:
    got = pl.select(display_width(pl.lit(v)).alias(str(i)) for i, v in enumerate(["张伟ab", "ＡＢ1", ""])).row(0)
    assert got == (6, 5, 0)


@pytest.mark.parametrize(("value", "text"), [
    (1234.5, "1,234.50"), (0.005, "0.01"), (2.675, "2.68"), (-12.345, "-12.35"), ("1010", "1,010.00"),
])
def test_yuan_rounds_half_away_from_zero_to_the_fen(value, text) -> None:
    assert format_yuan(value) == text


def test_income_over_standard_reads_as_one_sentence_with_both_figures() -> None:
    ev = _ev({"income_per_capita": 1234.56, "living_members": 2}, {"standard": 1010})
    assert explain_flag("INCOME_OVER_STANDARD", ev, programme="低保") == \
        "家庭月人均收入 1,234.56 元，高于低保标准 1,010.00 元"


def test_tekun_household_is_compared_with_the_tekun_standard() -> None:
    ev = _ev({"income_per_capita": 1400}, {"tekun_standard": 1313})
    assert explain_flag("INCOME_OVER_STANDARD", ev, programme="特困") == \
        "家庭月人均收入 1,400.00 元，高于特困人员基本生活标准 1,313.00 元"


def test_assets_sentence_says_when_the_figure_is_a_lower_bound() -> None:
    ev = _ev({"assets_per_capita": 30000, "assets_lower_bound": True}, {"assets_limit": 24240})
    assert explain_flag("ASSETS_OVER_LIMIT", ev) == \
        "家庭人均金融资产 30,000.00 元（部分金融机构未交付，为下限），高于限额 24,240.00 元"


def test_property_names_only_the_violations_that_hold() -> None:
    thresholds = {"max_residential_units": 1, "vehicle_exempt_count": 1, "business_capital_limit_wan": 10}
    within = _ev({"residential_units": 1, "has_non_residential_unit": False, "vehicles_counted": 2,
                  "businesses_counted": 0}, thresholds)
    assert explain_flag("PROPERTY_OVER_LIMIT", within) == \
        "家庭有需计入的机动车 2 辆（可豁免 1 辆），财产状况不符合条件"
    several = _ev({"residential_units": 3, "has_non_residential_unit": True, "vehicles_counted": 1,
                   "businesses_counted": 1}, thresholds)
    text = explain_flag("PROPERTY_OVER_LIMIT", several)
    assert text.startswith("家庭名下住宅 3 套（上限 1 套），家庭名下有商业、办公或工业用房，")
    assert "机动车" not in text
    assert "1 家注册资本 10 万元及以上的存续企业" in text


def test_high_medical_expense_names_the_higher_of_its_two_lines() -> None:
    ev = _ev({"medical_out_of_pocket": 15000}, {"medical_min_amount": 10000, "medical_income_share_amount": 14000})
    assert explain_flag("HIGH_MEDICAL_EXPENSE", ev).startswith("窗口期医疗个人自付 15,000.00 元，达到阈值 14,000.00 元")


def test_marginal_names_income_and_not_assets_within_their_limit() -> None:
    ev = _ev({"income_per_capita": 1500, "assets_per_capita": 800},
             {"marginal_income_limit": 1000.5, "marginal_assets_limit": 24012})
    assert explain_flag("MARGINAL_NO_LONGER", ev) == "家庭月人均收入 1,500.00 元，高于低保边缘收入标准 1,000.50 元"


def test_deceased_and_drop_sentences() -> None:
    dead = _ev({"living_members": 0}, {}, [{"source": "deaths", "period": "2026-10", "record_no": "D1"}])
    assert explain_flag("MEMBER_DECEASED", dead) == "家庭成员有死亡登记记录 1 条，户内已无在世成员"
    drop = _ev({"avg_last3": 300, "avg_prev3": 2000}, {"income_drop_limit": 1400})
    assert explain_flag("INCOME_DROP", drop) == \
        "近3个月家庭月均收入 300.00 元，前3个月月均 2,000.00 元，低于骤降阈值 1,400.00 元"


@pytest.mark.parametrize("evidence", [None, "", "not json", "[1, 2]", '{"quantities": 3}'])
def test_odd_evidence_gives_a_plain_sentence_not_an_error(evidence) -> None:
    assert explain_flag("INCOME_OVER_STANDARD", evidence, programme="低保") == "家庭月人均收入 未知，高于低保标准"
    assert describe_quantities(evidence) == ""


def test_quantities_and_thresholds_are_listed_with_units_and_parameters() -> None:
    ev = _ev({"income_per_capita": 1234.56, "living_members": 2, "has_non_residential_unit": False},
             {"standard": 1010})
    assert describe_quantities(ev) == "家庭月人均收入：1,234.56 元；在世成员数：2；有商业/办公/工业用房：否"
    assert describe_thresholds(ev) == "低保标准：1,010.00 元（依据：standard）"


def test_comparison_vector_in_chinese_keeps_unknown_levels_as_stored() -> None:
    text = describe_comparison('{"name": "pinyin_same", "id": "one_substitution", "birth": "equal", "x": "odd"}')
    assert text == "姓名：拼音相同；证件号：一位数字不同；出生日期：一致；x：odd"
    matcher = describe_comparison('{"block": "name_no_register_id", "name": "exact", "id": "none", '
                                  '"sex": null, "name_jw": 0.9667, "candidates": 2}')
    assert matcher == ("候选查找方式：姓名相同（花名册上无可用证件号）；姓名：一致；证件号：一方无可用证件号；"
                       "姓名拼音相似度：0.9667；候选人数：2")


_ID_CHARS = "0123456789X"


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.text(alphabet=_ID_CHARS, min_size=9, max_size=20), min_size=1, max_size=5))
def test_a_masked_id_keeps_its_length_and_both_ends_and_hides_the_middle(ids: list[str]) -> None:
    for raw, masked in zip(ids, _apply(mask_id, ids), strict=True):
        assert len(masked) == len(raw)
        assert masked[:4] == raw[:4] and masked[-4:] == raw[-4:]
        assert set(masked[4:-4]) == {"*"}


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.text(alphabet="张王李欧阳买提艾力娜", min_size=2, max_size=6), min_size=1, max_size=5))
def test_a_masked_han_name_shows_only_its_first_character(names: list[str]) -> None:
    for raw, masked in zip(names, _apply(mask_name, names), strict=True):
        assert masked == raw[0] + "*" * (len(raw) - 1)
