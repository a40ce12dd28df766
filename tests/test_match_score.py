"""Fellegi-Sunter scoring: the fixed-seed u sample, EM estimates and match weights."""

from __future__ import annotations

import math

import polars as pl

from pipelines.match import load_matching_params
from pipelines.match.blocking import PIDX, RID, build_candidate_pairs, prepare_records, prepare_register
from pipelines.match.compare import compare_pairs
from pipelines.match.score import estimate, sample_non_pairs, score_pairs

from helpers.match_frames import make_id, person, record, records_frame, register_frame

PARAMS = load_matching_params()


def test_u_sample_is_fixed_by_the_seed():
    a = sample_non_pairs(1000, 500, size=300, seed=7)
    assert a.equals(sample_non_pairs(1000, 500, size=300, seed=7))
    assert not a.equals(sample_non_pairs(1000, 500, size=300, seed=8))
    assert a[RID].is_between(0, 999).all() and a[PIDX].is_between(0, 499).all()


def test_small_folder_takes_every_pair_once():
    pairs = sample_non_pairs(3, 4, size=100, seed=1)
    assert pairs.height == 12 and pairs.select(RID, PIDX).is_unique().all()


def _folder():
    names = ["张伟", "李娜", "王芳", "刘洋", "陈红", "杨静"]
    ids = [make_id(birth=f"19{60 + i}0{1 + i}0{1 + i}", seq=f"{i + 10:03d}") for i in range(6)]
    reg = prepare_register(register_frame([person(f"P{i}", ids[i], names[i]) for i in range(6)]))
    recs = prepare_records(records_frame(
        [record(str(i), ids[i % 6], names[i % 6]) for i in range(12)]
        + [record("x", ids[0], "王芳"), record("y", None, "李娜")]))
    pairs = build_candidate_pairs(recs, reg, max_name_candidates=PARAMS.max_name_candidates)
    return recs, reg, compare_pairs(pairs, recs, reg, params=PARAMS)


def test_estimates_separate_matches_from_non_matches_and_are_deterministic():
    recs, reg, compared = _folder()
    est = estimate(compared, recs, reg, params=PARAMS)
    assert est == estimate(compared, recs, reg, params=PARAMS)
    assert est.m["id"]["equal"] > 100 * est.u["id"]["equal"]
    assert est.m["name"]["exact"] > est.u["name"]["exact"]
    assert est.u["name"]["different"] > est.m["name"]["different"]
    assert est.m["id"]["none"] == est.u["id"]["none"] == 1.0
    assert 0.0 < est.match_proportion < 1.0


def test_more_agreement_means_more_weight_and_probability_in_range():
    recs, reg, compared = _folder()
    scored = score_pairs(compared, estimate(compared, recs, reg, params=PARAMS))
    assert scored["probability"].is_between(0.0, 1.0).all()
    by_name = dict(scored.join(recs.select(RID, "record_no"), on=RID)
                   .select("record_no", "match_weight").iter_rows())
    assert by_name["0"] > by_name["x"]        # same ID: agreeing name outweighs a different one


def test_neutral_levels_carry_no_weight():
    recs, reg, compared = _folder()
    est = estimate(compared, recs, reg, params=PARAMS)
    row = compared.head(1)
    unknown = row.with_columns(birth=pl.lit("unknown"), sex=pl.lit("unknown"),
                               district=pl.lit("unknown"), id=pl.lit("none"), name=pl.lit("unknown"))
    prior = score_pairs(unknown, est)["match_weight"][0]
    lam = est.match_proportion
    assert abs(prior - math.log2(lam / (1 - lam))) < 1e-9
