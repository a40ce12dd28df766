"""Published layer: pandera schemas of the ``assessments`` and ``flags`` tables.

``assessments``: one row per household and period (the households of P's register in scope).
``flags``: one row per household, period and flag raised; ``evidence`` is JSON text with
``quantities``, ``thresholds`` and ``records``. Money is yuan as DECIMAL(18,2).

The decision columns of the warehouse ``flags`` table (``decision``, ``re_raised``, …) are added
by pipelines/decisions.py and are not part of what the assessment produces.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from pipelines.assess import FLAGS

MONEY = pl.Decimal(18, 2)
PROGRAMMES = ("低保", "特困", "低保边缘", "支出型困难", "监测对象")
_PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


def _evidence_ok(data: pa.PolarsData) -> pl.LazyFrame:
    """Evidence is JSON whose quantities and thresholds are objects and records a list."""
    text = pl.col(data.key)
    # one JSON parse per row (records is the last key); the two objects are checked as text
    return data.lazyframe.select(
        text.str.json_path_match("$.records").str.starts_with("[").fill_null(False)
        & text.str.contains('"quantities":{', literal=True)
        & text.str.contains('"thresholds":{', literal=True)
    )


ASSESSMENTS = pa.DataFrameSchema(
    {
        "period": pa.Column(pl.String, pa.Check.str_matches(_PERIOD), nullable=False),
        "household_id": pa.Column(pl.String, nullable=False),
        "district_code": pa.Column(pl.String, nullable=True),
        "urban_rural": pa.Column(pl.String, nullable=True),
        "programme": pa.Column(pl.String, nullable=True),
        "members": pa.Column(pl.Int64, pa.Check.ge(1), nullable=False),
        "living_members": pa.Column(pl.Int64, pa.Check.ge(0), nullable=False),
        "income_per_capita": pa.Column(MONEY, nullable=True),
        "assets_per_capita": pa.Column(MONEY, nullable=True),
        "residential_units": pa.Column(pl.Int64, pa.Check.ge(0), nullable=True),
        "standard": pa.Column(MONEY, pa.Check.gt(0), nullable=True),
        "wage_income": pa.Column(MONEY, nullable=True),
        "benefit_income": pa.Column(MONEY, nullable=True),
        "medical_out_of_pocket": pa.Column(MONEY, nullable=True),
        "household_income_w": pa.Column(MONEY, nullable=True),
        "missing_sources": pa.Column(pl.String, nullable=True),
        "rulebook_version": pa.Column(pl.String, pa.Check.str_length(1, 64), nullable=False),
    },
    strict=True,
    ordered=True,
    unique=["period", "household_id"],
    checks=[
        pa.Check(lambda d: d.lazyframe.select(pl.col("living_members") <= pl.col("members")),
                 name="living_members_at_most_members"),
    ],
    name="assessments",
    description="One row per household and period.",
)

FLAGS_TABLE = pa.DataFrameSchema(
    {
        "period": pa.Column(pl.String, pa.Check.str_matches(_PERIOD), nullable=False),
        "household_id": pa.Column(pl.String, nullable=False),
        "district_code": pa.Column(pl.String, nullable=True),
        "flag": pa.Column(pl.String, pa.Check.isin(list(FLAGS)), nullable=False),
        "evidence": pa.Column(pl.String, pa.Check(_evidence_ok, name="evidence_json"),
                              nullable=False),
        "rulebook_version": pa.Column(pl.String, pa.Check.str_length(1, 64), nullable=False),
    },
    strict=True,
    ordered=True,
    unique=["period", "household_id", "flag"],
    name="flags",
    description="One row per household, period and flag raised.",
)
