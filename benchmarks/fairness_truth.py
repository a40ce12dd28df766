"""Benchmark: link recall and precision per fairness group, on a generated city with its truth.

The run's ``fairness`` table says how often each group ends in review or unmatched; on a
generated city (``hedui sample``) the planted truth also says whether the matched records went to
the right person. This script joins a published warehouse with ``truth/records.csv`` and prints,
per grouping and group of :mod:`pipelines.fairness` (all sources together):

- ``must_match``: records the contract says must be matched (``matchable = true``);
- ``recall``: of those, the share matched to their true person;
- ``matched`` and ``precision``: records matched, and the share matched to their true person
  (a record of someone not on the register, matched to anyone, counts against it).

Usage::

    .venv/bin/python benchmarks/fairness_truth.py --warehouse W.duckdb --truth data/sample/truth \
        --period 2026-10 [--csv out.csv]

It reads; it never writes to the warehouse. Not part of a run: a real city has no truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import polars as pl

from pipelines.fairness import add_groups, folder_records
from pipelines.sources import EXTRACT_SOURCES


def quality_by_group(con: duckdb.DuckDBPyConnection, truth_dir: Path, period: str) -> pl.DataFrame:
    """Recall and precision per (grouping, group_name) for the records of ``period``'s folder."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    union = " UNION ALL ".join(
        f"SELECT '{s}' AS source, record_no, file, row_number::VARCHAR AS row_number FROM stg_{s} "
        f"WHERE period = $f" for s in EXTRACT_SOURCES if f"stg_{s}" in tables)
    where = con.sql(union, params={"f": period}).pl()
    linked = con.sql("SELECT source, record_no, person_id FROM links WHERE period = $f",
                     params={"f": period}).pl()
    truth = pl.read_csv(truth_dir / "records.csv", infer_schema=False).filter(
        (pl.col("period") == period) & (pl.col("expected") == "link")
    ).select("file", "row_number", "true_person_id", (pl.col("matchable") == "true").alias("must"))
    records = (add_groups(folder_records(con, period))
               .join(where, on=["source", "record_no"], how="left")
               .join(linked, on=["source", "record_no"], how="left")
               .join(truth, on=["file", "row_number"], how="left")
               .with_columns(((pl.col("status") == "matched")
                              & (pl.col("person_id") == pl.col("true_person_id")).fill_null(False))
                             .alias("right")))
    parts = []
    for grouping in ("source", "name_kind", "id_state", "district"):
        parts.append(records.group_by(pl.col(grouping).alias("group_name")).agg(
            pl.len().alias("records"),
            pl.col("must").fill_null(False).sum().alias("must_match"),
            (pl.col("must").fill_null(False) & pl.col("right")).sum().alias("right_of_must"),
            (pl.col("status") == "matched").sum().alias("matched"),
            pl.col("right").sum().alias("right"),
        ).with_columns(pl.lit(grouping).alias("grouping")))
    return (pl.concat(parts).with_columns(
        # a group with nothing to match (or nothing matched) has no recall (precision): null
        pl.when(pl.col("must_match") > 0).then(pl.col("right_of_must") / pl.col("must_match"))
        .alias("recall"),
        pl.when(pl.col("matched") > 0).then(pl.col("right") / pl.col("matched")).alias("precision"),
    ).select("grouping", "group_name", "records", "must_match", "recall", "matched", "precision")
            .sort("grouping", "group_name"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--period", required=True)
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    try:
        table = quality_by_group(con, args.truth, args.period)
    finally:
        con.close()
    with pl.Config(tbl_rows=-1, tbl_cols=-1, float_precision=4):
        print(table)
    if args.csv:
        table.write_csv(args.csv)


if __name__ == "__main__":
    main()
