"""ASSETS_OVER_LIMIT: financial assets per capita above assets_limit_months × S."""

import polars as pl

from pipelines.flags import Flag, Params


def condition(p: Params) -> pl.Expr:
    """A lower bound (partial bank delivery) above the limit is above it too."""
    return pl.col("assets_pc_fen") > pl.col("assets_limit_fen")


FLAG = Flag(
    name="ASSETS_OVER_LIMIT",
    label="金融资产超过限额",
    condition=condition,
    quantities=("living_members", "assets_per_capita", "assets_lower_bound"),
    thresholds=("assets_limit",),
    records=(("bank", None),),
    reraise="exact",
    sentence=lambda ev, text, programme: text.assets_sentence(ev["quantities"], ev["thresholds"]),
    parameters=("assets_limit_months", "dibao_standard"),
)
