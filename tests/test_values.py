"""Tests of the value parsers (pipelines/normalize/values.py)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.normalize import values

FULL_WIDTH = str.maketrans("0123456789.,-", "０１２３４５６７８９．，－")


def run(parser, raw: list[str | None], **options) -> tuple[list, list]:
    lf = pl.DataFrame({"raw": raw}, schema={"raw": pl.String}).lazy().with_columns(
        values.trimmed(pl.col("raw")).alias("t"))
    if "problem" not in options:
        options["problem"] = "p"
    out = parser(lf, text="t", out="v", **options).collect()
    return out["v"].to_list(), (out["p"].to_list() if options["problem"] else [])


def amounts(raw: list[str | None]) -> tuple[list, list]:
    return run(values.parse_amount, raw, column="收入额")


@pytest.mark.parametrize(("raw", "fen"), [
    ("1234.5", 123450), ("1,234.50", 123450), ("1234.50元", 123450), ("￥1234.5", 123450),
    ("¥1234.5", 123450), ("１２３４．５", 123450), (" 1234.5 ", 123450), ("-12.34", -1234),
    ("¥-3", -300), ("0", 0), ("7.", 700), ("1,000,000", 100000000), ("+5.1", 510),
    ("1000000000", 100000000000), ("-1000000000.00", -100000000000),
])
def test_amount_forms_parse_to_fen(raw: str, fen: int) -> None:
    assert amounts([raw]) == ([fen], [None])


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_blank_amount_is_zero_without_problem(raw: str | None) -> None:
    assert amounts([raw]) == ([0], [None])


@pytest.mark.parametrize(("raw", "problem"), [
    ("12a.5", "收入额 '12a.5' is not an amount"),
    ("1e15", "收入额 '1e15' is not an amount"),
    ("1.234", "收入额 '1.234' has more than two decimals"),
    ("1000000000.01", "收入额 '1000000000.01' is above 1,000,000,000 yuan"),
    ("-2000000000", "收入额 '-2000000000' is above 1,000,000,000 yuan"),
    ("99999999999999999999999", "收入额 '99999999999999999999999' is above 1,000,000,000 yuan"),
    ("abc", "收入额 'abc' is not an amount"),
])
def test_bad_amounts_carry_a_reason_and_no_value(raw: str, problem: str) -> None:
    assert amounts([raw]) == ([None], [problem])


@settings(max_examples=60, deadline=None)
@given(st.integers(-100_000_000_000, 100_000_000_000),
       st.sampled_from(["plain", "comma", "yuan", "sign", "wide", "two"]))
def test_formatted_amounts_round_trip(fen: int, form: str) -> None:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    text = {
        "plain": f"{sign}{whole}.{cents:02d}",
        "comma": f"{sign}{whole:,}.{cents:02d}",
        "yuan": f"{sign}{whole}.{cents:02d}元",
        "sign": f"￥{sign}{whole}.{cents:02d}",
        "wide": f"{sign}{whole}.{cents:02d}".translate(FULL_WIDTH),
        "two": f"{sign}{whole}" + (f".{cents // 10}" if cents % 10 == 0 else f".{cents:02d}"),
    }[form]
    assert amounts([text]) == ([fen], [None])


def months(raw: list[str | None]) -> tuple[list, list]:
    return run(values.parse_month, raw, column="所得期间", latest="2026-10")


@pytest.mark.parametrize("raw", ["2026-10", "2026/10", "202610", "2026年10月", "２０２６年１０月", "2026-9"])
def test_month_forms(raw: str) -> None:
    value, problem = months([raw])
    assert problem == [None]
    assert value == ["2026-09" if raw.endswith("-9") else "2026-10"]


@pytest.mark.parametrize(("raw", "problem"), [
    ("2026-13", "所得期间 '2026-13' is not a month"),
    ("2026-00", "所得期间 '2026-00' is not a month"),
    ("Oct 2026", "所得期间 'Oct 2026' is not a month"),
    ("", "所得期间 is blank"),
    (None, "所得期间 is blank"),
    ("2026-11", "所得期间 '2026-11' is after the delivery month 2026-10"),
    ("2027年1月", "所得期间 '2027年1月' is after the delivery month 2026-10"),
])
def test_bad_months(raw: str | None, problem: str) -> None:
    assert months([raw])[1] == [problem]


def dates(raw: list[str | None]) -> tuple[list, list]:
    return run(values.parse_date, raw, column="结算日期", latest=date(2026, 10, 31))


@pytest.mark.parametrize("raw", ["2026-10-03", "2026/10/3", "20261003", "2026年10月3日",
                                 "2026-10-03 00:00:00", "２０２６/１０/３"])
def test_date_forms(raw: str) -> None:
    assert dates([raw]) == ([date(2026, 10, 3)], [None])


@pytest.mark.parametrize(("raw", "problem"), [
    ("2026-02-30", "结算日期 '2026-02-30' is not a date"),
    ("3/10/2026", "结算日期 '3/10/2026' is not a date"),
    ("", "结算日期 is blank"),
    ("2026-11-01", "结算日期 '2026-11-01' is after the end of the delivery month (2026-10-31)"),
])
def test_bad_dates(raw: str, problem: str) -> None:
    assert dates([raw]) == ([date(2026, 11, 1)] if raw == "2026-11-01" else [None], [problem])


def test_the_last_day_of_the_month_is_not_after_it() -> None:
    assert dates(["2026-10-31"]) == ([date(2026, 10, 31)], [None])


def test_optional_dates_are_null_when_blank_or_unparseable_without_problem() -> None:
    value, _ = run(values.parse_date, ["2020-01-05", "", "not a date", "2030-01-01"],
                   column="登记时间", problem=None)
    assert value == [date(2020, 1, 5), None, None, date(2030, 1, 1)]


@pytest.mark.parametrize(("raw", "number"), [
    ("88.5", 88.5), ("88.5㎡", 88.5), ("88.5平方米", 88.5), ("1,200", 1200.0), ("", None),
])
def test_area_decimals(raw: str, number: float | None) -> None:
    assert run(values.parse_decimal, [raw], column="建筑面积", units=("㎡", "平方米")) == ([number], [None])


@pytest.mark.parametrize(("raw", "number"), [("50", 50.0), ("12.5万元", 12.5), ("3万", 3.0)])
def test_capital_decimals(raw: str, number: float) -> None:
    assert run(values.parse_decimal, [raw], column="注册资本", units=("万元", "万")) == ([number], [None])


def test_unparseable_decimal_has_a_reason() -> None:
    assert run(values.parse_decimal, ["五十万"], column="注册资本", units=("万元", "万")) == (
        [None], ["注册资本 '五十万' is not a number"])


def test_trimmed_folds_width_and_blanks() -> None:
    got = pl.DataFrame({"r": [" 基本养老金 ", "\u3000", "ＡＢ"]}).select(values.trimmed(pl.col("r")))
    assert got.to_series().to_list() == ["基本养老金", None, "AB"]
