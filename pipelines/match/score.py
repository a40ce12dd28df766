"""Match layer, scoring: Fellegi-Sunter m/u estimation (EM and random non-pairs) and match weights.

u (how often a level occurs between two unrelated people) is estimated from a random sample of
record x register pairs drawn with the fixed seed of ``rules/matching.yaml``, leaving out pairs
that agree on ID (nearly all true matches, which would inflate u in a small folder); m (how often
it occurs between a record and its own person) by expectation-maximisation over the folder's
candidate pairs, with u held fixed, as Splink does. Both are shrunk towards the starting values
of the YAML by pseudo-counts, so a small folder keeps them. Everything depends only on the
folder's records, its register and the parameters: the same folder always gets the same scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.match.blocking import PIDX, RID
from pipelines.match.compare import ID_AGREES, compare_pairs
from pipelines.match.params import LEVELS, NEUTRAL_LEVELS, MatchParams

FIELDS = tuple(LEVELS)


@dataclass(frozen=True)
class Estimates:
    """m and u per comparison field and level, and the share of candidate pairs that match.

    Attributes
    ----------
    m, u : Mapping[str, Mapping[str, float]]
    match_proportion : float
        Estimated share of matches among the candidate pairs (EM's lambda).
    iterations : int
        EM iterations run.
    """

    m: Mapping[str, Mapping[str, float]]
    u: Mapping[str, Mapping[str, float]]
    match_proportion: float
    iterations: int


def _codes(levels: pl.DataFrame) -> np.ndarray:
    """Integer level codes, shape (n, fields), in ``LEVELS`` order."""
    cols = [levels[f].replace_strict({lv: i for i, lv in enumerate(LEVELS[f])},
                                     return_dtype=pl.Int64).to_numpy() for f in FIELDS]
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0), np.int64)


def _table(values: Mapping[str, Mapping[str, float]]) -> list[np.ndarray]:
    return [np.array([values[f][lv] for lv in LEVELS[f]], dtype=np.float64) for f in FIELDS]


def _neutral_mask() -> list[np.ndarray]:
    return [np.array([lv in NEUTRAL_LEVELS for lv in LEVELS[f]]) for f in FIELDS]


def _shrink(counts: np.ndarray, start: np.ndarray, neutral: np.ndarray, strength: float) -> np.ndarray:
    """Posterior mean of a level distribution over the known levels; neutral levels stay 1."""
    known = ~neutral
    prior = start[known] / start[known].sum()
    est = np.ones_like(start)
    total = counts[known].sum()
    est[known] = (counts[known] + strength * prior) / (total + strength) if total + strength > 0 \
        else prior
    return np.clip(est, 1e-12, 1.0)


def sample_non_pairs(n_records: int, n_register: int, *, size: int, seed: int) -> pl.DataFrame:
    """Random (record, register row) pairs for estimating u, reproducible from the seed.

    Parameters
    ----------
    n_records, n_register : int
        Sizes of the prepared records and register.
    size : int
        Number of pairs drawn (with replacement); when the folder has no more pairs than this,
        every pair is taken once instead.
    seed : int
        Seed of numpy's default generator.

    Returns
    -------
    pl.DataFrame
        ``_rid``, ``_pidx``, ``block`` (``u_sample``).
    """
    if n_records == 0 or n_register == 0:
        return pl.DataFrame(schema={RID: pl.Int64, PIDX: pl.Int64, "block": pl.String})
    if n_records * n_register <= size:
        # a small folder: every pair, exactly, instead of a noisy sample
        rid, pidx = np.divmod(np.arange(n_records * n_register, dtype=np.int64), n_register)
        return pl.DataFrame({RID: rid, PIDX: pidx, "block": ["u_sample"] * rid.size})
    rng = np.random.default_rng(seed)
    return pl.DataFrame({RID: rng.integers(0, n_records, size, dtype=np.int64),
                         PIDX: rng.integers(0, n_register, size, dtype=np.int64),
                         "block": ["u_sample"] * size})


def fit_m(vec: np.ndarray, n: np.ndarray, u: list[np.ndarray], *,
          params: MatchParams) -> tuple[list[np.ndarray], float, int]:
    """EM for m and the match share over comparison patterns, u held fixed (as Splink does).

    Parameters
    ----------
    vec : np.ndarray
        Integer level codes, shape (patterns, fields), in ``LEVELS`` order.
    n : np.ndarray
        How many pairs show each pattern.
    u : list[np.ndarray]
        u per field and level.
    params : MatchParams
        Starting m and match share, pseudo-counts, iteration cap and tolerance.

    Returns
    -------
    tuple[list[np.ndarray], float, int]
        m per field and level, the match share, the iterations run.
    """
    neutral = _neutral_mask()
    m0 = _table(params.m)
    lam = params.prior_match_proportion
    m = list(m0)
    iterations = 0
    log_u = sum(np.log(u[k][vec[:, k]]) for k in range(len(FIELDS)))
    # the loop variable is the count of iterations run, read after the loop
    for iterations in range(1, params.em_max_iterations + 1):  # noqa: B007
        log_m = sum(np.log(m[k][vec[:, k]]) for k in range(len(FIELDS)))
        odds = np.exp(np.clip(np.log(lam) - np.log1p(-lam) + log_m - log_u, -700, 700))
        p = odds / (1.0 + odds)
        weight = n * p
        new_m = [_shrink(np.bincount(vec[:, k], weights=weight, minlength=len(m0[k])),
                         m0[k], neutral[k], params.m_prior_strength)
                 for k in range(len(FIELDS))]
        new_lam = float(np.clip(weight.sum() / n.sum(), 1e-6, 1 - 1e-6))
        change = max(max(np.abs(a - b).max() for a, b in zip(new_m, m, strict=True)), abs(new_lam - lam))
        m, lam = new_m, new_lam
        if change < params.em_tolerance:
            break
    return m, lam, iterations


def estimate(candidates: pl.DataFrame, recs: pl.DataFrame, reg: pl.DataFrame, *,
             params: MatchParams) -> Estimates:
    """Estimate u on random non-pairs and m (and the match share) by EM on the candidate pairs.

    Parameters
    ----------
    candidates : pl.DataFrame
        Compared candidate pairs (``compare_pairs`` output).
    recs, reg : pl.DataFrame
        Prepared records and register (for the random sample).
    params : MatchParams

    Returns
    -------
    Estimates
    """
    sample = sample_non_pairs(recs.height, reg.height, size=params.u_sample_pairs, seed=params.seed)
    # pairs that agree on ID are (nearly all) matches: keep them out of the non-pair sample
    id_agreeing = candidates.filter(pl.col("id").is_in(ID_AGREES)).select(RID, PIDX)
    sample = sample.join(id_agreeing, on=[RID, PIDX], how="anti", maintain_order="left")
    compared = compare_pairs(sample, recs, reg, params=params) if sample.height else None
    return fit_estimates(u_from_sample(compared, params=params), candidate_patterns(candidates),
                         params=params)


def u_from_sample(compared_sample: pl.DataFrame | None, *, params: MatchParams) -> list[np.ndarray]:
    """The u per field and level from the compared random non-pairs (the YAML's u when none).

    Level counts are integers, so the same pairs in any order give the same u: a folder linked
    in partitions (``pipelines.match.partition``) gets the in-process u exactly.
    """
    neutral = _neutral_mask()
    u0 = _table(params.u)
    if compared_sample is None or compared_sample.height == 0:
        return list(u0)
    codes = _codes(compared_sample)
    return [_shrink(np.bincount(codes[:, k], minlength=len(u0[k])).astype(np.float64),
                    u0[k], neutral[k], params.u_prior_strength) for k in range(len(FIELDS))]


def candidate_patterns(candidates: pl.DataFrame) -> pl.DataFrame:
    """Distinct comparison patterns of compared pairs with their counts (``FIELDS`` codes, ``n``).

    Counts of disjoint pair sets add up (:func:`sum_patterns`): EM over the summed patterns is
    EM over all the pairs.
    """
    if candidates.height == 0:
        return pl.DataFrame(schema={**{f: pl.Int64 for f in FIELDS}, "n": pl.UInt32})
    return (pl.DataFrame(_codes(candidates), schema=list(FIELDS), orient="row")
            .group_by(list(FIELDS)).agg(n=pl.len()).sort(list(FIELDS)))


def sum_patterns(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """:func:`candidate_patterns` of a union of disjoint pair sets, from each set's patterns."""
    frames = [p for p in parts if p.height]
    if not frames:
        return candidate_patterns(pl.DataFrame())
    return (pl.concat(frames).group_by(list(FIELDS)).agg(n=pl.col("n").sum().cast(pl.UInt32))
            .sort(list(FIELDS)))


def fit_estimates(u: list[np.ndarray], patterns: pl.DataFrame, *, params: MatchParams) -> Estimates:
    """The m and the match share by EM over the candidates' ``patterns``, u held fixed."""
    lam = params.prior_match_proportion
    m = list(_table(params.m))
    iterations = 0
    if patterns.height:
        # EM on distinct comparison vectors weighted by their counts: a handful of rows
        m, lam, iterations = fit_m(patterns.select(FIELDS).to_numpy(),
                                   patterns["n"].to_numpy().astype(np.float64), u, params=params)

    def as_map(tables: list[np.ndarray]) -> dict[str, dict[str, float]]:
        return {f: {lv: float(tables[k][i]) for i, lv in enumerate(LEVELS[f])}
                for k, f in enumerate(FIELDS)}

    return Estimates(m=as_map(m), u=as_map(u), match_proportion=lam, iterations=iterations)


def score_pairs(compared: pl.DataFrame, estimates: Estimates) -> pl.DataFrame:
    """Add ``match_weight`` (log2 Bayes factor including the prior) and ``probability``.

    Parameters
    ----------
    compared : pl.DataFrame
        ``compare_pairs`` output.
    estimates : Estimates

    Returns
    -------
    pl.DataFrame
        ``compared`` with ``match_weight`` and ``probability`` (Float64).
    """
    lam = estimates.match_proportion
    weight = pl.lit(float(np.log2(lam) - np.log2(1 - lam)))
    for f in FIELDS:
        bf = {lv: float(np.log2(estimates.m[f][lv]) - np.log2(estimates.u[f][lv]))
              for lv in LEVELS[f]}
        weight = weight + pl.col(f).replace_strict(bf, return_dtype=pl.Float64)
    return (compared.with_columns(match_weight=weight)
            .with_columns(probability=1.0 / (1.0 + (2.0 ** (-pl.col("match_weight"))))))
