"""The report tests' literal warehouse (tests/helpers/report_fixture.py) has the published columns.

Its columns are exactly docs/architecture.md's "Published table columns" and the analyst tables
of the report brief, and its analyst tables carry no identity.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from helpers.report_fixture import IDENTITIES, build_warehouse


@pytest.fixture
def fixture_warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "hedui.duckdb")


_ARCHITECTURE_COLUMNS = {
    "links": "source, period, record_no, person_id, household_id, score, status, method, match_weight, "
             "candidate_person_id, candidate_household_id, reason, comparison",
    "quarantine": "source, period, file, row_number, record_no, reason",
    "flags": "period, household_id, district_code, flag, evidence, rulebook_version, decision, "
             "decision_reason, decided_by, decided_at, re_raised",
    "runs": "run_id, flow, period, districts, status, started_at, finished_at, rulebook_version, "
            "code_version, inputs, summary",
}


def test_fixture_tables_have_the_published_columns(fixture_warehouse: Path) -> None:
    con = duckdb.connect(str(fixture_warehouse), read_only=True)
    for table, columns in _ARCHITECTURE_COLUMNS.items():
        got = [r[0] for r in con.sql(f"DESCRIBE {table}").fetchall()]
        assert got == [c.strip() for c in columns.split(",")], table
    con.close()


def test_fixture_analyst_tables_carry_no_identity(fixture_warehouse: Path) -> None:
    con = duckdb.connect(str(fixture_warehouse), read_only=True)
    tables = [r[0] for r in con.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analyst'").fetchall()]
    assert sorted(tables) == ["assessments", "flags", "links", "persons", "quarantine", "runs"]
    for table in tables:
        text = str(con.sql(f"SELECT * FROM analyst.{table}").fetchall())
        assert not [v for v in IDENTITIES if v in text], table
    con.close()
