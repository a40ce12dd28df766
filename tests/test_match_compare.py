"""Comparison levels: name, ID, birth date, sex and district, and the similarity invariants."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.match import load_matching_params
from pipelines.match.blocking import PIDX, RID, prepare_records, prepare_register
from pipelines.match.compare import compare_pairs, id_edit, jaro_winkler, pinyin_same

from helpers.match_frames import (
    is_valid,
    legacy15,
    make_id,
    person,
    record,
    records_frame,
    register_frame,
    substitute,
    swap,
)

PARAMS = load_matching_params()
A = make_id(birth="19800101", seq="011")


def _compare(rec: dict, per: dict) -> dict:
    recs, reg = prepare_records(records_frame([rec])), prepare_register(register_frame([per]))
    pairs = pl.DataFrame({RID: [0], PIDX: [0], "block": ["test"]})
    return compare_pairs(pairs, recs, reg, params=PARAMS).row(0, named=True)


def _name_level(rec_name, reg_name, *, rec_norm=None, reg_norm=None) -> str:
    return _compare(record("1", A, rec_name, name_norm=rec_norm),
                    person("P1", A, reg_name, name_norm=reg_norm))["name"]


@pytest.mark.parametrize(("rec_name", "reg_name", "rec_norm", "level"), [
    ("张伟", "张伟", None, "exact"),
    (" 张伟 ", "张伟", None, "exact"),
    ("張偉", "张伟", "张伟", "folded"),
    ("张 伟", "张伟", None, "folded"),
    ("买买提艾力", "买买提·艾力", None, "folded"),
    ("买买提.艾力", "买买提·艾力", "买买提·艾力", "folded"),
    ("张玮", "张伟", None, "pinyin_same"),
    ("张朝", "张超", None, "pinyin_same"),        # 朝 usually zhao, but can be typed as chao
    ("善田芳", "单田芳", None, "pinyin_same"),    # 单 as a surname reads shan
    ("欧阳娜", "欧阳娜娜", None, "truncation"),    # the record truncated
    ("买买提", "买买提·艾力", None, "truncation"),
    ("张三", "张山", None, "jw_high"),            # zhangsan / zhangshan: similar, not the same
    ("李娜", "王芳", None, "different"),
])
def test_name_levels(rec_name, reg_name, rec_norm, level):
    assert _name_level(rec_name, reg_name, rec_norm=rec_norm) == level


def test_register_name_truncated_is_a_truncation_too():
    assert _name_level("欧阳娜娜", "欧阳娜") == "truncation"


def test_one_character_is_not_a_truncation():
    assert _name_level("张", "张伟") != "truncation"


def test_truncation_works_both_ways_and_keeps_two_characters():
    assert _name_level("欧阳", "欧阳娜娜") == "truncation"
    assert _name_level("欧阳娜娜", "欧阳") == "truncation"
    assert _name_level("买买提·艾", "买买提·艾力") == "truncation"


def test_blank_name_is_unknown():
    assert _name_level(None, "张伟") == "unknown"


def _id_level(rec_id, reg_id) -> str:
    return _compare(record("1", rec_id, "张伟"), person("P1", reg_id, "张伟"))["id"]


def _typo(id18: str, pos: int) -> str:
    for c in "0123456789":
        if c != id18[pos] and not is_valid(substitute(id18, pos, c)):
            return substitute(id18, pos, c)
    raise AssertionError("no typo")


def test_id_levels():
    assert _id_level(A, A) == "equal"
    assert _id_level(legacy15(A), A) == "converted_15"
    assert _id_level(A, legacy15(A)) == "converted_15"
    assert _id_level(_typo(A, 12), A) == "one_substitution"
    swapped = swap(A, 7) if A[7] != A[8] else swap(A, 9)
    assert _id_level(swapped, A) == "transposition"
    assert _id_level(make_id(seq="022"), A) == "other"
    assert _id_level(None, A) == "none"
    assert _id_level(A, None) == "none"
    assert _id_level("1234", A) == "none"


def test_two_typos_are_other():
    assert _id_level(_typo(_typo(A, 3), 12), A) == "other"


def test_birth_sex_and_district_levels():
    same = _compare(record("1", A, "张伟"), person("P1", A, "张伟"))
    assert (same["birth"], same["sex"], same["district"]) == ("equal", "equal", "equal")
    moved = _compare(record("1", A, "张伟"),
                     person("P1", A, "张伟", birth_on=date(1980, 1, 2), sex="女", district_code="990102"))
    assert (moved["birth"], moved["sex"], moved["district"]) == ("different", "different", "different")
    blank = _compare(record("1", None, "张伟"), person("P1", A, "张伟"))
    assert (blank["birth"], blank["sex"], blank["district"]) == ("unknown", "unknown", "unknown")


def test_birth_of_a_checksum_invalid_id_is_read_from_its_digits():
    typo = _typo(A, 16)
    assert _compare(record("1", typo, "张伟"), person("P1", A, "张伟"))["birth"] == "equal"


def test_id_edit_kinds():
    got = id_edit(pl.Series(["123456", "123456", "123456", "123456", None]),
                  pl.Series(["123456", "123457", "124356", "654321", "1"])).to_list()
    assert got == ["same", "substitution", "transposition", "other", None]


def test_pinyin_same_is_per_character_and_needs_equal_length():
    got = pinyin_same(pl.Series(["张伟", "张伟", "张伟", None]),
                      pl.Series(["章玮", "张伟明", "李伟", "张伟"])).to_list()
    assert got == [True, False, False, None]


cjk = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(names=st.lists(cjk, min_size=1, max_size=5))
def test_similarity_of_a_value_with_itself_is_one(names):
    series = pl.Series(names)
    assert jaro_winkler(series, series).to_list() == [1.0] * len(names)
    assert pinyin_same(series, series).to_list() == [True] * len(names)


@settings(max_examples=30, deadline=None)
@given(a=st.lists(cjk, min_size=1, max_size=5), b=st.lists(cjk, min_size=1, max_size=5))
def test_pinyin_same_is_symmetric(a, b):
    n = min(len(a), len(b))
    left, right = pl.Series(a[:n]), pl.Series(b[:n])
    assert pinyin_same(left, right).to_list() == pinyin_same(right, left).to_list()
