"""Quarantine reasons (pipelines/reasons.py): a stable code in the warehouse, Chinese for people.

The loaders are driven with bad input so that every wording they produce is checked against the
registry: a wording the registry does not know would reach a clerk in English.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import load_folder
from pipelines.reasons import (
    KINDS,
    OTHER,
    count_by_kind,
    reason_code,
    reason_kind_zh,
    reason_zh,
)
from pipelines.sources import SOURCES

from helpers.clean_files import ID_A, PERIOD, REGISTER_HEADER, REGISTER_ROW, TAX, tax_row, write

#: Latin words in a Chinese sentence: what is left of the English wording if a kind is missing
_ENGLISH = re.compile(r"\b(?:is|not|an|the|has|than|after|blank|repeats|record|lacks|file)\b")


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    """A folder that exercises every row-level and file-level wording of the loaders."""
    folder = tmp_path / PERIOD
    folder.mkdir()
    write(folder, "register.csv", REGISTER_HEADER, [
        REGISTER_ROW, ["H1", "P2", ID_A, "陈丽华", "女", "1949-12-31", "户主", "110105", "街", "城市", "低保", "", "否", "", ""],
        ["H2", "P2", ID_A, "陈丽华", "女", "1949-12-31", "户主", "110105", "街", "城市", "低保", "", "否", "", ""],
        ["", "", ID_A, "陈丽华", "女", "1949-12-31", "户主", "110105", "街", "城市", "低保", "", "否", "", ""],
    ])
    write(folder, "tax_wages.csv", TAX, [
        tax_row("R1", amount="12a.5"), tax_row("R2", month="2026-13"), tax_row("R3", month="2026-11"),
        tax_row("R4", amount="1.234", month=""), tax_row("R6", amount="2000000000"),
        tax_row(""), tax_row("R7", amount="1"), tax_row("R7", amount="2"),
    ])
    (folder / "pension.csv").write_text(",".join(SOURCES["pension"].required) + "\nP1,110105\n",
                                        encoding="utf-8")
    write(folder, "deaths.csv", list(SOURCES["deaths"].required),
          [["D1", ID_A, "陈丽华", "2026-11-01", "公安"], ["D2", ID_A, "陈丽华", "去年", "公安"]])
    write(folder, "business.csv", list(SOURCES["business"].required),
          [["B1", ID_A, "陈丽华", "9111", "某公司", "股东", "五十万", "存续"]])
    write(folder, "medical.csv", ["记录号", "姓名"], [["M1", "陈丽华"]])
    (folder / "vehicles.csv").write_bytes(b"")
    (folder / "bank_icbc.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    (folder / "real_estate.xlsx").write_bytes(b"not a workbook at all")
    return folder


def test_every_reason_the_loaders_word_has_a_code_and_a_chinese_sentence(bad_folder: Path) -> None:
    q = load_folder(bad_folder, period=PERIOD).quarantine
    assert "reason_code" in q.columns
    codes = {c for text in q["reason_code"].to_list() for c in text.split(";")}
    assert OTHER not in codes, q.filter(pl.col("reason_code").str.contains(OTHER))["reason"].to_list()
    # the folder produces most of the kinds the registry knows
    assert codes >= {"amount_invalid", "amount_decimals", "amount_too_large", "month_invalid",
                     "month_after_delivery", "date_invalid", "date_after_delivery", "number_invalid",
                     "blank", "record_no_conflict", "person_id_repeated", "field_count",
                     "file_empty", "file_binary", "missing_columns", "unknown_file", "xlsx_unreadable"}
    for text in q["reason"].to_list():
        zh = reason_zh(text)
        assert not _ENGLISH.search(zh), (text, zh)
        kind = reason_kind_zh(text)
        assert not _ENGLISH.search(kind), (text, kind)


def test_the_code_is_stable_and_one_per_problem() -> None:
    text = "所得期间 is blank; 收入额 '1.234' has more than two decimals"
    assert reason_code(text) == "blank;amount_decimals"
    assert reason_zh(text) == "所得期间 为空；收入额 “1.234” 的小数超过两位"
    assert reason_zh("余额 '2e14' is not an amount") == "余额 “2e14” 不是有效金额"
    assert reason_code(None) is None and reason_zh(None) is None


def test_a_value_holding_the_separator_stays_one_reason() -> None:
    text = "收入额 '1; 2' is not an amount; 记录号 is blank"
    assert reason_code(text) == "amount_invalid;blank"
    assert reason_zh(text) == "收入额 “1; 2” 不是有效金额；记录号 为空"


def test_the_kind_leaves_values_out_but_keeps_the_column() -> None:
    assert reason_kind_zh("记录号 SW2026050013988 repeats with different values (conflict)") == \
        "记录号 … 重复出现且内容不同（冲突）"
    assert reason_kind_zh("收入额 '12a.5' is not an amount") == "收入额 “…” 不是有效金额"
    assert reason_kind_zh("x.csv lacks required column 余额, 姓名") == "文件 … 缺少必需列 余额, 姓名"


def test_an_unknown_wording_keeps_code_other_and_never_shows_an_id_in_its_kind() -> None:
    text = "身份证号 110105194912310021 looks odd"
    assert reason_code(text) == OTHER
    assert reason_zh(text) == text
    assert "110105194912310021" not in reason_kind_zh(text)


def test_each_kind_is_matched_by_its_own_wording_only() -> None:
    samples = {
        "amount_invalid": "余额 'x' is not an amount", "amount_decimals": "余额 '1.234' has more than two decimals",
        "blank": "记录号 is blank", "file_empty": "a.csv is empty (0 bytes)",
        "sheet_empty": "a.xlsx: the first sheet (Sheet1) is empty",
        "workbook_no_sheet": "a.xlsx: the workbook has no sheet",
        "header_undecodable": "a.csv: the header cannot be decoded as UTF-8 or GB18030",
        "undecodable_row": "record bytes do not decode as GB18030 (the file's encoding)",
        # the wording of the row-level check for garbled records (issue 15, item 3)
        "control_bytes": "record holds control bytes (binary data), not text",
    }
    for code, text in samples.items():
        assert [k.code for k in KINDS if k.english.fullmatch(text)] == [code]


def test_counting_by_kind_counts_each_row_once_with_its_sources() -> None:
    """#15 item 6: ten conflicts that differ only by 记录号 are one kind, counted per source."""
    q = pl.DataFrame({
        "source": ["tax_wages"] * 10 + ["bank"] * 2,
        "reason": [f"记录号 SW20260500139{i:02d} repeats with different values (conflict)" for i in range(10)]
        + ["记录号 K1 repeats with different values (conflict)", "余额 'x' is not an amount; 记录号 is blank"],
    })
    got = count_by_kind(q)
    assert got.select("kind", "code", "rows").rows() == [
        ("记录号 … 重复出现且内容不同（冲突）", "record_no_conflict", 11),
        ("余额 “…” 不是有效金额；记录号 为空", "amount_invalid;blank", 1),
    ]
    assert got["by_source"][0].to_list() == [{"source": "tax_wages", "rows": 10}, {"source": "bank", "rows": 1}]
    assert int(got["rows"].sum()) == q.height
