"""Assess layer: the published frames and the run's notes.

The frames are ``assessments`` and ``flags`` with their evidence, encoded by
:mod:`pipelines.evidence`.
"""

from __future__ import annotations

import polars as pl

from pipelines import evidence as ev
from pipelines import gradual_exit
from pipelines.assess.context import _Context, _frac
from pipelines.assess.money import MONEY, _decimal_yuan, _round_half_away, _yuan
from pipelines.assess.quantities import _screened
from pipelines.flags import REGISTRY, Flag
from pipelines.rulebook import DIBAO_STANDARD
from pipelines.run_notes import Note, note, with_period
from pipelines.sources import INCOME_SOURCES

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


def _flags_frame(hh: pl.DataFrame, contrib: pl.DataFrame, ctx: _Context) -> pl.DataFrame:
    rules = ctx.rules
    b = ctx.deduction.denominator
    n_recent = ctx.drop_recent
    n_earlier = len(ctx.drop_months) - n_recent
    ratio = 1 - _frac(rules, "income_drop_ratio")
    share = _frac(rules, "medical_income_share")
    q: dict[str, pl.Expr | str] = {
        "members": ev.json_value(pl.col("members")),
        "living_members": ev.json_value(pl.col("living_members")),
        "income_per_capita": ev.json_value(_yuan(pl.col("income_pc_fen"))),
        "assets_per_capita": ev.json_value(_yuan(pl.col("assets_pc_fen"))),
        "assets_lower_bound": "true" if ctx.snapshot_state["bank"] == "partial" else "false",
        "residential_units": ev.json_value(pl.col("residential_units")),
        "has_non_residential_unit": ev.json_bool(pl.col("has_non_residential")),
        "vehicles_counted": ev.json_value(pl.col("vehicles_counted")),
        "businesses_counted": ev.json_value(pl.col("businesses_counted")),
        "wage_income": ev.json_value(_yuan(pl.col("wage_income_fen"))),
        "benefit_income": ev.json_value(_yuan(pl.col("benefit_income_fen"))),
        "household_income_w": ev.json_value(_yuan(pl.col("household_income_w_fen"))),
        "medical_out_of_pocket": ev.json_value(_yuan(pl.col("medical_sum"))),
        # the evidence names stay avg_last3/avg_prev3 (stable codes) whatever the split in force
        "avg_last3": ev.json_value(_yuan(_round_half_away(pl.col("last_num"), n_recent * b))),
        "avg_prev3": ev.json_value(_yuan(_round_half_away(pl.col("prev_num"), n_earlier * b))),
        "standard": ev.json_value(pl.when(pl.col("programme") == "特困").then(pl.col("t_yuan"))
                           .otherwise(pl.col("s_yuan"))),
    }

    s_thr = ev.threshold(pl.col("s_yuan"), DIBAO_STANDARD)
    t_thr = ev.threshold_listed(pl.col("t_yuan"), pl.col("t_params"))
    assets_thr = ev.threshold(pl.col("assets_limit_yuan"), "assets_limit_months", DIBAO_STANDARD)
    med_share = _yuan(_round_half_away(pl.col("hw_num") * share.numerator, share.denominator * b))
    drop_limit = _yuan(_round_half_away(pl.col("prev_num") * ratio.numerator,
                                        ratio.denominator * n_earlier * b))
    c = pl.col
    # the thresholds a flag's evidence may name (pipelines/flags/*.py ``thresholds``)
    t: dict[str, pl.Expr] = {
        "standard": s_thr,
        "tekun_standard": t_thr,
        "assets_limit": assets_thr,
        "max_residential_units": ev.threshold(str(int(rules.value("max_residential_units"))),
                                            "max_residential_units"),
        "business_capital_limit_wan": ev.threshold(str(rules.value("business_capital_limit_wan")),
                                                 "business_capital_limit_wan"),
        "vehicle_exempt_count": ev.threshold(ev.json_value(pl.col("vehicles_exempt")), "vehicle_exempt_count"),
        "marginal_income_limit": ev.threshold(c("marginal_income_yuan"), "marginal_multiplier",
                                            DIBAO_STANDARD),
        "marginal_assets_limit": ev.threshold(c("marginal_assets_yuan"),
                                            "marginal_assets_limit_months", DIBAO_STANDARD),
        "income_drop_limit": ev.threshold(ev.json_value(drop_limit), "income_drop_ratio",
                                        "employment_cost_deduction_rate"),
        "medical_min_amount": ev.threshold(
            str(_decimal_yuan(_frac(rules, "medical_min_amount") * 100)), "medical_min_amount"),
        "medical_income_share_amount": ev.threshold(
            ev.json_value(med_share), "medical_income_share", "employment_cost_deduction_rate"),
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
            (ev.extra_member(gradual_exit.EVIDENCE_KEY, pl.col("gradual_exit_json"))
             if gradual_exit.EVIDENCE_KEY in REGISTRY[flag].evidence_extras
             else pl.lit(None, dtype=pl.String)).alias("extra"),
        ))
    flags = pl.concat(parts)
    evidence = ev.document(flag=pl.col("flag"), period=ctx.period, rulebook_version=rules.version,
                           quantities=pl.col("q"), thresholds=pl.col("t"),
                           records=pl.col("records"), staff_confirmed=pl.col("n_confirmed"),
                           extra=pl.col("extra"))
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
            ev.record_items().alias("rec"),
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
    return ev.json_object({n: table[n] for n in flag.quantities})


def _thresholds(flag: Flag, table: dict[str, pl.Expr]) -> pl.Expr:
    """A flag's thresholds as one JSON object, from the names (or the chooser) its file gives."""
    def pick(*names: str) -> pl.Expr:
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ValueError(f"flag {flag.name} names unknown threshold(s) {', '.join(unknown)}; "
                             f"known: {', '.join(table)}")
        return ev.json_object({n: table[n] for n in names})

    return flag.thresholds(pick) if callable(flag.thresholds) else pick(*flag.thresholds)


def _notes(hh: pl.DataFrame, flags: pl.DataFrame, ctx: _Context) -> list[Note]:
    """The assessment's notes (:mod:`pipelines.run_notes`), in the order merging expects."""
    notes: list[Note] = []
    n_w = len(ctx.window)
    for s in (*INCOME_SOURCES, "medical", "deaths"):
        k = ctx.months_delivered[s]
        if k == 0:
            notes.append(note("source_absent_window", source=s, first=ctx.window[0], last=ctx.period))
        elif k < n_w and s in INCOME_SOURCES:
            notes.append(note("income_source_partial", source=s, delivered=k, months=n_w))
        elif k < n_w:
            # medical and deaths are summed over what arrived, never averaged
            notes.append(note("source_partial", source=s, delivered=k, months=n_w))
    if not (ctx.months_delivered["tax_wages"] or ctx.months_delivered["pension"]):
        notes.append(note("income_unknown"))
    for s, st in ctx.snapshot_state.items():
        if st == "missing":
            notes.append(note("snapshot_missing", source=s))
        elif st == "partial":
            notes.append(note("snapshot_partial", source=s))
    if not ctx.drop_computable:
        notes.append(note("income_drop_not_computed", first=ctx.drop_months[0], last=ctx.period))
    no_living = hh.filter(pl.col("living_members") == 0).height
    if no_living:
        notes.append(note("no_living_members", households=no_living))
    no_standard = hh.filter(pl.col("s_fen").is_null()).height
    if no_standard:
        notes.append(note("no_standard", households=no_standard))
    held = hh.filter(pl.col("living_members") > 0).select([
        (_screened(ctx.programmes[name]) & pl.col(f"c_{name}").is_null()).sum().alias(name)
        for name, flag in REGISTRY.items() if flag.requires_living
    ]).row(0, named=True)
    for flag, n in held.items():
        if n:
            notes.append(note("undecided", flag=flag, households=int(n)))
    counts = dict(flags.group_by("flag").len().iter_rows())
    # in registry order, as reports list flags
    for flag in [*REGISTRY, *sorted(set(counts) - set(REGISTRY))]:
        if counts.get(flag):
            notes.append(note("flagged", flag=flag, households=int(counts[flag])))
    return with_period(notes, ctx.period)
