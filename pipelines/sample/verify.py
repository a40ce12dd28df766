"""Sample layer: read a generated city back and check that its truth describes its files."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from pipelines.sources import SOURCES


def read_delivered(path: Path, *, encoding: str) -> pl.DataFrame:
    """A delivered CSV (in ``encoding``) or XLSX (first sheet) as all-text columns."""
    if path.suffix.lower() == ".xlsx":
        return pl.read_excel(path, infer_schema_length=0)
    text = path.read_bytes().decode(encoding)
    return pl.read_csv(io.StringIO(text), infer_schema=False).fill_null("")


def check_city(out: Path) -> list[str]:
    """Problems found comparing ``out/truth`` with ``out/incoming`` (empty when consistent).

    Checks every file listed in ``truth/files.csv`` exists, decodes in its declared encoding
    (a BOM exactly when ``utf-8-sig``), has the required columns of its source, has as many rows
    as ``truth/records.csv`` lists for it, and carries the listed 记录号 at each row number.
    """
    problems: list[str] = []
    truth = Path(out) / "truth"
    files = pl.read_csv(truth / "files.csv", infer_schema=False).fill_null("")
    records = pl.read_csv(truth / "records.csv", infer_schema=False).fill_null("")
    for row in files.iter_rows(named=True):
        path = Path(out) / "incoming" / row["period"] / row["file"]
        where = f"{row['period']}/{row['file']}"
        if not path.is_file():
            problems.append(f"{where}: listed in files.csv but missing")
            continue
        if row["source"] == "unknown":
            continue
        if row["format"] == "csv":
            has_bom = path.read_bytes().startswith(b"\xef\xbb\xbf")
            if has_bom != (row["encoding"] == "utf-8-sig"):
                problems.append(f"{where}: BOM does not match declared encoding {row['encoding']}")
        df = read_delivered(path, encoding=row["encoding"] or "utf-8")
        required = (SOURCES[row["source"]].required if row["source"] in SOURCES else ())
        missing = [c for c in required if c not in df.columns]
        if missing:
            problems.append(f"{where}: lacks required columns {missing}")
        if df.height != int(row["rows"]):
            problems.append(f"{where}: {df.height} rows, files.csv says {row['rows']}")
        if row["source"] == "register":
            continue
        mine = records.filter((pl.col("period") == row["period"]) & (pl.col("file") == row["file"]))
        if mine.height != df.height:
            problems.append(f"{where}: {df.height} rows, records.csv lists {mine.height}")
            continue
        got = df.select(pl.col("记录号").str.strip_chars().fill_null("")).to_series().to_list()
        want = mine.sort(pl.col("row_number").cast(pl.Int64))["record_no"].to_list()
        if got != want:
            bad = next(i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b)
            problems.append(f"{where}: row {bad + 1} carries another 记录号 than records.csv says")
    return problems
