"""Analyst layer: the registry of pseudonymised tables and how the analyst database is built.

The analyst database (``<stem>-analyst.duckdb`` beside the warehouse) is the only file analysts
and the notebooks open. It holds, in its schema ``analyst``, one table per entry of
:data:`TABLES`: a ``SELECT`` over the warehouse's published tables in which every person and
household is a keyed pseudonym, and no ID number, name, phone, address, 个人编号 or 户编号 is
selected. The file never holds ``raw_*``, ``stg_*`` or the warehouse's ``links`` as such, so a
read-only connection to it cannot reach an identity.

Pseudonyms are HMAC-SHA256 of the register's 个人编号 / 户编号 under the warehouse's secret key
(:func:`pipelines.warehouse.pseudonym_key`), the first 16 hex digits, with a different message
prefix for persons and households. They are stable across runs while the key is, so analysts can
join months; they change with the key; nobody without the key can compute them from an ID.

Adding a table (``fairness``, review candidates, …) is one entry in :data:`TABLES`:

- ``select`` reads the warehouse tables by their plain names, and reaches pseudonyms only by
  joining the temporary key maps ``_person_keys(person_id, person_key)`` and
  ``_household_keys(household_id, household_key)`` (every register person and household is in
  them; a table whose ids come from elsewhere adds its columns to :data:`PERSON_ID_COLUMNS` /
  :data:`HOUSEHOLD_ID_COLUMNS`);
- ``refresh`` says which rows a run must rebuild: ``"folder"`` (a ``period`` column, the delivery
  folder; rebuilt for the folders a run republished), ``"assessed"`` (a ``period`` column, the
  assessed month; rebuilt for the months a run assessed) or ``"full"`` (rebuilt on every publish:
  small tables without a period of their own);
- ``tests/test_analyst_db.py`` then checks the new table's text for identities like every other.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from pipelines.warehouse.connection import table_names
from pipelines.warehouse.tables import check_analyst_tables

#: the schema holding the pseudonymised tables, in the analyst file
SCHEMA = "analyst"
#: the analyst file's own bookkeeping table (schema ``main``): which publish built it
META_TABLE = "analyst_meta"
#: name of the pseudonym scheme; changing how pseudonyms are computed must change it
SCHEME = "hmac-sha256-16"

Refresh = Literal["folder", "assessed", "full"]


@dataclass(frozen=True)
class AnalystTable:
    """One table of the analyst database.

    Attributes
    ----------
    name
        Table name in the analyst file's ``analyst`` schema.
    select
        SQL over the warehouse's tables and the key maps; must never select an identity.
    refresh
        ``"folder"``, ``"assessed"`` or ``"full"`` (see the module docstring).
    requires
        Warehouse tables the select reads that a young warehouse may lack; while one is missing
        the table is created from ``empty`` instead.
    empty
        A select with the same columns and no rows, used while ``requires`` is not met.
    """

    name: str
    select: str
    refresh: Refresh
    requires: tuple[str, ...] = ()
    empty: str | None = None


#: masks a quoted value holding a run of 11+ digits (a phone or an ID number) in free text
_QUOTED_NUMBER = r"'[^']*[0-9０-９]{11,}[^']*'"

TABLES: dict[str, AnalystTable] = {t.name: t for t in (
    AnalystTable(
        "persons",
        """SELECT r.period, p.person_key, h.household_key, r.district_code, r.urban_rural,
                  r.programme, r.sex, year(r.birth_on) AS birth_year, r.relation,
                  r.disability_grade, r.serious_illness
           FROM stg_register r
           LEFT JOIN _person_keys p USING (person_id)
           LEFT JOIN _household_keys h USING (household_id)""",
        refresh="folder", requires=("stg_register",),
        empty="""SELECT NULL::VARCHAR AS period, NULL::VARCHAR AS person_key,
                        NULL::VARCHAR AS household_key, NULL::VARCHAR AS district_code,
                        NULL::VARCHAR AS urban_rural, NULL::VARCHAR AS programme,
                        NULL::VARCHAR AS sex, NULL::BIGINT AS birth_year, NULL::VARCHAR AS relation,
                        NULL::VARCHAR AS disability_grade, NULL::VARCHAR AS serious_illness
                 WHERE false"""),
    AnalystTable(
        "links",
        """SELECT l.source, l.period, l.record_no, p.person_key, h.household_key,
                  c.person_key AS candidate_person_key, ch.household_key AS candidate_household_key,
                  c2.person_key AS candidate_person_key_2, ch2.household_key AS candidate_household_key_2,
                  c3.person_key AS candidate_person_key_3, ch3.household_key AS candidate_household_key_3,
                  l.score, l.status, l.method, l.match_weight, l.comparison, l.reason,
                  l.comparison_weights
           FROM links l
           LEFT JOIN _person_keys p ON p.person_id = l.person_id
           LEFT JOIN _household_keys h ON h.household_id = l.household_id
           LEFT JOIN _person_keys c ON c.person_id = l.candidate_person_id
           LEFT JOIN _household_keys ch ON ch.household_id = l.candidate_household_id
           LEFT JOIN _person_keys c2 ON c2.person_id = l.candidate_person_id_2
           LEFT JOIN _household_keys ch2 ON ch2.household_id = l.candidate_household_id_2
           LEFT JOIN _person_keys c3 ON c3.person_id = l.candidate_person_id_3
           LEFT JOIN _household_keys ch3 ON ch3.household_id = l.candidate_household_id_3""",
        # the clerks' queue order (review_queue) is staff-only: analysts have no queue to work
        refresh="folder"),
    AnalystTable(
        # a register row's 记录号 is its 个人编号: it becomes the person's key, in the reason too
        "quarantine",
        f"""SELECT q.source, q.period, q.file, q.row_number,
                   CASE WHEN q.source = 'register' THEN NULL ELSE q.record_no END AS record_no,
                   p.person_key,
                   regexp_replace(
                       CASE WHEN q.source = 'register' AND coalesce(q.record_no, '') <> ''
                            THEN replace(q.reason, q.record_no, '…') ELSE q.reason END,
                       '{_QUOTED_NUMBER.replace("'", "''")}', '''…''', 'g') AS reason,
                   q.reason_code
            FROM quarantine q
            LEFT JOIN _person_keys p ON q.source = 'register' AND p.person_id = q.record_no""",
        refresh="folder"),
    AnalystTable(
        "assessments",
        """SELECT a.* EXCLUDE (household_id), h.household_key
           FROM assessments a LEFT JOIN _household_keys h USING (household_id)""",
        refresh="assessed"),
    AnalystTable(
        # decision_reason and decided_by are clerks' free text and names: never copied
        "flags",
        """SELECT f.period, h.household_key, f.district_code, f.flag, f.evidence,
                  f.rulebook_version, f.decision, f.re_raised, f.pending_review, f.pending_records
           FROM flags f LEFT JOIN _household_keys h USING (household_id)""",
        refresh="assessed"),
    AnalystTable(
        # review records that could change a household's outcome (issue 19), by household key
        "review_pending_records",
        """SELECT r.assessed_period AS period, r.district_code, h.household_key, r.source,
                  r.period AS delivery_period, r.record_no
           FROM review_pending_records r LEFT JOIN _household_keys h USING (household_id)""",
        refresh="assessed"),
    # each folder's fitted match model: m/u per comparison level, prior, iterations (no identity)
    AnalystTable("match_models", "SELECT * FROM match_models", refresh="full"),
    AnalystTable("quarter_summary", "SELECT * FROM quarter_summary", refresh="full"),
    # counts per group only (pipelines/fairness.py): no identity, copied whole
    AnalystTable("fairness", "SELECT * FROM fairness", refresh="full"),
    AnalystTable(
        # inputs (file names and checksums) and message stay with staff
        "runs",
        """SELECT run_id, flow, period, districts, status, started_at, finished_at,
                  rulebook_version, code_version, summary FROM runs""",
        refresh="full"),
)}

#: warehouse columns holding 个人编号 / 户编号 that pseudonyms are needed for (beside the register)
PERSON_ID_COLUMNS: list[tuple[str, str]] = [
    ("stg_register", "person_id"), ("links", "person_id"), ("links", "candidate_person_id"),
    ("links", "candidate_person_id_2"), ("links", "candidate_person_id_3")]
HOUSEHOLD_ID_COLUMNS: list[tuple[str, str]] = [
    ("stg_register", "household_id"), ("links", "household_id"),
    ("links", "candidate_household_id"), ("links", "candidate_household_id_2"),
    ("links", "candidate_household_id_3"), ("assessments", "household_id"),
    ("flags", "household_id"), ("review_pending_records", "household_id")]

# the warehouse's table registry says which tables analysts get, pseudonymised or copied
check_analyst_tables({t.name: t.select for t in TABLES.values()},
                     {t.name: t.requires for t in TABLES.values()})


def registry_version() -> str:
    """A hash of the registry and the pseudonym scheme: a change forces a full rebuild."""
    h = hashlib.sha256(SCHEME.encode())
    for t in TABLES.values():
        h.update(repr((t.name, t.select, t.refresh, t.requires, t.empty)).encode())
    return h.hexdigest()[:16]


def _hmac_keys(ids: Sequence[str], *, key: str, kind: str) -> list[str]:
    """HMAC-SHA256(key, ``kind|id``), 16 hex digits, for each id (inner/outer states reused)."""
    base = hmac.new(key.encode("utf-8"), digestmod=hashlib.sha256)
    out = []
    for value in ids:
        h = base.copy()
        h.update(f"{kind}|{value}".encode())
        out.append(h.hexdigest()[:16])
    return out


def pseudonym(value: str, *, key: str, kind: Literal["person", "household"]) -> str:
    """The pseudonym of one 个人编号 (``kind="person"``) or 户编号 (``kind="household"``)."""
    return _hmac_keys([value], key=key, kind=kind)[0]


def _in_periods(periods: Sequence[str]) -> str:
    """``period IN ('a', 'b')`` as literals: a constant filter the parquet scans prune files by."""
    if not periods:
        return "false"
    return "period IN (" + ", ".join("'" + p.replace("'", "''") + "'" for p in periods) + ")"


def _key_map(con: duckdb.DuckDBPyConnection, name: str, columns: Sequence[tuple[str, str]], *,
             key: str, kind: str, id_col: str, key_col: str, present: set[str],
             scoped: Sequence[str], periods: Sequence[str] | None) -> None:
    parts = [f"SELECT {c}::VARCHAR AS v FROM main.{t}"
             + (f" WHERE {_in_periods(periods)}" if periods is not None and t in scoped else "")
             for t, c in columns if t in present]
    ids = ([r[0] for r in con.execute(
        f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) WHERE v IS NOT NULL ORDER BY v"
    ).fetchall()] if parts else [])
    frame = pl.DataFrame({id_col: ids, key_col: _hmac_keys(ids, key=key, kind=kind)},
                         schema={id_col: pl.String, key_col: pl.String})
    con.register(f"{name}_frame", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
    con.unregister(f"{name}_frame")


def build(con: duckdb.DuckDBPyConnection, catalog: str, *, key: str, published_at: datetime,
          folder_periods: Sequence[str] | None, assessed_periods: Sequence[str] | None,
          period_scoped: Sequence[str] = (), work: str | None = None) -> None:
    """Write the analyst tables into the attached database ``catalog`` from ``con``'s warehouse.

    Parameters
    ----------
    con
        A connection whose default catalog is the warehouse (committed: this runs its own
        transaction, which writes only to ``catalog``).
    catalog
        The attached analyst working copy: empty (full build) or a copy of the published analyst
        file made with the same key and registry (then only the named periods are rebuilt).
    key
        The pseudonym key; used here and never written anywhere.
    published_at
        The publish's time, stored in ``catalog``'s :data:`META_TABLE` and in the warehouse, so
        that the next run can tell a matching pair from one a kill left half-published (a
        ``*_at`` column, so identical reruns still publish identical tables).
    folder_periods, assessed_periods
        The delivery folders and assessed months whose rows changed; None rebuilds everything.
    period_scoped
        Warehouse tables with a ``period`` column whose history is long (the partitioned
        tables): in an incremental build the key maps read only their rows of the rebuilt
        periods, so the build's cost follows the run's months, not the warehouse's history.
        Ignored when a ``"full"`` table uses the key maps (it needs every period's keys).
    work
        An attached catalog (with schema :data:`SCHEMA`) where the per-period tables
        (``"folder"``, ``"assessed"``) are built and checked out, to be written to parquet from
        there (:mod:`pipelines.partitions`); None: in ``catalog``.
    """
    present = set(table_names(con))
    incremental = folder_periods is not None and assessed_periods is not None
    full_uses_keys = any("_person_keys" in t.select or "_household_keys" in t.select
                         for t in TABLES.values() if t.refresh == "full")
    key_periods = (sorted({*folder_periods, *assessed_periods})  # type: ignore[misc]
                   if incremental and not full_uses_keys else None)
    scoped = list(period_scoped)
    _key_map(con, "_person_keys", PERSON_ID_COLUMNS, key=key, kind="person",
             id_col="person_id", key_col="person_key", present=present,
             scoped=scoped, periods=key_periods)
    _key_map(con, "_household_keys", HOUSEHOLD_ID_COLUMNS, key=key, kind="household",
             id_col="household_id", key_col="household_key", present=present,
             scoped=scoped, periods=key_periods)
    existing = set(table_names(con, SCHEMA, catalog))
    held = set(table_names(con, SCHEMA, work)) if work is not None else set()

    def fill(tables: list[AnalystTable], where: str) -> None:
        for table in tables:
            select = table.select if set(table.requires) <= present else table.empty
            if select is None:
                raise ValueError(f"analyst table {table.name} needs {table.requires} and has no empty form")
            periods = {"folder": folder_periods, "assessed": assessed_periods, "full": None}[table.refresh]
            target = f"{where}.{SCHEMA}.{table.name}"
            if periods is None or table.name not in existing | held:
                con.execute(f"CREATE OR REPLACE TABLE {target} AS {select}")
            elif periods:
                con.execute(f"DELETE FROM {target} WHERE {_in_periods(periods)}")
                con.execute(f"INSERT INTO {target} SELECT * FROM ({select}) WHERE {_in_periods(periods)}")

    per_period = [t for t in TABLES.values() if t.refresh != "full"]
    if work is not None:
        # a transaction writes one attached database: the work catalog's first
        con.execute("BEGIN TRANSACTION")
        fill(per_period, work)
        con.execute("COMMIT")
    con.execute("BEGIN TRANSACTION")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{SCHEMA}")
    fill([t for t in TABLES.values() if work is None or t.refresh == "full"], catalog)
    for stale in existing - set(TABLES):
        con.execute(f"DROP TABLE {catalog}.{SCHEMA}.{stale}")
    con.execute(f"CREATE OR REPLACE TABLE {catalog}.main.{META_TABLE} (published_at TIMESTAMPTZ, "
                "registry_version VARCHAR, scheme VARCHAR)")
    con.execute(f"INSERT INTO {catalog}.main.{META_TABLE} VALUES (?, ?, ?)",
                [published_at, registry_version(), SCHEME])
    con.execute("COMMIT")
    con.execute("DROP TABLE _person_keys")
    con.execute("DROP TABLE _household_keys")


def published_state(path: Path) -> tuple[datetime | None, str | None]:
    """``(published_at, registry_version)`` of a published analyst file; Nones when unreadable."""
    if not Path(path).exists():
        return None, None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None, None
    try:
        row = con.execute(f"SELECT published_at, registry_version FROM main.{META_TABLE}").fetchone()
    except duckdb.Error:
        return None, None
    finally:
        con.close()
    return (row[0], row[1]) if row else (None, None)
