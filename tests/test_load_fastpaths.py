"""The one-pass land + clean shortcuts (issue 17) give exactly what the general rules give.

Each shortcut is checked against the slower formulation it replaces: the byte-level width check
against the line-level one, the plain-amount lane against the full amount rules, the tabulated
check digit against the reference, the birth date and sex read from the ID's number against
the ID text, the cheap repeat and order tests against the per-row ones.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipelines import csvread
from pipelines.clean import _ordered, _repeats
from pipelines.land import PROBLEM
from pipelines.normalize import ids, values
from schemas.clean import CLEAN_SCHEMAS, CleanLayerError, check_clean_layout

NAMES = ["a", "b", "c"]


@pytest.mark.parametrize(("body", "lines"), [
    (b"a,b,c\n1,2,3\n4,5,6\n", 2),
    (b"a,b,c\n1,2,3\n4,5,6", 2),
    (b"a,b,c\r\n1,2,3\r\n", 1),
    (b'a,b,c\n1,"x,y",3\n"",,\n', 2),
    (b'a,b,c\n1,"x,y,3\n"",,\n', None),      # odd quote: a quoted line break or a broken record
    (b"a,b,c\n1,2,3\n\n4,5,6\n", None),       # blank line: the line check drops it
    (b"a,b,c\n1,2\n4,5,6\n", None),           # too few fields
    (b"a,b,c\n1,2,3,4\n", None),              # too many fields
    (b'a,"b,c\n1,2,3\n', None),               # odd quote in the header
    (b"a,b,c\n", None),                       # header only: the line check decides
])
def test_uniform_width_counts_lines_only_when_every_line_has_the_width(body: bytes, lines: int | None) -> None:
    assert csvread._uniform_width(body, 3) == lines


@pytest.mark.parametrize("body", [
    b"a,b,c\n1,2,3\n4,,6\n",
    b'a,b,c\n1,"x,y",3\n"",,\n',
    b"a,b,c\r\n1,2,3\r\n4,5,6",
    b"a,b,c\n1,2,3\n   \n4,5,6\n",
    b"a,b,c\n1,2\n",
    b'a,b,c\n1,"2,3\n',
    b"a,b,c\n1,\xff,3\n",                     # not UTF-8: the exact path decides
    b"\xef\xbb\xbfa,b,c\n1,2,3\n",
])
def test_read_body_equals_the_line_checked_read(body: bytes) -> None:
    fast, checked = csvread.read_body(body, NAMES, PROBLEM), csvread._read_checked(body, NAMES, PROBLEM)
    assert (fast is None) == (checked is None)
    if fast is not None:
        assert_frame_equal(fast, checked)
        assert fast.columns == [*NAMES, PROBLEM]


def test_has_control_finds_control_bytes_but_not_tabs_or_line_ends() -> None:
    assert not csvread.has_control(b"a\tb\r\n\xe4\xb8\xad,1\n")
    assert csvread.has_control(b"a,b\n1,\x00\n")
    assert csvread.has_control(b"a,b\n1,\x1f\n")
    assert csvread.has_control(b"a,b\n1,\x7f\n")


def _general(texts: list[str | None]) -> pl.DataFrame:
    lf = pl.DataFrame({"raw": texts}, schema={"raw": pl.String}).lazy().with_columns(
        values.trimmed(pl.col("raw")).alias("t"))
    return values._parse_amount_general(lf, text="t", out="o", problem="p", column="收入额").collect()


def _laned(texts: list[str | None]) -> pl.DataFrame:
    lf = pl.DataFrame({"raw": texts}, schema={"raw": pl.String}).lazy().with_columns(
        values.trimmed(pl.col("raw")).alias("t"))
    return values.parse_amount(lf, text="t", out="o", problem="p", column="收入额").collect()


_AMOUNT_TEXT = st.lists(
    st.one_of(st.none(), st.text(alphabet="0123456789.,+-元￥¥$ 　１２．e", max_size=14)),
    min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(_AMOUNT_TEXT)
def test_plain_amount_lane_gives_the_full_rules_result(texts: list[str | None]) -> None:
    assert_frame_equal(_laned(texts), _general(texts))


def test_plain_amount_lane_edges() -> None:
    texts = ["999999999.99", "-999999999.99", "1000000000", "1000000000.01", "0999999999.99",
             "-0", "-0.00", "5.", "+7", "¥-3.2", "-¥5", "¥5元", "5元元", "¥¥5", "1.234", ".5", None, ""]
    laned = _laned(texts)
    assert_frame_equal(laned, _general(texts))
    assert laned.get_column("o").to_list()[:3] == [99_999_999_999, -99_999_999_999, 100_000_000_000]


def test_nfkc_folds_only_what_is_not_ascii() -> None:
    delivered = pl.Series(["１２３", "abc", None, "￥5"])
    got = pl.select(values.nfkc(pl.lit(delivered))).to_series().to_list()
    assert got == ["123", "abc", None, "¥5"]
    assert values._nfkc_series(delivered).to_list() == got
    assert delivered.to_list() == ["１２３", "abc", None, "￥5"]  # the input is left as delivered


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=17, max_size=17), min_size=1, max_size=200))
def test_tabulated_check_digit_equals_the_reference(bodies: list[str]) -> None:
    frame = pl.DataFrame({"n": bodies}).with_columns(pl.col("n").cast(pl.Int64))
    got = frame.select(ids._check_of_number(pl.col("n"))).to_series().to_list()
    assert got == [ids.check_digit(b) for b in bodies]


def test_id_columns_read_birth_and_sex_as_the_id_text_says() -> None:
    feb30 = "11010519490230002" + ids.check_digit("11010519490230002")
    male = "11010519491231001" + ids.check_digit("11010519491231001")
    wrong = "11010519491231001" + ("0" if ids.check_digit("11010519491231001") != "0" else "1")
    raw = ["11010519491231002X", "110105491231002", feb30, "１１０１０５１９４９１２３１００２ｘ",
           "11010519491231002Y", "", None, wrong, male[:6] + " " + male[6:]]
    out = ids.add_id_columns(pl.DataFrame({"r": raw}, schema={"r": pl.String}), raw="r")
    want = out.select(ids.birth_on_expr(pl.col("id18")).alias("b"), ids.sex_expr(pl.col("id18")).alias("s"))
    assert out.get_column("id_birth_on").to_list() == want.get_column("b").to_list()
    assert out.get_column("id_sex").to_list() == want.get_column("s").to_list()
    assert out.get_column("id_status").to_list() == [
        "valid", "converted_15", "valid", "valid", "malformed", "blank", "blank", "bad_checksum", "valid"]
    assert out.get_column("id_sex").to_list()[-1] == "男"
    # 1949-02-30 is not a date: the ID is valid, its birth date unknown
    assert out.get_column("id_birth_on").to_list()[2] is None


def _landed(records: list[str | None], problems: list[str | None] | None = None,
            files: list[str] | None = None, rows: list[int] | None = None) -> pl.DataFrame:
    n = len(records)
    return pl.DataFrame({
        "记录号": records, "file": files or ["a.csv"] * n, "row_number": rows or list(range(1, n + 1)),
        PROBLEM: problems or [None] * n,
    }, schema={"记录号": pl.String, "file": pl.String, "row_number": pl.Int64, PROBLEM: pl.String})


@pytest.mark.parametrize(("records", "problems"), [
    (["A1", "A2", "A3"], None),
    (["A3", "A1", "A2"], None),
    (["A1", " A1 ", "A2"], None),
    (["A2", "A1", "A2"], None),
    (["A2", "A1", "A2"], ["bad", None, None]),
    (["A2", "A1", "A2"], ["bad", None, "bad"]),
    ([None, "A1", None], None),
    (["A1", None], None),
    ([], None),
    (["A1"], None),
])
def test_repeat_shortcut_equals_the_per_row_test(records: list[str | None], problems: list[str | None] | None) -> None:
    raw = _landed(records, problems)
    exact = bool(raw.select((values.plain_text(pl.col("记录号")).is_duplicated()
                             & pl.col(PROBLEM).is_null()).any()).item()) if records else False
    assert _repeats(raw) == exact


def test_ordered_sorts_only_what_is_out_of_order() -> None:
    raw = _landed(["x", "y", "z", "w"], files=["b.csv", "a.csv", "a.csv", "b.csv"], rows=[1, 2, 1, 2])
    out = _ordered(raw)
    assert out.select("file", "row_number").rows() == [("a.csv", 1), ("a.csv", 2), ("b.csv", 1), ("b.csv", 2)]
    assert out.get_column("_ord").to_list() == [0, 1, 2, 3]
    same = _landed(["x", "y"], files=["a.csv", "b.csv"], rows=[1, 1])
    assert_frame_equal(_ordered(same).drop("_ord"), same)


def _clean_frame() -> pl.DataFrame:
    schema = CLEAN_SCHEMAS["tax_wages"]
    return pl.DataFrame(schema={name: col.dtype.type for name, col in schema.columns.items()})


@pytest.mark.parametrize(("change", "named"), [
    (lambda f: f.with_columns(pl.col("amount_fen").cast(pl.String)), "amount_fen"),
    (lambda f: f.drop("withholder"), "withholder"),
    (lambda f: f.with_columns(pl.lit(1).alias("stray")), "stray"),
    (lambda f: f.select(reversed(f.columns)), "column_ordered"),
])
def test_clean_layout_check_names_the_broken_column(change, named: str) -> None:
    assert check_clean_layout(_clean_frame(), source="tax_wages").is_empty()
    with pytest.raises(CleanLayerError, match=named):
        check_clean_layout(change(_clean_frame()), source="tax_wages")
