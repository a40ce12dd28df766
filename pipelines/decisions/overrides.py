"""Decisions layer: the staff's link decisions as the matcher reads them.

A confirmed identity links without review in later months (method ``confirmed``); a rejected
(identity, person) pair is never matched.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.decisions.table import existing_decisions

_OVERRIDE_FRAME = {"scope": pl.String(), "source": pl.String(), "period": pl.String(),
                   "record_no": pl.String(), "id_norm": pl.String(), "name_norm": pl.String(),
                   "person_id": pl.String(), "decision": pl.String()}


def link_overrides(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The staff's link decisions as the matcher uses them, at two scopes.

    ``record``: the decided record itself, ``(source, period, record_no)``, whatever its ID —
    when a later run loads the same folder again (every run loads P-5..P), the clerk is not
    asked the same question twice. ``identity``: the recurring identity ``(source, id_norm,
    name_norm)`` in any folder. A confirmed identity without an ID number (``id_norm`` null) has
    no identity row: carrying it forward would link a later record on its name alone
    (outputs.md, "What may be matched"); rejections are all kept. The latest recorded decision
    per key wins.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse; an empty frame when it has no ``decisions`` table.

    Returns
    -------
    pl.DataFrame
        ``scope, source, period, record_no, id_norm, name_norm, person_id, decision``
        (``confirmed`` or ``rejected``); ``period`` and ``record_no`` are null on identity rows.
    """
    existing = existing_decisions(con).filter(pl.col("kind") == "link").sort("decision_id")
    identity_key = ["source", "id_norm", "name_norm", "person_id"]
    identity = (existing.group_by(identity_key, maintain_order=True).last()
                .filter((pl.col("decision") == "rejected") | pl.col("id_norm").is_not_null())
                .select(pl.lit("identity").alias("scope"), "source",
                        pl.lit(None, pl.String).alias("period"),
                        pl.lit(None, pl.String).alias("record_no"),
                        "id_norm", "name_norm", "person_id", "decision"))
    record_key = ["source", "period", "record_no", "person_id"]
    record = (existing.group_by(record_key, maintain_order=True).last()
              .select(pl.lit("record").alias("scope"), "source", "period", "record_no",
                      "id_norm", "name_norm", "person_id", "decision"))
    both = pl.concat([identity.cast(pl.Schema(_OVERRIDE_FRAME)), record.cast(pl.Schema(_OVERRIDE_FRAME))])
    return both.sort("scope", "source", "period", "record_no", "id_norm", "name_norm",
                     "person_id", nulls_last=True)
