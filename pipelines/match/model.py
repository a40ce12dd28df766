"""Match layer, stored models: every score explainable after the fact.

Each folder's links come from a Fellegi-Sunter model fitted on that folder (``score.estimate``):
m and u per comparison level, the share of candidate pairs that match (the prior) and the EM
iterations run. :func:`model_frame` turns it into rows of the warehouse table ``match_models``
(one row per period, comparison field and level); :func:`comparison_weights` gives each link the
per-comparison weights (log2 Bayes factors) of the pair that was scored, so that its
``match_weight`` is their sum (:func:`rebuild_match_weight`) and can be shown step by step
(:func:`waterfall`), as Splink's waterfall chart does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from pipelines.match.params import LEVELS
from pipelines.match.score import FIELDS, Estimates

#: the prior first, then the comparisons in the order ``score_pairs`` adds them
WEIGHT_STEPS = ("prior", *FIELDS)
WEIGHTS_DTYPE = pl.Struct({step: pl.Float64 for step in WEIGHT_STEPS})
MODEL_SCHEMA = {
    "period": pl.String, "field": pl.String, "level": pl.String, "m": pl.Float64,
    "u": pl.Float64, "weight": pl.Float64, "prior_match_proportion": pl.Float64,
    "prior_weight": pl.Float64, "em_iterations": pl.Int64, "params_version": pl.String,
}
_STEP_WORDS = {"prior": "先验（候选对中匹配的比例）", "name": "姓名", "id": "身份证号",
               "birth": "出生日期", "sex": "性别", "district": "区县"}


def prior_weight(match_proportion: float) -> float:
    """log2 prior odds of a match, exactly as ``score_pairs`` computes it."""
    return float(np.log2(match_proportion) - np.log2(1 - match_proportion))


def level_weight(m: float, u: float) -> float:
    """log2 Bayes factor m/u of one comparison level, exactly as ``score_pairs`` computes it."""
    return float(np.log2(m) - np.log2(u))


def model_frame(estimates: Estimates, *, period: str, params_version: str) -> pl.DataFrame:
    """Rows of ``match_models`` for one folder's fitted model.

    Parameters
    ----------
    estimates : Estimates
        The folder's fitted model.
    period : str
        The folder's delivery month.
    params_version : str
        ``rules/matching.yaml``'s version the model was fitted with.

    Returns
    -------
    pl.DataFrame
        One row per comparison field and level (``MODEL_SCHEMA``); the prior, its weight and
        the EM iterations repeat on every row of the folder.
    """
    lam = estimates.match_proportion
    rows = [{"period": period, "field": f, "level": lv, "m": estimates.m[f][lv],
             "u": estimates.u[f][lv], "weight": level_weight(estimates.m[f][lv], estimates.u[f][lv]),
             "prior_match_proportion": lam, "prior_weight": prior_weight(lam),
             "em_iterations": estimates.iterations, "params_version": params_version}
            for f in FIELDS for lv in LEVELS[f]]
    return pl.DataFrame(rows, schema=MODEL_SCHEMA)


def estimates_from_frame(frame: pl.DataFrame) -> Estimates:
    """The :class:`Estimates` back from one folder's ``match_models`` rows.

    Raises
    ------
    ValueError
        When the rows hold more than one period or lack a comparison level.
    """
    periods = frame["period"].unique().to_list()
    if len(periods) != 1:
        raise ValueError(f"match_models rows of exactly one period expected, got {len(periods)}")
    m: dict[str, dict[str, float]] = {f: {} for f in FIELDS}
    u: dict[str, dict[str, float]] = {f: {} for f in FIELDS}
    for row in frame.iter_rows(named=True):
        m[row["field"]][row["level"]] = row["m"]
        u[row["field"]][row["level"]] = row["u"]
    for f in FIELDS:
        missing = set(LEVELS[f]) - set(m[f])
        if missing:
            raise ValueError(f"match_models lacks level(s) {sorted(missing)} of `{f}`")
    return Estimates(m=m, u=u, match_proportion=float(frame["prior_match_proportion"][0]),
                     iterations=int(frame["em_iterations"][0]))


def comparison_weights(links: pl.DataFrame, estimates: Estimates | None) -> pl.Series:
    """Per-comparison weights of each link's scored pair, as a struct column.

    Parameters
    ----------
    links : pl.DataFrame
        ``link_folder`` output (its ``comparison`` JSON names the levels of the scored pair).
    estimates : Estimates, optional
        The folder's model; None gives nulls.

    Returns
    -------
    pl.Series
        ``comparison_weights``: ``{prior, name, id, birth, sex, district}`` (Float64, log2),
        null where the link has no scored pair. Their sum in this order is ``match_weight``.
    """
    n = links.height
    if estimates is None or n == 0 or "comparison" not in links.columns:
        return pl.Series("comparison_weights", [None] * n, dtype=WEIGHTS_DTYPE)
    levels = links.select(pl.col("comparison").str.json_decode(
        pl.Struct({f: pl.String for f in FIELDS}))).unnest("comparison")
    has = links["comparison"].is_not_null() & links["match_weight"].is_not_null()
    prior = prior_weight(estimates.match_proportion)
    cols: dict[str, pl.Expr] = {"prior": pl.lit(prior, dtype=pl.Float64)}
    for f in FIELDS:
        table = {lv: level_weight(estimates.m[f][lv], estimates.u[f][lv]) for lv in LEVELS[f]}
        cols[f] = pl.col(f).replace_strict(table, default=None, return_dtype=pl.Float64)
    weights = levels.with_columns(_has=has).select(
        pl.when(pl.col("_has")).then(pl.struct([e.alias(k) for k, e in cols.items()])).alias("comparison_weights"))
    return weights.to_series().cast(WEIGHTS_DTYPE)


def rebuild_match_weight(weights: Mapping[str, float] | str) -> float:
    """A link's ``match_weight`` rebuilt from its stored per-comparison weights.

    Parameters
    ----------
    weights : Mapping or str
        ``comparison_weights`` of one link (a dict, or its JSON text as DuckDB returns it).

    Returns
    -------
    float
        The prior weight plus every comparison's weight, added in ``score_pairs``' order.
    """
    w = json.loads(weights) if isinstance(weights, str) else weights
    missing = [s for s in WEIGHT_STEPS if w.get(s) is None]
    if missing:
        raise ValueError(f"comparison weights lack {', '.join(missing)}")
    total = 0.0
    for step in WEIGHT_STEPS:
        total = total + float(w[step])
    return total


def waterfall(weights: Mapping[str, float] | str,
              comparison: Mapping[str, object] | str | None = None) -> list[dict]:
    """The steps of a score's waterfall: each weight, the running total and its probability.

    Parameters
    ----------
    weights : Mapping or str
        ``comparison_weights`` of one link.
    comparison : Mapping or str, optional
        The link's ``comparison`` JSON, to name each step's level.

    Returns
    -------
    list[dict]
        ``step`` (code), ``label`` (Chinese), ``level`` (or None), ``weight``, ``cumulative``
        and ``probability`` (of the running total), prior first; the last ``cumulative`` is the
        link's ``match_weight``.
    """
    w = json.loads(weights) if isinstance(weights, str) else weights
    levels = json.loads(comparison) if isinstance(comparison, str) else (comparison or {})
    steps, total = [], 0.0
    for step in WEIGHT_STEPS:
        total = total + float(w[step])
        steps.append({"step": step, "label": _STEP_WORDS[step],
                      "level": levels.get(step) if step != "prior" else None,
                      "weight": float(w[step]), "cumulative": total,
                      "probability": 1.0 / (1.0 + math.pow(2.0, -total))})
    return steps
