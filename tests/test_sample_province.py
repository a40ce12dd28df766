"""Sample layer: a province of many districts, generated district by district, with its rulebook."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.rulebook import load_rulebook
from pipelines.rulebook.parameter import DEFAULT_PARAMETERS
from pipelines.sample import parse_months, province
from pipelines.sample.districts import (
    CITY,
    MAX_DISTRICTS,
    MIN_HOUSEHOLDS,
    district_code,
    province_districts,
    split_households,
    write_rules,
)
from pipelines.sample.facts import STANDARDS
from pipelines.sample.province import generate_province
from pipelines.sample.verify import check_city, read_delivered

ROOT = Path(__file__).resolve().parents[1]
MONTHS = parse_months("2026-05..2026-10")
CODES = ["990101", "990102", "990103", "990104", "990105"]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def five(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("province") / "p"
    return out, generate_province(out, districts=5, households=250, months=MONTHS, seed=11)


def test_district_codes_run_through_the_six_digit_space():
    assert [district_code(k) for k in (0, 1, 2, 98, 99, MAX_DISTRICTS - 1)] == [
        "990101", "990102", "990103", "990199", "990201", "999999"]
    codes = [d.code for d in province_districts(250)]
    assert len(set(codes)) == 250 and codes == sorted(codes)
    assert province_districts(3) == CITY  # a three-district province is the sample city's districts
    for bad in (0, -1, MAX_DISTRICTS + 1):
        with pytest.raises(ValueError, match="districts"):
            province_districts(bad)
    with pytest.raises(ValueError):
        district_code(MAX_DISTRICTS)


def test_generated_districts_depend_on_their_code_alone():
    a, b = province_districts(12), province_districts(40)
    assert a == b[:12]
    for d in b[3:]:
        for s_old, s_new, t_new in d.standards.values():
            assert 0 < s_old < s_new and t_new >= (s_new * 13 + 5) // 10
        assert len(set(d.streets)) == 4
    # the city's standards are the ones the sample city's facts and oracle use
    assert {(d.code, ur): v[:2] for d in CITY for ur, v in d.standards.items()} == STANDARDS


def test_households_split_over_districts_by_weight():
    specs = province_districts(7)
    split = split_households(1000, specs)
    assert sum(split) == 1000 and min(split) >= MIN_HOUSEHOLDS
    assert split[0] < split[1]  # 990101 weighs 0.3, 990102 0.35
    assert split_households(7 * MIN_HOUSEHOLDS, specs) == [MIN_HOUSEHOLDS] * 7
    with pytest.raises(ValueError, match="at least 20 per district"):
        split_households(7 * MIN_HOUSEHOLDS - 1, specs)


def test_rules_folder_adds_every_extra_district_and_leaves_the_rest_byte_identical(tmp_path):
    specs = province_districts(9)
    folder = write_rules(specs, tmp_path / "rules")
    assert folder == tmp_path / "rules" / "parameters"
    for src in DEFAULT_PARAMETERS.glob("*.yaml"):
        copy = (folder / src.name).read_bytes()
        if src.name in ("dibao_standard.yaml", "tekun_standard.yaml"):
            assert copy.startswith(src.read_bytes()) and len(copy) > len(src.read_bytes())
        else:
            assert copy == src.read_bytes(), src.name
    before, after = load_rulebook(folder).at(date(2026, 6, 30)), load_rulebook(folder).at(date(2026, 10, 31))
    assert after.districts == {d.code for d in specs}
    for d in specs:
        for ur, (s_old, s_new, t_new) in d.standards.items():
            assert before.standard(d.code, ur) == Decimal(s_old)
            assert after.standard(d.code, ur) == Decimal(s_new)
            assert after.tekun_standard(d.code, ur) == Decimal(t_new)
    # the repository's rulebook knows only the city
    assert load_rulebook().at(date(2026, 10, 31)).districts == {d.code for d in CITY}


def test_a_five_district_province_is_consistent_with_its_truth(five):
    out, manifest = five
    assert check_city(out) == []
    assert manifest["districts"] == 5 and manifest["households"] == 250
    for period in MONTHS:
        folder = out / "incoming" / period
        reg = read_delivered(folder / "register.csv", encoding=_encoding(out, period, "register.csv"))
        assert sorted(reg["区县代码"].unique()) == CODES
        assert reg["个人编号"].is_unique().all()
        # one file per source; the XLSX institutions one workbook per district
        names = {p.name for p in folder.iterdir()}
        assert {"tax_wages.csv", "pension.csv", "bank_ccb.csv", "bank_abc.csv"} <= names
        assert {f"bank_icbc_{c}.xlsx" for c in CODES} <= names
    records = pl.read_csv(out / "truth" / "records.csv", infer_schema=False)
    assert records.height == manifest["records"]
    # 记录号 go on numbering from district to district: one 记录号 per (source, month) is one row
    # unless it was planted as a re-sent or conflicting copy
    copies = records.filter(pl.col("record_no").is_not_null()).group_by("source", "period", "record_no").agg(
        pl.len(), pl.col("corruptions").str.contains("duplicate").any().alias("dup"))
    assert copies.filter((pl.col("len") > 1) & ~pl.col("dup")).height == 0
    households = pl.read_csv(out / "truth" / "households.csv", infer_schema=False)
    assert sorted(households["district_code"].unique()) == CODES
    assert (out / "rules" / "parameters" / "dibao_standard.yaml").is_file()


def _encoding(out: Path, period: str, name: str) -> str:
    files = pl.read_csv(out / "truth" / "files.csv", infer_schema=False).fill_null("")
    return files.filter((pl.col("period") == period) & (pl.col("file") == name))["encoding"].item()


def test_same_seed_same_bytes_and_memory_is_drawn_one_district_at_a_time(tmp_path, monkeypatch):
    drawn = []
    real = province.build_population

    def spy(rng, households, months, **kw):
        drawn.append((households, [d.code for d in kw["districts"]]))
        return real(rng, households, months, **kw)

    monkeypatch.setattr(province, "build_population", spy)
    a = generate_province(tmp_path / "a", districts=4, households=80, months=MONTHS[-2:], seed=3)
    b = generate_province(tmp_path / "b", districts=4, households=80, months=MONTHS[-2:], seed=3)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert a["persons"] == b["persons"]
    assert [codes for _, codes in drawn[:4]] == [[c] for c in CODES[:4]]
    assert [h for h, _ in drawn[:4]] == [MIN_HOUSEHOLDS] * 4  # never more than one district drawn
    c = generate_province(tmp_path / "c", districts=4, households=80, months=MONTHS[-2:], seed=4)
    assert c["persons"] != a["persons"] or _digest(tmp_path / "a") != _digest(tmp_path / "c")


@pytest.mark.parametrize(("args", "says"), [
    (["--districts", "0"], "区县数须在 1 到 9801 之间"),
    (["--districts", str(MAX_DISTRICTS + 1)], "区县数须在 1 到 9801 之间"),
    (["--districts", "10", "--households", "199"], "每个区县至少 20 户"),
    (["--districts", "10", "--persons", "400"], "每个区县至少 20 户"),
    (["--persons", "0"], "人数至少为 1"),
])
def test_bad_province_options_are_refused_in_chinese(tmp_path, args, says):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "sample", "--out", str(tmp_path / "x"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_hedui_monthly_assesses_every_district_with_the_generated_rules(five, tmp_path):
    out, _ = five
    warehouse = tmp_path / "hedui.duckdb"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "monthly", "--orchestrator", "local",
                           "--incoming", str(out / "incoming"), "--period", "2026-10",
                           "--warehouse", str(warehouse), "--rules", str(out / "rules")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT household_id, district_code, CAST(standard AS VARCHAR) AS standard FROM assessments "
            "WHERE period = '2026-10'").fetchall()
    finally:
        con.close()
    got = pl.DataFrame(rows, schema=["household_id", "district_code", "standard"], orient="row")
    assert sorted(got["district_code"].unique()) == CODES
    truth = pl.read_csv(out / "truth" / "households.csv", infer_schema=False).filter(pl.col("period") == "2026-10")
    both = truth.join(got, on="household_id", suffix="_run")
    assert both.height == truth.height
    # each household's standard is its district's from the generated rulebook, as the oracle has it
    assert both.filter(pl.col("standard") != pl.col("standard_run")).height == 0

    # the repository's rulebook has no standard for 990104/990105: the run refuses them
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "monthly", "--orchestrator", "local",
                           "--incoming", str(out / "incoming"), "--period", "2026-10",
                           "--warehouse", str(tmp_path / "other.duckdb"), "--district", "990104"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "990104" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_hedui_sample_districts_writes_a_province_and_its_rulebook(tmp_path):
    out = tmp_path / "p"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "sample", "--out", str(out), "--districts", "4",
                           "--persons", "172", "--months", "2026-10", "--seed", "9"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "示例省份（4 个区县）" in proc.stdout
    reg = read_delivered(out / "incoming" / "2026-10" / "register.csv",
                         encoding=_encoding(out, "2026-10", "register.csv"))
    assert sorted(reg["区县代码"].unique()) == CODES[:4]
    assert reg["户编号"].n_unique() == 80  # 172 / 2.15
    assert load_rulebook(out / "rules" / "parameters").at(date(2026, 10, 31)).districts == set(CODES[:4])
    assert check_city(out) == []
