"""HIGH_MEDICAL_EXPENSE: out-of-pocket ≥ max(medical_min_amount, medical_income_share × income over W)."""

import polars as pl

from pipelines.flags import Flag, Params


def condition(p: Params) -> pl.Expr:
    """Both lines reached, exactly (household income over W is scaled by the deduction denominator)."""
    share = p.fraction("medical_income_share")
    paid = pl.col("medical_sum")
    return ((paid >= p.fen_ceil("medical_min_amount"))
            & (paid * (share.denominator * p.income_denominator) >= pl.col("hw_num") * share.numerator))


FLAG = Flag(
    name="HIGH_MEDICAL_EXPENSE",
    label="医疗支出较大",
    condition=condition,
    quantities=("living_members", "medical_out_of_pocket", "wage_income", "benefit_income",
                "household_income_w"),
    thresholds=("medical_min_amount", "medical_income_share_amount"),
    records=(("medical", None), ("income_w", None)),
    reraise="data_dependent",
    sentence=lambda ev, text, programme: text.medical_sentence(ev["quantities"], ev["thresholds"]),
    parameters=("medical_min_amount", "medical_income_share", "employment_cost_deduction_rate"),
)
