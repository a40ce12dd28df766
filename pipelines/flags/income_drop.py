"""INCOME_DROP: the last three months' income below (1 − income_drop_ratio) × the three before."""

import polars as pl

from pipelines.flags import Flag, Params


def condition(p: Params) -> pl.Expr:
    """last3 < (1 − ratio) × prev3 with prev3 > 0, exact (both sums share one denominator)."""
    keep = 1 - p.fraction("income_drop_ratio")
    return (pl.col("drop_computable") & (pl.col("prev_num") > 0)
            & (pl.col("last_num") * keep.denominator < pl.col("prev_num") * keep.numerator))


FLAG = Flag(
    name="INCOME_DROP",
    label="家庭收入骤降",
    condition=condition,
    quantities=("living_members", "avg_last3", "avg_prev3"),
    thresholds=("income_drop_limit",),
    records=(("income_drop", None),),
    reraise="data_dependent",
    sentence=lambda ev, text, programme: text.drop_sentence(ev["quantities"], ev["thresholds"]),
    parameters=("income_drop_ratio", "employment_cost_deduction_rate"),
)
