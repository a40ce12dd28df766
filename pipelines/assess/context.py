"""Assess layer: what P's run has to go on.

The deliveries of the window, the register in scope and the matched facts of each source,
restricted to the folders of P's run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import polars as pl

from pipelines.periods import Period
from pipelines.plan import windows
from pipelines.rulebook import Rules
from pipelines.sources import EXTRACT_SOURCES, INCOME_SOURCES, SNAPSHOT_SOURCES

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
#: a record's key in the clean layer (``stg_<source>``); person_id and link_method come from links
_RECORD_KEY = ("source", "period", "record_no")


def fact_columns(source: str) -> tuple[str, ...]:
    """The clean (``stg_<source>``) columns the assessment reads of ``source``: read only these.

    The record's key and the source's rule columns (``_FACT_COLUMNS``), the one statement of what
    the assessment reads: :func:`_facts` keeps nothing else, so a rule that reads another column
    fails in every test instead of finding it null. A source no rule reads still gives its key:
    a review record of any source is named in ``pending_records`` (:mod:`pipelines.review_queue`).
    """
    return (*_RECORD_KEY, *_FACT_COLUMNS.get(source, {}))



# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class _Context:
    period: str
    month: Period  # P as a value (its days), parsed once by the caller
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
    def build(month: Period, rules: Rules, deliveries: pl.DataFrame,
              programmes: dict[str, tuple[str, ...] | None]) -> _Context:
        period = month.label
        # W and the INCOME_DROP months: one definition, shared with the run plan
        span = windows(month, rules)
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
            period=period, month=month, rules=rules, window=w, drop_months=drop, drop_recent=recent,
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
        & (pl.col("died_on") <= ctx.month.last_day)
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
