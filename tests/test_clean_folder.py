"""Tests of load_folder on whole folders: file roles, refused files, the register."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipelines.clean import FILES_SCHEMA, QUARANTINE_SCHEMA, load_folder
from pipelines.run_notes import word
from pipelines.sources import REGISTER, SOURCES

PERIOD = "2026-10"
ID_A = "11010519491231002X"
REG = list(REGISTER.required)
TAX = list(SOURCES["tax_wages"].required)


def person(hh: str, pid: str, relation: str = "户主", programme: str = "低保", district: str = "110105",
           urban: str = "城市", id_: str = "", name: str = "张三") -> list[str]:
    return [hh, pid, id_, name, "男", "1960-01-01", relation, district, "某街道", urban, programme,
            "", "否", "某路", ""]


def write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    (folder / name).write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / PERIOD
    path.mkdir()
    return path


def file_row(load, name: str) -> dict:
    return load.files.filter(pl.col("file") == name).row(0, named=True)


def test_frames_have_the_documented_schemas(folder: Path) -> None:
    write(folder, "register.csv", REG, [person("H1", "P1")])
    load = load_folder(folder, period=PERIOD)
    assert load.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert load.files.schema == pl.Schema(FILES_SCHEMA)
    assert load.register.columns == [
        "source", "period", "file", "row_number", "household_id", "person_id", "id_raw", "id_norm",
        "id18", "id_status", "id_birth_on", "id_sex", "name_raw", "name_norm", "name_pinyin", "sex",
        "birth_on", "relation", "district_code", "street", "urban_rural", "programme",
        "disability_grade", "serious_illness", "address", "phone"]
    assert load.raw["register"].height == 1


def test_missing_register_is_reported_and_extracts_still_load(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [["R1", ID_A, "陈丽华", "2026-10", "1", "公司"]])
    load = load_folder(folder, period=PERIOD)
    assert load.register is None
    assert load.register_problem == "register.csv is missing from 2026-10"
    assert load.extracts["tax_wages"].height == 1


def test_register_missing_a_column_counts_as_missing(folder: Path) -> None:
    header = [c for c in REG if c != "姓名"]
    write(folder, "register.csv", header, [[v for c, v in zip(REG, person("H1", "P1"), strict=True) if c != "姓名"]])
    load = load_folder(folder, period=PERIOD)
    assert load.register is None
    assert load.register_problem == "register.csv lacks required column 姓名"
    row = file_row(load, "register.csv")
    assert (row["role"], row["source"], row["accepted"], row["rows_in"], row["rows_quarantined"]) == (
        "register", "register", False, 1, 1)
    q = load.quarantine.row(0, named=True)
    assert q == {"source": "register", "period": PERIOD, "file": "register.csv", "row_number": None,
                 "record_no": None, "reason": "register.csv lacks required column 姓名",
                 "reason_code": "missing_columns"}


def test_register_rows_without_keys_or_repeating_a_person_are_quarantined(folder: Path) -> None:
    write(folder, "register.csv", REG, [
        person("H1", "P1"), person("", "P2"), person("H3", ""), person("H4", "P4"),
        person("H5", "P4", relation="配偶"), person("H6", "P6"),
    ])
    load = load_folder(folder, period=PERIOD)
    q = load.quarantine
    assert dict(zip(q["row_number"].to_list(), q["reason"].to_list(), strict=True)) == {
        2: "户编号 is blank", 3: "个人编号 is blank",
        4: "个人编号 P4 repeats (2 rows)", 5: "个人编号 P4 repeats (2 rows)"}
    assert q["record_no"].to_list() == ["P2", None, "P4", "P4"]
    assert load.register["person_id"].to_list() == ["P1", "P6"]
    row = file_row(load, "register.csv")
    assert (row["rows_in"], row["rows_loaded"], row["rows_quarantined"]) == (6, 2, 4)


def test_household_attributes_follow_the_head_of_household(folder: Path) -> None:
    write(folder, "register.csv", REG, [
        person("H1", "P1", relation="配偶", programme="特困", district="110106"),
        person("H1", "P2", relation="户主", programme="低保", district="110105"),
        person("H1", "P3", relation="子女", programme="低保", urban="农村"),
        person("H2", "P4", relation="子女", programme="低保边缘"),
        person("H2", "P5", relation="子女", programme="低保"),
        person("H3", "P6"),
    ])
    load = load_folder(folder, period=PERIOD)
    reg = load.register.sort("person_id")
    assert reg["programme"].to_list() == ["低保", "低保", "低保", "低保边缘", "低保边缘", "低保"]
    assert reg["district_code"].to_list()[:3] == ["110105"] * 3
    assert reg["urban_rural"].to_list()[:3] == ["城市"] * 3
    assert load.notes == [{"code": "register_disagreement", "households": 2, "programme": 2,
                           "district_code": 1, "urban_rural": 1}]
    assert word(load.notes[0]) == ("花名册中有 2 户的成员登记的户属性不一致（保障类别 2 户、区县代码 1 户、"
                                   "城乡类别 1 户），已统一为户主所在行的登记，没有户主行的取第一行")


def test_register_ids_are_normalised_including_legacy_numbers(folder: Path) -> None:
    write(folder, "register.csv", REG, [person("H1", "P1", id_="110105491231002"),
                                        person("H1", "P2", relation="配偶", id_="")])
    reg = load_folder(folder, period=PERIOD).register
    assert reg["id18"].to_list() == [ID_A, None]
    assert reg["id_status"].to_list() == ["converted_15", "blank"]


def test_file_roles_unknown_files_and_refused_files(folder: Path) -> None:
    write(folder, "register.csv", REG, [person("H1", "P1")])
    write(folder, "Tax_Wages.CSV", TAX, [["R1", ID_A, "陈丽华", "2026-10", "1", "公司"]])
    write(folder, "pension.csv", list(SOURCES["pension"].required), [])
    (folder / "medical.csv").write_bytes(b"")
    (folder / "deaths.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (folder / "readme.txt").write_text("说明", encoding="utf-8")
    (folder / "tax_wages.json").write_text("{}", encoding="utf-8")
    load = load_folder(folder, period=PERIOD)
    files = {r["file"]: r for r in load.files.iter_rows(named=True)}
    assert {f: (r["role"], r["source"], r["accepted"]) for f, r in files.items()} == {
        "register.csv": ("register", "register", True),
        "Tax_Wages.CSV": ("extract", "tax_wages", True),
        "pension.csv": ("extract", "pension", True),
        "medical.csv": ("extract", "medical", False),
        "deaths.csv": ("extract", "deaths", False),
        "readme.txt": ("unknown", "unknown", False),
        "tax_wages.json": ("unknown", "unknown", False),
    }
    assert files["medical.csv"]["message"] == "medical.csv is empty (0 bytes)"
    assert files["deaths.csv"]["message"] == "deaths.csv is not a text file (binary content)"
    assert all(r["sha256"] and len(r["sha256"]) == 64 for r in files.values())
    file_level = load.quarantine.filter(pl.col("row_number").is_null())
    assert sorted(file_level["file"].to_list()) == ["deaths.csv", "medical.csv", "readme.txt", "tax_wages.json"]
    assert file_level.filter(pl.col("file") == "readme.txt")["source"].to_list() == ["unknown"]
    assert file_level["record_no"].null_count() == 4
    # a header-only file is a delivery of zero rows; refused sources are absent
    assert load.extracts["pension"].height == 0
    assert set(load.extracts) == {"tax_wages", "pension"}


def test_a_refused_file_counts_its_rows_as_quarantined(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX[:-1], [["R1", ID_A, "陈丽华", "2026-10", "1"],
                                              ["R2", ID_A, "陈丽华", "2026-10", "1"]])
    load = load_folder(folder, period=PERIOD)
    row = file_row(load, "tax_wages.csv")
    assert (row["rows_in"], row["rows_loaded"], row["rows_quarantined"], row["rows_duplicate"]) == (2, 0, 2, 0)
    assert load.quarantine.height == 1
    assert load.quarantine["reason"].to_list() == ["tax_wages.csv lacks required column 扣缴义务人名称"]


def test_excel_number_ids_load_as_unusable(folder: Path) -> None:
    book = xlsxwriter.Workbook(str(folder / "bank_icbc.xlsx"))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, list(SOURCES["bank"].required))
    sheet.write_row(1, 0, [812026100000001, "工行"])
    sheet.write_number(1, 2, 110105194912310021)
    sheet.write_row(1, 3, ["陈丽华", "活期存款", "1"])
    sheet.write_row(2, 0, ["K2", "工行", ID_A, "陈丽华", "活期存款", "2"])
    book.add_worksheet("说明")
    book.close()
    load = load_folder(folder, period=PERIOD)
    bank = load.extracts["bank"]
    assert bank["record_no"].to_list() == ["812026100000001", "K2"]
    assert bank["id_status"].to_list() == ["excel_number", "valid"]
    assert bank["id18"].to_list() == [None, ID_A]
    assert {"code": "extra_sheets", "file": "bank_icbc.xlsx", "sheets": ["说明"]} in load.notes


def test_a_missing_folder_or_bad_period_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_folder(tmp_path / "2026-09", period="2026-09")
    with pytest.raises(ValueError, match="YYYY-MM"):
        load_folder(tmp_path, period="2026-9")


def test_every_row_of_a_dirty_folder_is_accounted_for(folder: Path) -> None:
    write(folder, "register.csv", REG, [person("H1", "P1"), person("H1", "P1")])
    rows = [["R1", ID_A, "陈丽华", "2026-10", "1", "公司"], ["R1", ID_A, "陈丽华", "2026-10", "1.00", "公司"],
            ["R2", ID_A, "陈丽华", "2026-10", "x", "公司"], ["", "", "", "", "", ""], ["R3", "1"]]
    write(folder, "tax_wages.csv", TAX, rows)
    load = load_folder(folder, period=PERIOD)
    files = load.files
    assert files.filter(pl.col("rows_in") != pl.col("rows_loaded") + pl.col("rows_quarantined")
                        + pl.col("rows_duplicate")).height == 0
    row = file_row(load, "tax_wages.csv")
    assert (row["rows_in"], row["rows_loaded"], row["rows_quarantined"], row["rows_duplicate"]) == (5, 1, 3, 1)
    assert int(files["rows_quarantined"].sum()) == load.quarantine.height
