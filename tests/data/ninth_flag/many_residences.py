"""MANY_RESIDENCES: a household outside 低保 with more than twice the residential units 低保 allows.

A ninth flag written the way every flag is: this one file (copied into pipelines/flags/ by
tests/test_flag_registry.py), its programmes in rules/flags.yaml and its policy case.
"""

import polars as pl

from pipelines.flags import Flag, Params


def condition(p: Params) -> pl.Expr:
    """Residential units above twice max_residential_units (unknown when real estate is)."""
    return pl.col("residential_units") > 2 * int(p.fraction("max_residential_units"))


FLAG = Flag(
    name="MANY_RESIDENCES",
    label="名下住宅较多",
    condition=condition,
    quantities=("living_members", "residential_units"),
    thresholds=("max_residential_units",),
    records=(("real_estate", None),),
    reraise="exact",
    sentence="家庭名下住宅 {residential_units} 套，超过每户上限 {max_residential_units} 套的两倍",
    parameters=("max_residential_units",),
)
