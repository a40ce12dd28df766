"""Tests of the name normalisation layer (pipelines/normalize/names.py)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.normalize.names import add_name_columns, fold_names, normalize_name


@pytest.mark.parametrize("raw", [" 张伟 ", "张 伟", "张\u3000伟", "\t张伟\n"])
def test_whitespace_anywhere_is_removed(raw: str) -> None:
    assert normalize_name(raw) == ("张伟", "zhang wei")


def test_traditional_characters_fold_to_simplified() -> None:
    assert normalize_name("陳麗華") == ("陈丽华", "chen li hua")
    assert normalize_name("張偉國") == ("张伟国", "zhang wei guo")


def test_full_width_letters_fold_to_half_width() -> None:
    assert normalize_name("ＡＢ张")[0] == "AB张"


@pytest.mark.parametrize("sep", ["·", ".", "•", "・", "．", "‧", "･", "∙", " · "])
def test_minority_name_separators_unify(sep: str) -> None:
    assert normalize_name(f"买买提{sep}艾力") == ("买买提·艾力", "mai mai ti ai li")


def test_a_minority_name_without_separator_is_kept_as_delivered() -> None:
    assert normalize_name("买买提艾力") == ("买买提艾力", "mai mai ti ai li")


@pytest.mark.parametrize(("name", "pinyin"), [
    ("单田芳", "shan tian fang"), ("曾国藩", "zeng guo fan"), ("区家明", "ou jia ming"),
    ("仇英", "qiu ying"), ("解缙", "xie jin"), ("查良镛", "zha liang yong"),
    ("朴志勇", "piao zhi yong"), ("盖聂", "ge nie"), ("乐嘉", "yue jia"), ("覃海", "qin hai"),
    ("缪斯", "miao si"), ("翟林", "zhai lin"),
])
def test_surname_readings(name: str, pinyin: str) -> None:
    assert normalize_name(name)[1] == pinyin


@pytest.mark.parametrize(("name", "pinyin"), [
    ("欧阳修", "ou yang xiu"), ("司马光", "si ma guang"), ("尉迟恭", "yu chi gong"),
    ("长孙无忌", "zhang sun wu ji"), ("单于华", "chan yu hua"),
])
def test_compound_surnames_take_two_characters(name: str, pinyin: str) -> None:
    assert normalize_name(name)[1] == pinyin


def test_surname_reading_applies_only_in_first_position() -> None:
    # 单 inside a given name keeps its ordinary reading
    assert normalize_name("王单")[1] == "wang dan"


def test_traditional_surname_takes_its_surname_reading_after_folding() -> None:
    assert normalize_name("區家明") == ("区家明", "ou jia ming")


def test_blank_and_null_names_are_null() -> None:
    assert normalize_name("") == (None, None)
    assert normalize_name("   ") == (None, None)
    assert normalize_name(None) == (None, None)


def test_columns_join_back_in_row_order_with_repeats() -> None:
    frame = pl.DataFrame({"k": [1, 2, 3, 4, 5], "name_raw": ["陳偉", "李娜", None, "陈伟", "陳偉"]})
    out = add_name_columns(frame)
    assert out["k"].to_list() == [1, 2, 3, 4, 5]
    assert out["name_norm"].to_list() == ["陈伟", "李娜", None, "陈伟", "陈伟"]
    assert out["name_pinyin"].to_list() == ["chen wei", "li na", None, "chen wei", "chen wei"]


def test_fold_names_has_one_row_per_distinct_name() -> None:
    out = fold_names(pl.Series(["张伟", "张伟", "王芳", None]))
    assert out.height == 2
    assert out.columns == ["name_base", "name_norm", "name_pinyin"]


def test_an_empty_frame_gets_typed_columns() -> None:
    out = add_name_columns(pl.DataFrame({"name_raw": []}, schema={"name_raw": pl.String}))
    assert out.schema["name_norm"] == pl.String and out.schema["name_pinyin"] == pl.String


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="张伟陳麗華欧阳单曾 ·.•・买提艾力ＡＢ", max_size=8))
def test_normalisation_is_idempotent(name: str) -> None:
    norm, pinyin = normalize_name(name)
    assert normalize_name(norm) == (norm, pinyin)
