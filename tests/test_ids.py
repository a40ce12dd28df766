"""Tests of the ID normalisation layer (pipelines/normalize/ids.py)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.normalize.ids import (
    WEIGHTS,
    add_id_columns,
    check_digit,
    check_digit_expr,
    clean_text_expr,
    is_valid_id18,
)

VALID = "11010519491231002X"
bodies = st.text(alphabet="0123456789", min_size=17, max_size=17)
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def ids_of(raw: list[str | None], excel: list[bool] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"id_raw": raw}, schema={"id_raw": pl.String})
    if excel is None:
        return add_id_columns(frame, raw="id_raw")
    return add_id_columns(frame.with_columns(pl.Series("xl", excel)), raw="id_raw", excel_number="xl")


def reference_check(s17: str) -> str:
    # GB 11643 as printed: weights 2^(i) mod 11 from the right, check = (12 - sum mod 11) mod 11
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(s17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def test_check_digit_of_a_published_example() -> None:
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"


def test_weights_are_the_standard_powers_of_two() -> None:
    assert list(WEIGHTS) == [2 ** (17 - i) % 11 for i in range(17)]


def test_check_digit_rejects_a_body_that_is_not_17_digits() -> None:
    with pytest.raises(ValueError, match="17 ASCII digits"):
        check_digit("1234")


@settings(max_examples=30, deadline=None)
@given(bodies)
def test_python_check_digit_matches_the_standard_formula(body: str) -> None:
    assert check_digit(body) == reference_check(body)


@settings(max_examples=30, deadline=None)
@given(st.lists(bodies, min_size=1, max_size=20))
def test_vectorised_check_digit_agrees_with_python(body_list: list[str]) -> None:
    got = pl.DataFrame({"b": body_list}).select(check_digit_expr(pl.col("b"))).to_series().to_list()
    assert got == [check_digit(b) for b in body_list]


def test_check_digit_expr_is_null_for_non_digit_bodies() -> None:
    got = pl.DataFrame({"b": ["1234", "1101051949123100A", None]}).select(
        check_digit_expr(pl.col("b"))).to_series().to_list()
    assert got == [None, None, None]


def test_statuses_of_each_kind_of_delivered_id() -> None:
    out = ids_of([VALID, "110105491231002", "110105194912310021", "12345", "", None, "  "])
    assert out["id_status"].to_list() == [
        "valid", "converted_15", "bad_checksum", "malformed", "blank", "blank", "blank"]
    assert out["id18"].to_list() == [VALID, VALID, None, None, None, None, None]
    assert out["id_norm"].to_list() == [VALID, VALID, "110105194912310021", "12345", None, None, None]


def test_dirty_forms_of_one_id_normalise_to_it() -> None:
    dirty = ["１１０１０５１９４９１２３１００２Ｘ", "110105 19491231 002X", "110105-1949-1231-002x",
             " 11010519491231002x ", "110105\u300019491231002X"]
    out = ids_of(dirty)
    assert out["id_norm"].to_list() == [VALID] * len(dirty)
    assert set(out["id_status"].to_list()) == {"valid"}


def test_birth_date_and_sex_are_decoded_from_usable_ids_only() -> None:
    out = ids_of([VALID, "110105194912310011", "110105194912310021"])
    assert out["id_birth_on"][0].isoformat() == "1949-12-31"
    assert out["id_sex"].to_list()[0] == "女"  # 17th digit 2 is even
    male = "11010519491231001" + check_digit("11010519491231001")
    assert ids_of([male])["id_sex"].to_list() == ["男"]
    assert out["id_birth_on"][2] is None and out["id_sex"][2] is None  # bad checksum: unusable


def test_an_id_with_an_impossible_birth_date_has_no_birth_date() -> None:
    body = "11010519491331002"
    out = ids_of([body + check_digit(body)])
    assert out["id_status"].to_list() == ["valid"]
    assert out["id_birth_on"].to_list() == [None]


def test_excel_number_cells_are_unusable_whatever_they_look_like() -> None:
    out = ids_of([VALID, "110105194912310000", VALID], excel=[True, True, False])
    assert out["id_status"].to_list() == ["excel_number", "excel_number", "valid"]
    assert out["id18"].to_list() == [None, None, VALID]
    assert out["id_sex"].to_list() == [None, None, "女"]


def test_row_order_and_other_columns_are_kept() -> None:
    frame = pl.DataFrame({"k": [3, 1, 2], "id_raw": ["1", VALID, None]})
    out = add_id_columns(frame, raw="id_raw")
    assert out["k"].to_list() == [3, 1, 2]
    assert out.columns[:2] == ["k", "id_raw"]


@settings(max_examples=30, deadline=None)
@given(bodies)
def test_normalisation_is_idempotent(body: str) -> None:
    first = ids_of([body + check_digit(body)])
    again = ids_of(first["id_norm"].to_list())
    assert again["id_norm"].to_list() == first["id_norm"].to_list()
    assert again["id_status"].to_list() == ["valid"]


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="0123456789xX -－ ", max_size=25))
def test_normalisation_of_any_text_is_idempotent(text: str) -> None:
    once = pl.DataFrame({"r": [text]}).select(clean_text_expr(pl.col("r"))).item()
    twice = pl.DataFrame({"r": [once]}, schema={"r": pl.String}).select(clean_text_expr(pl.col("r"))).item()
    assert once == twice


@settings(max_examples=30, deadline=None)
@given(bodies, st.lists(st.sampled_from([" ", "-", "\u3000", "－"]), max_size=4),
       st.booleans(), st.booleans())
def test_a_valid_id_survives_width_spacing_and_case_noise(body: str, seps: list[str],
                                                           wide: bool, lower: bool) -> None:
    valid = body + check_digit(body)
    noisy = valid.translate(FULL_WIDTH) if wide else valid
    noisy = noisy.lower() if lower else noisy
    for k, sep in enumerate(seps):
        cut = 3 + 4 * k
        noisy = noisy[:cut] + sep + noisy[cut:]
    out = ids_of([noisy])
    assert out["id_norm"].to_list() == [valid]
    assert out["id_status"].to_list() == ["valid"]


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="0123456789", min_size=15, max_size=15))
def test_15_digit_ids_convert_to_a_valid_18_digit_id(legacy: str) -> None:
    out = ids_of([legacy])
    norm = out["id_norm"].item()
    assert out["id_status"].item() == "converted_15"
    assert norm[:6] == legacy[:6] and norm[6:8] == "19" and norm[8:17] == legacy[6:]
    assert pl.DataFrame({"i": [norm]}).select(is_valid_id18(pl.col("i"))).item()


@settings(max_examples=30, deadline=None)
@given(bodies, st.integers(0, 17), st.integers(1, 9))
def test_one_wrong_digit_is_always_caught(body: str, pos: int, shift: int) -> None:
    valid = body + check_digit(body)
    if pos == 17 and valid[17] == "X":
        return
    wrong = valid[:pos] + str((int(valid[pos]) + shift) % 10) + valid[pos + 1:]
    assert ids_of([wrong])["id_status"].item() == "bad_checksum"


@settings(max_examples=30, deadline=None)
@given(bodies, st.integers(0, 15))
def test_a_swap_of_neighbouring_digits_is_always_caught(body: str, pos: int) -> None:
    valid = body + check_digit(body)
    if valid[pos] == valid[pos + 1]:
        return
    swapped = valid[:pos] + valid[pos + 1] + valid[pos] + valid[pos + 2:]
    assert ids_of([swapped])["id_status"].item() == "bad_checksum"
