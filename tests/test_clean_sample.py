"""The clean stage against the committed sample city's planted truth (data/sample/truth)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import FolderLoad, load_folder

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
MONTHS = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
KEY = ["source", "period", "file", "row_number"]
ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gb18030": "GB18030", "": "XLSX"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loads() -> dict[str, FolderLoad]:
    return {m: load_folder(SAMPLE / "incoming" / m, period=m) for m in MONTHS}


def test_every_record_ends_where_the_truth_says(loads: dict[str, FolderLoad]) -> None:
    truth = pl.read_csv(SAMPLE / "truth" / "records.csv", infer_schema=False).with_columns(
        pl.col("row_number").cast(pl.Int64))
    parts = []
    for load in loads.values():
        parts += [f.select(KEY).with_columns(got=pl.lit("link")) for f in load.extracts.values()]
        parts.append(load.quarantine.filter(pl.col("row_number").is_not_null()).select(KEY)
                     .with_columns(got=pl.lit("quarantine")))
    got = pl.concat(parts)
    joined = truth.join(got, on=KEY, how="left").with_columns(pl.col("got").fill_null("duplicate"))
    wrong = joined.filter(pl.col("expected") != pl.col("got"))
    assert wrong.height == 0, wrong.select(*KEY, "corruptions", "expected", "got")
    assert got.join(truth, on=KEY, how="anti").height == 0  # nothing loaded the truth lacks
    assert set(joined["got"].unique().to_list()) == {"link", "quarantine", "duplicate"}


def test_file_reports_match_the_truth(loads: dict[str, FolderLoad]) -> None:
    truth = pl.read_csv(SAMPLE / "truth" / "files.csv", infer_schema=False).with_columns(
        pl.col("encoding").fill_null(""))
    files = pl.concat([load.files.with_columns(period=pl.lit(m)) for m, load in loads.items()])
    joined = truth.join(files, on=["period", "file"], how="full", coalesce=True)
    assert joined.filter(pl.col("rows_in").is_null() | pl.col("rows").is_null()).height == 0
    assert (joined["rows"].cast(pl.Int64) == joined["rows_in"]).all()
    assert (joined["source"] == joined["source_right"]).all()
    known = joined.filter(pl.col("source") != "unknown")
    expected = known.select(pl.concat_str([pl.lit("loaded ("), pl.col("encoding").replace_strict(ENCODINGS),
                                           pl.lit(")")])).to_series()
    assert (expected == known["message"]).all()
    assert files.filter(pl.col("rows_in") != pl.col("rows_loaded") + pl.col("rows_quarantined")
                        + pl.col("rows_duplicate")).height == 0


def test_xlsx_record_numbers_stored_as_numbers_read_as_integer_text(loads: dict[str, FolderLoad]) -> None:
    bank = loads["2026-10"].extracts["bank"].filter(pl.col("file") == "bank_rcc.xlsx")
    assert bank.height > 0
    assert bank["record_no"].str.contains(r"^\d+$").all()
