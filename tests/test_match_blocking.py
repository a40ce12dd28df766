"""Blocking: ID neighbours, each blocking rule, and the pair-set invariants."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.match.blocking import (
    BLOCK_ORDER,
    PIDX,
    RID,
    build_candidate_pairs,
    id_neighbours,
    prepare_records,
    prepare_register,
)

from helpers.match_frames import (
    check_char,
    is_valid,
    make_id,
    person,
    record,
    records_frame,
    register_frame,
    substitute,
    swap,
)

bodies = st.text(alphabet="0123456789", min_size=17, max_size=17)


def _pairs(recs: list[dict], reg: list[dict], **kw) -> pl.DataFrame:
    r, g = prepare_records(records_frame(recs)), prepare_register(register_frame(reg))
    return build_candidate_pairs(r, g, **kw)


@settings(max_examples=60, deadline=None)
@given(body=bodies, pos=st.integers(0, 17), char=st.sampled_from("0123456789X"))
def test_neighbours_of_a_one_digit_typo_include_the_original(body, pos, char):
    original = body + check_char(body)
    if pos < 17 and char == "X" or original[pos] == char:
        return
    typo = substitute(original, pos, char)
    assert not is_valid(typo)  # MOD 11-2 catches every single wrong digit
    found = id_neighbours(pl.Series([typo]))
    assert original in found["neighbour"].to_list()
    assert found.filter(pl.col("neighbour") == original)["edit"].to_list() == ["substitution"]


@settings(max_examples=60, deadline=None)
@given(body=bodies, pos=st.integers(0, 16))
def test_neighbours_of_a_neighbour_swap_include_the_original(body, pos):
    original = body + check_char(body)
    typo = swap(original, pos)
    if typo == original or "X" in typo[:17]:
        return
    assert not is_valid(typo)
    found = id_neighbours(pl.Series([typo]))
    assert original in found.filter(pl.col("edit") == "transposition")["neighbour"].to_list()


@settings(max_examples=40, deadline=None)
@given(body=bodies, pos=st.integers(0, 16), char=st.sampled_from("0123456789"))
def test_neighbours_are_valid_distinct_and_never_the_input(body, pos, char):
    typo = substitute(body + check_char(body), pos, char)
    found = id_neighbours(pl.Series([typo]))
    assert all(is_valid(n) for n in found["neighbour"])
    assert typo not in found["neighbour"].to_list()
    assert found.select("index", "neighbour").is_unique().all()


@settings(max_examples=30, deadline=None)
@given(body=bodies)
def test_a_checksum_valid_id_has_no_valid_neighbour(body):
    # why a valid ID is never neighbour-searched: no other valid ID is one typo away
    assert id_neighbours(pl.Series([body + check_char(body)])).height == 0


def test_id_exact_block_pairs_equal_usable_ids_and_nothing_else():
    a, b = make_id(seq="011"), make_id(seq="022")
    pairs = _pairs([record("1", a, "张伟"), record("2", b, "李娜")],
                   [person("P1", a, "张伟"), person("P2", make_id(seq="033"), "李娜")])
    assert pairs.rows() == [(0, 0, "id_exact")]


def test_id_neighbour_block_finds_the_person_one_typo_away():
    a = make_id(seq="011")
    typo = substitute(a, 9, "7" if a[9] != "7" else "6")
    pairs = _pairs([record("1", typo, "张伟")], [person("P1", a, "张伟"), person("P2", make_id(seq="044"), "张伟")])
    assert pairs.filter(pl.col("block") == "id_neighbour").select(PIDX).to_series().to_list() == [0]


def test_valid_id_not_on_register_gets_no_id_pairs_even_near_a_register_id():
    a = make_id(seq="011")
    # a valid ID two digits away from a register ID (a namesake's), same name and birth date
    other = next(i for i in (make_id(seq=f"{s:03d}") for s in range(12, 999)) if
                 sum(x != y for x, y in zip(i, a, strict=True)) == 2)
    pairs = _pairs([record("1", other, "张伟")], [person("P1", a, "张伟")])
    assert pairs.height == 0


def test_valid_id_not_on_register_pairs_only_with_namesakes_lacking_a_usable_id():
    pairs = _pairs([record("1", make_id(seq="099"), "张伟")],
                   [person("P1", make_id(seq="011"), "张伟"), person("P2", None, "张伟",
                                                                     birth_on=date(1980, 1, 1))])
    assert pairs.rows() == [(0, 1, "name_no_register_id")]


def test_id_less_records_block_on_name_and_on_pinyin():
    pairs = _pairs([record("1", None, "张伟"), record("2", "", "張偉", name_norm="张伟"),
                    record("3", None, "张玮")],
                   [person("P1", make_id(seq="011"), "张伟"), person("P2", make_id(seq="022"), "王芳")])
    assert sorted(pairs.rows()) == [(0, 0, "name"), (1, 0, "name"), (2, 0, "pinyin")]


def test_bad_checksum_without_neighbour_blocks_on_name_and_birth_from_its_digits():
    a = make_id(birth="19750315", seq="011")
    far = substitute(substitute(a, 15, "9" if a[15] != "9" else "8"), 2, "5" if a[2] != "5" else "4")
    assert not is_valid(far) or far == a
    rec = record("1", far, "张伟")
    if rec["id_status"] != "bad_checksum":
        rec = record("1", substitute(far, 17, "0" if far[17] != "0" else "1"), "张伟")
    pairs = _pairs([rec], [person("P1", a, "张伟"), person("P2", make_id(birth="19750316"), "张伟")])
    assert pairs.filter(pl.col("block").is_in(["name_birth", "pinyin_birth"]))[PIDX].to_list() == [0]


def test_a_pair_found_by_several_rules_keeps_the_first_and_appears_once():
    a = make_id(seq="011")
    confirmed = pl.DataFrame({RID: [0], PIDX: [0]})
    pairs = _pairs([record("1", a, "张伟")], [person("P1", a, "张伟")], confirmed=confirmed)
    assert pairs.rows() == [(0, 0, "id_exact")]


ids_pool = [make_id(seq=f"{i:03d}") for i in range(1, 7)]
id_values = st.one_of(
    st.sampled_from(ids_pool), st.none(), st.just("12345"),
    st.tuples(st.sampled_from(ids_pool), st.integers(0, 16), st.sampled_from("0123456789"))
    .map(lambda t: substitute(*t)),
    st.tuples(st.sampled_from(ids_pool), st.integers(0, 15)).map(lambda t: swap(*t)),
)
names = st.sampled_from(["张伟", "张玮", "李娜", "王芳", "買買提·艾力", "买买提艾力"])


@settings(max_examples=40, deadline=None)
@given(recs=st.lists(st.tuples(id_values, names), max_size=12),
       reg=st.lists(st.tuples(id_values, names), min_size=1, max_size=8))
def test_blocking_never_emits_a_duplicate_or_a_pair_outside_record_x_register(recs, reg):
    records = [record(str(i), x, n) for i, (x, n) in enumerate(recs)]
    register = [person(f"P{i}", x, n) for i, (x, n) in enumerate(reg)]
    pairs = _pairs(records, register)
    assert pairs.select(RID, PIDX).is_unique().all()
    assert pairs[RID].is_between(0, len(records) - 1).all()
    assert pairs[PIDX].is_between(0, len(register) - 1).all()
    assert set(pairs["block"]) <= set(BLOCK_ORDER)
    # a record never meets itself: both sides are different tables, and a record with a usable
    # ID is only ever paired through that ID or, when it is off the register, with ID-less persons
    usable = {i for i, r in enumerate(records) if r["id_status"] in ("valid", "converted_15")}
    for rid, _pidx, block in pairs.rows():
        if rid in usable:
            assert block in ("id_exact", "name_no_register_id", "pinyin_no_register_id")
