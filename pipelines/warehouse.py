"""Warehouse layer: the one module that owns the DuckDB file and publishes runs atomically.

DuckDB allows one writer or many readers per file, never both across processes. A run that held
the file for a minute would lock every analyst out, and a run killed half-way must leave the
warehouse as it was. So a run never writes the published file in place:

1. take an exclusive lock file beside the warehouse (two runs never interleave);
2. copy the published file to a private temporary file in the same directory;
3. write the run's rows into the copy inside one transaction, checkpoint, close, fsync;
4. ``os.replace`` the copy over the published file (atomic on POSIX) and fsync the directory.

A reader that opened the old file keeps reading the old inode until it reconnects; a new reader
sees the new month whole. A run killed at any point leaves only a stray temporary file, removed
by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

DEFAULT_WAREHOUSE = Path("warehouse") / "hedui.duckdb"
PSEUDONYM_KEY_ENV = "HEDUI_PSEUDONYM_KEY"

#: contract tables, created up front so analysts find them even before the first month lands
CONTRACT_DDL = (
    """CREATE TABLE IF NOT EXISTS links (
        source VARCHAR NOT NULL, period VARCHAR NOT NULL, record_no VARCHAR NOT NULL,
        person_id VARCHAR, household_id VARCHAR, score DOUBLE, status VARCHAR NOT NULL,
        method VARCHAR NOT NULL, match_weight DOUBLE, candidate_person_id VARCHAR,
        candidate_household_id VARCHAR, reason VARCHAR, comparison JSON)""",
    # issue 19: each folder's fitted Fellegi-Sunter model, so a past score can be rebuilt
    """CREATE TABLE IF NOT EXISTS match_models (
        period VARCHAR NOT NULL, field VARCHAR NOT NULL, level VARCHAR NOT NULL, m DOUBLE NOT NULL,
        u DOUBLE NOT NULL, weight DOUBLE NOT NULL, prior_match_proportion DOUBLE NOT NULL,
        prior_weight DOUBLE NOT NULL, em_iterations BIGINT NOT NULL, params_version VARCHAR)""",
    # issue 19: review records whose acceptance would change a household's flags, per assessed
    # period and district (replaced like flags); the review queue puts them first
    """CREATE TABLE IF NOT EXISTS review_pending_records (
        assessed_period VARCHAR NOT NULL, district_code VARCHAR, household_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL, period VARCHAR NOT NULL, record_no VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        source VARCHAR NOT NULL, period VARCHAR NOT NULL, file VARCHAR NOT NULL,
        row_number BIGINT, record_no VARCHAR, reason VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS assessments (
        period VARCHAR NOT NULL, household_id VARCHAR NOT NULL, district_code VARCHAR,
        urban_rural VARCHAR, programme VARCHAR, members INTEGER, living_members INTEGER,
        income_per_capita DECIMAL(18,2), assets_per_capita DECIMAL(18,2),
        residential_units INTEGER, standard DECIMAL(18,2), wage_income DECIMAL(18,2),
        benefit_income DECIMAL(18,2), medical_out_of_pocket DECIMAL(18,2),
        household_income_w DECIMAL(18,2), missing_sources VARCHAR,
        rulebook_version VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS flags (
        period VARCHAR NOT NULL, household_id VARCHAR NOT NULL, district_code VARCHAR,
        flag VARCHAR NOT NULL, evidence JSON NOT NULL, rulebook_version VARCHAR NOT NULL,
        decision VARCHAR, decision_reason VARCHAR, decided_by VARCHAR,
        decided_at TIMESTAMP, re_raised BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR NOT NULL, flow VARCHAR NOT NULL, period VARCHAR NOT NULL,
        districts VARCHAR, status VARCHAR NOT NULL, started_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL, rulebook_version VARCHAR, code_version VARCHAR,
        inputs JSON, summary JSON, message VARCHAR)""",
    # which folder-cache key each folder's raw/stg/links/quarantine rows came from
    """CREATE TABLE IF NOT EXISTS loaded_folders (
        period VARCHAR PRIMARY KEY, cache_key VARCHAR, loaded_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarter_summary (
        quarter VARCHAR NOT NULL, district_code VARCHAR NOT NULL, flag VARCHAR NOT NULL,
        households_flagged BIGINT NOT NULL, households_new BIGINT)""",
)

#: issue 19: ranked review candidates, per-comparison weights, review queue order, pending flags
REVIEW_QUEUE_COLUMNS = (
    ("links", "candidate_person_id_2", "VARCHAR"), ("links", "candidate_household_id_2", "VARCHAR"),
    ("links", "candidate_person_id_3", "VARCHAR"), ("links", "candidate_household_id_3", "VARCHAR"),
    ("links", "candidate_reasons", "JSON"),
    ("links", "comparison_weights", "STRUCT(prior DOUBLE, name DOUBLE, id DOUBLE, birth DOUBLE, "
                                    "sex DOUBLE, district DOUBLE)"),
    ("links", "review_pending", "BOOLEAN"), ("links", "queue_rank", "BIGINT"),
    ("flags", "pending_review", "BOOLEAN"), ("flags", "pending_records", "JSON"),
)

ANALYST_TABLES = ("persons", "links", "assessments", "flags", "quarantine", "runs")


class WarehouseError(RuntimeError):
    """The warehouse file cannot be opened, locked or written."""


def resolve(path: Path | str | None) -> Path:
    """The warehouse path to use: the given one, else ``warehouse/hedui.duckdb`` under the CWD."""
    return Path(path if path is not None else DEFAULT_WAREHOUSE).expanduser().resolve()


def pseudonym_key(warehouse: Path) -> str:
    """The secret key of the analyst views' keyed hashes.

    From ``$HEDUI_PSEUDONYM_KEY`` when set (deployments), else a random key kept in a 0600 file
    beside the warehouse, created on first use. The key is configuration: never in the repository,
    never in the warehouse file itself, so an analyst cannot re-identify a person by hashing a
    known ID number.
    """
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env:
        return env
    key_file = warehouse.with_name(warehouse.name + ".key")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return key_file.read_text().strip()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove working copies left by runs that were killed.

    Called with the publish lock held: no other run is writing, so every copy found is stale.
    """
    for tmp in path.parent.glob(f".{path.name}.*.tmp*"):
        tmp.unlink(missing_ok=True)


@contextmanager
def _exclusive_lock(path: Path, *, wait_seconds: float) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    fh = open(lock_path, "a+")  # noqa: SIM115 - held for the whole publish
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"another hedui run is publishing to {path}; waited {wait_seconds:.0f} s"
                    ) from None
                time.sleep(0.5)
        yield
    finally:
        fh.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables, the decisions store and the analyst schema when missing."""
    from pipelines.decisions import ensure_decisions_table

    for ddl in CONTRACT_DDL:
        con.execute(ddl)
    for table, column, kind in REVIEW_QUEUE_COLUMNS:
        # issue 19's columns beside the contract's, added to warehouses made before them
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    ensure_decisions_table(con)
    con.execute("CREATE SCHEMA IF NOT EXISTS analyst")


@contextmanager
def publishing(path: Path | str | None, *, lock_wait_seconds: float = 600.0
               ) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a private copy of the warehouse for writing; publish it atomically on success.

    Everything written through the yielded connection becomes visible in one step when the
    ``with`` block ends without an exception; on any exception (or a kill) the published file is
    left exactly as it was.

    Parameters
    ----------
    path
        The published warehouse file; created (empty, with the contract tables) when missing.
    lock_wait_seconds
        How long to wait for another run's publish to finish before giving up.

    Raises
    ------
    WarehouseError
        The directory or file cannot be written, or another run holds the lock too long.
    """
    target = resolve(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create the warehouse directory {target.parent}: {exc}") from exc
    if not os.access(target.parent, os.W_OK):
        raise WarehouseError(f"the warehouse directory {target.parent} is not writable")
    if target.exists() and not os.access(target, os.R_OK):
        raise WarehouseError(f"the warehouse file {target} is not readable")
    with _exclusive_lock(target, wait_seconds=lock_wait_seconds):
        _remove_stale_temporaries(target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            if target.exists():
                shutil.copyfile(target, tmp)
            con = duckdb.connect(str(tmp))
        except (OSError, duckdb.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise WarehouseError(f"cannot open a working copy of {target}: {exc}") from exc
        try:
            ensure_schema(con)
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
            con.close()
            _fsync_path(tmp)
            os.replace(tmp, target)
            _fsync_path(target.parent)
        except BaseException:
            try:
                con.close()
            except duckdb.Error:
                pass
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
            raise


def connect_readonly(path: Path | str | None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (never blocks a run: runs write a copy)."""
    target = resolve(path)
    if not target.exists():
        raise WarehouseError(f"no warehouse at {target}: run `hedui monthly` first")
    return duckdb.connect(str(target), read_only=True)


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "main") -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name]).fetchall()[0][0])


def loaded_folders(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """``period -> cache_key`` of the folders whose rows the warehouse holds."""
    return dict(con.execute("SELECT period, cache_key FROM loaded_folders").fetchall())


def mark_folder_loaded(con: duckdb.DuckDBPyConnection, period: str, cache_key: str | None) -> None:
    """Record which cache key a folder's published rows came from (null: unknown, reload)."""
    con.execute("DELETE FROM loaded_folders WHERE period = ?", [period])
    con.execute("INSERT INTO loaded_folders VALUES (?, ?, now())", [period, cache_key])


def replace_rows_from_parquet(con: duckdb.DuckDBPyConnection, table: str, parquet: Sequence[Path],
                              *, where: str, params: Sequence[object]) -> None:
    """Delete the rows selected by ``where`` and insert the parquet files' rows, by column name.

    The table is created from the first file's schema when it does not exist yet (raw and staging
    layers, whose columns the source registry fixes).
    """
    files = [str(p) for p in parquet if Path(p).exists()]
    exists = table_exists(con, table)
    if exists:
        con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
    if not files:
        return
    if exists:
        _add_missing_columns(con, table, files)
    else:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?, union_by_name=true) LIMIT 0",
                    [files])
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?, union_by_name=true)", [files])


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> None:
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema='main' AND table_name=?",
        [table]).fetchall()}
    incoming = con.execute("DESCRIBE SELECT * FROM read_parquet(?, union_by_name=true)", [files]).fetchall()
    for name, dtype, *_ in incoming:
        if name not in have:
            con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {dtype}')


#: analyst tables refreshed per delivery folder, per assessed period, or always in full
_FOLDER_TABLES = ("persons", "links", "quarantine")
_ASSESSED_TABLES = ("assessments", "flags")


def _analyst_selects(has_register: bool) -> dict[str, str]:
    persons = """
        SELECT r.period, p.person_key, h.household_key, r.district_code, r.urban_rural,
               r.programme, r.sex, year(r.birth_on) AS birth_year, r.relation,
               r.disability_grade, r.serious_illness
        FROM stg_register r
        LEFT JOIN _person_keys p USING (person_id)
        LEFT JOIN _household_keys h USING (household_id)""" if has_register else """
        SELECT NULL::VARCHAR AS period, NULL::VARCHAR AS person_key,
               NULL::VARCHAR AS household_key, NULL::VARCHAR AS district_code,
               NULL::VARCHAR AS urban_rural, NULL::VARCHAR AS programme, NULL::VARCHAR AS sex,
               NULL::BIGINT AS birth_year, NULL::VARCHAR AS relation,
               NULL::VARCHAR AS disability_grade, NULL::VARCHAR AS serious_illness WHERE false"""
    return {
        "persons": persons,
        "links": """
            SELECT l.source, l.period, l.record_no, p.person_key, h.household_key,
                   c.person_key AS candidate_person_key, l.score, l.status, l.method,
                   l.match_weight, l.comparison, l.reason
            FROM links l
            LEFT JOIN _person_keys p ON p.person_id = l.person_id
            LEFT JOIN _household_keys h ON h.household_id = l.household_id
            LEFT JOIN _person_keys c ON c.person_id = l.candidate_person_id""",
        "assessments": """
            SELECT a.* EXCLUDE (household_id), h.household_key
            FROM assessments a LEFT JOIN _household_keys h USING (household_id)""",
        "flags": """
            SELECT f.period, h.household_key, f.district_code, f.flag, f.evidence,
                   f.rulebook_version, f.decision, f.re_raised
            FROM flags f LEFT JOIN _household_keys h USING (household_id)""",
        "quarantine": "SELECT source, period, file, row_number, record_no, reason FROM quarantine",
        "runs": """SELECT run_id, flow, period, districts, status, started_at, finished_at,
                          rulebook_version, code_version, summary FROM main.runs""",
    }


def _is_view(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
        "AND table_type = 'VIEW'", [schema, name]).fetchall()[0][0])


def rebuild_analyst_views(con: duckdb.DuckDBPyConnection, *, key: str,
                          folder_periods: Sequence[str] | None = None,
                          assessed_periods: Sequence[str] | None = None) -> None:
    """Materialise the ``analyst`` schema: published tables with keyed hashes instead of identity.

    The hashes are computed here with the key as a query parameter, so the key itself never lands
    in the file (only a hash of it, to notice a changed key). No ID number, name, phone or address
    column is copied. Each distinct 个人编号 and 户编号 is hashed once into a temporary key map.

    With ``folder_periods``/``assessed_periods`` only those periods' rows are refreshed (the rest
    were built by earlier runs from unchanged rows); without them, or when the key changed or a
    table is missing, everything is rebuilt.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS analyst")
    con.execute("CREATE TABLE IF NOT EXISTS analyst._key_check (key_check VARCHAR)")
    check = hashlib.sha256(("hedui-analyst-key-check|" + key).encode()).hexdigest()
    stored = con.execute("SELECT key_check FROM analyst._key_check").fetchall()
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analyst'").fetchall()}
    full = (folder_periods is None or assessed_periods is None or stored != [(check,)]
            or not set(_analyst_selects(True)) <= present)
    has_register = table_exists(con, "stg_register")
    register_ids = "UNION SELECT person_id FROM stg_register" if has_register else ""
    register_hh = "UNION SELECT household_id FROM stg_register" if has_register else ""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _person_keys AS
        SELECT person_id, substr(sha256(concat($key, '|p|', person_id)), 1, 16) AS person_key
        FROM (SELECT person_id FROM links UNION SELECT candidate_person_id FROM links {register_ids})
        WHERE person_id IS NOT NULL""", {"key": key})
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _household_keys AS
        SELECT household_id, substr(sha256(concat($key, '|h|', household_id)), 1, 16) AS household_key
        FROM (SELECT household_id FROM links UNION SELECT household_id FROM assessments
              UNION SELECT household_id FROM flags {register_hh})
        WHERE household_id IS NOT NULL""", {"key": key})
    for name, select in _analyst_selects(has_register).items():
        periods = (folder_periods if name in _FOLDER_TABLES
                   else assessed_periods if name in _ASSESSED_TABLES else None)
        if name == "runs":
            # runs holds no identity: a view, so its rows live only in the append-only log
            if "runs" in present and not _is_view(con, "analyst", "runs"):
                con.execute("DROP TABLE analyst.runs")
            con.execute(f"CREATE OR REPLACE VIEW analyst.runs AS {select}")
        elif full or periods is None:
            con.execute(f"CREATE OR REPLACE TABLE analyst.{name} AS {select}")
        elif periods:
            con.execute(f"DELETE FROM analyst.{name} WHERE list_contains($p, period)",
                        {"p": list(periods)})
            con.execute(f"INSERT INTO analyst.{name} SELECT * FROM ({select}) "
                        f"WHERE list_contains($p, period)", {"p": list(periods)})
    con.execute("DELETE FROM analyst._key_check")
    con.execute("INSERT INTO analyst._key_check VALUES (?)", [check])
    con.execute("DROP TABLE _person_keys")
    con.execute("DROP TABLE _household_keys")
