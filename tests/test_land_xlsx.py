"""Tests of XLSX landing (pipelines/land.py): cell kinds, sheets, empty workbooks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter

from pipelines.land import EXCEL_ID, PROBLEM, land_file
from pipelines.run_notes import word
from pipelines.sources import spec

HEADER = ["记录号", "金融机构", "客户证件号码", "客户姓名", "账户类型", "余额", "查询日期"]


def workbook(path: Path, rows: list[list[object]], *, header: list[str] = HEADER,
             extra_sheets: tuple[str, ...] = (), empty: bool = False) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("余额")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    if not empty:
        sheet.write_row(0, 0, header)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), date_format)
                elif value is None:
                    continue
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write_number(r, c, value)
    for name in extra_sheets:
        book.add_worksheet(name).write_row(0, 0, ["说明"])
    book.close()
    return path


def land(path: Path):
    return land_file(path, spec=spec("bank"))


def test_cells_read_as_contract_text(tmp_path: Path) -> None:
    path = workbook(tmp_path / "bank_icbc.xlsx", [
        [812026100000001, "工商银行", "11010519491231002X", "陈丽华", "活期存款", 1234.5, dt.date(2026, 10, 31)],
        ["R2", "工商银行", "110105491231002", "张伟", "定期存款", 20000, "2026/10/31"],
        ["R3", "工商银行", None, "王芳", "理财产品", 0.1, None],
    ])
    landed = land(path)
    assert landed.refused is None and landed.encoding == "XLSX"
    frame = landed.frame
    assert frame["记录号"].to_list() == ["812026100000001", "R2", "R3"]
    assert frame["余额"].to_list() == ["1234.5", "20000", "0.1"]
    assert frame["查询日期"].to_list() == ["2026-10-31", "2026/10/31", None]
    assert frame["客户证件号码"].to_list() == ["11010519491231002X", "110105491231002", None]
    assert frame[EXCEL_ID].to_list() == [False, False, False]
    assert frame["row_number"].to_list() == [1, 2, 3]
    assert frame[PROBLEM].to_list() == [None, None, None]


def test_an_id_stored_as_a_number_is_flagged(tmp_path: Path) -> None:
    path = workbook(tmp_path / "bank_abc.xlsx", [
        ["R1", "农业银行", 110105194912310021, "陈丽华", "活期存款", 1, None],
        ["R2", "农业银行", "11010519491231002X", "张伟", "活期存款", 1, None],
    ])
    frame = land(path).frame
    assert frame[EXCEL_ID].to_list() == [True, False]
    assert frame["客户证件号码"][0] != "110105194912310021"  # Excel already rounded it


def test_extra_sheets_are_ignored_and_noted(tmp_path: Path) -> None:
    path = workbook(tmp_path / "bank_boc.xlsx", [["R1", "中国银行", "", "张伟", "活期存款", 1, None]],
                    extra_sheets=("说明", "汇总"))
    landed = land(path)
    assert landed.frame.height == 1
    assert landed.notes == [{"code": "extra_sheets", "file": "bank_boc.xlsx", "sheets": ["说明", "汇总"]}]
    assert word(landed.notes[0]) == ("工作簿 bank_boc.xlsx 另有 2 个工作表（说明、汇总）未读取，"
                                     "只读取了第一个工作表")


def test_an_empty_first_sheet_refuses_the_file(tmp_path: Path) -> None:
    landed = land(workbook(tmp_path / "bank_ccb.xlsx", [], empty=True, extra_sheets=("数据",)))
    assert landed.refused == "bank_ccb.xlsx: the first sheet (余额) is empty"
    assert landed.rows_in == 0 and landed.frame is None


def test_header_only_sheet_is_zero_rows(tmp_path: Path) -> None:
    landed = land(workbook(tmp_path / "bank_cmb.xlsx", []))
    assert landed.refused is None and landed.frame.height == 0


def test_missing_column_in_a_sheet_refuses_it(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "余额"]
    landed = land(workbook(tmp_path / "bank_x.xlsx", [["R1", "银行", "", "张伟", "活期存款", None]],
                           header=header))
    assert landed.refused == "bank_x.xlsx lacks required column 余额"
    assert landed.rows_in == 1


def test_blank_sheet_rows_are_not_records(tmp_path: Path) -> None:
    path = workbook(tmp_path / "bank_y.xlsx", [
        ["R1", "银行", "", "张伟", "活期存款", 1, None],
        [None] * 7,
        ["R2", "银行", "", "王芳", "活期存款", 2, None],
    ])
    frame = land(path).frame
    assert frame["记录号"].to_list() == ["R1", "R2"]
    assert frame["row_number"].to_list() == [1, 2]


def test_a_csv_renamed_xlsx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bank_z.xlsx"
    path.write_text("记录号,金融机构\nR1,银行\n", encoding="utf-8")
    assert land(path).refused == "bank_z.xlsx is not a readable XLSX workbook"


def test_a_zero_byte_xlsx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bank_w.xlsx"
    path.write_bytes(b"")
    assert land(path).refused == "bank_w.xlsx is empty (0 bytes)"
