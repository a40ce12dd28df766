"""Test support for the match stage: clean-layer frames built from readable literals.

Shared by the match tests (``from helpers.match_frames import record, person, ...``); the
helpers' own tests are in tests/test_match_frames.py.

The cleaning stage is built in parallel, so these helpers compute what it would hand over
(id_norm, id18, id_status, birth/sex from the ID, name_norm, name_pinyin) with the reference
check-digit algorithm written out here independently of the code under test.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import polars as pl
from pypinyin import lazy_pinyin

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECKS = "10X98765432"


def check_char(body: str) -> str:
    """Reference ISO 7064 MOD 11-2 check character of a 17-digit body."""
    return CHECKS[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def make_id(district: str = "990101", birth: str = "19800101", seq: str = "123") -> str:
    body = district + birth + seq
    return body + check_char(body)


def is_valid(id18: str) -> bool:
    return len(id18) == 18 and id18[:17].isdigit() and check_char(id18[:17]) == id18[17]


def substitute(id18: str, pos: int, char: str) -> str:
    return id18[:pos] + char + id18[pos + 1:]


def swap(id18: str, pos: int) -> str:
    return id18[:pos] + id18[pos + 1] + id18[pos] + id18[pos + 2:]


def legacy15(id18: str) -> str:
    """The 15-digit legacy form of a 19xx-born ID (no century, no check digit)."""
    return id18[:6] + id18[8:17]


def identity(id_raw: str | None, name: str | None, *, name_norm: str | None = None,
             excel: bool = False) -> dict:
    """The identity columns the cleaning stage derives from a delivered ID and name."""
    raw = (id_raw or "").strip()
    norm = unicodedata.normalize("NFKC", raw).replace(" ", "").replace("-", "").upper() or None
    if excel:
        status = "excel_number"
    elif norm is None:
        status = "blank"
    elif len(norm) == 15 and norm.isdigit():
        body = norm[:6] + "19" + norm[6:]
        norm = body + check_char(body)
        status = "converted_15"
    elif len(norm) == 18 and norm[:17].isdigit() and (norm[17].isdigit() or norm[17] == "X"):
        status = "valid" if check_char(norm[:17]) == norm[17] else "bad_checksum"
    else:
        status = "malformed"
    id18 = norm if status in ("valid", "converted_15") else None
    birth = date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14])) if id18 else None
    sex = ("男" if int(id18[16]) % 2 else "女") if id18 else None
    if name_norm is None and name is not None:
        name_norm = "".join(unicodedata.normalize("NFKC", name).split()) or None
    pinyin = " ".join(lazy_pinyin(name_norm.replace("·", ""))) if name_norm else None
    return {"id_raw": id_raw, "id_norm": norm, "id18": id18, "id_status": status,
            "id_birth_on": birth, "id_sex": sex, "name_raw": name, "name_norm": name_norm,
            "name_pinyin": pinyin}


def record(record_no: str, id_raw: str | None, name: str | None, *, source: str = "tax_wages",
           period: str = "2026-10", **kw) -> dict:
    return {"source": source, "period": period, "record_no": record_no, **identity(id_raw, name, **kw)}


def person(person_id: str, id_raw: str | None, name: str, *, household_id: str | None = None,
           birth_on: date | None = None, sex: str | None = None, district_code: str = "990101",
           **kw) -> dict:
    row = identity(id_raw, name, **kw)
    return {"person_id": person_id, "household_id": household_id or "H" + person_id, **row,
            "birth_on": birth_on or row["id_birth_on"], "sex": sex or row["id_sex"],
            "district_code": district_code, "phone": None, "address": None}


RECORD_SCHEMA = {"source": pl.String, "period": pl.String, "record_no": pl.String,
                 "id_raw": pl.String, "id_norm": pl.String, "id18": pl.String,
                 "id_status": pl.String, "id_birth_on": pl.Date, "id_sex": pl.String,
                 "name_raw": pl.String, "name_norm": pl.String, "name_pinyin": pl.String}
REGISTER_SCHEMA = {"person_id": pl.String, "household_id": pl.String,
                   **{k: v for k, v in RECORD_SCHEMA.items()
                      if k not in ("source", "period", "record_no")},
                   "birth_on": pl.Date, "sex": pl.String, "district_code": pl.String,
                   "phone": pl.String, "address": pl.String}


def records_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RECORD_SCHEMA)


def register_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REGISTER_SCHEMA)
