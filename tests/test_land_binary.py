"""Raw layer: one undecodable record is quarantined alone; only real binaries are refused whole.

inputs.md, "Order of the row checks", 1: a record whose bytes decode in no supported encoding is
quarantined on its own and the rest of the file loads; a file is refused whole only when its
header cannot be decoded or lacks a required column, and a file that is not text is refused.
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import load_folder
from pipelines.land import PROBLEM, land_file
from pipelines.sources import REGISTER, SOURCES, spec

PERIOD = "2026-10"
MEDICAL = list(SOURCES["medical"].required)  # 记录号, 身份证号, 姓名, 结算日期, 医疗总费用, 个人自付金额
#: the garbled tail of a record: a UTF-16 byte-order mark and NULs, as a broken export writes it
GARBLED = b"\xff\xfe\x00M\x00E\x00D\x00\x00\x00\xff\xfe\x00"


def _medical_rows(n: int) -> list[bytes]:
    return [f"MED{i:03d},11010519491231002X,陈丽华,2026-10-0{1 + i % 9},{100 + i}.50,{10 + i}.25"
            .encode() for i in range(1, n + 1)]


def ten_row_medical(*, encoding: str = "utf-8") -> bytes:
    """A 10-row medical.csv whose 10th record holds bytes that decode in no supported encoding."""
    header = ",".join(MEDICAL).encode(encoding)
    rows = [r.decode().encode(encoding) for r in _medical_rows(9)]
    rows.append(b"MED010,110105194912310" + GARBLED + b",2026-10-05,1.00,1.00")
    return b"\n".join([header, *rows]) + b"\n"


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_a_garbled_tenth_record_is_marked_and_the_other_nine_load(tmp_path: Path, encoding: str) -> None:
    data = ten_row_medical(encoding=encoding)
    for enc in ("utf-8", "gb18030", "utf-16"):
        with pytest.raises(UnicodeDecodeError):
            data.split(b"\n")[10].decode(enc)  # the 10th record decodes in no supported encoding
    path = tmp_path / "medical.csv"
    path.write_bytes(data)
    landed = land_file(path, spec=spec("medical"))
    assert landed.refused is None
    assert landed.rows_in == 10
    problems = landed.frame[PROBLEM].to_list()
    assert problems[:9] == [None] * 9
    assert problems[9] is not None and "decode" in problems[9]
    assert landed.frame["row_number"].to_list() == list(range(1, 11))
    assert landed.frame["记录号"].to_list()[:9] == [f"MED{i:03d}" for i in range(1, 10)]


def test_a_record_with_nuls_that_decode_is_marked_alone(tmp_path: Path) -> None:
    # NUL is valid UTF-8, so this record decodes; its control bytes still make it garbage
    rows = _medical_rows(3)
    rows.insert(1, b"MED900,1\x00\x00\x00\x00,\x00\x00,2026-10-01,1.00,1.00")
    path = tmp_path / "medical.csv"
    path.write_bytes(b"\n".join([",".join(MEDICAL).encode(), *rows]) + b"\n")
    landed = land_file(path, spec=spec("medical"))
    assert landed.refused is None
    assert landed.frame[PROBLEM].to_list() == [
        None, "record holds control bytes (binary data), not text", None, None]
    assert landed.frame["记录号"].to_list() == ["MED001", None, "MED002", "MED003"]


def test_the_folder_loads_nine_rows_and_quarantines_the_tenth_with_a_reason(tmp_path: Path) -> None:
    folder = tmp_path / PERIOD
    folder.mkdir()
    register = [",".join(REGISTER.required),
                "H1,P1,11010519491231002X,陈丽华,女,1949-12-31,户主,110105,某街道,城市,低保,,否,某路1号,"]
    (folder / "register.csv").write_text("\n".join(register) + "\n", encoding="utf-8")
    (folder / "medical.csv").write_bytes(ten_row_medical())
    load = load_folder(folder, period=PERIOD)
    row = load.files.filter(pl.col("file") == "medical.csv").row(0, named=True)
    assert row["accepted"] is True
    assert (row["rows_in"], row["rows_loaded"], row["rows_quarantined"], row["rows_duplicate"]) == (10, 9, 1, 0)
    assert load.extracts["medical"].height == 9
    q = load.quarantine.filter(pl.col("file") == "medical.csv")
    assert q["row_number"].to_list() == [10]
    assert "decode" in q["reason"][0]


def _xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


@pytest.mark.parametrize("data", [
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, id="png"),
    pytest.param(_xlsx_bytes(), id="xlsx-named-csv"),
    pytest.param(random.Random(15).randbytes(20_000), id="random-bytes"),
    pytest.param(b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00>\x00" * 500, id="executable"),
    pytest.param("记录号,身份证号,姓名,结算日期,医疗总费用,个人自付金额".encode("utf-16"), id="utf-16-text"),
    # a text-looking first line over a body of zeros (a preallocated, never-written file)
    pytest.param(",".join(MEDICAL).encode() + b"\n" + bytes(4096), id="header-then-zeros"),
])
def test_real_binaries_are_still_refused_whole(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "medical.csv"
    path.write_bytes(data)
    landed = land_file(path, spec=spec("medical"))
    assert landed.refused == "medical.csv is not a text file (binary content)"
    assert landed.frame is None and landed.rows_in == 0


def test_a_header_that_does_not_decode_still_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "medical.csv"
    path.write_bytes(b"\xff\xfe\xfa\xfb,\x80\n" + b"\n".join(_medical_rows(3)) + b"\n")
    landed = land_file(path, spec=spec("medical"))
    assert landed.refused == "medical.csv: the header cannot be decoded as UTF-8 or GB18030"


def test_a_garbled_record_in_a_file_lacking_a_column_still_refuses_for_the_column(tmp_path: Path) -> None:
    path = tmp_path / "medical.csv"
    path.write_bytes(",".join(MEDICAL[:-1]).encode() + b"\nMED1,1,\xff\xfe\x00\x00,2026-10-01,1\n")
    landed = land_file(path, spec=spec("medical"))
    assert landed.refused == "medical.csv lacks required column 个人自付金额"
    assert landed.rows_in == 1
