"""Properties of link_folder over generated folders: outsiders never match, one row per record."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.match import link_folder, load_matching_params

from helpers.match_frames import (
    is_valid,
    make_id,
    person,
    record,
    records_frame,
    register_frame,
    substitute,
    swap,
)

PARAMS = load_matching_params()
NAMES = ["张伟", "张玮", "李娜", "王芳", "欧阳娜娜", "买买提·艾力", "陈红"]
ON_REGISTER = [make_id(birth=f"19{70 + i}0{1 + i % 9}15", seq=f"{10 + i:03d}") for i in range(7)]
OFF_REGISTER = [make_id(birth=f"19{70 + i}0{1 + i % 9}15", seq=f"{50 + i:03d}") for i in range(7)]
REGISTER = register_frame([person(f"P{i}", ON_REGISTER[i], NAMES[i]) for i in range(7)]
                          + [person("P7", None, "张伟"), person("P8", "", "王芳")])

outsider_ids = st.one_of(st.sampled_from(OFF_REGISTER), st.none(), st.just(""),
                         st.just("99010119800101"), st.just("9901011980010112AB"))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(outsider_ids, st.sampled_from(NAMES)), min_size=1, max_size=10))
def test_people_not_on_the_register_are_never_matched(rows):
    recs = records_frame([record(str(i), x, n) for i, (x, n) in enumerate(rows)])
    links = link_folder(recs, REGISTER, params=PARAMS)
    assert links.height == len(rows)
    assert links.filter(pl.col("status") == "matched").height == 0
    assert links["person_id"].null_count() == len(rows)


def _variant(id18: str, how: int, pos: int) -> str:
    if how == 0:
        return id18
    if how == 1:
        typo = next((substitute(id18, pos, c) for c in "0123456789"
                     if c != id18[pos] and not is_valid(substitute(id18, pos, c))), id18)
        return typo
    return swap(id18, pos) if id18[pos] != id18[pos + 1] and "X" not in id18[pos:pos + 2] else id18


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 15),
                               st.sampled_from(NAMES)), min_size=1, max_size=10),
       seed=st.randoms(use_true_random=False))
def test_links_are_one_per_record_consistent_and_order_free(rows, seed):
    recs = [record(str(i), _variant(ON_REGISTER[k], how, pos), name)
            for i, (k, how, pos, name) in enumerate(rows)]
    links = link_folder(records_frame(recs), REGISTER, params=PARAMS)
    assert links["record_no"].sort().to_list() == sorted(r["record_no"] for r in recs)
    matched = links.filter(pl.col("status") == "matched")
    assert matched["person_id"].null_count() == 0
    assert links.filter(pl.col("status") != "matched")["person_id"].null_count() == \
        links.height - matched.height
    # a matched record's name always agrees with its person's: name alone never decides, nor
    # does an ID with a plainly different name
    by_no = {r["record_no"]: r for r in recs}
    names = dict(zip(REGISTER["person_id"], REGISTER["name_norm"], strict=True))
    for row in matched.iter_rows(named=True):
        rec_name, per_name = by_no[row["record_no"]]["name_norm"], names[row["person_id"]]
        assert rec_name == per_name or (rec_name, per_name) in {("张伟", "张玮"), ("张玮", "张伟")}
    shuffled = recs[:]
    seed.shuffle(shuffled)
    assert link_folder(records_frame(shuffled), REGISTER, params=PARAMS).equals(links)
