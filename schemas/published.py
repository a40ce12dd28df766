"""Published layer: pandera schemas of the ``assessments``, ``flags`` and ``links`` tables.

Columns, types, nulls, order and keys come from the warehouse's table registry
(:mod:`pipelines.warehouse.tables`, through :func:`pipelines.warehouse.validation.published_schema`);
this module adds the checks that need the code's knowledge: the flag names, the evidence's shape,
the link statuses and the contract's rules between columns.

``assessments``: one row per household and period (the households of P's register in scope).
``flags``: one row per household, period and flag raised; ``evidence`` is JSON text with
``quantities``, ``thresholds`` and ``records``. Money is yuan as DECIMAL(18,2). The decision and
review columns of the warehouse ``flags`` table are added later (staff decisions, the review
queue) and are not part of what the assessment produces.
``links``: one row per distinct extract record, as the warehouse holds it.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from pipelines.flags import FLAGS
from pipelines.warehouse.validation import published_schema

MONEY = pl.Decimal(18, 2)
PROGRAMMES = ("低保", "特困", "低保边缘", "支出型困难", "监测对象")
#: ``links.status`` (outputs.md)
LINK_STATUSES = ("matched", "review", "unmatched")


def _evidence_ok(data: pa.PolarsData) -> pl.LazyFrame:
    """Evidence is JSON whose quantities and thresholds are objects and records a list."""
    text = pl.col(data.key)
    # one JSON parse per row (records is the last key); the two objects are checked as text
    return data.lazyframe.select(
        text.str.json_path_match("$.records").str.starts_with("[").fill_null(False)
        & text.str.contains('"quantities":{', literal=True)
        & text.str.contains('"thresholds":{', literal=True)
    )


ASSESSMENTS = published_schema("assessments", checks=[
    pa.Check(lambda d: d.lazyframe.select(pl.col("living_members") <= pl.col("members")),
             name="living_members_at_most_members"),
])

FLAGS_TABLE = published_schema("flags", column_checks={
    "flag": [pa.Check.isin(list(FLAGS))],
    "evidence": [pa.Check(_evidence_ok, name="evidence_json")],
})

LINKS = published_schema("links", column_checks={
    "status": [pa.Check.isin(list(LINK_STATUSES))],
    "score": [pa.Check.in_range(0, 1)],
}, checks=[
    # person_id and household_id are both null unless the record is matched (outputs.md)
    pa.Check(lambda d: d.lazyframe.select(
        (pl.col("status") == "matched")
        | (pl.col("person_id").is_null() & pl.col("household_id").is_null())),
        name="identity_only_when_matched"),
])
