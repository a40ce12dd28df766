"""Report layer: what the reports read from the published warehouse (read-only).

Each function takes an open read-only DuckDB connection and returns a polars frame with the
columns the workbook or the HTML report needs, in English; translation to the Chinese layout
happens in :mod:`pipelines.report.workbook`. Only the tables and columns of docs/architecture.md
("Published table columns") are used.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import duckdb
import polars as pl

from pipelines.periods import Period
from pipelines.sources import EXTRACT_SOURCES
from pipelines.warehouse.connection import column_names, table_exists
from pipelines.warehouse.connection import table_names as _tables

_REQUIRED_TABLES = ("stg_register", "links", "quarantine", "assessments", "flags")


class ReportError(ValueError):
    """The warehouse cannot give the report that was asked for (names the problem)."""


def open_warehouse(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file read-only; a clear error when it is missing or incomplete.

    Parameters
    ----------
    warehouse : Path
        The DuckDB file (``warehouse/hedui.duckdb`` by default).
    """
    path = Path(warehouse)
    if not path.is_file():
        raise ReportError(f"warehouse {path} does not exist")
    con = duckdb.connect(str(path), read_only=True)
    present = set(_tables(con))
    missing = [t for t in _REQUIRED_TABLES if t not in present]
    if missing:
        con.close()
        raise ReportError(f"warehouse {path} lacks table(s) {', '.join(missing)}")
    return con


def lookback(period: str) -> list[str]:
    """The delivery months whose review records and quarantined rows a report of P lists.

    They are the folders a run of P loads under the repository's rules in force at the end of P
    (the income window and the INCOME_DROP months, :mod:`pipelines.plan`), since their records
    bear on P.
    """
    return list(_folders_of(period))


@functools.cache
def _folders_of(period: str) -> tuple[str, ...]:
    from pipelines.plan import windows
    from pipelines.rulebook import load_rulebook

    p = Period.parse(period)
    return tuple(m.label for m in windows(p, load_rulebook().at(p.last_day)).folders)


def districts_of(con: duckdb.DuckDBPyConnection, *, period: str) -> list[str]:
    """The districts assessed for ``period``, sorted; ReportError when none was assessed."""
    rows = con.sql(
        "SELECT DISTINCT district_code FROM assessments WHERE period = $p AND district_code IS NOT NULL "
        "ORDER BY district_code",
        params={"p": period},
    ).fetchall()
    if not rows:
        raise ReportError(f"the warehouse has no assessments for period {period}; run `hedui monthly` first")
    return [r[0] for r in rows]


def rulebook_versions(con: duckdb.DuckDBPyConnection, *, period: str, districts: list[str]) -> list[str]:
    """Distinct rulebook versions of the period's assessments in these districts."""
    rows = con.sql(
        "SELECT DISTINCT rulebook_version FROM assessments "
        "WHERE period = $p AND list_contains($d, district_code) AND rulebook_version IS NOT NULL "
        "ORDER BY rulebook_version",
        params={"p": period, "d": districts},
    ).fetchall()
    return [r[0] for r in rows]


def flagged_households(con: duckdb.DuckDBPyConnection, *, period: str, districts: list[str]) -> pl.DataFrame:
    """One row per (household, flag) of the period in these districts, with what staff need.

    Columns: ``period, district_code, household_id, programme, street, head_name, head_id, flag,
    evidence, rulebook_version, decision, decision_reason, decided_by, decided_at, re_raised,
    history`` where ``decision`` is the one that applies now (pipelines/decisions.py carries it
    from an earlier period while the evidence is unchanged) and ``history``
    lists the decisions taken on the same household and flag in earlier periods, newest first,
    as ``[{period, decision, reason}]``.
    """
    return con.sql(
        """
        WITH f AS (
            SELECT * FROM flags WHERE period = $p AND list_contains($d, district_code)
        ),
        head AS (
            SELECT household_id,
                   arg_min(name_raw, CASE WHEN relation = '户主' THEN 0 ELSE 1 END * 1e9 + row_number) AS head_name,
                   arg_min(coalesce(id_norm, id_raw), CASE WHEN relation = '户主' THEN 0 ELSE 1 END * 1e9 + row_number) AS head_id,
                   arg_min(street, CASE WHEN relation = '户主' THEN 0 ELSE 1 END * 1e9 + row_number) AS street
            FROM stg_register WHERE period = $p GROUP BY household_id
        ),
        earlier AS (
            SELECT e.household_id, e.flag,
                   list({'period': e.period, 'decision': e.decision, 'reason': e.decision_reason}
                        ORDER BY e.period DESC) AS history
            FROM flags e JOIN f ON e.household_id = f.household_id AND e.flag = f.flag
            WHERE e.period < $p AND e.decision IS NOT NULL
            GROUP BY e.household_id, e.flag
        )
        SELECT f.period, f.district_code, f.household_id, a.programme, head.street,
               head.head_name, head.head_id, f.flag, f.evidence, f.rulebook_version,
               f.decision, f.decision_reason, f.decided_by, f.decided_at, f.re_raised, earlier.history
        FROM f
        LEFT JOIN assessments a ON a.period = f.period AND a.household_id = f.household_id
        LEFT JOIN head ON head.household_id = f.household_id
        LEFT JOIN earlier ON earlier.household_id = f.household_id AND earlier.flag = f.flag
        ORDER BY f.district_code, head.street NULLS LAST, f.household_id, f.flag
        """,
        params={"p": period, "d": districts},
    ).pl()


def _records_union(con: duckdb.DuckDBPyConnection) -> str:
    """SQL for the identity columns of every loaded extract record (stg tables that exist)."""
    present = set(_tables(con))
    parts = [
        f"SELECT source, period, record_no, name_raw, coalesce(id_norm, id_raw) AS id_text FROM stg_{s}"
        for s in EXTRACT_SOURCES
        if f"stg_{s}" in present
    ]
    if not parts:
        return ("SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS period, NULL::VARCHAR AS record_no, "
                "NULL::VARCHAR AS name_raw, NULL::VARCHAR AS id_text WHERE false")
    return " UNION ALL ".join(parts)


_RANKED_COLUMNS = {"candidate_person_id_2": "VARCHAR", "candidate_household_id_2": "VARCHAR",
                   "candidate_person_id_3": "VARCHAR", "candidate_household_id_3": "VARCHAR",
                   "candidate_reasons": "VARCHAR"}


def _queue_columns(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """The review queue's columns and their join (nulls on a warehouse published before them)."""
    have = set(column_names(con, "links"))
    ranked = [f"l.{c}::{t} AS {c}" if c in have else f"NULL::{t} AS {c}"
              for c, t in _RANKED_COLUMNS.items()]
    if not table_exists(con, "review_queue"):
        return ", ".join([*ranked, "NULL::BOOLEAN AS review_pending", "NULL::BIGINT AS queue_rank"]), ""
    join = ("LEFT JOIN review_queue q ON q.period = $p AND q.source = l.source "
            "AND q.record_period = l.period AND q.record_no = l.record_no")
    return ", ".join([*ranked, "q.review_pending", "q.queue_rank"]), join


def review_records(con: duckdb.DuckDBPyConnection, *, period: str) -> pl.DataFrame:
    """Extract records still in ``review`` from the delivery months of :func:`lookback`.

    Columns: ``period, source, record_no, record_name, record_id, candidate_person_id,
    candidate_household_id, candidate_name, candidate_id, district_code (the candidate's, null
    when the candidate is not on that month's register), score, method, reason, comparison``,
    and the review queue's ``candidate_person_id_2/_3, candidate_household_id_2/_3,
    candidate_reasons`` and, from the month's ``review_queue``, ``review_pending, queue_rank``
    (issue 19), in the queue's order: records that can change a household's outcome first.
    """
    columns, queue = _queue_columns(con)
    return con.sql(
        f"""
        WITH r AS ({_records_union(con)})
        SELECT l.period, l.source, l.record_no, r.name_raw AS record_name, r.id_text AS record_id,
               l.candidate_person_id, l.candidate_household_id,
               g.name_raw AS candidate_name, coalesce(g.id_norm, g.id_raw) AS candidate_id,
               g.district_code, l.score, l.method, l.reason, l.comparison, {columns}
        FROM links l
        LEFT JOIN r ON r.source = l.source AND r.period = l.period AND r.record_no = l.record_no
        LEFT JOIN stg_register g ON g.period = l.period AND g.person_id = l.candidate_person_id
        {queue}
        WHERE l.status = 'review' AND list_contains($w, l.period)
        ORDER BY queue_rank NULLS LAST, l.period DESC, l.source, l.record_no
        """,
        params={"w": lookback(period), "p": period} if queue else {"w": lookback(period)},
    ).pl()


def quarantined_rows(con: duckdb.DuckDBPyConnection, *, period: str) -> pl.DataFrame:
    """Quarantine rows of the delivery months of :func:`lookback`, newest month first.

    Columns: ``period, source, file, row_number, record_no, reason``.
    """
    return con.sql(
        """
        SELECT period, source, file, row_number, record_no, reason FROM quarantine
        WHERE list_contains($w, period)
        ORDER BY period DESC, source, file, row_number NULLS FIRST
        """,
        params={"w": lookback(period)},
    ).pl()


def flag_counts(con: duckdb.DuckDBPyConnection, *, districts: list[str]) -> pl.DataFrame:
    """Households flagged per (period, district, flag) over every month in the warehouse.

    Columns: ``period, district_code, flag, households, dismissed``.
    """
    return con.sql(
        """
        SELECT period, district_code, flag, count(DISTINCT household_id) AS households,
               count(DISTINCT household_id) FILTER (WHERE decision = 'dismissed' OR decision = '排除') AS dismissed
        FROM flags WHERE list_contains($d, district_code)
        GROUP BY period, district_code, flag ORDER BY period, district_code, flag
        """,
        params={"d": districts},
    ).pl()


def match_rates(con: duckdb.DuckDBPyConnection, *, period: str) -> pl.DataFrame:
    """Records of P's delivery folder per (source, status). Columns: ``source, status, records``."""
    return con.sql(
        """
        SELECT source, status, count(*) AS records FROM links WHERE period = $p
        GROUP BY source, status ORDER BY source, status
        """,
        params={"p": period},
    ).pl()


def household_counts(con: duckdb.DuckDBPyConnection, *, period: str, districts: list[str]) -> pl.DataFrame:
    """Households assessed and flagged in P per district.

    Columns: ``district_code, assessed, flagged``.
    """
    return con.sql(
        """
        SELECT a.district_code, count(*) AS assessed,
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM flags f WHERE f.period = a.period AND f.household_id = a.household_id
               )) AS flagged
        FROM assessments a WHERE a.period = $p AND list_contains($d, a.district_code)
        GROUP BY a.district_code ORDER BY a.district_code
        """,
        params={"p": period, "d": districts},
    ).pl()


def delivery_changes(con: duckdb.DuckDBPyConnection, *, period: str) -> list[dict]:
    """The sources whose delivery of ``period`` changed sharply from the month before.

    Read from ``runs.summary`` of the latest finished run that assessed ``period`` (a monthly
    run of it, or a quarterly run whose months include it); see :mod:`pipelines.deliveries`.
    Empty when no such run recorded the check.
    """
    if "runs" not in _tables(con):
        return []
    rows = con.sql(
        """
        SELECT period, CAST(summary AS VARCHAR) FROM runs
        WHERE status <> 'failed' AND summary IS NOT NULL ORDER BY finished_at DESC
        """
    ).fetchall()
    for run_period, text in rows:
        try:
            summary = json.loads(text)
        except (TypeError, ValueError):
            continue
        if not isinstance(summary, dict) or "delivery_changes" not in summary:
            continue
        if run_period == period or period in (summary.get("months") or []):
            return [c for c in summary["delivery_changes"] if c.get("period") == period]
    return []
