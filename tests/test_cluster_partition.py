"""A folder linked in K partitions (``pipelines.match.partition``) gives ``link_folder``'s links.

Small literal folders built so that a record's candidates live in other hash buckets than the
record: checksum-invalid IDs (one digit wrong, two digits swapped) whose register person's own
ID hashes elsewhere, records without ID routed by name with more namesakes than the blocking
cap, the same person delivered by several departments, a valid ID off the register with a
namesake lacking a register ID, staff decisions. Every K of 1, 2, 3, 5, 8 must give the same links
(every column, same order) and the same fitted model; a hypothesis test does the same over
generated folders. The sample city through the cluster path is in tests/test_cluster.py.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipelines import cluster_link, runner
from pipelines.match import link_folder_with_model, load_matching_params
from pipelines.match.partition import (
    PART,
    link_folder_partitioned,
    plan_folder,
    route_records,
)

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


def _typo(id18: str, pos: int) -> str:
    """``id18`` with digit ``pos`` changed so that the check digit fails."""
    return next(substitute(id18, pos, c) for c in "0123456789"
                if c != id18[pos] and not is_valid(substitute(id18, pos, c)))


IDS = [make_id(birth=f"19{60 + i:02d}0{1 + i % 9}1{i % 10}", seq=f"{100 + i:03d}") for i in range(30)]
#: twelve namesakes (more than the cap of 10 per name block), two of them without register ID
NAMESAKES = [person(f"P{i:02d}", IDS[i], "张伟") for i in range(10)] + \
    [person("P10", None, "张伟"), person("P11", "", "张伟")]
OTHERS = [person("P12", IDS[12], "李娜"), person("P13", IDS[13], "王芳"),
          person("P14", IDS[14], "欧阳娜娜"), person("P15", IDS[15], "买买提·艾力"),
          person("P16", IDS[16], "陈红"), person("P17", IDS[17], "章伟"),
          person("P18", None, "刘洋"), person("P19", IDS[19], "刘洋"),
          person("P20", legacy15(IDS[20]), "赵敏")]
REGISTER = register_frame(NAMESAKES + OTHERS)
OFF = make_id(birth="19990909", seq="555")


def _records() -> pl.DataFrame:
    rows = []
    # the same person from several departments (same ID, same name)
    for i, src in enumerate(("tax_wages", "pension", "bank", "medical")):
        rows.append(record(f"d{i}", IDS[12], "李娜", source=src))
    # checksum-invalid IDs: one wrong digit at each position, and neighbour swaps
    for pos in range(0, 17, 2):
        rows.append(record(f"t{pos}", _typo(IDS[13], pos), "王芳"))
    rows += [record("s1", swap(IDS[16], 7) if IDS[16][7] != IDS[16][8] else _typo(IDS[16], 3), "陈红"),
             record("s2", _typo(IDS[3], 9), "张伟"), record("s3", _typo(IDS[17], 11), "章伟")]
    # no usable ID: blank, malformed, Excel number; common name beyond the cap
    rows += [record("n1", None, "张伟"), record("n2", "", "张伟", source="bank"),
             record("n3", "12345", "张伟"), record("n4", None, "刘洋"),
             record("n5", None, "章伟"), record("n6", IDS[5], "张伟", excel=True),
             record("n7", None, "买买提艾力"), record("n8", None, None)]
    # a valid ID off the register, with namesakes lacking a register ID
    rows += [record("o1", OFF, "张伟"), record("o2", OFF, "刘洋", source="pension"),
             record("o3", OFF, "王五", source="bank")]
    # exact IDs, a converted legacy ID, a name that only sounds alike, a different name
    rows += [record(f"e{i}", IDS[i], "张伟") for i in range(10)]
    rows += [record("c1", legacy15(IDS[20]), "赵敏"), record("c2", IDS[20], "赵敏", source="bank"),
             record("p1", IDS[14], "欧阳娜娜"), record("m1", IDS[15], "王五")]
    return records_frame(rows)


DECISIONS = pl.DataFrame(
    [("tax_wages", None, "刘洋", "P18", "confirmed"), ("tax_wages", IDS[4], "张伟", "P04", "rejected")],
    schema=["source", "id_norm", "name_norm", "person_id", "decision"], orient="row")


@pytest.mark.parametrize("params", [PARAMS, replace(PARAMS, u_sample_pairs=60)],
                         ids=["every-pair-u", "sampled-u"])
@pytest.mark.parametrize("decisions", [None, DECISIONS], ids=["no-decisions", "decisions"])
def test_every_k_gives_the_links_and_model_of_one_process(params, decisions):
    recs = _records()
    expected, model = link_folder_with_model(recs, REGISTER, params=params, decisions=decisions)
    # the folder exercises what it claims: typo repairs, name-only review, off-register IDs
    methods = set(expected["method"])
    assert {"id_exact", "id_one_substitution", "id_converted_15", "name_only",
            "valid_id_not_on_register"} <= methods
    if decisions is not None:
        assert "confirmed" in methods
    for k in (1, 2, 3, 5, 8):
        got, got_model = link_folder_partitioned(recs, REGISTER, params=params, k=k,
                                                 decisions=decisions)
        assert_frame_equal(got, expected)
        assert got_model == model, f"k={k}: the model differs"


def test_typo_records_find_candidates_that_live_in_other_buckets():
    """The test above is not vacuous: typo'd IDs and their persons' IDs hash apart.

    The record's partition still holds the person (copied there by the blocking rules).
    """
    recs = _records()
    apart = 0
    for k in range(2, 9):
        plan = plan_folder(recs, REGISTER, params=PARAMS, k=k)
        for part in plan.partitions:
            typo = part.recs.filter(pl.col("record_no").str.starts_with("t"))
            if typo.height == 0:
                continue
            assert "P13" in part.reg["person_id"].to_list()
            # where a record carrying the person's own ID goes
            own = pl.DataFrame({"_id_cmp": [IDS[13]], "_name_key": ["王芳"],
                                "name_pinyin": ["wang fang"]})
            if route_records(own, k)[0] != part.index:
                apart += 1
        assert plan.register_copies >= plan.partitions[0].reg.height
    assert apart > 0


def test_namesakes_without_id_meet_in_one_partition_with_the_capped_persons():
    recs = _records()
    plan = plan_folder(recs, REGISTER, params=PARAMS, k=5)
    homes = [p for p in plan.partitions if "n1" in p.recs["record_no"].to_list()]
    assert len(homes) == 1
    home = homes[0]
    assert {"n2", "n3"} <= set(home.recs["record_no"].to_list())  # same name, same partition
    # the cap keeps the first ten namesakes by person: all of them are in that partition
    assert {f"P{i:02d}" for i in range(10)} <= set(home.reg["person_id"].to_list())


def test_a_record_is_in_exactly_one_partition():
    recs = _records()
    plan = plan_folder(recs, REGISTER, params=PARAMS, k=4)
    keys = pl.concat([p.recs.select("source", "record_no") for p in plan.partitions])
    assert keys.height == recs.height and keys.unique().height == recs.height
    routed = route_records(plan.partitions[0].recs, 4)
    assert routed.name == PART and set(routed.to_list()) == {plan.partitions[0].index}


def test_bad_input_fails_as_link_folder_does():
    recs = _records()
    twice = pl.concat([recs, recs.head(1)])
    with pytest.raises(ValueError, match="repeat the key"):
        plan_folder(twice, REGISTER, params=PARAMS, k=3)
    with pytest.raises(ValueError, match="lack column"):
        plan_folder(recs.drop("name_norm"), REGISTER, params=PARAMS, k=3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        plan_folder(recs, REGISTER, params=PARAMS, k=0)
    assert plan_folder(recs.head(0), REGISTER, params=PARAMS, k=3) is None
    links, model = link_folder_partitioned(recs.head(0), REGISTER, params=PARAMS, k=3)
    assert links.height == 0 and model is None


# ---------------------------------------------------------------------------------------------
# generated folders

POOL = [person(f"Q{i:02d}", IDS[i] if i % 7 else None, ["张伟", "张玮", "李娜", "刘洋", "陈红"][i % 5])
        for i in range(25)]
POOL_REGISTER = register_frame(POOL)


def _variant(i: int, how: int, pos: int) -> str | None:
    id18 = IDS[i]
    return [id18, _typo(id18, pos), swap(id18, pos) if id18[pos] != id18[pos + 1] else id18,
            None, legacy15(id18), OFF][how]


@settings(max_examples=15, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 5), st.integers(0, 15),
                               st.sampled_from(["张伟", "张玮", "李娜", "刘洋", "陈红", "王五"]),
                               st.sampled_from(["tax_wages", "bank", "pension"])),
                     min_size=1, max_size=25),
       k=st.integers(1, 6), sample=st.sampled_from([200_000, 40]))
def test_generated_folders_link_the_same_in_partitions(rows, k, sample):
    params = replace(PARAMS, u_sample_pairs=sample)
    recs = records_frame([record(str(n), _variant(i, how, pos), name, source=src)
                          for n, (i, how, pos, name, src) in enumerate(rows)])
    expected, model = link_folder_with_model(recs, POOL_REGISTER, params=params)
    got, got_model = link_folder_partitioned(recs, POOL_REGISTER, params=params, k=k)
    assert_frame_equal(got, expected)
    assert got_model == model


# ---------------------------------------------------------------------------------------------
# how many partitions a cluster run uses


def test_partition_count_from_the_environment(monkeypatch):
    monkeypatch.delenv(cluster_link.ENV, raising=False)
    assert cluster_link.partitions_for(cluster_link.AUTO_MIN_ROWS - 1, 4) == 1
    assert cluster_link.partitions_for(cluster_link.AUTO_MIN_ROWS, 4) == 4
    assert cluster_link.partitions_for(cluster_link.AUTO_MIN_ROWS, 0) == 1
    monkeypatch.setenv(cluster_link.ENV, "3")
    assert cluster_link.partitions_for(10, 2) == 3
    for bad in ("0", "-2", "many", "2000"):
        monkeypatch.setenv(cluster_link.ENV, bad)
        with pytest.raises(runner.RunFailed, match="HEDUI_LINK_PARTITIONS=.* 无法识别"):
            cluster_link.partitions_for(10, 2)
