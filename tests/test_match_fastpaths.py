"""Match fast paths (benchmarks/README.md): each gives exactly what the plain computation gives."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.match import _KEY, _repeats_adjacent, _sorted_by_key, link_folder, load_matching_params
from pipelines.match.blocking import PIDX, RID, build_candidate_pairs, prepare_records, prepare_register

from helpers.match_frames import make_id, person, record, records_frame, register_frame

# short texts over an alphabet that makes prefixes, NULs, CJK and nulls likely
texts = st.one_of(st.none(), st.text(alphabet=["a", "b", "\x00", "记", "1"], max_size=3))


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(texts, texts, texts), max_size=12, unique=True))
def test_sorting_by_the_joined_key_orders_rows_as_the_multi_column_sort(rows):
    frame = pl.DataFrame(rows, schema=dict.fromkeys(_KEY, pl.String), orient="row")
    assert _sorted_by_key(frame).equals(frame.sort(_KEY), null_equal=True)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(texts, texts, texts), max_size=12))
def test_adjacent_repeats_are_found_exactly_when_a_key_repeats(rows):
    frame = pl.DataFrame(rows, schema=dict.fromkeys(_KEY, pl.String), orient="row")
    repeats = frame.height > frame.unique().height
    assert _repeats_adjacent(_sorted_by_key(frame)) is repeats


def test_a_repeated_key_is_still_named_in_the_error():
    recs = records_frame([record("r1", make_id("110105", "19800101", "001"), "张三"),
                          record("r1", make_id("110105", "19800101", "002"), "李四")])
    reg = register_frame([person("p1", make_id("110105", "19800101", "001"), "张三")])
    with pytest.raises(ValueError, match="record_no r1"):
        link_folder(recs, reg, params=load_matching_params())


def test_name_blocks_keep_the_lowest_register_rows_of_the_record_names_only():
    # 12 namesakes of the record (capped at 10, lowest _pidx first) among 30 other people
    namesakes = [person(f"p{i:02d}", None, "王伟") for i in range(12)]
    others = [person(f"q{i:02d}", make_id("110105", f"198001{i + 1:02d}", "001"), f"李{i}") for i in range(30)]
    reg = prepare_register(register_frame(namesakes + others).sort("person_id"))
    recs = prepare_records(records_frame([record("r1", None, "王伟")]))
    pairs = build_candidate_pairs(recs, reg, max_name_candidates=10)
    expected = reg.filter(pl.col("name_norm") == "王伟").sort(PIDX).head(10)[PIDX].to_list()
    assert pairs.filter(pl.col(RID) == 0)[PIDX].to_list() == expected
    assert set(pairs["block"]) == {"name"}
