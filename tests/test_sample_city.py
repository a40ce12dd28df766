"""Sample layer: a small generated city keeps the generator's promises."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.sample import CorruptionRates, generate_city, parse_months
from pipelines.sample.ids import from_text, is_valid
from pipelines.sample.verify import check_city, read_delivered

MONTHS = ["2026-06", "2026-07", "2026-08"]


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("city") / "a"
    return out, generate_city(out, households=60, months=MONTHS, seed=5)


def test_parse_months():
    assert parse_months("2026-05..2026-10") == ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    assert parse_months("2026-11..2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert parse_months(" 2026-07 ") == ["2026-07"]
    for bad in ("2026-10..2026-05", "2026-13..2027-01", "202605..202610", ""):
        with pytest.raises(ValueError, match="months"):
            parse_months(bad)


def test_bad_arguments_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="consecutive"):
        generate_city(tmp_path, households=5, months=["2026-05", "2026-07"], seed=1)
    with pytest.raises(ValueError, match="at least 1"):
        generate_city(tmp_path, households=0, months=["2026-05"], seed=1)
    with pytest.raises(ValueError, match="id_swap"):
        CorruptionRates(id_swap=1.5)


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_other_city(city, tmp_path):
    out, _ = city
    again = tmp_path / "b"
    # another process with another string-hash seed: nothing may depend on set or hash order
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, "-m", "pipelines.sample", "--households", "60", "--months",
                    f"{MONTHS[0]}..{MONTHS[-1]}", "--seed", "5", "--out", str(again)],
                   env=env, check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
    assert digest(again) == digest(out)
    other = tmp_path / "c"
    generate_city(other, households=60, months=MONTHS, seed=6)
    assert digest(other)["incoming/2026-06/register.csv"] != digest(out)["incoming/2026-06/register.csv"]


def test_truth_describes_every_file_row_by_row(city):
    out, manifest = city
    assert check_city(out) == []
    records = pl.read_csv(out / "truth" / "records.csv", infer_schema=False)
    assert records.height == manifest["records"]
    assert dict(records.group_by("expected").len().iter_rows()) == manifest["rows_by_expected"]
    assert set(records["expected"]) <= {"link", "quarantine", "duplicate"}
    # (source, folder, 记录号) identifies a record, but for planted duplicates and blanks
    keyed = records.filter(~pl.col("corruptions").fill_null("").str.contains("duplicate|record_no_blank"))
    assert keyed.select("source", "period", "record_no").is_unique().all()


def test_register_ids_are_valid_and_agree_with_birth_date_and_sex(city):
    out, _ = city
    for month in MONTHS:
        files = pl.read_csv(out / "truth" / "files.csv", infer_schema=False)
        enc = files.filter((pl.col("period") == month) & (pl.col("file") == "register.csv"))["encoding"].item()
        reg = read_delivered(out / "incoming" / month / "register.csv", encoding=enc)
        full = reg.filter(pl.col("身份证号").str.len_chars() == 18)
        assert reg.filter(~pl.col("身份证号").str.len_chars().is_in([0, 15, 18])).height == 0
        assert is_valid(from_text(full["身份证号"].to_numpy())).all()
        birth = full["出生日期"].str.replace_all("/", "-").str.replace_all("-", "")
        assert (full["身份证号"].str.slice(6, 8) == birth).all()
        odd = full["身份证号"].str.slice(16, 1).cast(pl.Int32) % 2 == 1
        assert ((full["性别"] == "男") == odd).all()
        assert set(full["身份证号"].str.slice(0, 6)) <= {"990101", "990102", "990103"}
        assert reg["个人编号"].is_unique().all()
        assert set(reg["与户主关系"]) <= {"户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他"}
        household = reg.group_by("户编号").agg(pl.col("保障类别", "区县代码", "城乡类别").n_unique())
        assert (household.select(pl.col("保障类别", "区县代码", "城乡类别")) == 1).to_numpy().all()


def test_people_keep_their_numbers_month_to_month(city):
    out, _ = city
    files = pl.read_csv(out / "truth" / "files.csv", infer_schema=False)

    def reg(month):
        enc = files.filter((pl.col("period") == month) & (pl.col("file") == "register.csv"))["encoding"].item()
        return read_delivered(out / "incoming" / month / "register.csv", encoding=enc)

    a, b = reg(MONTHS[0]), reg(MONTHS[-1])
    both = a.join(b, on="个人编号", suffix="_later")
    assert both.height > 0.8 * a.height
    assert (both["身份证号"] == both["身份证号_later"]).all() and (both["姓名"] == both["姓名_later"]).all()


def test_planted_outsiders_never_carry_a_register_id(city):
    out, _ = city
    records = pl.read_csv(out / "truth" / "records.csv", infer_schema=False)
    outsiders = records.filter(pl.col("corruptions").fill_null("").str.contains("outsider"))
    assert outsiders.height > 0
    assert outsiders["true_person_id"].is_null().all() and (outsiders["matchable"] == "false").all()


def test_every_extract_id_before_corruption_is_valid(city):
    out, _ = city
    records = pl.read_csv(out / "truth" / "records.csv", infer_schema=False)
    files = pl.read_csv(out / "truth" / "files.csv", infer_schema=False).fill_null("")
    clean = records.filter(pl.col("corruptions").is_null())
    id_col = {"tax_wages": "纳税人识别号", "pension": "证件号码", "real_estate": "权利人证件号",
              "vehicles": "身份证明号码", "business": "证件号码", "bank": "客户证件号码",
              "medical": "身份证号", "deaths": "身份证号码"}
    seen = 0
    for row in files.filter(pl.col("source").is_in(list(id_col)) & (pl.col("rows") != "0")).iter_rows(named=True):
        df = read_delivered(out / "incoming" / row["period"] / row["file"], encoding=row["encoding"])
        df = df.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.String))
        mine = clean.filter((pl.col("period") == row["period"]) & (pl.col("file") == row["file"]))
        ids = df.join(mine, on="row_number", how="semi")[id_col[row["source"]]]
        assert is_valid(from_text(np.asarray(ids.to_list(), dtype="U18"))).all(), row["file"]
        seen += len(ids)
    assert seen > 500


def test_resent_copies_repeat_the_identity_exactly_and_conflicts_differ(city):
    out, _ = city
    records = pl.read_csv(out / "truth" / "records.csv", infer_schema=False)
    files = pl.read_csv(out / "truth" / "files.csv", infer_schema=False).fill_null("")
    from pipelines.sources import SOURCES
    checked = 0
    for row in files.filter(pl.col("source").is_in(list(SOURCES)) & (pl.col("rows") != "0")).iter_rows(named=True):
        spec = SOURCES[row["source"]]
        id_col, name_col = (c.zh for c in spec.columns if c.kind in ("id", "name"))
        df = read_delivered(out / "incoming" / row["period"] / row["file"], encoding=row["encoding"])
        df = df.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.String))
        mine = records.filter((pl.col("period") == row["period"]) & (pl.col("file") == row["file"]))
        for kind, same in (("duplicate_resent", True), ("duplicate_conflict", False)):
            rows = df.join(mine.filter(pl.col("corruptions").str.contains(kind)).select("row_number", "record_no"),
                           on="row_number")
            groups = rows.group_by("record_no").agg(pl.col(id_col).n_unique(), pl.col(name_col).n_unique(),
                                                    pl.len())
            assert (groups["len"] >= 2).all()
            if same:
                assert (groups[id_col] == 1).all() and (groups[name_col] == 1).all(), row["file"]
            else:  # the conflict is in a value column: all required columns but one may agree
                assert rows.group_by("record_no").agg(
                    pl.struct([c for c in spec.required if c != "记录号"]).n_unique())[:, 1].min() in (None, 2)
            checked += groups.height
    assert checked > 0
