"""The fairness table of a sample run against counts computed independently from data/sample/truth.

The expected counts come from the truth files and the delivered files, read here with polars:
which rows are records (``expected = link``), which must be matched (``matchable = true``: on the
sample the pipeline matches exactly those, see data/sample/README.md), the planted ID corruption of
each row, the delivered name, and the true household's district on the folder's register. Nothing
of pipelines/fairness.py is used to compute them.
"""

from __future__ import annotations

import unicodedata

import duckdb
import polars as pl
import pytest
import yaml

from pipelines.normalize.names import COMPOUND_SURNAMES
from pipelines.sources import SOURCES

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD, read_delivered_csv

TRUTH = SAMPLE / "truth"
PREVIOUS = "2026-09"
_SEPARATORS = "·.•・．"
_ID_KINDS = {"id_fullwidth": "reformatted", "id_separators": "reformatted", "id_lower_x": "reformatted",
             "id_legacy15": "legacy_15", "id_wrong_digit": "bad_checksum", "id_swap": "bad_checksum",
             "id_blank": "blank"}


def _delivered_names(folder: str) -> pl.DataFrame:
    """``file, row_number, name`` of every delivered extract row of a folder."""
    frames = []
    for path in sorted((SAMPLE / "incoming" / folder).iterdir()):
        source = "bank" if path.name.startswith("bank_") else path.stem
        if source not in SOURCES:
            continue
        name_col = next(c.zh for c in SOURCES[source].columns if c.en == "name_raw")
        if path.suffix == ".xlsx":
            frame = pl.read_excel(path, infer_schema_length=0)
        else:
            frame = read_delivered_csv(path)
        frames.append(frame.select(pl.col(name_col).alias("name")).with_row_index("row_number", offset=1)
                      .with_columns(pl.lit(path.name).alias("file"),
                                    pl.col("row_number").cast(pl.String)))
    return pl.concat(frames)


def _common_surnames() -> set[str]:
    return set(yaml.safe_load((ROOT / "rules" / "fairness.yaml").read_text())["common_surnames"])


def _kind_of_name(name: str | None, corruptions: str, common: set[str]) -> str:
    text = "".join(ch for ch in unicodedata.normalize("NFKC", name or "") if not ch.isspace())
    if not text:
        return "blank"
    if any(s in text for s in _SEPARATORS):
        return "minority_separator"
    if "name_traditional" in corruptions.split(";"):
        return "traditional"
    surname = text[:2] if text[:2] in COMPOUND_SURNAMES else text[:1]
    if surname not in common:
        return "rare_surname"
    return {1: "chars_1", 2: "chars_2", 3: "chars_3"}.get(len(text), "chars_4plus")


def _truth_records(folder: str) -> pl.DataFrame:
    truth = pl.read_csv(TRUTH / "records.csv", infer_schema=False).filter(
        (pl.col("period") == folder) & (pl.col("expected") == "link"))
    register = read_delivered_csv(SAMPLE / "incoming" / folder / "register.csv").select(
        pl.col("户编号").alias("true_household_id"), pl.col("区县代码").alias("district")).unique()
    common = _common_surnames()
    rows = (truth.join(_delivered_names(folder), on=["file", "row_number"], how="left")
            .join(register, on="true_household_id", how="left"))
    corruptions = rows["corruptions"].fill_null("").to_list()
    return rows.with_columns(
        pl.Series("name_kind", [_kind_of_name(n, c, common)
                                for n, c in zip(rows["name"].to_list(), corruptions, strict=True)]),
        pl.Series("id_state", [next((v for k, v in _ID_KINDS.items() if k in c.split(";")), "valid")
                               for c in corruptions]),
        (pl.col("matchable") == "true").alias("is_matched"),
    )


def _expected(truth: pl.DataFrame, column: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(group, source) -> (records, matched), with source 'all' for every source together."""
    out = {}
    for keys in ([column, "source"], [column]):
        counts = truth.group_by(keys).agg(pl.len().alias("records"), pl.col("is_matched").sum())
        for row in counts.iter_rows(named=True):
            out[(row[column], row.get("source", "all"))] = (row["records"], row["is_matched"])
    return out


def _published(warehouse, grouping: str, period: str = SAMPLE_PERIOD) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.sql("SELECT * FROM fairness WHERE period = ? AND grouping = ?",
                       params=[period, grouping]).pl()
    finally:
        con.close()


@pytest.fixture(scope="module")
def truth_now() -> pl.DataFrame:
    return _truth_records(SAMPLE_PERIOD)


@pytest.mark.slow
@pytest.mark.parametrize("grouping", ["name_kind", "id_state"])
def test_record_and_match_counts_by_group_equal_the_truth(sample_warehouse, truth_now, grouping):
    expected = _expected(truth_now, grouping)
    table = _published(sample_warehouse, grouping)
    got = {(r["group_name"], r["source"]): (r["records"], r["matched"]) for r in table.iter_rows(named=True)}
    assert got == expected
    # the shares are the counts behind them, and every record has exactly one status
    assert table.filter(pl.col("records") != pl.col("matched") + pl.col("review") + pl.col("unmatched")
                        ).height == 0
    assert table.filter((pl.col("review_share") - pl.col("review") / pl.col("records")).abs() > 1e-12
                        ).height == 0


@pytest.mark.slow
def test_the_hard_groups_are_present_on_the_sample(truth_now):
    kinds = set(truth_now["name_kind"].to_list())
    states = set(truth_now["id_state"].to_list())
    assert {"minority_separator", "traditional", "rare_surname", "chars_2", "chars_3"} <= kinds
    assert {"legacy_15", "reformatted", "bad_checksum", "blank", "valid"} <= states


@pytest.mark.slow
def test_source_and_city_rows_equal_the_truth(sample_warehouse, truth_now):
    counts = truth_now.group_by("source").agg(pl.len(), pl.col("is_matched").sum())
    expected = {s: (n, m) for s, n, m in counts.iter_rows()}
    table = _published(sample_warehouse, "source")
    got = {r["group_name"]: (r["records"], r["matched"]) for r in table.iter_rows(named=True)}
    assert got == expected
    assert (table["group_name"] == table["source"]).all()
    city = _published(sample_warehouse, "city").row(0, named=True)
    assert (city["records"], city["matched"]) == (truth_now.height, int(truth_now["is_matched"].sum()))
    assert city["source"] == "all" and city["group_name"] == "all"


@pytest.mark.slow
def test_matched_records_by_district_equal_the_truth(sample_warehouse, truth_now):
    matched = truth_now.filter(pl.col("is_matched")).group_by("district").len()
    expected = dict(matched.iter_rows())
    table = _published(sample_warehouse, "district").filter(pl.col("source") == "all")
    got = {r["group_name"]: r["matched"] for r in table.iter_rows(named=True) if r["matched"]}
    assert got == expected
    assert table["records"].sum() == truth_now.height
    none = table.filter(pl.col("group_name") == "none").row(0, named=True)
    assert none["records"] == none["unmatched"]  # unmatched records belong to no household


@pytest.mark.slow
def test_change_from_last_month_uses_the_previous_folder(sample_warehouse):
    before = _truth_records(PREVIOUS)
    expected = {g: n for (g, src), (n, _m) in _expected(before, "id_state").items() if src == "all"}
    table = _published(sample_warehouse, "id_state").filter(pl.col("source") == "all")
    got = {r["group_name"]: r["prev_records"] for r in table.iter_rows(named=True)}
    assert got == {g: expected.get(g) for g in got}
    changed = table.filter(pl.col("prev_review_share").is_not_null())
    assert changed.height > 0
    assert changed.filter((pl.col("review_share_change")
                           - (pl.col("review_share") - pl.col("prev_review_share"))).abs() > 1e-12
                          ).height == 0


@pytest.mark.slow
def test_analyst_database_holds_the_fairness_table(sample_warehouse):
    from pipelines.warehouse import analyst_path

    con = duckdb.connect(str(sample_warehouse), read_only=True)
    analyst = duckdb.connect(str(analyst_path(sample_warehouse)), read_only=True)
    try:
        full = con.sql("SELECT * FROM main.fairness ORDER BY ALL").fetchall()
        assert full
        assert analyst.sql("SELECT * FROM analyst.fairness ORDER BY ALL").fetchall() == full
    finally:
        con.close()
        analyst.close()
