"""MARGINAL_NO_LONGER: a 低保边缘 household over the marginal limits, or with a property violation."""

import polars as pl

from pipelines.flags import Flag, Params
from pipelines.flags.income_over_standard import INCOME
from pipelines.flags.property_over_limit import (
    PROPERTY,
    PROPERTY_RECORDS,
    PROPERTY_THRESHOLDS,
)

_OVER_INCOME = pl.col("income_pc_fen") > pl.col("marginal_income_fen")
_OVER_ASSETS = pl.col("assets_pc_fen") > pl.col("marginal_assets_fen")


def condition(p: Params) -> pl.Expr:
    """Income over marginal_multiplier × S, assets over marginal_assets_limit_months × S, or property."""
    return _OVER_INCOME | _OVER_ASSETS | pl.col("property_violation")


FLAG = Flag(
    name="MARGINAL_NO_LONGER",
    label="不再符合低保边缘条件",
    condition=condition,
    quantities=(*INCOME, "assets_per_capita", "assets_lower_bound", *PROPERTY),
    thresholds=("marginal_income_limit", "marginal_assets_limit", *PROPERTY_THRESHOLDS),
    records=(("income_w", _OVER_INCOME), ("bank", _OVER_ASSETS), *PROPERTY_RECORDS),
    reraise="exact",
    sentence=lambda ev, text, programme: text.marginal_sentence(ev["quantities"], ev["thresholds"]),
    parameters=("marginal_multiplier", "marginal_assets_limit_months", "dibao_standard",
                *PROPERTY_THRESHOLDS),
)
