"""Stored match models (issue 19): EM recovers known m/u; a stored link's score rebuilds exactly."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from pipelines.match import link_folder, link_folder_with_model, load_matching_params
from pipelines.match.model import (
    MODEL_SCHEMA,
    WEIGHT_STEPS,
    comparison_weights,
    estimates_from_frame,
    model_frame,
    rebuild_match_weight,
    waterfall,
)
from pipelines.match.params import LEVELS, NEUTRAL_LEVELS
from pipelines.match.score import FIELDS, fit_m

from helpers.match_frames import (
    make_id,
    person,
    record,
    records_frame,
    register_frame,
    substitute,
)

PARAMS = load_matching_params()


def _folder():
    ids = [make_id(birth=f"19{50 + i:02d}0{1 + i % 9}1{i % 9}", seq=f"{i:03d}") for i in range(30)]
    names = [a + b for a in "王李赵张刘陈" for b in "伟芳娜敏静"]
    reg = register_frame([person(f"P{i:02d}", ids[i], names[i]) for i in range(30)])
    recs = [record(str(i), ids[i], names[i]) for i in range(25)]
    recs += [record("90", None, names[3]),                      # review: name only
             record("91", substitute(ids[4], 3, "9" if ids[4][3] != "9" else "8"), names[4]),
             record("92", ids[5], "欧阳锋")]                      # ID agrees, name does not
    return records_frame(recs), reg


def test_every_link_s_match_weight_is_rebuilt_exactly_from_its_stored_weights():
    recs, reg = _folder()
    links, est = link_folder_with_model(recs, reg, params=PARAMS)
    assert links.equals(link_folder(recs, reg, params=PARAMS))   # same links as before
    stored = links.with_columns(comparison_weights(links, est))
    scored = stored.filter(pl.col("match_weight").is_not_null())
    assert scored.height == stored.height - stored["comparison"].null_count() > 25
    for row in scored.iter_rows(named=True):
        weights = row["comparison_weights"]
        assert set(weights) == set(WEIGHT_STEPS)
        assert rebuild_match_weight(weights) == row["match_weight"]
        # the same through JSON text, as an analyst reads it back from DuckDB
        assert rebuild_match_weight(json.dumps(weights)) == row["match_weight"]
        steps = waterfall(weights, row["comparison"])
        assert [s["step"] for s in steps] == list(WEIGHT_STEPS)
        assert steps[-1]["cumulative"] == row["match_weight"]
        assert steps[1]["level"] == json.loads(row["comparison"])["name"]
        if row["method"] not in ("id_exact", "id_converted_15", "confirmed"):
            assert steps[-1]["probability"] == pytest.approx(row["score"], rel=1e-12)


def test_the_stored_model_gives_back_the_estimates_and_its_weights():
    recs, reg = _folder()
    _, est = link_folder_with_model(recs, reg, params=PARAMS)
    frame = model_frame(est, period="2026-10", params_version=PARAMS.version)
    assert frame.schema == pl.Schema(MODEL_SCHEMA)
    assert frame.height == sum(len(v) for v in LEVELS.values())
    back = estimates_from_frame(frame)
    assert back.m == {f: dict(est.m[f]) for f in FIELDS}
    assert back.u == {f: dict(est.u[f]) for f in FIELDS}
    assert (back.match_proportion, back.iterations) == (est.match_proportion, est.iterations)
    neutral = frame.filter(pl.col("level").is_in(list(NEUTRAL_LEVELS)))
    assert neutral["weight"].to_list() == [0.0] * neutral.height


def test_a_broken_stored_model_is_refused():
    recs, reg = _folder()
    _, est = link_folder_with_model(recs, reg, params=PARAMS)
    frame = model_frame(est, period="2026-10", params_version=PARAMS.version)
    with pytest.raises(ValueError, match="lacks level"):
        estimates_from_frame(frame.filter(pl.col("level") != "exact"))
    with pytest.raises(ValueError, match="one period"):
        estimates_from_frame(pl.concat([frame, frame.with_columns(period=pl.lit("2026-09"))]))
    with pytest.raises(ValueError, match="lack"):
        rebuild_match_weight({"prior": 1.0, "name": 2.0})


def test_links_without_a_model_or_pair_get_no_weights():
    recs, reg = _folder()
    links, _ = link_folder_with_model(recs, reg, params=PARAMS)
    assert comparison_weights(links, None).null_count() == links.height


def test_em_recovers_known_m_and_match_share_on_generated_pairs():
    rng = np.random.default_rng(19)
    known = [[i for i, lv in enumerate(LEVELS[f]) if lv not in NEUTRAL_LEVELS] for f in FIELDS]
    true_m, true_u = [], []
    for k, f in enumerate(FIELDS):
        size = len(LEVELS[f])
        m = np.zeros(size)
        u = np.zeros(size)
        # matches mostly agree (first level), non-matches mostly disagree (last known level)
        m[known[k]] = rng.dirichlet(np.linspace(8, 1, len(known[k])))
        u[known[k]] = rng.dirichlet(np.linspace(1, 8, len(known[k])))
        true_m.append(m)
        true_u.append(u)
    lam, n_pairs = 0.3, 200_000
    is_match = rng.random(n_pairs) < lam
    codes = np.empty((n_pairs, len(FIELDS)), dtype=np.int64)
    for k in range(len(FIELDS)):
        size = len(true_m[k])
        codes[is_match, k] = rng.choice(size, is_match.sum(), p=true_m[k])
        codes[~is_match, k] = rng.choice(size, (~is_match).sum(), p=true_u[k])
    patterns, counts = np.unique(codes, axis=0, return_counts=True)
    # u held fixed at its true value (estimated from random non-pairs in the pipeline); no
    # shrinking towards the YAML's starting values
    u_fixed = [np.where(np.isin(np.arange(len(t)), known[k]), np.clip(t, 1e-12, 1), 1.0)
               for k, t in enumerate(true_u)]
    params = dataclasses.replace(PARAMS, m_prior_strength=0.0, em_max_iterations=500,
                                 em_tolerance=1e-9)
    m, share, iterations = fit_m(patterns, counts.astype(np.float64), u_fixed, params=params)
    assert 1 < iterations <= 500
    assert share == pytest.approx(lam, abs=0.01)
    for k in range(len(FIELDS)):
        np.testing.assert_allclose(m[k][known[k]], true_m[k][known[k]], atol=0.02)
