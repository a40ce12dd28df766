"""Assess layer: household quantities and flags for one period P under the rulebook in force.

Implements ``contract/rules.md`` (its Settled details included) as vectorised polars over the
households of P's register:

- records count for the household their ``person_id`` belongs to on P's register, over the
  *living* members (register rows of P less anyone linked to a death record of a folder of W dated
  on or before the end of P);
- each income source's sum over W is divided by the months of W in which that source was
  delivered; money is summed in integer 分 and carried as exact fractions, and a per-capita
  figure is rounded once, half away from zero, to the 分 before it is compared; other figures
  (INCOME_DROP averages, medical amounts) are compared exactly;
- an unknown quantity (a snapshot source missing from P's folder, income with neither income
  source delivered in W) is null, and flag conditions use SQL's three-valued logic: a flag is
  raised only when its condition is TRUE from what is known. A partial bank delivery makes assets
  a lower bound.

Evidence (``flags.evidence``, JSON text) per flag: ``flag``, ``period``, ``rulebook_version``,
``quantities`` (assessment column names, plus ``wage_income``, ``benefit_income``,
``medical_out_of_pocket``, ``household_income_w``, ``avg_last3``, ``avg_prev3``,
``vehicles_counted``, ``businesses_counted``, ``assets_lower_bound`` where used; money as a JSON
number in yuan with two decimals), ``thresholds`` (name -> ``{value, parameters}``), ``records``
(every matched record whose value entered the condition: ``{source, period, record_no,
link_method}``, ``period`` being the delivery folder) and ``staff_confirmed_links`` (how many of
those records were linked by a staff decision, ``link_method = 'confirmed'``).

``missing_sources`` lists, comma-separated in source order, the income and event sources
delivered in no month of W and the snapshot sources not delivered in P's folder, plus
``bank_partial`` when some but not all bank files of P were accepted (assets are then a lower
bound).

The module is pure: frames in, frames out; no I/O. Notes never carry an ID number or a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import floor

import polars as pl

from pipelines import gradual_exit
from pipelines.flags import (
    FLAGS,
    REGISTRY,
    Flag,
    Params,
    load_flag_programmes,
)
from pipelines.periods import Period, month_end, month_start
from pipelines.plan import windows
from pipelines.rulebook import (
    DIBAO_STANDARD,
    TEKUN_RATIO,
    TEKUN_STANDARD,
    Rulebook,
    Rules,
)
from pipelines.sources import EXTRACT_SOURCES, INCOME_SOURCES, SNAPSHOT_SOURCES

__all__ = ["ASSESSMENT_COLUMNS", "FLAGS", "FLAG_COLUMNS", "Assessment", "assess_period"]

#: the published ``assessments`` columns, in order (docs/architecture.md)
ASSESSMENT_COLUMNS = (
    "period", "household_id", "district_code", "urban_rural", "programme", "members",
    "living_members", "income_per_capita", "assets_per_capita", "residential_units", "standard",
    "wage_income", "benefit_income", "medical_out_of_pocket", "household_income_w",
    "missing_sources", "rulebook_version",
)
FLAG_COLUMNS = ("period", "household_id", "district_code", "flag", "evidence", "rulebook_version")

MONEY = pl.Decimal(18, 2)
_I = pl.Int128

_RESIDENTIAL = "住宅"
_NON_RESIDENTIAL = ("商业", "办公", "工业")

#: the columns each source's facts must carry beyond source, period, record_no, person_id, link_method
_FACT_COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "tax_wages": {"income_month": pl.String(), "amount_fen": pl.Int64()},
    "pension": {"income_month": pl.String(), "amount_fen": pl.Int64()},
    "bank": {"balance_fen": pl.Int64()},
    "real_estate": {"unit_no": pl.String(), "usage": pl.String()},
    "vehicles": {"vehicle_type": pl.String(), "vehicle_status": pl.String()},
    "business": {"role": pl.String(), "capital_wan": pl.Float64(), "registration_status": pl.String()},
    "medical": {"settled_on": pl.Date(), "self_paid_fen": pl.Int64()},
    "deaths": {"died_on": pl.Date()},
}
_KEY_COLUMNS: dict[str, pl.DataType] = {
    "source": pl.String(), "period": pl.String(), "record_no": pl.String(),
    "person_id": pl.String(), "link_method": pl.String(),
}


@dataclass(frozen=True)
class Assessment:
    """What :func:`assess_period` returns.

    Attributes
    ----------
    assessments : pl.DataFrame
        One row per household in scope (``ASSESSMENT_COLUMNS``).
    flags : pl.DataFrame
        One row per household and flag raised (``FLAG_COLUMNS``); ``evidence`` is JSON text.
    notes : list[str]
        Summary lines for the run (missing sources, flags held back); no IDs or names.
    """

    assessments: pl.DataFrame
    flags: pl.DataFrame
    notes: list[str]


def assess_period(
    *,
    period: str,
    register: pl.DataFrame,
    facts: dict[str, pl.DataFrame],
    deliveries: pl.DataFrame,
    rulebook: Rulebook | None = None,
    districts: Sequence[str] | None = None,
    history: pl.DataFrame | None = None,
    rules: Rules | None = None,
) -> Assessment:
    """Assess every household of P's register (in the districts named) and raise its flags.

    Parameters
    ----------
    period : str
        P, ``'YYYY-MM'``.
    register : pl.DataFrame
        P's clean register (``household_id, person_id, district_code, urban_rural, programme,
        disability_grade, serious_illness`` at least).
    facts : dict[str, pl.DataFrame]
        Source -> matched clean rows of every loaded folder, with ``person_id`` and
        ``link_method``. A source absent from the dict has no matched rows.
    deliveries : pl.DataFrame
        ``period, source, files_accepted, files_refused``, one row per (folder, source).
    rulebook : Rulebook, optional
        Resolved at the end of P; not needed when ``rules`` is given.
    districts : Sequence[str], optional
        The districts in scope; all districts of the register when None.
    history : pl.DataFrame, optional
        Earlier assessments (``pipelines.gradual_exit.HISTORY_COLUMNS``), read only when
        ``gradual_exit_months`` is in force (低保渐退, :mod:`pipelines.gradual_exit`).
    rules : Rules, optional
        The rulebook already resolved on the last day of P (a run's plan,
        :mod:`pipelines.plan`); it must be resolved on that day.

    Returns
    -------
    Assessment

    Raises
    ------
    RulebookError
        When a district in scope has no standard in force at the end of P.
    """
    day = Period.parse(period).last_day
    if rules is None:
        if rulebook is None:
            raise ValueError("assess_period needs the rulebook or the rules resolved at the end of P")
        rules = rulebook.at(day)
    elif rules.day != day:
        raise ValueError(f"rules resolved on {rules.day}, not on the last day of {period} ({day})")
    ctx = _Context.build(period, rules, deliveries, load_flag_programmes(rules))

    reg = _register_in_scope(register, districts)
    scope = set(districts) if districts is not None else set(reg["district_code"].drop_nulls())
    rules.require_districts(scope)

    persons = _persons(reg, _facts(facts, "deaths", ctx), ctx)
    hh = _households(persons, ctx)
    # households are keyed by their row in ``hh`` from here on (integer joins and group-bys)
    persons = persons.join(hh.select("household_id", "hh_idx"), on="household_id", how="left")
    living = persons.filter(~pl.col("is_dead")).select("person_id", "hh_idx")

    contrib: list[pl.DataFrame] = []
    hh = _income(hh, facts, living, ctx, contrib)
    hh = _snapshots(hh, facts, living, ctx, contrib)
    hh = _medical(hh, facts, living, ctx, contrib)
    contrib.append(persons.filter(pl.col("is_dead")).select(
        "hh_idx", pl.lit("death").alias("cat"), pl.col("death_records"),
    ).explode("death_records").unnest("death_records"))
    hh = hh.join(_standards_frame(rules), on=["district_code", "urban_rural"], how="left")
    hh = _conditions(hh, ctx)
    hh = gradual_exit.annotate(hh, period=period, rules=rules, history=history,
                               wage_months=ctx.months_delivered["tax_wages"],
                               pension_months=ctx.months_delivered["pension"])

    assessments = _assessments_frame(hh, ctx)
    flags = _flags_frame(hh, pl.concat(contrib, how="vertical"), ctx)
    notes = _notes(hh, flags, ctx)
    return Assessment(assessments=assessments, flags=flags, notes=notes)


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _Context:
    period: str
    rules: Rules
    window: tuple[str, ...]
    drop_months: tuple[str, ...]  # income_drop_months ending with P
    drop_recent: int  # income_drop_recent_months: the last of drop_months, against the others
    months_delivered: dict[str, int]
    snapshot_state: dict[str, str]  # source -> 'full' | 'partial' | 'missing'
    drop_computable: bool
    deduction: Fraction  # 1 - employment_cost_deduction_rate
    missing_sources: tuple[str, ...]
    #: flag -> the programmes it screens (None: every programme), from rules/flags.yaml
    programmes: dict[str, tuple[str, ...] | None]

    @staticmethod
    def build(period: str, rules: Rules, deliveries: pl.DataFrame,
              programmes: dict[str, tuple[str, ...] | None]) -> _Context:
        # W and the INCOME_DROP months: one definition, shared with the run plan
        span = windows(Period.parse(period), rules)
        w = tuple(p.label for p in span.income)
        drop = tuple(p.label for p in span.drop)
        recent = span.drop_recent
        dl = deliveries.select(
            pl.col("period").cast(pl.String), pl.col("source").cast(pl.String),
            pl.col("files_accepted").cast(pl.Int64).fill_null(0),
            pl.col("files_refused").cast(pl.Int64).fill_null(0),
        )
        accepted = dl.filter(pl.col("files_accepted") > 0)
        delivered = {(r, s) for r, s in accepted.select("period", "source").unique().iter_rows()}
        months = {s: sum((m, s) in delivered for m in w) for s in EXTRACT_SOURCES}
        state: dict[str, str] = {}
        for s in SNAPSHOT_SOURCES:
            row = dl.filter((pl.col("period") == period) & (pl.col("source") == s))
            acc = int(row["files_accepted"].sum()) if row.height else 0
            ref = int(row["files_refused"].sum()) if row.height else 0
            state[s] = "missing" if acc == 0 else ("partial" if ref > 0 else "full")
        drop_ok = all((m, s) in delivered for m in drop for s in INCOME_SOURCES)
        missing = [s for s in EXTRACT_SOURCES
                   if (s in SNAPSHOT_SOURCES and state[s] == "missing")
                   or (s not in SNAPSHOT_SOURCES and months[s] == 0)]
        if state["bank"] == "partial":
            missing.append("bank_partial")
        rate = Fraction(rules.value("employment_cost_deduction_rate"))
        return _Context(
            period=period, rules=rules, window=w, drop_months=drop, drop_recent=recent,
            months_delivered=months,
            snapshot_state=state, drop_computable=drop_ok, deduction=1 - rate,
            missing_sources=tuple(missing), programmes=programmes,
        )


def _frac(rules: Rules, name: str) -> Fraction:
    return Fraction(rules.value(name))


# --------------------------------------------------------------------------- inputs


def _register_in_scope(register: pl.DataFrame, districts: Sequence[str] | None) -> pl.DataFrame:
    required = ("household_id", "person_id", "district_code", "urban_rural", "programme")
    lacking = [c for c in required if c not in register.columns]
    if lacking:
        raise ValueError(f"register lacks column(s) {', '.join(lacking)}")
    cols = {"disability_grade": pl.String(), "serious_illness": pl.String()}
    reg = register.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in cols.items() if c not in register.columns]
    ).select(
        pl.col("household_id").cast(pl.String), pl.col("person_id").cast(pl.String),
        pl.col("district_code").cast(pl.String), pl.col("urban_rural").cast(pl.String),
        pl.col("programme").cast(pl.String), pl.col("disability_grade").cast(pl.String),
        pl.col("serious_illness").cast(pl.String),
    )
    if districts is not None:
        reg = reg.filter(pl.col("district_code").is_in(list(districts)))
    return reg


def _facts(facts: dict[str, pl.DataFrame], source: str, ctx: _Context) -> pl.DataFrame:
    """The matched rows of one source, from the folders of P's run, with the columns rules read.

    Folders after P, or before both W and P-5, are not part of P's run even when a caller
    passes them (a quarterly flow may hold every month at once).
    """
    want = {**_KEY_COLUMNS, **_FACT_COLUMNS[source]}
    frame = facts.get(source)
    if frame is None:
        return pl.DataFrame(schema=want)
    missing = [c for c in want if c not in frame.columns and c != "source"]
    if missing:
        raise ValueError(f"facts[{source!r}] lacks column(s) {', '.join(missing)}")
    if "status" in frame.columns:  # only matched links count (rules.md)
        frame = frame.filter(pl.col("status") == "matched")
    first = min(ctx.window[0], ctx.drop_months[0])
    in_run = pl.col("period").is_between(pl.lit(first), pl.lit(ctx.period))
    return frame.filter(pl.col("person_id").is_not_null() & in_run).select(
        pl.lit(source, dtype=pl.String).alias("source"),
        *[pl.col(c).cast(t) for c, t in want.items() if c != "source"],
    )


def _persons(reg: pl.DataFrame, deaths: pl.DataFrame, ctx: _Context) -> pl.DataFrame:
    """Register members of P with their death records (folders of W, dated ≤ end of P)."""
    d = deaths.filter(
        pl.col("period").is_in(list(ctx.window))
        & (pl.col("died_on") <= month_end(ctx.period))
    ).group_by("person_id").agg(
        pl.struct("source", "period", "record_no", "link_method").alias("death_records")
    )
    return reg.join(d, on="person_id", how="left", maintain_order="left").with_columns(
        is_dead=pl.col("death_records").is_not_null()
    )


def _households(persons: pl.DataFrame, ctx: _Context) -> pl.DataFrame:
    living = ~pl.col("is_dead")
    severe = (pl.col("disability_grade").is_in(list(ctx.rules.words_of("severe_disability_grades")))
              | (pl.col("serious_illness") == "是")).fill_null(False)
    return persons.group_by("household_id", maintain_order=True).agg(
        pl.col("district_code").first(),
        pl.col("urban_rural").first(),
        pl.col("programme").first(),
        pl.len().cast(pl.Int64).alias("members"),
        living.sum().cast(pl.Int64).alias("living_members"),
        pl.col("is_dead").any().alias("has_death"),
        (living & severe).any().alias("has_exempt_member"),
    ).with_row_index("hh_idx")


def _living_rows(frame: pl.DataFrame, living: pl.DataFrame) -> pl.DataFrame:
    return frame.join(living, on="person_id", how="inner")


def _keys(frame: pl.DataFrame, cat: str) -> pl.DataFrame:
    return frame.select(
        "hh_idx", pl.lit(cat).alias("cat"), "source", "period", "record_no", "link_method"
    )


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
        known("bank", "assets_sum", 0, _I),
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
        pl.col("settled_on").is_between(month_start(ctx.window[0]), month_end(ctx.period))
    )
    contrib.append(_keys(med, "medical"))
    sums = med.group_by("hh_idx").agg(pl.col("self_paid_fen").sum().alias("medical_sum"))
    return hh.join(sums, on="hh_idx", how="left", maintain_order="left").with_columns(
        pl.col("medical_sum").fill_null(0).cast(_I)
    )


def _round_half_away(num: pl.Expr, den: pl.Expr | int) -> pl.Expr:
    """num / den rounded half away from zero to an integer (den > 0), in exact integer arithmetic."""
    den_e = den if isinstance(den, pl.Expr) else pl.lit(den, dtype=_I)
    return num.sign() * ((num.abs() * 2 + den_e) // (den_e * 2))


def _yuan(fen: pl.Expr) -> pl.Expr:
    return (fen.cast(MONEY) / 100).cast(MONEY)


def _decimal_yuan(value: Fraction) -> Decimal:
    """An exact amount in 分 as yuan with two decimals (half away from zero)."""
    fen = abs(value)
    whole = floor(fen + Fraction(1, 2))
    return (Decimal(whole if value >= 0 else -whole) / 100).quantize(Decimal("0.01"))


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
            "t_params": ", ".join(f'"{p}"' for p in t_params),
            "assets_limit_fen": floor(assets_m * s_fen),
            "assets_limit_yuan": str(_decimal_yuan(assets_m * s_fen)),
            "marginal_income_fen": floor(marg_m * s_fen),
            "marginal_income_yuan": str(_decimal_yuan(marg_m * s_fen)),
            "marginal_assets_fen": floor(marg_a * s_fen),
            "marginal_assets_yuan": str(_decimal_yuan(marg_a * s_fen)),
            "standard_exact": _decimal_yuan(s_fen),
            "tekun_exact": _decimal_yuan(t_fen) if t_fen is not None else None,
        })
    schema = {"district_code": pl.String, "urban_rural": pl.String, "s_fen": _I, "t_fen": _I,
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
    hh = hh.with_columns([flag.condition(params).alias(f"c_{name}")
                          for name, flag in REGISTRY.items()])
    alive = pl.col("living_members") > 0
    raised = []
    for name, flag in REGISTRY.items():
        who = _screened(ctx.programmes[name])
        gate = alive & who if flag.requires_living else who
        raised.append((gate & pl.col(f"c_{name}")).fill_null(False).alias(f"f_{name}"))
    return hh.with_columns(raised)


# --------------------------------------------------------------------------- outputs


def _assessments_frame(hh: pl.DataFrame, ctx: _Context) -> pl.DataFrame:
    missing = ",".join(ctx.missing_sources) or None
    return hh.select(
        pl.lit(ctx.period).alias("period"),
        "household_id", "district_code", "urban_rural", "programme", "members", "living_members",
        _yuan(pl.col("income_pc_fen")).alias("income_per_capita"),
        _yuan(pl.col("assets_pc_fen")).alias("assets_per_capita"),
        "residential_units",
        pl.when(pl.col("programme") == "特困").then(pl.col("tekun_exact"))
        .otherwise(pl.col("standard_exact")).cast(MONEY).alias("standard"),
        _yuan(pl.col("wage_income_fen")).alias("wage_income"),
        _yuan(pl.col("benefit_income_fen")).alias("benefit_income"),
        _yuan(pl.col("medical_sum")).alias("medical_out_of_pocket"),
        _yuan(pl.col("household_income_w_fen")).alias("household_income_w"),
        pl.lit(missing, dtype=pl.String).alias("missing_sources"),
        pl.lit(ctx.rules.version).alias("rulebook_version"),
    ).sort("household_id")


def _jtext(expr: pl.Expr) -> pl.Expr:
    """A value as JSON text: numbers as they print (money with two decimals), null as null."""
    return expr.cast(pl.String).fill_null("null")


def _jbool(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr).then(pl.lit("true")).when(~expr).then(pl.lit("false")).otherwise(pl.lit("null"))


def _jobject(pairs: dict[str, pl.Expr | str]) -> pl.Expr:
    parts: list[pl.Expr] = []
    for i, (name, value) in enumerate(pairs.items()):
        parts.append(pl.lit(("{" if i == 0 else ",") + f'"{name}":'))
        parts.append(pl.lit(value) if isinstance(value, str) else value)
    parts.append(pl.lit("}" if pairs else "{}"))
    return pl.concat_str(parts)


def _threshold(value: pl.Expr | str, *parameters: str) -> pl.Expr:
    params = ",".join(f'"{p}"' for p in parameters)
    return _jobject({"value": value, "parameters": f"[{params}]"})


def _flags_frame(hh: pl.DataFrame, contrib: pl.DataFrame, ctx: _Context) -> pl.DataFrame:
    rules = ctx.rules
    b = ctx.deduction.denominator
    n_recent = ctx.drop_recent
    n_earlier = len(ctx.drop_months) - n_recent
    ratio = 1 - _frac(rules, "income_drop_ratio")
    share = _frac(rules, "medical_income_share")
    q: dict[str, pl.Expr | str] = {
        "members": _jtext(pl.col("members")),
        "living_members": _jtext(pl.col("living_members")),
        "income_per_capita": _jtext(_yuan(pl.col("income_pc_fen"))),
        "assets_per_capita": _jtext(_yuan(pl.col("assets_pc_fen"))),
        "assets_lower_bound": "true" if ctx.snapshot_state["bank"] == "partial" else "false",
        "residential_units": _jtext(pl.col("residential_units")),
        "has_non_residential_unit": _jbool(pl.col("has_non_residential")),
        "vehicles_counted": _jtext(pl.col("vehicles_counted")),
        "businesses_counted": _jtext(pl.col("businesses_counted")),
        "wage_income": _jtext(_yuan(pl.col("wage_income_fen"))),
        "benefit_income": _jtext(_yuan(pl.col("benefit_income_fen"))),
        "household_income_w": _jtext(_yuan(pl.col("household_income_w_fen"))),
        "medical_out_of_pocket": _jtext(_yuan(pl.col("medical_sum"))),
        # the evidence names stay avg_last3/avg_prev3 (stable codes) whatever the split in force
        "avg_last3": _jtext(_yuan(_round_half_away(pl.col("last_num"), n_recent * b))),
        "avg_prev3": _jtext(_yuan(_round_half_away(pl.col("prev_num"), n_earlier * b))),
        "standard": _jtext(pl.when(pl.col("programme") == "特困").then(pl.col("t_yuan"))
                           .otherwise(pl.col("s_yuan"))),
    }

    s_thr = _threshold(pl.col("s_yuan"), DIBAO_STANDARD)
    t_thr = _jobject({"value": pl.col("t_yuan"), "parameters": pl.concat_str(
        [pl.lit("["), pl.col("t_params"), pl.lit("]")])})
    assets_thr = _threshold(pl.col("assets_limit_yuan"), "assets_limit_months", DIBAO_STANDARD)
    med_share = _yuan(_round_half_away(pl.col("hw_num") * share.numerator, share.denominator * b))
    drop_limit = _yuan(_round_half_away(pl.col("prev_num") * ratio.numerator,
                                        ratio.denominator * n_earlier * b))
    c = pl.col
    # the thresholds a flag's evidence may name (pipelines/flags/*.py ``thresholds``)
    t: dict[str, pl.Expr] = {
        "standard": s_thr,
        "tekun_standard": t_thr,
        "assets_limit": assets_thr,
        "max_residential_units": _threshold(str(int(rules.value("max_residential_units"))),
                                            "max_residential_units"),
        "business_capital_limit_wan": _threshold(str(rules.value("business_capital_limit_wan")),
                                                 "business_capital_limit_wan"),
        "vehicle_exempt_count": _threshold(_jtext(pl.col("vehicles_exempt")), "vehicle_exempt_count"),
        "marginal_income_limit": _threshold(c("marginal_income_yuan"), "marginal_multiplier",
                                            DIBAO_STANDARD),
        "marginal_assets_limit": _threshold(c("marginal_assets_yuan"),
                                            "marginal_assets_limit_months", DIBAO_STANDARD),
        "income_drop_limit": _threshold(_jtext(drop_limit), "income_drop_ratio",
                                        "employment_cost_deduction_rate"),
        "medical_min_amount": _threshold(
            str(_decimal_yuan(_frac(rules, "medical_min_amount") * 100)), "medical_min_amount"),
        "medical_income_share_amount": _threshold(
            _jtext(med_share), "medical_income_share", "employment_cost_deduction_rate"),
    }
    specs = {name: (_quantities(flag, q), _thresholds(flag, t),
                    [(cat, _record_condition(cond)) for cat, cond in flag.records])
             for name, flag in REGISTRY.items()}
    flagged = hh.filter(pl.any_horizontal([pl.col(f"f_{f}") for f in specs]))
    records = _records_by_category(contrib, flagged)
    flagged = flagged.join(records, on="hh_idx", how="left", maintain_order="left")
    if ctx.drop_months == ctx.window:  # with W = P-5..P the two record sets are the same
        flagged = flagged.with_columns(rec_income_drop=pl.col("rec_income_w"),
                                       conf_income_drop=pl.col("conf_income_w"))
    parts = []
    for flag, (quantities, thresholds, cats) in specs.items():
        wanted = [(cat, cond.fill_null(False)) for cat, cond in cats]
        parts.append(flagged.filter(pl.col(f"f_{flag}")).select(
            "household_id", "district_code", pl.lit(flag).alias("flag"),
            quantities.alias("q"), thresholds.alias("t"),
            pl.concat_str([pl.when(cond).then(pl.col(f"rec_{cat}")) for cat, cond in wanted],
                          separator=",", ignore_nulls=True).alias("records"),
            pl.sum_horizontal([pl.when(cond).then(pl.col(f"conf_{cat}")).otherwise(0)
                               for cat, cond in wanted]).alias("n_confirmed"),
            # 低保渐退 state (pipelines/gradual_exit.py); null, so absent, when not in force
            (pl.lit(f',"{gradual_exit.EVIDENCE_KEY}":') + pl.col("gradual_exit_json")
             if gradual_exit.EVIDENCE_KEY in REGISTRY[flag].evidence_extras
             else pl.lit(None, dtype=pl.String)).alias("extra"),
        ))
    flags = pl.concat(parts)
    evidence = pl.concat_str([
        pl.lit('{"flag":"'), pl.col("flag"),
        pl.lit(f'","period":"{ctx.period}","rulebook_version":"{rules.version}","quantities":'),
        pl.col("q"), pl.lit(',"thresholds":'), pl.col("t"),
        pl.lit(',"records":['), pl.col("records").fill_null(""),
        pl.lit('],"staff_confirmed_links":'), pl.col("n_confirmed").fill_null(0).cast(pl.String),
        pl.col("extra").fill_null(""), pl.lit("}"),
    ])
    return flags.select(
        pl.lit(ctx.period).alias("period"), "household_id", "district_code", "flag",
        evidence.alias("evidence"), pl.lit(rules.version).alias("rulebook_version"),
    ).sort("household_id", "flag")


_CATEGORIES = ("income_w", "income_drop", "bank", "real_estate", "vehicles", "business", "medical",
               "death")


def _records_by_category(contrib: pl.DataFrame, flagged: pl.DataFrame) -> pl.DataFrame:
    """Per flagged household and record category: its records as JSON list items, sorted."""
    grouped = (
        contrib.join(flagged.select("hh_idx"), on="hh_idx", how="semi")
        .group_by("hh_idx", "cat")
        .agg(
            pl.struct("source", "period", "record_no", "link_method").struct.json_encode()
            .alias("rec"),
            (pl.col("link_method") == "confirmed").sum().cast(pl.Int64).alias("conf"),
        )
        # list.join is several times faster than str.join inside the aggregation
        .with_columns(pl.col("rec").list.sort().list.join(","))
    )
    out = flagged.select("hh_idx")
    for cat in _CATEGORIES:
        part = grouped.filter(pl.col("cat") == cat).select(
            "hh_idx", pl.col("rec").alias(f"rec_{cat}"), pl.col("conf").alias(f"conf_{cat}"))
        out = out.join(part, on="hh_idx", how="left", maintain_order="left")
    return out.with_columns([pl.col(f"conf_{c}").fill_null(0) for c in _CATEGORIES])


def _record_condition(cond: pl.Expr | str | None) -> pl.Expr:
    """When a record category counts for a flag: always (None), a column, or an expression."""
    if cond is None:
        return pl.lit(True)
    return pl.col(cond) if isinstance(cond, str) else cond


def _quantities(flag: Flag, table: dict[str, pl.Expr | str]) -> pl.Expr:
    """A flag's evidence quantities as one JSON object, in the order its file names them."""
    unknown = [n for n in flag.quantities if n not in table]
    if unknown:
        raise ValueError(f"flag {flag.name} names unknown evidence quantit(ies) "
                         f"{', '.join(unknown)}; known: {', '.join(table)}")
    return _jobject({n: table[n] for n in flag.quantities})


def _thresholds(flag: Flag, table: dict[str, pl.Expr]) -> pl.Expr:
    """A flag's thresholds as one JSON object, from the names (or the chooser) its file gives."""
    def pick(*names: str) -> pl.Expr:
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ValueError(f"flag {flag.name} names unknown threshold(s) {', '.join(unknown)}; "
                             f"known: {', '.join(table)}")
        return _jobject({n: table[n] for n in names})

    return flag.thresholds(pick) if callable(flag.thresholds) else pick(*flag.thresholds)


def _notes(hh: pl.DataFrame, flags: pl.DataFrame, ctx: _Context) -> list[str]:
    notes: list[str] = []
    n_w = len(ctx.window)
    for s in (*INCOME_SOURCES, "medical", "deaths"):
        k = ctx.months_delivered[s]
        if k == 0:
            notes.append(f"{s} was delivered in no month of the window "
                         f"{ctx.window[0]}..{ctx.period}: it counts nothing and is recorded as missing")
        elif k < n_w and s in INCOME_SOURCES:
            notes.append(f"{s} was delivered in {k} of the {n_w} months of the window; "
                         f"its sum is divided by {k}")
        elif k < n_w:
            # medical and deaths are summed over what arrived, never averaged
            notes.append(f"{s} was delivered in {k} of the {n_w} months of the window; "
                         f"only those months' records count")
    if not (ctx.months_delivered["tax_wages"] or ctx.months_delivered["pension"]):
        notes.append("income per capita is unknown for every household (no income source delivered)")
    for s, st in ctx.snapshot_state.items():
        if st == "missing":
            notes.append(f"{s} was not delivered in {ctx.period}: its quantity is unknown and "
                         "flags that need it are not raised")
        elif st == "partial":
            notes.append(f"{s} of {ctx.period} was delivered in part (a file was refused): assets "
                         "are a lower bound; conditions needing assets at or below a limit are unknown")
    if not ctx.drop_computable:
        notes.append(f"INCOME_DROP not computed: a month of {ctx.drop_months[0]}..{ctx.period} "
                     "lacks a delivery of tax_wages or pension")
    no_living = hh.filter(pl.col("living_members") == 0).height
    if no_living:
        notes.append(f"{no_living} household(s) have no living members: MEMBER_DECEASED only")
    no_standard = hh.filter(pl.col("s_fen").is_null()).height
    if no_standard:
        notes.append(f"{no_standard} household(s) have a 区县代码/城乡类别 without a standard: "
                     "flags that need the standard are not raised for them")
    held = hh.filter(pl.col("living_members") > 0).select([
        (_screened(ctx.programmes[name]) & pl.col(f"c_{name}").is_null()).sum().alias(name)
        for name, flag in REGISTRY.items() if flag.requires_living
    ]).row(0, named=True)
    for flag, n in held.items():
        if n:
            notes.append(f"{flag} could not be decided for {n} household(s): a quantity it needs "
                         "is unknown")
    counts = flags.group_by("flag").len().sort("flag")
    for flag, n in counts.iter_rows():
        notes.append(f"{flag}: {n} household(s) flagged")
    return notes
