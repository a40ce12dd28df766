"""Tests of the raw layer (pipelines/land.py): encodings, structure, bad files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.land import EXCEL_ID, PROBLEM, land_file
from pipelines.sources import spec

HEADER = ["记录号", "纳税人识别号", "纳税人姓名", "所得期间", "收入额", "扣缴义务人名称"]
ROWS = [
    ["R1", "11010519491231002X", "陈丽华", "2026-10", "1234.5", "某某公司"],
    ["R2", "110105491231002", "張偉", "2026/10", '"1,234.50"', "另一家公司"],
    ["R3", "", "买买提·艾力", "202610", "", "公司"],
]


def csv_bytes(header: list[str], rows: list[list[str]], *, encoding: str = "utf-8",
              newline: str = "\n") -> bytes:
    text = newline.join(",".join(r) for r in [header, *rows]) + newline
    return text.encode(encoding)


def land(tmp_path: Path, data: bytes, name: str = "tax_wages.csv", source: str = "tax_wages"):
    path = tmp_path / name
    path.write_bytes(data)
    return land_file(path, spec=spec(source))


def values_of(landed) -> list[list[str | None]]:
    return landed.frame.select(HEADER).rows()


EXPECTED = [
    ("R1", "11010519491231002X", "陈丽华", "2026-10", "1234.5", "某某公司"),
    ("R2", "110105491231002", "張偉", "2026/10", "1,234.50", "另一家公司"),
    ("R3", None, "买买提·艾力", "202610", None, "公司"),
]


@pytest.mark.parametrize(("encoding", "label"), [
    ("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8 with BOM"), ("gb18030", "GB18030"), ("gbk", "GB18030"),
])
def test_every_supported_encoding_reads_the_same_rows(tmp_path: Path, encoding: str, label: str) -> None:
    landed = land(tmp_path, csv_bytes(HEADER, ROWS, encoding=encoding))
    assert landed.refused is None
    assert landed.encoding == label
    assert values_of(landed) == EXPECTED
    assert landed.frame["row_number"].to_list() == [1, 2, 3]
    assert landed.frame[PROBLEM].to_list() == [None, None, None]
    assert landed.rows_in == 3


def test_crlf_line_ends(tmp_path: Path) -> None:
    landed = land(tmp_path, csv_bytes(HEADER, ROWS, newline="\r\n"))
    assert values_of(landed) == EXPECTED


def test_column_order_may_vary_and_extra_columns_go_to_extra(tmp_path: Path) -> None:
    header = ["备注", *reversed(HEADER), "部门代码"]
    rows = [["说明", *reversed(r), "0101"] for r in ROWS]
    landed = land(tmp_path, csv_bytes(header, rows))
    assert values_of(landed) == EXPECTED
    assert json.loads(landed.frame["extra"][0]) == {"备注": "说明", "部门代码": "0101"}
    assert landed.frame.columns == [*HEADER, "extra", "file", "row_number", "sha256", PROBLEM, EXCEL_ID]


def test_without_extra_columns_extra_is_null(tmp_path: Path) -> None:
    assert land(tmp_path, csv_bytes(HEADER, ROWS)).frame["extra"].to_list() == [None] * 3


def test_empty_lines_are_not_records_and_row_number_counts_records(tmp_path: Path) -> None:
    data = csv_bytes(HEADER, [ROWS[0], [""], [""], ROWS[1], ["   "], ROWS[2]])
    landed = land(tmp_path, data)
    assert values_of(landed) == EXPECTED
    assert landed.frame["row_number"].to_list() == [1, 2, 3]
    assert landed.rows_in == 3


def test_a_record_with_the_wrong_number_of_fields_is_marked_alone(tmp_path: Path) -> None:
    rows = [ROWS[0], ["R9", "11010519491231002X", "陈丽华"], ROWS[1], [*ROWS[2], "多余"]]
    landed = land(tmp_path, csv_bytes(HEADER, rows))
    assert landed.frame[PROBLEM].to_list() == [
        None, "record has 3 fields, the header has 6", None, "record has 7 fields, the header has 6"]
    assert landed.frame["记录号"].to_list() == ["R1", "R9", "R2", "R3"]
    assert landed.frame["row_number"].to_list() == [1, 2, 3, 4]


def test_quoted_fields_with_commas_quotes_and_newlines(tmp_path: Path) -> None:
    rows = [["R1", "11010519491231002X", "陈丽华", "2026-10", '"1,234.50"', '"某某""公司"", 北京\n分部"']]
    landed = land(tmp_path, csv_bytes(HEADER, [*rows, ROWS[2]]))
    assert landed.frame["扣缴义务人名称"].to_list() == ['某某"公司", 北京\n分部', "公司"]
    assert landed.frame["row_number"].to_list() == [1, 2]
    assert landed.frame[PROBLEM].to_list() == [None, None]


def test_utf8_file_with_one_undecodable_record_is_utf8_with_that_record_marked(tmp_path: Path) -> None:
    good = csv_bytes(HEADER, ROWS)
    lines = good.split(b"\n")
    lines.insert(2, "R8,1,王五,2026-10,1,公司".encode()[:-3] + b"\xff\xfe\xfd")
    landed = land(tmp_path, b"\n".join(lines))
    assert landed.encoding == "UTF-8"
    assert landed.frame[PROBLEM].to_list() == [
        None, "record bytes do not decode as UTF-8 (the file's encoding)", None, None]
    assert landed.frame["记录号"].to_list() == ["R1", None, "R2", "R3"]
    assert landed.frame["row_number"].to_list() == [1, 2, 3, 4]


def test_gb18030_file_with_one_undecodable_record(tmp_path: Path) -> None:
    lines = csv_bytes(HEADER, ROWS, encoding="gb18030").split(b"\n")
    lines.insert(3, "R8,1,".encode("gb18030") + b"\x81\x20\xff,2026-10,1,x")
    landed = land(tmp_path, b"\n".join(lines))
    assert landed.encoding == "GB18030"
    assert landed.frame[PROBLEM].to_list() == [
        None, None, "record bytes do not decode as GB18030 (the file's encoding)", None]
    assert landed.frame.filter(pl.col(PROBLEM).is_null()).select(HEADER).rows() == EXPECTED


def test_a_header_in_no_supported_encoding_refuses_the_file(tmp_path: Path) -> None:
    landed = land(tmp_path, b"\xff\xfe\xfa\xfb,\x80\n1,2\n")
    assert landed.refused == "tax_wages.csv: the header cannot be decoded as UTF-8 or GB18030"
    assert landed.frame is None and landed.rows_in == 0


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    landed = land(tmp_path, b"")
    assert landed.refused == "tax_wages.csv is empty (0 bytes)"
    assert landed.rows_in == 0
    assert landed.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    # a NUL in one record no longer refuses a text file: tests/test_land_binary.py
    b"PK\x03\x04" + b"\x14\x00" * 40,
])
def test_binary_content_is_refused(tmp_path: Path, data: bytes) -> None:
    landed = land(tmp_path, data)
    assert landed.refused == "tax_wages.csv is not a text file (binary content)"
    assert landed.rows_in == 0


def test_missing_required_column_refuses_and_counts_rows(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "收入额"]
    rows = [[v for h, v in zip(HEADER, r, strict=True) if h != "收入额"] for r in ROWS]
    landed = land(tmp_path, csv_bytes(header, rows, encoding="gb18030"))
    assert landed.refused == "tax_wages.csv lacks required column 收入额"
    assert landed.rows_in == 3


def test_header_only_file_is_a_valid_delivery_of_zero_rows(tmp_path: Path) -> None:
    landed = land(tmp_path, csv_bytes(HEADER, []))
    assert landed.refused is None
    assert landed.frame.height == 0 and landed.rows_in == 0
    assert landed.frame.columns[: len(HEADER)] == HEADER


def test_header_names_are_trimmed(tmp_path: Path) -> None:
    header = [f" {h} " for h in HEADER]
    assert values_of(land(tmp_path, csv_bytes(header, ROWS))) == EXPECTED


def test_sha256_and_file_name_are_carried(tmp_path: Path) -> None:
    data = csv_bytes(HEADER, ROWS)
    landed = land(tmp_path, data, name="Tax_Wages.CSV")
    assert set(landed.frame["sha256"].to_list()) == {hashlib.sha256(data).hexdigest()}
    assert set(landed.frame["file"].to_list()) == {"Tax_Wages.CSV"}


def test_fast_and_exact_paths_agree(tmp_path: Path) -> None:
    clean = land(tmp_path, csv_bytes(HEADER, ROWS * 50))
    # one short record sends the whole file down the exact path
    dirty = land(tmp_path, csv_bytes(HEADER, [*ROWS * 50, ["R9"]]), name="tax_wages2.csv")
    assert dirty.frame[PROBLEM].null_count() == 150
    a = clean.frame.select(HEADER, "row_number")
    b = dirty.frame.head(150).select(HEADER, "row_number")
    assert a.equals(b)
