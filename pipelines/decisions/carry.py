"""Decisions layer: carrying flag decisions forward, and re-raising a dismissed flag.

A dismissed flag stays dismissed while its evidence is materially unchanged and is re-raised
when it changes (``rules/decisions.yaml``, read by :mod:`pipelines.decisions.params`).
Decisions never remove a row from ``flags``.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from pipelines.decisions.table import existing_decisions

# the evidence text is read where it is written (pipelines/evidence.py), not re-parsed here
from pipelines.evidence import number as _number
from pipelines.evidence import parse as _parse_evidence

_FLAG_DECISION_FRAME = {
    "decision_id": pl.Int64(), "period": pl.String(), "household_id": pl.String(),
    "flag": pl.String(), "decision": pl.String(), "reason": pl.String(),
    "decided_by": pl.String(), "decided_at": pl.Datetime("us", "UTC"), "evidence": pl.String(),
}


def load_flag_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every flag decision recorded, for :func:`annotate_flags`.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse; an empty frame when it has no ``decisions`` table.

    Returns
    -------
    pl.DataFrame
        ``decision_id, period, household_id, flag, decision, reason, decided_by, decided_at,
        evidence`` (the evidence at decision time), in recording order.
    """
    existing = existing_decisions(con).filter(pl.col("kind") == "flag")
    return existing.select(list(_FLAG_DECISION_FRAME)).cast(pl.Schema(_FLAG_DECISION_FRAME))


def annotate_flags(flags: pl.DataFrame, decisions: pl.DataFrame, *, params: dict) -> pl.DataFrame:
    """Add the staff's decisions to a period's computed flags; never remove a row.

    For each flag, the decision that applies is the latest one about the same household and
    flag made in the flag's period or earlier (latest period first, then latest recorded).
    A ``verified`` or ``referred`` decision is carried as it is. A ``dismissed`` decision is
    carried while the evidence is materially unchanged since the decision; otherwise the flag is
    re-raised: ``re_raised`` is true and no decision is carried. What "materially" means is set
    in ``rules/decisions.yaml`` (see :func:`load_decision_params`).

    Parameters
    ----------
    flags : pl.DataFrame
        The computed flags: ``period, household_id, district_code, flag, evidence,
        rulebook_version`` (other columns are kept).
    decisions : pl.DataFrame
        :func:`load_flag_decisions` output.
    params : dict
        :func:`load_decision_params` output.

    Returns
    -------
    pl.DataFrame
        ``flags`` in its order with ``decision, decision_reason, decided_by, decided_at,
        re_raised`` (Boolean, never null) added.
    """
    base = flags.drop([c for c in ("decision", "decision_reason", "decided_by", "decided_at",
                                   "re_raised") if c in flags.columns])
    indexed = base.with_row_index("_flag_i")
    candidates = (
        indexed.select("_flag_i", "period", "household_id", "flag", "evidence")
        .join(decisions.cast(pl.Schema(_FLAG_DECISION_FRAME)).rename(
            {"period": "_d_period", "evidence": "_d_evidence", "reason": "decision_reason"}),
            on=["household_id", "flag"], how="inner")
        .filter(pl.col("_d_period") <= pl.col("period"))
        .sort(["_flag_i", "_d_period", "decision_id"], descending=[False, True, True])
        .unique(subset="_flag_i", keep="first", maintain_order=True)
    )
    dismissed = candidates.filter(pl.col("decision") == "dismissed")
    pairs = dismissed.select("flag", "_d_evidence", "evidence").unique()
    verdicts = pairs.with_columns(pl.Series(
        "_material",
        [_materially_changed(f, old, new, params) for f, old, new in pairs.iter_rows()],
        dtype=pl.Boolean,
    ))
    candidates = (candidates
                  .join(verdicts, on=["flag", "_d_evidence", "evidence"], how="left",
                        nulls_equal=True, maintain_order="left")
                  .with_columns(((pl.col("decision") == "dismissed")
                                 & pl.col("_material").fill_null(False)).alias("re_raised")))
    carried = ~pl.col("re_raised")
    annotated = candidates.select(
        "_flag_i",
        pl.when(carried).then(pl.col("decision")).alias("decision"),
        pl.when(carried).then(pl.col("decision_reason")).alias("decision_reason"),
        pl.when(carried).then(pl.col("decided_by")).alias("decided_by"),
        pl.when(carried).then(pl.col("decided_at")).alias("decided_at"),
        "re_raised",
    )
    return (indexed.join(annotated, on="_flag_i", how="left", maintain_order="left")
            .sort("_flag_i")
            .with_columns(pl.col("re_raised").fill_null(False))
            .drop("_flag_i"))


# --------------------------------------------------------------------------- evidence


def _record_counts(evidence: Mapping) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in evidence.get("records") or []:
        if isinstance(record, Mapping) and record.get("source") is not None:
            counts[str(record["source"])] = counts.get(str(record["source"]), 0) + 1
    return counts


def _materially_changed(flag: str, old_text: str | None, new_text: str | None,
                        params: Mapping) -> bool:
    """Whether a flag's evidence moved enough since a dismissal to show it again.

    Applied once per distinct (flag, old evidence, new evidence) of the dismissed flags; the
    rules are documented in ``rules/decisions.yaml``. Evidence that cannot be read counts as
    changed: a clerk looks again rather than a flag staying silent on a guess.
    """
    if old_text == new_text:
        return False
    old, new = _parse_evidence(old_text), _parse_evidence(new_text)
    if old is None or new is None:
        return True
    rel = float(params["reraise_relative_change"])

    old_thresholds = {str(k): _number(v) for k, v in (old.get("thresholds") or {}).items()}
    new_thresholds = {str(k): _number(v) for k, v in (new.get("thresholds") or {}).items()}
    if set(old_thresholds) != set(new_thresholds):
        return True
    data_dependent = flag in set(params["data_dependent_threshold_flags"])
    for name, before in old_thresholds.items():
        after = new_thresholds[name]
        if (before is None) != (after is None):
            return True
        if before is None or after is None:
            continue
        allowed = rel * abs(before) if data_dependent else 0.0
        if abs(after - before) > allowed:
            return True

    positive = [v for v in old_thresholds.values() if v is not None and v > 0]
    scale = min(positive) if positive else None
    old_q, new_q = old.get("quantities") or {}, new.get("quantities") or {}
    for name in params["compared_quantities"]:
        if name not in old_q and name not in new_q:
            continue
        before, after = _number(old_q.get(name)), _number(new_q.get(name))
        if (before is None) != (after is None):
            return True
        if before is None or after is None:
            continue
        margin = rel * (scale if scale is not None else abs(before))
        if abs(after - before) > margin:
            return True

    old_counts, new_counts = _record_counts(old), _record_counts(new)
    return any(new_counts.get(s, 0) > old_counts.get(s, 0) for s in params["new_record_sources"])
