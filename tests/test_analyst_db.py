"""The analyst database of the sample city's run: separate, complete, and free of identities.

Opens ``hedui-analyst.duckdb`` as an analyst would and reads every text column of every table
(JSON included) for ID numbers (15 or 18 digits, ``X`` check digit), the sample register's names,
phones, addresses, 个人编号 and 户编号: none may appear.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines import analyst
from pipelines import warehouse as wh
from pipelines.normalize.ids import check_digit

from conftest import SAMPLE, read_delivered_csv

#: 18-digit resident ID with a birth date in it; the check digit is verified separately
_ID18 = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})((?:18|19|20)\d{2})(\d{2})(\d{2})(\d{3})([\dXx])(?![0-9A-Za-z])")
#: legacy 15-digit ID: area, YYMMDD, sequence
_ID15 = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{2})(\d{2})(\d{2})(\d{3})(?![0-9A-Za-z])")
#: a mainland mobile number
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def id_numbers_in(text: str) -> list[str]:
    """ID-number-shaped values: a valid birth date, and for 18 digits a valid check digit."""
    found = []
    for m in _ID18.finditer(text):
        whole = m.group(0)
        if _valid_date(int(m.group(2)), int(m.group(3)), int(m.group(4))) and \
                check_digit(whole[:17]) == whole[17].upper():
            found.append(whole)
    for m in _ID15.finditer(text):
        if _valid_date(1900 + int(m.group(2)), int(m.group(3)), int(m.group(4))):
            found.append(m.group(0))
    return found


def test_the_pattern_finds_the_id_numbers_it_must_find() -> None:
    text = "x 990101199606043841, 11010519491231002x; 110105491231002 | 13595853415"
    assert id_numbers_in(text) == ["990101199606043841", "11010519491231002x", "110105491231002"]
    # 记录号 of the sample (14-15 digits, no birth date) and amounts are not ID numbers
    assert id_numbers_in("832026050001047 12026100000341 1234568026.67") == []
    assert _PHONE.findall(text) == ["13595853415"]


@pytest.fixture(scope="module")
def register_identities() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {"姓名": set(), "身份证号": set(), "联系电话": set(), "地址": set(),
                                 "个人编号": set(), "户编号": set()}
    for reg in sorted((SAMPLE / "incoming").glob("*/register.csv")):
        frame = read_delivered_csv(reg)
        for col, values in seen.items():
            values.update(v.strip() for v in frame[col].drop_nulls().to_list() if v.strip())
    return seen


@pytest.fixture(scope="module")
def analyst_text(sample_warehouse: Path) -> dict[str, str]:
    """``table.column`` → all its values as text, for every text or JSON column of the file."""
    path = wh.analyst_path(sample_warehouse)
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') ORDER BY ALL").fetchall()
        return {f"{s}.{t}.{c}": "\n".join(str(r[0]) for r in con.execute(
                    f'SELECT DISTINCT "{c}"::VARCHAR FROM "{s}"."{t}" WHERE "{c}" IS NOT NULL').fetchall())
                for s, t, c in columns}
    finally:
        con.close()


def test_the_analyst_file_is_published_beside_the_warehouse(sample_warehouse: Path) -> None:
    path = wh.analyst_path(sample_warehouse)
    assert path == sample_warehouse.with_name("hedui-analyst.duckdb") and path.is_file()
    assert path.stat().st_mode & 0o007 == 0  # not world-readable
    assert sample_warehouse.stat().st_mode & 0o077 == 0


def test_it_holds_the_registry_and_the_warehouse_holds_no_analyst_copy(sample_warehouse: Path) -> None:
    con = duckdb.connect(str(wh.analyst_path(sample_warehouse)), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'analyst'").fetchall()}
    counts = {t: con.execute(f"SELECT count(*) FROM analyst.{t}").fetchone()[0] for t in tables}
    keyless = con.execute("SELECT count(*) FROM analyst.links WHERE status = 'matched' "
                          "AND (person_key IS NULL OR household_key IS NULL)").fetchone()[0]
    con.close()
    assert tables == set(analyst.TABLES)
    full = duckdb.connect(str(sample_warehouse), read_only=True)
    for table in ("links", "quarantine", "assessments", "flags", "runs"):
        assert counts[table] == full.execute(f"SELECT count(*) FROM {table}").fetchone()[0], table
    assert counts["persons"] == full.execute("SELECT count(*) FROM stg_register").fetchone()[0]
    assert not full.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'analyst'").fetchone()[0]
    full.close()
    assert counts["links"] > 1000 and keyless == 0


def test_no_text_column_holds_an_id_number(analyst_text: dict[str, str]) -> None:
    assert analyst_text, "no text column found"
    leaks = {col: id_numbers_in(text)[:3] for col, text in analyst_text.items() if id_numbers_in(text)}
    assert leaks == {}


def test_no_text_column_holds_a_phone_number(analyst_text: dict[str, str]) -> None:
    leaks = {col: _PHONE.findall(text)[:3] for col, text in analyst_text.items() if _PHONE.search(text)}
    assert leaks == {}


@pytest.mark.parametrize("kind", ["姓名", "身份证号", "联系电话", "地址", "个人编号", "户编号"])
def test_no_text_column_holds_a_register_identity(analyst_text, register_identities, kind) -> None:
    values = register_identities[kind]
    assert len(values) > 100, kind
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    leaks = {col: pattern.findall(text)[:3] for col, text in analyst_text.items() if pattern.search(text)}
    assert leaks == {}
