"""Assess layer: household quantities, standards and thresholds, and the flags' conditions.

Household quantities are income over W, snapshots of P and medical expenses; the standards and
thresholds are in 分; each registered flag has a three-valued condition.
"""

from __future__ import annotations

from fractions import Fraction
from math import floor

import polars as pl

from pipelines import evidence as ev
from pipelines.assess.context import _Context, _facts, _frac, _keys, _living_rows
from pipelines.assess.money import _I, MONEY, _decimal_yuan, _round_half_away
from pipelines.flags import REGISTRY, Params
from pipelines.rulebook import DIBAO_STANDARD, TEKUN_RATIO, TEKUN_STANDARD, Rules
from pipelines.sources import INCOME_SOURCES

_RESIDENTIAL = "住宅"
_NON_RESIDENTIAL = ("商业", "办公", "工业")


# --------------------------------------------------------------------------- quantities


def _income(hh: pl.DataFrame, facts: dict[str, pl.DataFrame], living: pl.DataFrame,
            ctx: _Context, contrib: list[pl.DataFrame]) -> pl.DataFrame:
    rows = _living_rows(pl.concat([_facts(facts, s, ctx) for s in INCOME_SOURCES]), living)
    in_w = rows.filter(pl.col("income_month").is_in(list(ctx.window)))
    in_drop = rows.filter(pl.col("income_month").is_in(list(ctx.drop_months)))
    contrib.append(_keys(in_w, "income_w"))
    if ctx.drop_months != ctx.window:  # with W = P-5..P the two record sets are the same
        contrib.append(_keys(in_drop, "income_drop"))
    last3 = list(ctx.drop_months[-ctx.drop_recent:])
    is_wage = pl.col("source") == "tax_wages"
    last = pl.col("income_month").is_in(last3)
    amount = pl.col("amount_fen")
    # 分 sums fit Int64 (rows are at most 10⁹ yuan); the exact fractions below use Int128
    w_sums = in_w.group_by("hh_idx").agg(
        pl.when(is_wage).then(amount).otherwise(0).sum().alias("wage_sum"),
        pl.when(is_wage).then(0).otherwise(amount).sum().alias("benefit_sum"),
    )
    d_sums = in_drop.group_by("hh_idx").agg(
        pl.when(is_wage & last).then(amount).otherwise(0).sum().alias("wage_last"),
        pl.when(~is_wage & last).then(amount).otherwise(0).sum().alias("benefit_last"),
        pl.when(is_wage & ~last).then(amount).otherwise(0).sum().alias("wage_prev"),
        pl.when(~is_wage & ~last).then(amount).otherwise(0).sum().alias("benefit_prev"),
    )
    sums = ["wage_sum", "benefit_sum", "wage_last", "benefit_last", "wage_prev", "benefit_prev"]
    return (hh.join(w_sums, on="hh_idx", how="left", maintain_order="left")
              .join(d_sums, on="hh_idx", how="left", maintain_order="left")
              .with_columns([pl.col(c).fill_null(0).cast(_I) for c in sums]))


def _snapshots(hh: pl.DataFrame, facts: dict[str, pl.DataFrame], living: pl.DataFrame,
               ctx: _Context, contrib: list[pl.DataFrame]) -> pl.DataFrame:
    rules = ctx.rules
    at_p = pl.col("period") == ctx.period

    bank = _living_rows(_facts(facts, "bank", ctx).filter(at_p), living)
    contrib.append(_keys(bank, "bank"))
    bank_sum = bank.group_by("hh_idx").agg(pl.col("balance_fen").sum().alias("assets_sum"))

    re = _living_rows(_facts(facts, "real_estate", ctx).filter(at_p), living)
    re = re.with_columns(usage=pl.col("usage").str.strip_chars())
    counted_re = re.filter(pl.col("usage").is_in([_RESIDENTIAL, *_NON_RESIDENTIAL]))
    contrib.append(_keys(counted_re, "real_estate"))
    unit = pl.coalesce(pl.col("unit_no").str.strip_chars(), pl.lit("记录号:") + pl.col("record_no"))
    re_q = re.group_by("hh_idx").agg(
        unit.filter(pl.col("usage") == _RESIDENTIAL).n_unique().cast(pl.Int64).alias("residential_units"),
        pl.col("usage").is_in(list(_NON_RESIDENTIAL)).any().alias("has_non_residential"),
    )

    veh = _living_rows(_facts(facts, "vehicles", ctx).filter(at_p), living).filter(
        pl.col("vehicle_status").is_in(list(rules.words_of("vehicle_counted_statuses")))
        & ~pl.col("vehicle_type").is_in(list(rules.words_of("vehicle_exempt_types"))).fill_null(False)
    )
    contrib.append(_keys(veh, "vehicles"))
    veh_q = veh.group_by("hh_idx").agg(pl.len().cast(pl.Int64).alias("vehicles_counted"))

    limit = float(rules.value("business_capital_limit_wan"))
    bus = _living_rows(_facts(facts, "business", ctx).filter(at_p), living).filter(
        pl.col("registration_status").is_in(list(rules.words_of("business_counted_statuses")))
        & pl.col("role").is_in(list(rules.words_of("business_roles")))
        & (pl.col("capital_wan") >= limit)
    )
    contrib.append(_keys(bus, "business"))
    bus_q = bus.group_by("hh_idx").agg(pl.len().cast(pl.Int64).alias("businesses_counted"))

    out = hh
    for frame in (bank_sum, re_q, veh_q, bus_q):
        out = out.join(frame, on="hh_idx", how="left", maintain_order="left")
    state = ctx.snapshot_state
    max_units = int(rules.value("max_residential_units"))
    exempt = int(rules.value("vehicle_exempt_count"))

    def known(source: str, column: str, zero: object, dtype: pl.DataType) -> pl.Expr:
        """The quantity when the source was delivered in P (0 without records), else unknown."""
        if state[source] == "missing":
            return pl.lit(None, dtype=dtype).alias(column)
        return pl.col(column).fill_null(zero).cast(dtype)

    out = out.with_columns(
        known("bank", "assets_sum", 0, _I()),
        known("real_estate", "residential_units", 0, pl.Int64()),
        known("real_estate", "has_non_residential", False, pl.Boolean()),
        known("vehicles", "vehicles_counted", 0, pl.Int64()),
        known("business", "businesses_counted", 0, pl.Int64()),
        pl.when(pl.col("has_exempt_member")).then(exempt).otherwise(0).cast(pl.Int64)
        .alias("vehicles_exempt"),
    )
    return out.with_columns(
        re_violation=(pl.col("residential_units") > max_units) | pl.col("has_non_residential"),
        vehicle_violation=pl.col("vehicles_counted") > pl.col("vehicles_exempt"),
        business_violation=pl.col("businesses_counted") > 0,
    ).with_columns(
        property_violation=pl.col("re_violation") | pl.col("vehicle_violation")
        | pl.col("business_violation"),
    )


def _medical(hh: pl.DataFrame, facts: dict[str, pl.DataFrame], living: pl.DataFrame,
             ctx: _Context, contrib: list[pl.DataFrame]) -> pl.DataFrame:
    med = _living_rows(_facts(facts, "medical", ctx), living).filter(
        pl.col("settled_on").is_between((ctx.month - (len(ctx.window) - 1)).first_day,
                                        ctx.month.last_day)
    )
    contrib.append(_keys(med, "medical"))
    sums = med.group_by("hh_idx").agg(pl.col("self_paid_fen").sum().alias("medical_sum"))
    return hh.join(sums, on="hh_idx", how="left", maintain_order="left").with_columns(
        pl.col("medical_sum").fill_null(0).cast(_I)
    )


def _standards_frame(rules: Rules) -> pl.DataFrame:
    """Per (district, 城乡类别): S, T and every threshold in 分 (floored: figures are whole 分)."""
    assets_m = _frac(rules, "assets_limit_months")
    marg_m = _frac(rules, "marginal_multiplier")
    marg_a = _frac(rules, "marginal_assets_limit_months")
    rows = []
    for (district, ur), s in sorted(rules.standards.items()):
        s_fen = Fraction(s) * 100
        t = rules.tekun_standard(district, ur)
        t_fen = Fraction(t) * 100 if t is not None else None
        t_params = ([TEKUN_STANDARD] if (district, ur) in rules.tekun_from_table
                    else [TEKUN_RATIO, DIBAO_STANDARD])
        rows.append({
            "district_code": district, "urban_rural": ur,
            "s_fen": floor(s_fen), "t_fen": floor(t_fen) if t_fen is not None else None,
            "s_yuan": str(_decimal_yuan(s_fen)),
            "t_yuan": str(_decimal_yuan(t_fen)) if t_fen is not None else "null",
            # the one list of the evidence joined with ", " (pipelines/evidence.py says why)
            "t_params": ev.parameter_items(t_params, ", "),
            "assets_limit_fen": floor(assets_m * s_fen),
            "assets_limit_yuan": str(_decimal_yuan(assets_m * s_fen)),
            "marginal_income_fen": floor(marg_m * s_fen),
            "marginal_income_yuan": str(_decimal_yuan(marg_m * s_fen)),
            "marginal_assets_fen": floor(marg_a * s_fen),
            "marginal_assets_yuan": str(_decimal_yuan(marg_a * s_fen)),
            "standard_exact": _decimal_yuan(s_fen),
            "tekun_exact": _decimal_yuan(t_fen) if t_fen is not None else None,
        })
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
              "district_code": pl.String, "urban_rural": pl.String, "s_fen": _I, "t_fen": _I,
              "s_yuan": pl.String, "t_yuan": pl.String, "t_params": pl.String,
              "assets_limit_fen": _I, "assets_limit_yuan": pl.String,
              "marginal_income_fen": _I, "marginal_income_yuan": pl.String,
              "marginal_assets_fen": _I, "marginal_assets_yuan": pl.String,
              "standard_exact": MONEY, "tekun_exact": MONEY}
    return pl.DataFrame(rows, schema=schema)


def _conditions(hh: pl.DataFrame, ctx: _Context) -> pl.DataFrame:
    """Per-capita figures and the other household quantities, then every flag of the registry."""
    a, b = ctx.deduction.numerator, ctx.deduction.denominator
    m_w, m_p = ctx.months_delivered["tax_wages"], ctx.months_delivered["pension"]
    wage, ben = pl.col("wage_sum"), pl.col("benefit_sum")
    # monthly household income = wage*a/(b*m_w) + benefit/m_p over the common denominator
    den = b * max(m_w, 1) * max(m_p, 1)
    num = (wage * (a * max(m_p, 1)) if m_w else pl.lit(0, dtype=_I)) \
        + (ben * (b * max(m_w, 1)) if m_p else pl.lit(0, dtype=_I))
    income_known = bool(m_w or m_p)
    living = pl.col("living_members").cast(_I)
    has_living = pl.col("living_members") > 0
    # household income over W (for HIGH_MEDICAL_EXPENSE) as a fraction over b
    hw_num = (wage * a if m_w else pl.lit(0, dtype=_I)) + (ben * b if m_p else pl.lit(0, dtype=_I))
    null_i = pl.lit(None, dtype=_I)
    hh = hh.with_columns(
        income_pc_fen=(pl.when(has_living).then(_round_half_away(num, living * den)).otherwise(None)
                       if income_known else null_i),
        assets_pc_fen=pl.when(has_living).then(_round_half_away(pl.col("assets_sum"), living)),
        wage_income_fen=_round_half_away(wage * a, b) if m_w else null_i,
        benefit_income_fen=ben if m_p else null_i,
        household_income_w_fen=_round_half_away(hw_num, b) if income_known else null_i,
        hw_num=hw_num if income_known else null_i,
        last_num=pl.col("wage_last") * a + pl.col("benefit_last") * b,
        prev_num=pl.col("wage_prev") * a + pl.col("benefit_prev") * b,
    )
    partial = ctx.snapshot_state["bank"] == "partial"
    hh = hh.with_columns(
        is_tekun=pl.col("programme") == "特困",
        # a partial bank delivery makes assets a lower bound: "at most a limit" is then unknown
        assets_pc_complete_fen=pl.lit(None, dtype=_I) if partial else pl.col("assets_pc_fen"),
        drop_computable=pl.lit(ctx.drop_computable),
    )
    params = Params(rules=ctx.rules, income_denominator=b)
    return _raise_flags(hh, params, ctx)


def _screened(programmes: tuple[str, ...] | None) -> pl.Expr:
    """The households a flag screens: its programmes (rules/flags.yaml), or every household."""
    return pl.lit(True) if programmes is None else pl.col("programme").is_in(list(programmes))


def _raise_flags(hh: pl.DataFrame, params: Params, ctx: _Context) -> pl.DataFrame:
    """Each flag's condition (``c_<flag>``, three-valued) and whether it is raised (``f_<flag>``)."""
    hh = hh.with_columns([flag.condition_at(params).alias(f"c_{name}")
                          for name, flag in REGISTRY.items()])
    alive = pl.col("living_members") > 0
    raised = []
    for name, flag in REGISTRY.items():
        who = _screened(ctx.programmes[name])
        gate = alive & who if flag.requires_living else who
        raised.append((gate & pl.col(f"c_{name}")).fill_null(False).alias(f"f_{name}"))
    return hh.with_columns(raised)
