"""Unit tests of pipelines/fairness.py on tiny literal frames: groups, counts, change, warnings."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.fairness import (
    FairnessSettings,
    add_groups,
    fairness_table,
    fairness_warnings,
    load_settings,
    name_kind,
)

COMMON = load_settings().common_surnames
SETTINGS = FairnessSettings(warn_ratio=2.0, warn_min_records=3, common_surnames=COMMON)


@pytest.mark.parametrize(("raw", "norm", "kind"), [
    ("买买提·艾力", "买买提·艾力", "minority_separator"),
    ("买买提.艾力", "买买提·艾力", "minority_separator"),
    ("陳建國", "陈建国", "traditional"),
    ("欧阳娜娜", "欧阳娜娜", "rare_surname"),   # two-character surname
    ("单伟", "单伟", "rare_surname"),           # not among the 100 most common
    ("万俟伟", "万俟伟", "rare_surname"),       # 万俟, not 万
    ("王伟", "王伟", "chars_2"),
    ("张 志强", "张志强", "chars_3"),
    ("李", "李", "chars_1"),
    ("李木子一", "李木子一", "chars_4plus"),
    (None, None, "blank"),
    ("", "", "blank"),
])
def test_name_kind(raw, norm, kind):
    assert name_kind(raw, norm, common_surnames=COMMON) == kind


def _records(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, orient="row", schema={
        "source": pl.String, "period": pl.String, "record_no": pl.String, "status": pl.String,
        "name_raw": pl.String, "name_norm": pl.String, "id_raw": pl.String, "id_norm": pl.String,
        "id_status": pl.String, "district_code": pl.String})


ID = "990101199606043841"
CURRENT = _records([
    ("tax_wages", "2026-10", "1", "matched", "王伟", "王伟", ID, ID, "valid", "990101"),
    ("tax_wages", "2026-10", "2", "matched", "王伟", "王伟", "９９０１０１１９９６０６０４３８４１", ID, "valid", "990101"),
    ("tax_wages", "2026-10", "3", "review", "王伟", "王伟", None, None, "blank", "990102"),
    ("pension", "2026-10", "4", "unmatched", "张三", "张三", ID, ID, "valid", None),
    ("pension", "2026-10", "5", "matched", "张三", "张三", "990101960604384", ID, "converted_15", "990102"),
    ("bank", "2026-10", "6", "review", "李四", "李四", "99010119960604384X", None, "bad_checksum", "990102"),
    ("bank", "2026-10", "7", "unmatched", "李四", "李四", "1.2E17", None, "excel_number", "990101"),
])


def test_groups_of_each_record():
    g = add_groups(CURRENT, settings=SETTINGS)
    assert g["id_state"].to_list() == ["valid", "reformatted", "blank", "valid", "legacy_15",
                                       "bad_checksum", "unusable"]
    # unmatched records belong to no household, whatever a stray district says
    assert g["district"].to_list() == ["990101", "990101", "990102", "none", "990102", "990102", "none"]


def test_counts_shares_and_the_city_row():
    t = fairness_table(CURRENT, period="2026-10", settings=SETTINGS)
    city = t.filter(pl.col("grouping") == "city").row(0, named=True)
    assert (city["records"], city["matched"], city["review"], city["unmatched"]) == (7, 3, 2, 2)
    assert city["review_share"] == pytest.approx(2 / 7)
    assert city["prev_records"] is None and city["review_share_change"] is None
    wages = t.filter((pl.col("grouping") == "id_state") & (pl.col("group_name") == "valid")
                     & (pl.col("source") == "all")).row(0, named=True)
    assert (wages["records"], wages["matched"], wages["unmatched"]) == (2, 1, 1)
    by_source = t.filter(pl.col("grouping") == "source")
    assert dict(zip(by_source["group_name"], by_source["records"], strict=True)) == {
        "bank": 2, "pension": 2, "tax_wages": 3}
    # every grouping partitions the records: per grouping the 'all' rows add up to the city
    for grouping in ("name_kind", "id_state", "district"):
        rows = t.filter((pl.col("grouping") == grouping) & (pl.col("source") == "all"))
        assert rows["records"].sum() == 7
        per_source = t.filter((pl.col("grouping") == grouping) & (pl.col("source") != "all"))
        assert per_source["records"].sum() == 7


def test_change_from_last_month():
    previous = CURRENT.filter(pl.col("record_no") != "3").with_columns(pl.lit("2026-09").alias("period"))
    t = fairness_table(CURRENT, period="2026-10", previous=previous, settings=SETTINGS)
    city = t.filter(pl.col("grouping") == "city").row(0, named=True)
    assert city["prev_records"] == 6
    assert city["prev_review_share"] == pytest.approx(1 / 6)
    assert city["review_share_change"] == pytest.approx(2 / 7 - 1 / 6)
    blank = t.filter((pl.col("grouping") == "id_state") & (pl.col("group_name") == "blank")
                     & (pl.col("source") == "all")).row(0, named=True)
    assert blank["prev_records"] is None  # the group had no record last month


def _table(city_review: int, group_review: int, group_records: int) -> pl.DataFrame:
    def row(grouping, group, records, review):
        return {"period": "2026-10", "grouping": grouping, "group_name": group, "source": "all",
                "records": records, "matched": records - review, "review": review, "unmatched": 0,
                "review_share": review / records, "unmatched_share": 0.0}
    return pl.DataFrame([row("city", "all", 100, city_review),
                         row("name_kind", "minority_separator", group_records, group_review),
                         row("district", "none", 10, 10)])


def test_warns_when_a_group_share_is_more_than_twice_the_city():
    lines = fairness_warnings(_table(10, 3, 10), settings=SETTINGS)  # 30 % vs 10 %
    assert len(lines) == 1
    assert "minority_separator" in lines[0] and "待复核" in lines[0] and "30.0%" in lines[0]


def test_no_warning_at_exactly_twice_or_for_small_groups_or_the_unmatched_district():
    assert fairness_warnings(_table(10, 2, 10), settings=SETTINGS) == []  # 20 % is twice, not more
    assert fairness_warnings(_table(10, 2, 2), settings=SETTINGS) == []   # 2 records < minimum
    assert fairness_warnings(pl.DataFrame(), settings=SETTINGS) == []
