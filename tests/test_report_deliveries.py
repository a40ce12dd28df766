"""Delivery changes and quarantine kinds in the run summary and the HTML report.

A source whose delivery collapses or balloons is named in the run summary and the HTML report
(issue 14, item 17), and the summary groups quarantine reasons by kind (issue 15, item 6).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from pipelines.deliveries import delivery_changes, delivery_warnings
from pipelines.report import write_reports
from pipelines.rulebook import DEFAULT_PARAMETERS, load_rulebook
from pipelines.summary import print_summary, summary_markdown

from helpers.report_fixture import PERIOD, build_warehouse


def _entry(period: str, source: str, rows: int, *, role: str = "extract") -> dict:
    return {"period": period, "file": f"{source}.csv", "role": role, "source": source, "rows_linked": rows}


@pytest.fixture(scope="module")
def rulebook():
    return load_rulebook()


def test_a_collapsed_snapshot_source_is_listed(rulebook) -> None:
    entries = [_entry("2026-09", "vehicles", 3120), _entry("2026-10", "vehicles", 0),
               _entry("2026-09", "bank", 1500), _entry("2026-10", "bank", 1480),
               _entry("2026-09", "register", 5000, role="register"), _entry("2026-10", "register", 10, role="register")]
    got = delivery_changes(entries, periods=["2026-10"], rulebook=rulebook)
    assert got == [{"source": "vehicles", "period": "2026-10", "previous_period": "2026-09", "rows": 0,
                    "previous_rows": 3120, "change": -1.0, "threshold": 0.5}]


@pytest.mark.parametrize(("before", "now", "warned"), [
    (1000, 500, False), (1000, 499, True), (1000, 1500, False), (1000, 1501, True),
    (2, 5, False),  # a few rows vary by chance (delivery_change_min_rows)
    (0, 900, False),  # nothing to compare with
])
def test_the_threshold_is_the_rulebooks_share_either_way(rulebook, before: int, now: int, warned: bool) -> None:
    entries = [_entry("2026-09", "tax_wages", before), _entry("2026-10", "tax_wages", now)]
    assert bool(delivery_changes(entries, periods=["2026-10"], rulebook=rulebook)) is warned


def test_a_missing_previous_folder_or_a_source_absent_from_a_delivered_folder(rulebook) -> None:
    assert delivery_changes([_entry("2026-10", "bank", 0)], periods=["2026-10"], rulebook=rulebook) == []
    # the folder of 2026-10 was delivered (it has a register) but holds no vehicles.csv
    entries = [_entry("2026-09", "vehicles", 200), _entry("2026-10", "register", 9, role="register")]
    got = delivery_changes(entries, periods=["2026-10"], rulebook=rulebook)
    assert [(c["source"], c["rows"]) for c in got] == [("vehicles", 0)]


def test_the_share_is_a_dated_parameter(tmp_path: Path) -> None:
    rules = tmp_path / "parameters"
    shutil.copytree(DEFAULT_PARAMETERS, rules)
    (rules / "delivery_change_share.yaml").write_text(
        "label: 交付行数变化提示线\ndescription: d\nunit: ratio\nreference: r\n"
        "values:\n  0001-01-01: 0.5\n  2026-10-01: 0.1\n", encoding="utf-8")
    entries = [_entry("2026-08", "bank", 1000), _entry("2026-09", "bank", 800), _entry("2026-10", "bank", 640)]
    got = delivery_changes(entries, periods=["2026-09", "2026-10"], rulebook=load_rulebook(rules))
    assert [(c["period"], c["threshold"]) for c in got] == [("2026-10", 0.1)]


def _summary() -> dict:
    return {
        "period": PERIOD, "rows_quarantined": 12,
        "delivery_changes": [{"source": "vehicles", "period": PERIOD, "previous_period": "2026-09",
                              "rows": 0, "previous_rows": 3120, "change": -1.0, "threshold": 0.5}],
        "quarantine_reasons": [
            {"kind": "记录号 … 重复出现且内容不同（冲突）", "code": "record_no_conflict", "rows": 10,
             "by_source": [{"source": "tax_wages", "rows": 8}, {"source": "bank", "rows": 2}]},
            {"kind": "余额 “…” 不是有效金额", "code": "amount_invalid", "rows": 2,
             "by_source": [{"source": "bank", "rows": 2}]},
        ],
    }


def test_the_summary_warns_and_groups_reasons_by_kind_with_sources() -> None:
    console = Console(record=True, width=200)
    print_summary(_summary(), console)
    text = console.export_text()
    assert "交付行数突变" in text and "机动车登记：2026-10 交付可用 0 行，2026-09 为 3,120 行（-100%）" in text
    assert "记录号 … 重复出现且内容不同（冲突）" in text and "税务工资薪金 8、金融资产 2" in text
    markdown = summary_markdown(_summary())
    assert "| 记录号 … 重复出现且内容不同（冲突） | 10 | 税务工资薪金 8、金融资产 2 |" in markdown
    assert "- 机动车登记：2026-10" in markdown
    assert delivery_warnings({}) == []


def test_the_html_report_shows_the_warning_of_the_latest_run(tmp_path: Path) -> None:
    warehouse = build_warehouse(tmp_path / "hedui.duckdb")
    con = duckdb.connect(str(warehouse))
    con.execute("DELETE FROM runs")
    for at, changes in (("2026-11-05 02:00:00+00", []), ("2026-11-06 02:00:00+00", _summary()["delivery_changes"])):
        con.execute("INSERT INTO runs (run_id, flow, period, status, started_at, finished_at, summary) "
                    "VALUES (?, 'monthly', ?, 'completed', ?, ?, ?)",
                    [at, PERIOD, at, at, json.dumps({"delivery_changes": changes})])
    con.close()
    html = write_reports(warehouse, period=PERIOD, out=tmp_path / "out")[-1].read_text(encoding="utf-8")
    assert "交付行数突变" in html and "机动车登记：2026-10 交付可用 0 行" in html
    # an earlier run's empty list does not hide the latest run's warning, and no warning: no section
    con = duckdb.connect(str(warehouse))
    con.execute("DELETE FROM runs WHERE run_id LIKE '2026-11-06%'")
    con.close()
    html = write_reports(warehouse, period=PERIOD, out=tmp_path / "out2")[-1].read_text(encoding="utf-8")
    assert "交付行数突变" not in html
