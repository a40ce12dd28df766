"""Month arithmetic and source-name mapping: the vocabulary every stage relies on."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines import periods as pp
from pipelines.schedule import previous_period, previous_quarter
from pipelines.sources import SOURCES, source_of


def test_window_is_oldest_first_and_crosses_years():
    assert pp.window("2026-02", 6) == ["2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02"]


def test_month_end_handles_leap_years():
    assert pp.month_end("2024-02") == date(2024, 2, 29)
    assert pp.month_end("2026-02") == date(2026, 2, 28)
    assert pp.month_end("2026-12") == date(2026, 12, 31)


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "202610", "2026/10", "", "2026-00"])
def test_parse_period_rejects_other_forms(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        pp.parse_period(bad)


def test_quarter_months():
    assert pp.quarter_months("2026Q3") == ["2026-07", "2026-08", "2026-09"]
    assert pp.quarter_months("2026q1") == ["2026-01", "2026-02", "2026-03"]
    with pytest.raises(ValueError, match="YYYYQn"):
        pp.quarter_months("2026Q5")


@given(st.integers(1990, 2100), st.integers(1, 12), st.integers(-400, 400))
def test_add_months_round_trips(y, m, n):
    p = f"{y:04d}-{m:02d}"
    assert pp.add_months(pp.add_months(p, n), -n) == p


@pytest.mark.parametrize(("name", "source"), [
    ("register.csv", "register"), ("REGISTER.CSV", "register"), ("Tax_Wages.CSV", "tax_wages"),
    ("tax_wages.xlsx", "tax_wages"), ("pension.csv", "pension"), ("bank_icbc.xlsx", "bank"),
    ("Bank_农业银行.csv", "bank"), ("deaths.csv", "deaths"), ("medical.XLSX", "medical"),
    ("bank.csv", None), ("bank_.csv", None), ("tax_wages.txt", None), ("notes.csv", None),
    ("说明.txt", None), ("tax_wages_2.csv", None),
])
def test_source_of_file_names(name, source):
    assert source_of(name) == source


def test_every_source_requires_record_no_first():
    for spec in SOURCES.values():
        assert spec.required[0] == "记录号"
        assert len(set(spec.required)) == len(spec.required)


def test_scheduler_checks_the_previous_month_in_shanghai_time():
    # 2026-11-04 20:00 UTC is already the 5th in Shanghai
    now = datetime(2026, 11, 4, 20, 0, tzinfo=ZoneInfo("UTC"))
    assert previous_period(now) == "2026-10"
    assert previous_period(datetime(2026, 1, 5, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))) == "2025-12"
    assert previous_quarter(datetime(2026, 10, 10, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))) == "2026Q3"
    assert previous_quarter(datetime(2026, 1, 10, 3, 0, tzinfo=ZoneInfo("Asia/Shanghai"))) == "2025Q4"


def test_the_deployments_carry_the_contracted_schedules():
    from pipelines.schedule import build_deployments

    monthly, quarterly = build_deployments(incoming="/data/incoming", warehouse="/data/w.duckdb")
    assert monthly.name == "hedui-monthly" and quarterly.name == "hedui-quarterly"
    crons = [(d.schedules[0].schedule.cron, d.schedules[0].schedule.timezone) for d in (monthly, quarterly)]
    assert crons == [("0 2 5 * *", "Asia/Shanghai"), ("0 3 10 1,4,7,10 *", "Asia/Shanghai")]
    # period/quarter left empty: the scheduled run checks the month (quarter) before it fires;
    # an operator fills them in the UI to re-run a chosen one
    assert monthly.parameters == {"incoming": "/data/incoming", "warehouse": "/data/w.duckdb",
                                  "period": None}
    assert quarterly.parameters == {"incoming": "/data/incoming", "warehouse": "/data/w.duckdb",
                                    "quarter": None}
