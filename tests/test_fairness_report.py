"""The fairness section of the HTML report, from a fairness table built on literal records."""

from __future__ import annotations

import polars as pl
import pytest

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


@pytest.mark.slow
def test_sample_report_has_the_fairness_section_and_a_notice_per_flagged_household(sample_warehouse, tmp_path):
    import duckdb
    import openpyxl

    from pipelines.report import write_reports

    paths = write_reports(sample_warehouse, period="2026-10", districts=["990103"], out=tmp_path)
    html = paths[-1].read_text(encoding="utf-8")
    section = html[html.index("匹配对谁更难"):]
    assert "<svg" in section and "含分隔符的少数民族姓名" in section and "较上月" in section
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    try:
        flagged = {r[0] for r in con.execute("SELECT DISTINCT household_id FROM flags WHERE period = "
                                             "'2026-10' AND district_code = '990103'").fetchall()}
        city = con.execute("SELECT records FROM fairness WHERE period = '2026-10' AND grouping = 'city'"
                           ).fetchall()[0][0]
    finally:
        con.close()
    assert f"{city} 条记录" in section
    rows = list(openpyxl.load_workbook(paths[0])["告知书"].iter_rows(values_only=True))
    assert rows[0] == ("户编号", "告知书")
    assert {r[0] for r in rows[1:]} == flagged
    assert all(r[1].startswith("家庭经济状况核对告知书") for r in rows[1:])
