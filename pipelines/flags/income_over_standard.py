"""INCOME_OVER_STANDARD: monthly income per capita above S (低保) or T (特困)."""

import polars as pl

from pipelines.flags import Flag, Params

INCOME = ("living_members", "wage_income", "benefit_income", "income_per_capita")


def condition(p: Params) -> pl.Expr:
    """Income per capita (rounded to the 分) above the household's own standard."""
    return pl.col("income_pc_fen") > pl.when(pl.col("is_tekun")).then(pl.col("t_fen")).otherwise(pl.col("s_fen"))


def sentence(ev: dict, text, programme: str | None) -> str:
    """家庭月人均收入 …，高于低保标准 …, plus the 低保渐退 state when in force."""
    from pipelines.gradual_exit import sentence as gradual_exit_sentence

    return text.income_sentence(ev["quantities"], ev["thresholds"], programme) + gradual_exit_sentence(ev.get("evidence"))


FLAG = Flag(
    name="INCOME_OVER_STANDARD",
    label="收入超过保障标准",
    condition=condition,
    quantities=(*INCOME, "standard"),
    # 特困 households are compared with T, the others with S
    thresholds=lambda pick: pl.when(pl.col("is_tekun")).then(pick("tekun_standard"))
    .otherwise(pick("standard")),
    records=(("income_w", None),),
    reraise="exact",
    sentence=sentence,
    parameters=("dibao_standard", "tekun_standard", "tekun_standard_ratio",
                "employment_cost_deduction_rate", "income_window_months"),
    evidence_extras=("gradual_exit",),
)
