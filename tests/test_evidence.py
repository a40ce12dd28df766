"""The one writer and one reader of flags.evidence (pipelines/evidence.py).

The text's exact form (money with two decimals, key order, the 特困 list's ", ") and the reading
decisions rely on.
"""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl

from pipelines import evidence as ev


def _one(expr: pl.Expr, frame: pl.DataFrame) -> str:
    return frame.select(expr.alias("x")).item()


def test_money_keeps_two_decimals_and_unknown_is_null():
    frame = pl.DataFrame({"m": [Decimal("1010.00"), None]}, schema={"m": pl.Decimal(18, 2)})
    assert frame.select(ev.json_value(pl.col("m"))).to_series().to_list() == ["1010.00", "null"]
    flags = pl.DataFrame({"b": [True, False, None]})
    assert flags.select(ev.json_bool(pl.col("b"))).to_series().to_list() == ["true", "false", "null"]


def test_a_whole_document_in_its_key_order():
    frame = pl.DataFrame({
        "flag": ["INCOME_OVER_STANDARD"], "inc": [Decimal("1200.50")],
        "t": ['"tekun_standard_ratio", "dibao_standard"'], "rec": [None], "n": [None],
        "extra": [None],
    }, schema={"flag": pl.String, "inc": pl.Decimal(18, 2), "t": pl.String, "rec": pl.String,
               "n": pl.Int64, "extra": pl.String})
    text = _one(ev.document(
        flag=pl.col("flag"), period="2026-10", rulebook_version="abc123",
        quantities=ev.json_object({"income_per_capita": ev.json_value(pl.col("inc")),
                                   "assets_lower_bound": "false"}),
        thresholds=ev.json_object({"standard": ev.threshold("1010.00", "dibao_standard"),
                                   "tekun_standard": ev.threshold_listed("1313.00", pl.col("t"))}),
        records=pl.col("rec"), staff_confirmed=pl.col("n"), extra=pl.col("extra")), frame)
    assert text == (
        '{"flag":"INCOME_OVER_STANDARD","period":"2026-10","rulebook_version":"abc123",'
        '"quantities":{"income_per_capita":1200.50,"assets_lower_bound":false},'
        '"thresholds":{"standard":{"value":1010.00,"parameters":["dibao_standard"]},'
        '"tekun_standard":{"value":1313.00,"parameters":["tekun_standard_ratio", "dibao_standard"]}},'
        '"records":[],"staff_confirmed_links":0}')
    doc = ev.parse(text)
    assert list(doc) == ["flag", "period", "rulebook_version", "quantities", "thresholds",
                         "records", "staff_confirmed_links"]
    assert ev.number(doc["thresholds"]["standard"]) == 1010.0
    assert ev.number(doc["quantities"]["income_per_capita"]) == 1200.5


def test_records_and_extra_members():
    frame = pl.DataFrame({"source": ["bank"], "period": ["2026-10"], "record_no": ["7"],
                          "link_method": ["confirmed"]})
    rec = _one(ev.record_items(), frame)
    assert json.loads(rec) == {"source": "bank", "period": "2026-10", "record_no": "7",
                               "link_method": "confirmed"}
    text = _one(ev.document(flag=pl.lit("ASSETS_OVER_LIMIT"), period="2026-10",
                            rulebook_version="v", quantities=ev.json_object({}),
                            thresholds=ev.json_object({}), records=pl.lit(rec),
                            staff_confirmed=pl.lit(1),
                            extra=ev.extra_member("gradual_exit", pl.lit('{"month":2}'))), frame)
    doc = json.loads(text)
    assert doc["records"][0]["record_no"] == "7" and doc["staff_confirmed_links"] == 1
    assert doc["gradual_exit"] == {"month": 2} and doc["quantities"] == {}


def test_reading_never_guesses():
    assert ev.parse(None) is None and ev.parse("not json") is None and ev.parse("[1]") is None
    assert ev.number({"value": "12.30"}) == 12.3
    assert ev.number(True) is None and ev.number(None) is None
    assert ev.number(float("nan")) is None and ev.number("inf") is None and ev.number("abc") is None
    assert ev.number(3) == 3.0
