"""MEMBER_DECEASED: a register member linked to a death record dated on or before the end of P."""

import polars as pl

from pipelines.flags import Flag, Params


def condition(p: Params) -> pl.Expr:
    """A member has a death record (of a folder of W, dated on or before the end of P)."""
    return pl.col("has_death")


FLAG = Flag(
    name="MEMBER_DECEASED",
    label="家庭成员已死亡",
    condition=condition,
    quantities=("members", "living_members"),
    thresholds=(),
    records=(("death", None),),
    reraise="exact",
    sentence=lambda ev, text, programme: text.deceased_sentence(ev["quantities"], ev["records"]),
    # rules.md: a household with no living members gets MEMBER_DECEASED only
    requires_living=False,
)
