"""Golden end-to-end run: hedui monthly on data/sample/ against the generator's planted truth.

The truth comes from an independent oracle in pipelines/sample/oracle.py that computes the rules
of rules.md from the uncorrupted city, as a matcher allowed by the contract would see it. The
whole pipeline (land, clean, match, assess) must reproduce it.
"""

from __future__ import annotations

import duckdb
import polars as pl

from conftest import SAMPLE, SAMPLE_PERIOD


def _published(warehouse, sql):
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def test_links_meet_the_precision_and_recall_targets(sample_warehouse):
    truth = pl.read_csv(SAMPLE / "truth" / "records.csv", infer_schema=False).filter(
        pl.col("expected") == "link").with_columns(pl.col("true_person_id").replace("", None))
    links = _published(sample_warehouse, "SELECT source, period, record_no, person_id, status FROM links")
    j = truth.join(links, on=["source", "period", "record_no"], how="inner")
    assert j.height == truth.height
    matched = j.filter(pl.col("status") == "matched")
    precision = (matched["person_id"] == matched["true_person_id"]).mean()
    usable = j.filter(pl.col("matchable") == "true")
    recall = ((usable["status"] == "matched") & (usable["person_id"] == usable["true_person_id"])).mean()
    outsiders = j.filter(pl.col("true_person_id").is_null() & (pl.col("status") == "matched")).height
    review_share = (j["status"] == "review").mean()
    assert precision >= 0.999 and recall >= 0.99 and outsiders == 0 and review_share <= 0.02


def test_flags_equal_the_oracles(sample_warehouse):
    truth = (pl.read_csv(SAMPLE / "truth" / "flags.csv", infer_schema=False)
             .filter(pl.col("period") == SAMPLE_PERIOD).select("household_id", "flag").sort(pl.all()))
    ours = _published(sample_warehouse, f"""SELECT household_id, flag FROM flags
                                             WHERE period = '{SAMPLE_PERIOD}' ORDER BY ALL""")
    assert truth.height > 100
    assert ours.rows() == truth.rows()


def test_per_capita_figures_equal_the_oracles(sample_warehouse):
    truth = pl.read_csv(SAMPLE / "truth" / "households.csv", infer_schema=False).filter(
        pl.col("period") == SAMPLE_PERIOD)
    ours = _published(sample_warehouse, f"""SELECT household_id, living_members::VARCHAR AS lm,
        income_per_capita::VARCHAR AS inc, assets_per_capita::VARCHAR AS ast,
        residential_units::VARCHAR AS units, standard::VARCHAR AS std
        FROM assessments WHERE period = '{SAMPLE_PERIOD}'""")
    j = truth.join(ours, on="household_id", how="full", coalesce=True)
    assert j.height == truth.height == ours.height

    def same(a, b):
        return j.filter(~((pl.col(a).cast(pl.Float64) == pl.col(b).cast(pl.Float64))
                          | (pl.col(a).is_null() & pl.col(b).is_null()))).height == 0

    assert same("living_members", "lm")
    assert same("income_per_capita", "inc")
    assert same("assets_per_capita", "ast")
    assert same("residential_units", "units")
    assert same("standard", "std")
