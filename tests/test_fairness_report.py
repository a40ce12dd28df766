"""The fairness section of the HTML report, from a fairness table built on literal records."""

from __future__ import annotations

import polars as pl

from pipelines.fairness import fairness_table
from pipelines.report.fairness import fairness_section

ID = "990101199606043841"


def _records(period: str, statuses: list[str]) -> pl.DataFrame:
    # the records in review carry minority names: that group fails more than the city
    rows = [("bank", period, str(i), s, *(("买买提·艾力",) * 2 if s == "review" else ("王伟",) * 2),
             ID, ID, "valid", "990101" if s != "unmatched" else None) for i, s in enumerate(statuses)]
    return pl.DataFrame(rows, orient="row", schema=[
        "source", "period", "record_no", "status", "name_raw", "name_norm", "id_raw", "id_norm",
        "id_status", "district_code"])


def test_section_has_a_chart_the_counts_and_the_change_from_last_month():
    now = _records("2026-10", ["matched"] * 30 + ["review"] * 30 + ["unmatched"] * 4)
    before = _records("2026-09", ["matched"] * 60 + ["review"] * 4)
    table = fairness_table(now, period="2026-10", previous=before)
    html = fairness_section(table.filter((pl.col("source") == "all") | (pl.col("grouping") == "source")),
                            period="2026-10")
    assert "<svg" in html and "含分隔符的少数民族姓名" in html
    assert "<td>64</td>" in html            # the records behind the city's shares
    assert "46.9%" in html                  # review share 30/64
    assert "+40.6 个百分点" in html          # 30/64 - 4/64
    assert "公平性提示" in html and "100.0%（30/30）" in html  # minority names: all in review


def test_section_without_data_says_so():
    assert "本期无数据" in fairness_section(None, period="2026-10")
    assert "本期无数据" in fairness_section(pl.DataFrame(), period="2026-10")
