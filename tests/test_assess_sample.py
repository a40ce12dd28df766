"""Assess layer against the sample city's independent oracle (data/sample/truth).

The committed sample is loaded with the clean stage; its extract records are linked as a perfect
matcher would (truth/records.csv: ``expected = link`` and ``matchable = true``), and every month
is assessed with the default rulebook. The quantities and flags must equal those of
``pipelines/sample/oracle.py``, a plain implementation of rules.md that shares no code with
``pipelines.assess``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.assess import assess_period
from pipelines.clean import load_folder
from pipelines.rulebook import load_rulebook

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
MONTHS = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
COMPARED = ("members", "living_members", "income_per_capita", "assets_per_capita",
            "residential_units", "standard", "wage_income", "benefit_income",
            "medical_out_of_pocket", "household_income_w")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city() -> dict[str, object]:
    truth = pl.read_csv(SAMPLE / "truth" / "records.csv", infer_schema=False).filter(
        (pl.col("expected") == "link") & (pl.col("matchable") == "true")
    ).select("source", "period", pl.col("record_no").str.strip_chars(),
             pl.col("true_person_id").alias("person_id"))
    loads = {m: load_folder(SAMPLE / "incoming" / m, period=m) for m in MONTHS}
    facts: dict[str, list[pl.DataFrame]] = {}
    for load in loads.values():
        for source, frame in load.extracts.items():
            linked = frame.join(truth, on=["source", "period", "record_no"], how="inner")
            facts.setdefault(source, []).append(linked.with_columns(link_method=pl.lit("exact")))
    deliveries = pl.concat([
        load.files.filter(pl.col("role") == "extract").group_by("source").agg(
            pl.col("accepted").sum().cast(pl.Int64).alias("files_accepted"),
            (~pl.col("accepted")).sum().cast(pl.Int64).alias("files_refused"),
        ).with_columns(period=pl.lit(m))
        for m, load in loads.items() if load.register is not None
    ]).select("period", "source", "files_accepted", "files_refused")
    loaded = pl.concat([frame.select("source", "period", "record_no")
                        for load in loads.values() for frame in load.extracts.values()])
    # rows the oracle counts but the clean stage did not load (a clean-stage disagreement, not an
    # assessment one): their people's households are left out of the comparison
    not_loaded = truth.join(loaded, on=["source", "period", "record_no"], how="anti")
    return {
        "excluded_persons": set(not_loaded["person_id"]),
        "registers": {m: load.register for m, load in loads.items()},
        "facts": {s: pl.concat(parts, how="diagonal_relaxed") for s, parts in facts.items()},
        "deliveries": deliveries,
        "households": pl.read_csv(SAMPLE / "truth" / "households.csv", infer_schema=False),
        "flags": pl.read_csv(SAMPLE / "truth" / "flags.csv", infer_schema=False),
    }


@pytest.mark.parametrize("period", MONTHS)
def test_assessment_equals_the_oracle(city: dict[str, object], period: str) -> None:
    result = assess_period(
        period=period, register=city["registers"][period], facts=city["facts"],
        deliveries=city["deliveries"], rulebook=load_rulebook(),
    )
    register = city["registers"][period]
    excluded = set(register.filter(pl.col("person_id").is_in(list(city["excluded_persons"])))
                   ["household_id"])
    assert len(excluded) <= 0.02 * register["household_id"].n_unique()
    keep = ~pl.col("household_id").is_in(list(excluded))
    want = city["households"].filter((pl.col("period") == period) & keep)
    got = result.assessments.filter(keep)
    assert sorted(got["household_id"]) == sorted(want["household_id"])
    joined = got.join(want, on="household_id", suffix="_truth")
    for column in COMPARED:
        mismatched = joined.filter(
            pl.col(column).cast(pl.String).fill_null("")
            != pl.col(f"{column}_truth").fill_null("")
        )
        assert mismatched.is_empty(), (column, mismatched.select(
            "household_id", column, f"{column}_truth").head(5).to_dicts())
    want_flags = set(city["flags"].filter((pl.col("period") == period) & keep)
                     .select("household_id", "flag").iter_rows())
    got_flags = set(result.flags.filter(keep).select("household_id", "flag").iter_rows())
    assert got_flags == want_flags, (sorted(got_flags - want_flags)[:5],
                                     sorted(want_flags - got_flags)[:5])
    assert all(isinstance(v, Decimal) for v in got["standard"].drop_nulls())
    facts = {(r["source"], r["period"], r["record_no"])
             for frame in city["facts"].values()
             for r in frame.select("source", "period", "record_no").iter_rows(named=True)}
    for flag, evidence in result.flags.select("flag", "evidence").iter_rows():
        doc = json.loads(evidence)
        assert doc["flag"] == flag and doc["quantities"] and doc["rulebook_version"]
        cited = {(r["source"], r["period"], r["record_no"]) for r in doc["records"]}
        assert cited <= facts
        if flag in ("MEMBER_DECEASED", "ASSETS_OVER_LIMIT", "PROPERTY_OVER_LIMIT"):
            assert cited, flag
