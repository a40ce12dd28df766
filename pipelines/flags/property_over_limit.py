"""PROPERTY_OVER_LIMIT: any property violation (real estate, vehicles, business)."""

import polars as pl

from pipelines.flags import Flag, Params

PROPERTY = ("residential_units", "has_non_residential_unit", "vehicles_counted", "businesses_counted")
PROPERTY_THRESHOLDS = ("max_residential_units", "business_capital_limit_wan", "vehicle_exempt_count")
#: each property category's records count only when its own rule is broken
PROPERTY_RECORDS = (("real_estate", "re_violation"), ("vehicles", "vehicle_violation"),
                    ("business", "business_violation"))


def condition(p: Params) -> pl.Expr:
    """Property beyond what the programme allows.

    Too many residential units or a non-residential one, a counted vehicle beyond the exempt
    number, or a counted business registration.
    """
    return pl.col("property_violation")


FLAG = Flag(
    name="PROPERTY_OVER_LIMIT",
    label="财产状况不符合条件",
    condition=condition,
    quantities=("living_members", *PROPERTY),
    thresholds=PROPERTY_THRESHOLDS,
    records=PROPERTY_RECORDS,
    reraise="exact",
    sentence=lambda ev, text, programme: text.property_sentence(ev["quantities"], ev["thresholds"]),
    parameters=PROPERTY_THRESHOLDS,
)
