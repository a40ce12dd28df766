"""INCOME_DROP: the recent months' average income below (1 − income_drop_ratio) × the earlier average.

The months compared are the income_drop_months ending with P (6), the last
income_drop_recent_months of them (3) against the others.
"""

import polars as pl

from pipelines.flags import Flag, Params
from pipelines.rulebook import Rules


def split(rules: Rules) -> tuple[int, int]:
    """(recent, earlier): the months averaged on each side of the comparison, in force in ``rules``."""
    recent = int(rules.value("income_drop_recent_months"))
    return recent, int(rules.value("income_drop_months")) - recent


def condition(p: Params) -> pl.Expr:
    """Income dropped: last / k < (1 − ratio) × prev / (n − k) with prev > 0, exact (cross-multiplied sums)."""
    keep = 1 - p.fraction("income_drop_ratio")
    recent, earlier = split(p.rules)
    return (pl.col("drop_computable") & (pl.col("prev_num") > 0)
            & (pl.col("last_num") * (earlier * keep.denominator)
               < pl.col("prev_num") * (recent * keep.numerator)))


FLAG = Flag(
    name="INCOME_DROP",
    label="家庭收入骤降",
    condition=condition,
    quantities=("living_members", "avg_last3", "avg_prev3"),
    thresholds=("income_drop_limit",),
    records=(("income_drop", None),),
    reraise="data_dependent",
    # the months each average spans are those in force for the flag's period (ev["rules"])
    sentence=lambda ev, text, programme: text.drop_sentence(
        ev["quantities"], ev["thresholds"], split(ev["rules"]) if ev.get("rules") else None),
    parameters=("income_drop_ratio", "income_drop_months", "income_drop_recent_months",
                "employment_cost_deduction_rate"),
)
