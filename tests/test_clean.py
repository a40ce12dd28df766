"""Tests of the clean layer on extracts (pipelines/clean.py): row-check order and accounting."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import load_folder
from pipelines.run_notes import word
from pipelines.sources import SOURCES

from helpers.clean_files import ID_A, PERIOD, REGISTER_HEADER, REGISTER_ROW, TAX, tax_row, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / PERIOD
    path.mkdir()
    write(path, "register.csv", REGISTER_HEADER, [REGISTER_ROW])
    return path


def reasons(load, source: str) -> dict[int, str]:
    q = load.quarantine.filter(pl.col("source") == source)
    return dict(zip(q["row_number"].to_list(), q["reason"].to_list(), strict=True))


def assert_accounting(load) -> None:
    files = load.files
    bad = files.filter(pl.col("rows_in") != pl.col("rows_loaded") + pl.col("rows_quarantined")
                       + pl.col("rows_duplicate"))
    assert bad.height == 0, bad
    loaded = sum(f.height for f in load.extracts.values()) + (0 if load.register is None else load.register.height)
    assert int(files["rows_loaded"].sum()) == loaded


def test_clean_columns_follow_the_architecture(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [tax_row("R1")])
    load = load_folder(folder, period=PERIOD)
    clean = load.extracts["tax_wages"]
    assert clean.columns == [
        "source", "period", "file", "row_number", "record_no", "id_raw", "id_norm", "id18", "id_status",
        "id_birth_on", "id_sex", "name_raw", "name_norm", "name_pinyin",
        "income_month", "amount_fen", "withholder"]
    row = clean.row(0, named=True)
    assert row["amount_fen"] == 123450 and row["income_month"] == "2026-10"
    assert row["id_status"] == "valid" and row["id_birth_on"] == date(1949, 12, 31)
    assert (row["source"], row["period"], row["file"], row["row_number"]) == ("tax_wages", PERIOD, "tax_wages.csv", 1)
    assert load.raw["tax_wages"].columns == [*TAX, "extra", "file", "row_number", "sha256"]


def test_every_source_loads_with_typed_columns(folder: Path) -> None:
    samples = {
        "pension": ["P1", ID_A, "陈丽华", "2026年10月", "￥2,000.00", " 基本养老金 "],
        "real_estate": ["E1", ID_A, "陈丽华", "U1", "某路1号", "88.5㎡", "住宅", "2010/5/1", "单独所有"],
        "vehicles": ["V1", ID_A, "陈丽华", "京A12345", "小型轿车", "20150101", "正常"],
        "business": ["B1", ID_A, "陈丽华", "91110000X", "某公司", "股东", "50万元", "存续"],
        "bank_icbc": ["K1", "工商银行", ID_A, "陈丽华", "活期存款", "1234.50元", "2026-10-31"],
        "medical": ["M1", ID_A, "陈丽华", "2026-10-03", "500", "120.5"],
        "deaths": ["D1", ID_A, "陈丽华", "2026年10月3日", "公安"],
    }
    for name, row in samples.items():
        source = "bank" if name.startswith("bank") else name
        write(folder, f"{name}.csv", list(SOURCES[source].required), [row])
    load = load_folder(folder, period=PERIOD)
    assert load.quarantine.height == 0
    ex = load.extracts
    assert ex["pension"].row(0, named=True)["amount_fen"] == 200000
    assert ex["pension"]["benefit_type"].to_list() == ["基本养老金"]
    assert ex["real_estate"]["area_m2"].to_list() == [88.5]
    assert ex["real_estate"]["registered_on"].to_list() == [date(2010, 5, 1)]
    assert ex["vehicles"]["first_registered_on"].to_list() == [date(2015, 1, 1)]
    assert ex["business"]["capital_wan"].to_list() == [50.0]
    assert ex["bank"]["balance_fen"].to_list() == [123450]
    assert ex["medical"].select("settled_on", "total_fen", "self_paid_fen").row(0) == (date(2026, 10, 3), 50000, 12050)
    assert ex["deaths"]["died_on"].to_list() == [date(2026, 10, 3)]
    assert_accounting(load)


def test_value_problems_quarantine_with_clerk_readable_reasons(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [
        tax_row("R1", amount="12a.5"), tax_row("R2", month="2026-13"), tax_row("R3", month="2026-11"),
        tax_row("R4", amount="1.234", month=""), tax_row("R5", amount="1e15"),
        tax_row("R6", amount="2000000000"), tax_row("R7", amount=""), tax_row("R8", amount="-50"),
    ])
    load = load_folder(folder, period=PERIOD)
    assert reasons(load, "tax_wages") == {
        1: "收入额 '12a.5' is not an amount",
        2: "所得期间 '2026-13' is not a month",
        3: "所得期间 '2026-11' is after the delivery month 2026-10",
        4: "所得期间 is blank; 收入额 '1.234' has more than two decimals",
        5: "收入额 '1e15' is not an amount",
        6: "收入额 '2000000000' is above 1,000,000,000 yuan",
    }
    assert load.extracts["tax_wages"]["amount_fen"].to_list() == [0, -5000]
    q = load.quarantine.filter(pl.col("row_number") == 1)
    assert q["record_no"].to_list() == ["R1"] and q["file"].to_list() == ["tax_wages.csv"]
    assert_accounting(load)


def test_a_bad_checksum_is_not_a_quarantine_reason(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [tax_row("R1", id_="110105194912310021"), tax_row("R2", id_="")])
    load = load_folder(folder, period=PERIOD)
    assert load.quarantine.height == 0
    assert load.extracts["tax_wages"]["id_status"].to_list() == ["bad_checksum", "blank"]


def test_resent_rows_count_once_compared_on_clean_values(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [
        tax_row("R1", amount="1234.5", name="陈丽华"),
        tax_row("R1", amount="1,234.50", month="2026/10", name="陳 麗華"),
        tax_row("R2", amount="7"),
    ])
    write(folder, "Tax_Wages.XLSX.csv", TAX, [])  # an unknown name: not the same source
    load = load_folder(folder, period=PERIOD)
    clean = load.extracts["tax_wages"]
    assert clean["record_no"].to_list() == ["R1", "R2"]
    assert clean["row_number"].to_list() == [1, 3]
    row = load.files.filter(pl.col("file") == "tax_wages.csv").row(0, named=True)
    assert (row["rows_in"], row["rows_loaded"], row["rows_quarantined"], row["rows_duplicate"]) == (3, 2, 0, 1)
    assert load.quarantine.filter(pl.col("source") == "tax_wages").height == 0


def test_different_rows_sharing_a_record_number_are_all_quarantined(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [tax_row("R1", amount="100"), tax_row("R2"),
                                         tax_row("R1", amount="200"), tax_row("R1", amount="100.00")])
    load = load_folder(folder, period=PERIOD)
    conflict = "记录号 R1 repeats with different values (conflict)"
    assert reasons(load, "tax_wages") == {1: conflict, 3: conflict, 4: conflict}
    assert load.extracts["tax_wages"]["record_no"].to_list() == ["R2"]
    assert_accounting(load)


def test_unparseable_copies_compare_by_trimmed_text(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [tax_row("R1", amount="12a"), tax_row("R1", amount=" 12a "),
                                         tax_row("R2", amount="12a"), tax_row("R2", amount="12b")])
    load = load_folder(folder, period=PERIOD)
    got = reasons(load, "tax_wages")
    assert got[1] == "收入额 '12a' is not an amount"  # the kept copy fails the value check
    assert 2 not in got  # the re-sent copy is a duplicate
    assert got[3] == got[4].replace("12b", "12a")
    assert got[3].startswith("记录号 R2 repeats with different values (conflict); 收入额")


def test_blank_record_numbers_are_never_grouped(folder: Path) -> None:
    write(folder, "tax_wages.csv", TAX, [tax_row(""), tax_row(" "), tax_row("", amount="x")])
    load = load_folder(folder, period=PERIOD)
    assert reasons(load, "tax_wages") == {1: "记录号 is blank", 2: "记录号 is blank",
                                          3: "记录号 is blank; 收入额 'x' is not an amount"}


def test_structural_faults_are_quarantined_alone_and_not_grouped(folder: Path) -> None:
    data = "\n".join([",".join(TAX), ",".join(tax_row("R1")), "R1,110105", ",".join(tax_row("R2")), ""])
    (folder / "tax_wages.csv").write_text(data, encoding="utf-8")
    load = load_folder(folder, period=PERIOD)
    assert reasons(load, "tax_wages") == {2: "record has 2 fields, the header has 6"}
    assert load.extracts["tax_wages"]["record_no"].to_list() == ["R1", "R2"]


def test_repeats_are_found_across_files_of_one_source(folder: Path) -> None:
    bank = ["记录号", "金融机构", "客户证件号码", "客户姓名", "账户类型", "余额", "查询日期"]
    write(folder, "bank_icbc.csv", bank, [["K1", "工行", ID_A, "陈丽华", "活期存款", "10", ""],
                                          ["K2", "工行", ID_A, "陈丽华", "活期存款", "10", ""]])
    write(folder, "Bank_ABC.csv", bank, [["K1", "工行", ID_A, "陈丽华", "活期存款", "10.00", ""],
                                         ["K2", "农行", ID_A, "陈丽华", "活期存款", "10", ""]],
          encoding="gb18030")
    load = load_folder(folder, period=PERIOD)
    clean = load.extracts["bank"]
    # first copy by (file, row_number): "Bank_ABC.csv" sorts before "bank_icbc.csv"
    assert clean.select("file", "record_no").rows() == [("Bank_ABC.csv", "K1")]
    assert set(load.quarantine.filter(pl.col("source") == "bank")["reason"].to_list()) == {
        "记录号 K2 repeats with different values (conflict)"}
    counts = {r["file"]: (r["rows_loaded"], r["rows_quarantined"], r["rows_duplicate"])
              for r in load.files.iter_rows(named=True)}
    assert counts["Bank_ABC.csv"] == (1, 1, 0) and counts["bank_icbc.csv"] == (0, 1, 1)
    assert_accounting(load)


def test_enumerations_outside_the_list_load_and_are_noted(folder: Path) -> None:
    header = list(SOURCES["pension"].required)
    write(folder, "pension.csv", header, [["P1", ID_A, "陈丽华", "2026-10", "1", "基本养老金 "],
                                          ["P2", ID_A, "陈丽华", "2026-10", "1", "遗属补助"],
                                          ["P3", ID_A, "陈丽华", "2026-10", "1", "遗属补助"]])
    load = load_folder(folder, period=PERIOD)
    assert load.extracts["pension"]["benefit_type"].to_list() == ["基本养老金", "遗属补助", "遗属补助"]
    outside = {"code": "enum_outside", "source": "pension", "column": "benefit_type",
               "values": [["遗属补助", 2]], "more": 0}
    assert outside in load.notes
    assert word(outside) == "人社养老金/失业金的“待遇类型”有不在约定取值内的值：“遗属补助”（2 行）"


def test_dates_no_rule_uses_load_as_they_are(folder: Path) -> None:
    header = list(SOURCES["vehicles"].required)
    write(folder, "vehicles.csv", header, [["V1", ID_A, "陈丽华", "京A1", "小型轿车", "", "正常"],
                                           ["V2", ID_A, "陈丽华", "京A2", "小型轿车", "去年", "正常"],
                                           ["V3", ID_A, "陈丽华", "京A3", "小型轿车", "2030-01-01", "正常"]])
    load = load_folder(folder, period=PERIOD)
    assert load.quarantine.height == 0
    assert load.extracts["vehicles"]["first_registered_on"].to_list() == [None, None, date(2030, 1, 1)]


def test_required_dates_after_the_folder_month_are_quarantined(folder: Path) -> None:
    write(folder, "deaths.csv", list(SOURCES["deaths"].required),
          [["D1", ID_A, "陈丽华", "2026-11-01", "公安"], ["D2", ID_A, "陈丽华", "", "公安"],
           ["D3", ID_A, "陈丽华", "2026-10-31", "公安"]])
    load = load_folder(folder, period=PERIOD)
    assert reasons(load, "deaths") == {
        1: "死亡日期 '2026-11-01' is after the end of the delivery month (2026-10-31)",
        2: "死亡日期 is blank"}


def test_bad_decimals_are_quarantined(folder: Path) -> None:
    write(folder, "business.csv", list(SOURCES["business"].required),
          [["B1", ID_A, "陈丽华", "9111", "某公司", "股东", "五十万", "存续"]])
    assert reasons(load_folder(folder, period=PERIOD), "business") == {1: "注册资本 '五十万' is not a number"}


def test_logs_never_print_ids_or_names(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(folder, "tax_wages.csv", TAX, [tax_row("R1", amount="x")])
    (folder / "medical.csv").write_bytes(b"")
    with caplog.at_level(logging.DEBUG):
        load_folder(folder, period=PERIOD)
    assert caplog.records
    assert ID_A not in caplog.text and "陈丽华" not in caplog.text


def test_unparseable_optional_dates_are_compared_by_text(folder: Path) -> None:
    header = list(SOURCES["vehicles"].required)
    write(folder, "vehicles.csv", header, [["V1", ID_A, "陈丽华", "京A1", "小型轿车", "去年", "正常"],
                                           ["V1", ID_A, "陈丽华", "京A1", "小型轿车", "前年", "正常"],
                                           ["V2", ID_A, "陈丽华", "京A2", "小型轿车", "2015/1/1", "正常"],
                                           ["V2", ID_A, "陈丽华", "京A2", "小型轿车 ", "20150101", "正常"]])
    load = load_folder(folder, period=PERIOD)
    assert reasons(load, "vehicles") == {1: "记录号 V1 repeats with different values (conflict)",
                                         2: "记录号 V1 repeats with different values (conflict)"}
    assert load.extracts["vehicles"]["record_no"].to_list() == ["V2"]
