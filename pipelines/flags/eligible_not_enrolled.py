"""ELIGIBLE_NOT_ENROLLED: income, assets and property of a 低保 household, in another programme."""

import polars as pl

from pipelines.flags import Flag, Params
from pipelines.flags.income_over_standard import INCOME
from pipelines.flags.property_over_limit import PROPERTY, PROPERTY_THRESHOLDS


def condition(p: Params) -> pl.Expr:
    """Income ≤ S, complete assets ≤ the limit (unknown on a partial bank delivery), no violation."""
    return ((pl.col("income_pc_fen") <= pl.col("s_fen"))
            & (pl.col("assets_pc_complete_fen") <= pl.col("assets_limit_fen"))
            & ~pl.col("property_violation"))


FLAG = Flag(
    name="ELIGIBLE_NOT_ENROLLED",
    label="可能符合低保条件未纳入",
    condition=condition,
    quantities=(*INCOME, "assets_per_capita", "assets_lower_bound", *PROPERTY, "standard"),
    thresholds=("standard", "assets_limit", *PROPERTY_THRESHOLDS),
    records=tuple((cat, None) for cat in ("income_w", "bank", "real_estate", "vehicles", "business")),
    reraise="exact",
    sentence=lambda ev, text, programme: text.eligible_sentence(ev["quantities"], ev["thresholds"]),
    parameters=("dibao_standard", "assets_limit_months", *PROPERTY_THRESHOLDS),
)
