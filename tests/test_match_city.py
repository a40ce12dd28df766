"""Match on a small generated city, scored against its planted truth (sample generator + loader)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import load_folder
from pipelines.match import link_folder, load_matching_params
from pipelines.sample import generate_city

PERIOD = "2026-10"
KEY = ["source", "period", "record_no"]


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, households=300, months=[PERIOD], seed=11)
    folder = load_folder(Path(out) / "incoming" / PERIOD, period=PERIOD)
    records = pl.concat(list(folder.extracts.values()), how="diagonal")
    links = link_folder(records, folder.register, params=load_matching_params())
    truth = (pl.read_csv(Path(out) / "truth" / "records.csv", infer_schema=False)
             .filter(pl.col("expected") == "link"))
    return links, truth.join(links, on=KEY, how="inner")


@pytest.mark.slow
def test_no_record_is_linked_to_a_wrong_person_and_no_outsider_is_linked(city):
    _, joined = city
    matched = joined.filter(pl.col("status") == "matched")
    assert matched.height > 0
    assert matched.filter(pl.col("person_id") != pl.col("true_person_id")).height == 0
    assert joined.filter(pl.col("true_person_id").is_null() & (pl.col("status") == "matched")).height == 0


@pytest.mark.slow
def test_records_with_usable_ids_on_both_sides_are_found(city):
    _, joined = city
    eligible = joined.filter((pl.col("matchable") == "true") & pl.col("true_person_id").is_not_null())
    found = eligible.filter(pl.col("person_id") == pl.col("true_person_id")).height
    assert found / eligible.height >= 0.995


@pytest.mark.slow
def test_links_are_the_same_when_the_folder_is_linked_again(city, tmp_path):
    links, _ = city
    again = generate_city(tmp_path, households=300, months=[PERIOD], seed=11)
    assert again["records"] > 0
    folder = load_folder(tmp_path / "incoming" / PERIOD, period=PERIOD)
    records = pl.concat(list(folder.extracts.values()), how="diagonal")
    assert link_folder(records, folder.register, params=load_matching_params()).equals(links)
