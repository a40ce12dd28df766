"""Sample layer: the committed city in data/sample/ shows everything it promises, and regenerates."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import polars as pl
import pytest

from pipelines.sample import generate_city, parse_months
from pipelines.sample.corrupt import AMOUNT_FORMATS, DATE_FORMATS, ID_KINDS, MONTH_FORMATS, NAME_KINDS
from pipelines.sample.oracle import FLAG_ORDER
from pipelines.sample.verify import check_city

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
ROW_PROBLEMS = ("bad_amount_text", "bad_amount_exp", "amount_too_large", "amount_three_decimals",
                "period_after_folder", "period_blank", "record_no_blank", "duplicate_resent",
                "duplicate_conflict", "amount_blank", "amount_negative", "outsider_namesake", "outsider_near_id")


def truth(name: str) -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "truth" / name, infer_schema=False)


def command() -> list[str]:
    """The regeneration command as the README states it."""
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    m = re.search(r"python -m pipelines\.sample (--households \d+ --months \S+ --seed \d+ --out data/sample)", text)
    assert m, "README.md must state the python -m pipelines.sample command"
    return m.group(1).split()


def test_every_corruption_kind_is_planted():
    kinds = set(truth("records.csv")["corruptions"].drop_nulls().str.split(";").explode())
    expected = set(ID_KINDS + NAME_KINDS + AMOUNT_FORMATS + MONTH_FORMATS + DATE_FORMATS + ROW_PROBLEMS)
    assert expected - kinds == set()
    assert kinds - expected <= {"decimal_unit", "enum_spaces"}


def test_every_flag_occurs_several_times_for_each_programme_it_concerns():
    flags = truth("flags.csv").join(truth("households.csv").select("period", "household_id", "programme"),
                                    on=["period", "household_id"])
    counts = dict(flags.group_by("flag").len().iter_rows())
    assert all(counts.get(f, 0) >= 3 for f in FLAG_ORDER), counts
    per = dict(flags.group_by("flag", "programme").len().select(
        pl.concat_str("flag", "programme", separator="/"), "len").iter_rows())
    for key in ("INCOME_OVER_STANDARD/低保", "INCOME_OVER_STANDARD/特困", "ASSETS_OVER_LIMIT/特困",
                "PROPERTY_OVER_LIMIT/低保", "ELIGIBLE_NOT_ENROLLED/低保边缘", "ELIGIBLE_NOT_ENROLLED/支出型困难",
                "ELIGIBLE_NOT_ENROLLED/监测对象", "MARGINAL_NO_LONGER/低保边缘"):
        assert per.get(key, 0) >= 3, key


def test_property_flags_come_from_every_kind_of_holding():
    hh = truth("households.csv").filter(pl.col("programme").is_in(["低保", "特困"]))
    flagged = hh.join(truth("flags.csv").filter(pl.col("flag") == "PROPERTY_OVER_LIMIT"),
                      on=["period", "household_id"], how="semi")
    for reason in ("real_estate_violation", "vehicle_violation", "business_violation"):
        assert flagged.filter(pl.col(reason) == "true").height >= 3, reason
    second_home = flagged.filter(pl.col("residential_units").cast(pl.Int64) > 1)
    assert second_home.height >= 3
    exempt = hh.filter(pl.col("vehicle_exempt") == "true")
    assert exempt.filter(pl.col("vehicle_violation") == "true").height >= 1  # two cars beat the exemption
    assert exempt.filter(pl.col("vehicle_violation") == "false").height >= 1
    # a header-only vehicles file is a delivery of zero rows: known, and no vehicle violation
    assert set(truth("households.csv").filter(pl.col("period") == "2026-08")["vehicle_violation"]) == {"false"}


def test_the_july_standard_change_moves_households_across_the_line():
    hh = truth("households.csv").filter(pl.col("programme") == "低保").with_columns(
        over=pl.col("income_per_capita").cast(pl.Float64) > pl.col("standard").cast(pl.Float64))
    june = hh.filter(pl.col("period") == "2026-06").select("household_id", "over")
    july = hh.filter(pl.col("period") == "2026-07").select("household_id", "over")
    crossed = june.join(july, on="household_id", suffix="_july").filter(pl.col("over") & ~pl.col("over_july"))
    assert crossed.height >= 1
    assert set(truth("households.csv").filter(pl.col("period") == "2026-06")["standard"]) == {
        "980.00", "840.00", "640.00", "620.00", "300.00", "1274.00", "1092.00", "832.00", "806.00", "390.00"}


def test_folders_files_and_truth_agree():
    assert check_city(SAMPLE) == []
    months = parse_months("2026-05..2026-10")
    assert sorted(p.name for p in (SAMPLE / "incoming").iterdir()) == months
    assert all((SAMPLE / "incoming" / m / "register.csv").is_file() for m in months)
    files = truth("files.csv")
    assert files.filter(pl.col("source") == "unknown").height == 1
    assert files.filter((pl.col("rows") == "0") & (pl.col("source") != "unknown")).height == 1
    formats = files.filter(pl.col("source") == "bank").group_by("period").agg(pl.col("format").unique().sort())
    assert all(f == ["csv", "xlsx"] for f in formats["format"].to_list())
    encodings = set(files.filter(pl.col("format") == "csv")["encoding"])
    assert encodings == {"utf-8", "utf-8-sig", "gb18030"}


def test_sample_is_small():
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 6_000_000


@pytest.mark.slow
def test_readme_command_regenerates_the_committed_bytes(tmp_path):
    args = command()
    opts = dict(zip(args[::2], args[1::2], strict=True))
    out = tmp_path / "regen"
    generate_city(out, households=int(opts["--households"]), months=parse_months(opts["--months"]),
                  seed=int(opts["--seed"]))
    for sub in ("incoming", "truth"):
        for p in sorted((SAMPLE / sub).rglob("*")):
            if p.is_file():
                q = out / sub / p.relative_to(SAMPLE / sub)
                assert hashlib.sha256(q.read_bytes()).digest() == hashlib.sha256(p.read_bytes()).digest(), p.name
