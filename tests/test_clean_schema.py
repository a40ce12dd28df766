"""Tests of the clean-layer pandera schemas (schemas/clean.py)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from schemas.clean import CLEAN_SCHEMAS, CleanLayerError, validate_clean

ID_A = "11010519491231002X"


def tax_frame(**changes: list) -> pl.DataFrame:
    data = {
        "source": ["tax_wages"], "period": ["2026-10"], "file": ["tax_wages.csv"], "row_number": [1],
        "record_no": ["R1"], "id_raw": [ID_A], "id_norm": [ID_A], "id18": [ID_A], "id_status": ["valid"],
        "id_birth_on": [date(1949, 12, 31)], "id_sex": ["女"], "name_raw": ["陈丽华"], "name_norm": ["陈丽华"],
        "name_pinyin": ["chen li hua"], "income_month": ["2026-10"], "amount_fen": [123450],
        "withholder": ["某某公司"],
    }
    data.update(changes)
    return pl.DataFrame(data, schema_overrides={"row_number": pl.Int64, "amount_fen": pl.Int64})


def test_there_is_one_schema_per_source_of_the_contract_and_the_register() -> None:
    # the sources of contract inputs.md, written out: CLEAN_SCHEMAS is built from SOURCES, so
    # comparing it with SOURCES could not fail
    assert set(CLEAN_SCHEMAS) == {"tax_wages", "pension", "bank", "real_estate", "vehicles",
                                  "business", "medical", "deaths", "register"}


@pytest.mark.parametrize("other", sorted(set(CLEAN_SCHEMAS) - {"tax_wages"}))
def test_every_other_schema_refuses_a_tax_wages_frame(other: str) -> None:
    with pytest.raises(CleanLayerError):
        validate_clean(tax_frame(), source=other)


def test_a_clean_frame_passes() -> None:
    frame = tax_frame()
    assert validate_clean(frame, source="tax_wages").equals(frame)


@pytest.mark.parametrize(("change", "column"), [
    ({"id18": ["110105194912310021X"]}, "id18"),
    ({"id_status": ["maybe"]}, "id_status"),
    ({"income_month": ["2026-13"]}, "income_month"),
    ({"amount_fen": [None]}, "amount_fen"),
    ({"source": ["pension"]}, "source"),
])
def test_a_broken_frame_names_the_column_but_no_value(change: dict, column: str) -> None:
    with pytest.raises(CleanLayerError, match=column) as err:
        validate_clean(tax_frame(**change), source="tax_wages")
    assert ID_A not in str(err.value) and "陈丽华" not in str(err.value)


def test_a_repeated_key_is_refused() -> None:
    frame = pl.concat([tax_frame(), tax_frame(row_number=[2])])
    with pytest.raises(CleanLayerError, match="repeats record_no in 2 row"):
        validate_clean(frame, source="tax_wages")


def test_an_extra_column_is_refused() -> None:
    with pytest.raises(CleanLayerError, match="extra"):
        validate_clean(tax_frame().with_columns(extra=pl.lit("x")), source="tax_wages")
