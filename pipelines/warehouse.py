"""Warehouse layer: the one module that owns the DuckDB files and publishes runs atomically.

DuckDB allows one writer or many readers per file, never both across processes. A run that held
the file for a minute would lock every analyst out, and a run killed half-way must leave the
warehouse as it was. So a run never writes a published file in place:

1. take an exclusive lock file beside the warehouse (two runs never interleave);
2. copy the published warehouse into a private staging folder (0700) beside it: a small file,
   since the big per-period tables live in parquet files the file's views name
   (:mod:`pipelines.partitions`), and check out the periods the run declares;
3. write the run's rows into the copy inside one transaction, then write the changed periods to
   new parquet files (never over a published one) and turn the tables back into views;
4. build the analyst database (:mod:`pipelines.analyst`) into a second staging file from the
   copy: incrementally from a copy of the published analyst file when that file belongs to the
   published warehouse, else from scratch;
5. checkpoint, close, set the modes (warehouse 0600, analyst 0640), fsync both;
6. ``os.replace`` the warehouse copy over the warehouse, then the analyst copy over the analyst
   file, and fsync the directory.

A reader that opened an old file keeps reading the old inode until it reconnects; a new reader
sees the new month whole. A run killed before step 6 leaves both files as they were (only
staging files, removed by the next run). A kill between the two renames leaves the new
warehouse beside the previous analyst file: analysts see the previous month, never a half, and
the next publish notices the pair does not match (``pseudonym_state.analyst_published_at`` in the
warehouse against ``analyst_meta.published_at`` in the analyst file) and rebuilds the analyst
file whole. The analyst file is never ahead of the warehouse.

The pseudonym key lives outside both files (``$HEDUI_PSEUDONYM_KEY`` or ``<warehouse>.key``);
the warehouse keeps only a check value, so a run can refuse to publish pseudonyms made with a
lost or different key (:class:`PseudonymKeyError`) unless it is told to re-key.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import analyst
from pipelines import partitions as parts
from pipelines.fsio import PRIVATE_FILE, fsync_path, private_dir

DEFAULT_WAREHOUSE = Path("warehouse") / "hedui.duckdb"
PSEUDONYM_KEY_ENV = "HEDUI_PSEUDONYM_KEY"
#: the full warehouse: staff's account only
WAREHOUSE_MODE = PRIVATE_FILE
#: the analyst database: staff and the analysts' group, never other accounts
ANALYST_MODE = 0o640
#: a warehouse folder hedui creates: the analysts' group may enter it to open the analyst file
WAREHOUSE_DIR_MODE = 0o750
#: name under which the analyst working copy is attached while it is built
_ANALYST_CATALOG = "hedui_analyst_build"
#: the big per-period tables, stored as one parquet file per period (see pipelines/partitions.py);
#: every other table is an ordinary table of the (small) warehouse file
PARTITIONED_TABLES = frozenset({"links", "quarantine", "assessments", "flags"})
#: prefixes of the raw and staging layers, partitioned like :data:`PARTITIONED_TABLES`
PARTITIONED_PREFIXES = ("raw_", "stg_")
#: the folders of the parquet files: identities, staff only / pseudonyms, the analysts' group
PARTS_DIR_MODE = 0o700
ANALYST_PARTS_DIR_MODE = 0o750

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
        row_number BIGINT, record_no VARCHAR, reason VARCHAR NOT NULL, reason_code VARCHAR)""",
    # warehouses published before reason codes existed gain the column (pipelines/reasons.py)
    "ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS reason_code VARCHAR",
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
        decided_at TIMESTAMPTZ, re_raised BOOLEAN)""",
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
    # who the matching fails: one row per (period, grouping, group_name, source); codes and
    # counts only, no identity (pipelines/fairness.py defines the groups)
    """CREATE TABLE IF NOT EXISTS fairness (
        period VARCHAR NOT NULL, grouping VARCHAR NOT NULL, group_name VARCHAR NOT NULL,
        source VARCHAR NOT NULL, records BIGINT NOT NULL, matched BIGINT NOT NULL,
        review BIGINT NOT NULL, unmatched BIGINT NOT NULL, review_share DOUBLE,
        unmatched_share DOUBLE, prev_records BIGINT, prev_review_share DOUBLE,
        prev_unmatched_share DOUBLE, review_share_change DOUBLE, unmatched_share_change DOUBLE)""",
)

#: the warehouse's own record of its pseudonyms: a check value of the key (never the key) and
#: which publish built the analyst file beside it
_STATE_DDL = """CREATE TABLE IF NOT EXISTS pseudonym_state (
    key_check VARCHAR NOT NULL, analyst_published_at TIMESTAMPTZ NOT NULL)"""

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


class WarehouseError(RuntimeError):
    """The warehouse file cannot be opened, locked or written."""


class PseudonymKeyError(WarehouseError):
    """The warehouse holds pseudonyms and the key they were made with is missing or different."""


def resolve(path: Path | str | None) -> Path:
    """The warehouse path to use: the given one, else ``warehouse/hedui.duckdb`` under the CWD."""
    return Path(path if path is not None else DEFAULT_WAREHOUSE).expanduser().resolve()


def analyst_path(warehouse: Path | str | None) -> Path:
    """The analyst database published beside ``warehouse``: ``<stem>-analyst.duckdb``."""
    target = resolve(warehouse)
    return target.with_name(f"{target.stem}-analyst.duckdb")


def parts_dir(warehouse: Path | str | None) -> Path:
    """Folder of the warehouse's per-period parquet files: ``.<name>.parts`` beside it (0700)."""
    target = resolve(warehouse)
    return target.with_name(f".{target.name}.parts")


def analyst_parts_dir(warehouse: Path | str | None) -> Path:
    """Folder of the analyst file's per-period parquet files (0750, files 0640)."""
    target = analyst_path(warehouse)
    return target.with_name(f".{target.name}.parts")


def is_partitioned(table: str) -> bool:
    """Whether a warehouse table is stored one parquet file per period."""
    return table in PARTITIONED_TABLES or table.startswith(PARTITIONED_PREFIXES)


def key_file(warehouse: Path) -> Path:
    """``<warehouse>.key``: where the pseudonym key is kept when the environment does not set it."""
    return warehouse.with_name(warehouse.name + ".key")


def find_pseudonym_key(warehouse: Path) -> str | None:
    """The pseudonym key from ``$HEDUI_PSEUDONYM_KEY``, else the key file; None when neither."""
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env:
        return env
    path = key_file(warehouse)
    if not path.exists():
        return None
    if path.stat().st_mode & 0o077:
        os.chmod(path, PRIVATE_FILE)  # a key restored with a copy's default mode
    return path.read_text().strip() or None


def pseudonym_key(warehouse: Path) -> str:
    """The secret key of the analyst pseudonyms, created on first use.

    From ``$HEDUI_PSEUDONYM_KEY`` when set (deployments), else a random key kept in a 0600 file
    beside the warehouse, created when missing. The key is configuration: never in the
    repository, never in either database file, so an analyst cannot re-identify a person by
    computing the pseudonym of a known 个人编号. Whether a missing key may be created is decided
    by :func:`publishing` (a warehouse that already holds pseudonyms refuses).
    """
    key = find_pseudonym_key(warehouse)
    if key is not None:
        return key
    return _write_key_file(warehouse, secrets.token_hex(32))


def _write_key_file(warehouse: Path, key: str) -> str:
    path = key_file(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key


def _key_check(key: str, *, legacy: bool = False) -> str:
    """A value that tells whether two keys are the same without revealing either."""
    if legacy:  # what releases before the analyst file stored in ``analyst._key_check``
        return hashlib.sha256(("hedui-analyst-key-check|" + key).encode()).hexdigest()
    return hmac.new(key.encode(), b"hedui-pseudonym-key-check", hashlib.sha256).hexdigest()


def _table_in(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ?", [schema, name]).fetchall()[0][0])


def _stored_state(con: duckdb.DuckDBPyConnection) -> tuple[str | None, bool, datetime | None]:
    """``(key_check, is_legacy, analyst_published_at)`` of a warehouse; Nones: no pseudonyms yet."""
    if _table_in(con, "main", "pseudonym_state"):
        row = con.execute("SELECT key_check, analyst_published_at FROM pseudonym_state").fetchone()
        if row:
            return row[0], False, row[1]
    if _table_in(con, "analyst", "_key_check"):
        row = con.execute("SELECT key_check FROM analyst._key_check").fetchone()
        if row:
            return row[0], True, None
    return None, False, None


def _key_problem(warehouse: Path, key: str | None, stored: str | None, legacy: bool) -> str | None:
    """The Chinese message refusing the run, or None when the key may be used."""
    if stored is None:
        return None
    where = (f"环境变量 {PSEUDONYM_KEY_ENV}" if os.environ.get(PSEUDONYM_KEY_ENV)
             else f"密钥文件 {key_file(warehouse)}")
    restore = (f"请把原来的密钥文件恢复到 {key_file(warehouse)}（权限 0600），或把原密钥设置到环境变量 "
               f"{PSEUDONYM_KEY_ENV}，然后重新运行。")
    rekey = ("如确需更换密钥，请在命令后加 --rekey 重新运行：所有 person_key 和 household_key 都会改变，"
             "分析人员以前保存的跨月关联将不再对得上。本次运行没有改动仓库。")
    if key is None:
        return (f"仓库 {warehouse} 已发布过假名化的分析表，但找不到生成这些假名的密钥"
                f"（未设置环境变量 {PSEUDONYM_KEY_ENV}，也没有密钥文件 {key_file(warehouse)}）。"
                + restore + rekey)
    if key_check_differs(key, stored, legacy):
        return (f"仓库 {warehouse} 的假名是用另一个密钥生成的，与现在的密钥（来自{where}）不一致。"
                + restore + rekey)
    return None


def key_check_differs(key: str, stored: str, legacy: bool) -> bool:
    """Whether ``key`` is not the key whose check value ``stored`` is."""
    return not hmac.compare_digest(_key_check(key, legacy=legacy), stored)


def check_pseudonym_key(warehouse: Path | str | None, *, rekey: bool = False) -> None:
    """Refuse early when the published warehouse holds pseudonyms and their key is unavailable.

    Creates nothing and changes nothing; :func:`publishing` checks again under its lock.

    Raises
    ------
    PseudonymKeyError
        The key is missing or differs from the one the published pseudonyms were made with, and
        ``rekey`` is not set.
    """
    target = resolve(warehouse)
    if rekey or not target.exists():
        return
    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error:
        return  # publishing reports an unreadable warehouse
    try:
        stored, legacy, _ = _stored_state(con)
    finally:
        con.close()
    problem = _key_problem(target, find_pseudonym_key(target), stored, legacy)
    if problem:
        raise PseudonymKeyError(problem)


@dataclass
class AnalystRefresh:
    """Which analyst rows a publish must rebuild; both None (the default) rebuilds them all.

    A run that knows what it changed narrows it inside the ``publishing`` block with
    :meth:`only`; the publish still rebuilds everything when the published analyst file does not
    belong to the published warehouse, the key changed or the registry changed.
    """

    folder_periods: list[str] | None = None
    assessed_periods: list[str] | None = None

    def only(self, *, folder_periods: Sequence[str], assessed_periods: Sequence[str]) -> None:
        """Rebuild only these delivery folders' and assessed months' rows (and the full tables)."""
        self.folder_periods = list(folder_periods)
        self.assessed_periods = list(assessed_periods)

    @property
    def narrowed(self) -> bool:
        return self.folder_periods is not None and self.assessed_periods is not None


def _staging(path: Path) -> Path:
    return path.with_name(f".{path.name}.staging")


def _remove_stale_temporaries(path: Path) -> None:
    """Remove working copies left by runs that were killed.

    Called with the publish lock held: no other run is writing, so every copy found is stale.
    Copies of releases before the staging folder lie beside the warehouse.
    """
    for tmp in path.parent.glob(f".{path.name}.*.tmp*"):
        tmp.unlink(missing_ok=True)
    staging = _staging(path)
    if staging.is_dir():
        for tmp in staging.iterdir():
            tmp.unlink(missing_ok=True)


@contextmanager
def _exclusive_lock(path: Path, *, wait_seconds: float) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    fh = os.fdopen(fd, "a+")  # held for the whole publish
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


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def lock_conflict_message(path: Path, exc: BaseException) -> str | None:
    """The operator's message for DuckDB's lock error on ``path``, or None for another error.

    DuckDB names the program and PID of the process that holds the file read-write (an
    analyst's notebook or shell that opened it without ``read_only=True``).
    """
    text = str(exc)
    if "lock" not in text.lower():
        return None
    m = _LOCK_HOLDER.search(text)
    who = f"进程 {m.group('pid')}（{m.group('program')}）" if m else "另一个进程"
    return (f"仓库文件 {path} 正被{who}以读写方式打开，hedui 无法读取或发布。"
            "请关闭该进程中的数据库连接（分析时请用 duckdb.connect(..., read_only=True) 打开），"
            "然后重新运行。")


def check_not_locked(path: Path) -> None:
    """Raise WarehouseError when another process holds ``path`` open read-write.

    Raises
    ------
    WarehouseError
        Saying which process holds the file and what to do (from DuckDB's lock message).
    """
    if not path.exists():
        return
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error as exc:
        message = lock_conflict_message(path, exc)
        raise WarehouseError(message or f"无法打开仓库文件 {path}：{exc}") from None


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables and the decisions store when missing.

    The ``analyst`` schema of releases before the analyst file is dropped: analysts read
    ``<stem>-analyst.duckdb``, and a second copy in the full warehouse would only drift.
    """
    from pipelines.decisions import ensure_decisions_table, to_moment

    for ddl in CONTRACT_DDL:
        con.execute(ddl)
    for table, column, kind in REVIEW_QUEUE_COLUMNS:
        # issue 19's columns beside the contract's, added to warehouses made before them
        con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    ensure_decisions_table(con)
    con.execute(_STATE_DDL)
    to_moment(con, "flags", "decided_at")  # naive UTC before decisions kept moments
    con.execute("DROP SCHEMA IF EXISTS analyst CASCADE")


def make_directory(directory: Path) -> None:
    """Create the warehouse folder and missing parents, 0750 whatever the umask.

    An existing folder is left as it is (it may be shared); one hedui creates lets the analysts'
    group in (to open the analyst file, 0640) and keeps every other account out.
    """
    missing = []
    probe = directory
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    directory.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, WAREHOUSE_DIR_MODE)


def _analyst_in_step(target: Path, previous: datetime | None) -> bool:
    """Whether the published analyst file was built by the publish of the published warehouse."""
    published_at, registry = analyst.published_state(analyst_path(target))
    return (previous is not None and published_at is not None and published_at == previous
            and registry == analyst.registry_version())


@dataclass
class _Publish:
    """The state of one open publish, found from its connection by :func:`declare_periods`."""

    book: str
    store: parts.Store


#: ``id(connection) -> publish`` while a ``publishing`` block is open
_OPEN: dict[int, _Publish] = {}


def _partitioned_in(con: duckdb.DuckDBPyConnection, catalog: str, schema: str = "main") -> list[str]:
    return sorted(r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? "
        "AND table_schema = ?", [catalog, schema]).fetchall() if is_partitioned(r[0]))


def declare_periods(con: duckdb.DuckDBPyConnection, periods: Sequence[str]) -> None:
    """Declare more periods a ``publishing(..., periods=[...])`` block will change.

    Loads the published rows of those periods into the block's partitioned tables (call it
    before deleting or inserting rows of these periods). A block opened with ``periods=None``
    already holds every period.
    """
    state = _OPEN.get(id(con))
    if state is None:
        raise WarehouseError("declare_periods needs the connection of an open publishing block")
    parts.checkout(con, state.book, state.store, _partitioned_in(con, state.book), list(periods))


@contextmanager
def publishing(path: Path | str | None, *, lock_wait_seconds: float = 600.0, rekey: bool = False,
               analyst_refresh: AnalystRefresh | None = None,
               periods: Sequence[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a private copy of the warehouse for writing; publish it and its analyst file atomically.

    Everything written through the yielded connection becomes visible in one step when the
    ``with`` block ends without an exception, together with the analyst database rebuilt from
    it; on any exception (or a kill) both published files are left exactly as they were.

    The big tables (:func:`is_partitioned`) are stored one parquet file per period. Inside the
    block they are ordinary tables holding the published rows of the declared ``periods`` only;
    the publish writes those periods' rows to new files and leaves every other period's files
    as they are. So a block declares every period it changes (``periods=`` or
    :func:`declare_periods`); writing a row of an undeclared period fails the publish.

    Parameters
    ----------
    path
        The published warehouse file; created (empty, with the contract tables) when missing.
    lock_wait_seconds
        How long to wait for another run's publish to finish before giving up.
    rekey
        Publish even though the warehouse holds pseudonyms made with a key that is now missing
        (a new key file is created) or different: every pseudonym changes.
    analyst_refresh
        Which analyst rows the block's writes changed (see :class:`AnalystRefresh`); None
        rebuilds the whole analyst file.
    periods
        The periods whose rows of the partitioned tables the block may change; None (the
        default) loads every period: correct for any block, with a cost that grows with the
        warehouse's history.

    Raises
    ------
    WarehouseError
        The directory or file cannot be written, another run holds the lock too long, or the
        block wrote rows of a period it did not declare.
    PseudonymKeyError
        The warehouse holds pseudonyms, their key is missing or different and ``rekey`` is off.
    """
    target = resolve(path)
    refresh = analyst_refresh if analyst_refresh is not None else AnalystRefresh()
    try:
        make_directory(target.parent)
    except OSError as exc:
        raise WarehouseError(f"cannot create the warehouse directory {target.parent}: {exc}") from exc
    if not os.access(target.parent, os.W_OK):
        raise WarehouseError(f"the warehouse directory {target.parent} is not writable")
    if target.exists() and not os.access(target, os.R_OK):
        raise WarehouseError(f"the warehouse file {target} is not readable")
    with _exclusive_lock(target, wait_seconds=lock_wait_seconds):
        # a copy of a file another process is writing may be torn, and publishing over it
        # would discard that process's writes: refuse, naming the holder
        check_not_locked(target)
        _remove_stale_temporaries(target)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        try:
            staging = private_dir(_staging(target))
        except OSError as exc:
            raise WarehouseError(f"cannot create the staging folder beside {target}: {exc}") from exc
        tmp = staging / f"{target.name}.{token}.tmp"
        analyst_tmp = staging / f"{analyst_path(target).name}.{token}.tmp"
        try:
            if target.exists():
                shutil.copyfile(target, tmp)
            con = duckdb.connect(str(tmp))
        except (OSError, duckdb.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise WarehouseError(f"cannot open a working copy of {target}: {exc}") from exc
        try:
            book = con.sql("SELECT current_database()").fetchall()[0][0]
            store = parts.Store("warehouse", book, "main", parts_dir(target), WAREHOUSE_MODE,
                                PARTS_DIR_MODE)
            analyst_store = parts.Store("analyst", _ANALYST_CATALOG, analyst.SCHEMA,
                                        analyst_parts_dir(target), ANALYST_MODE, ANALYST_PARTS_DIR_MODE)
            parts.ensure_book(con, book)
            parts.collect_garbage(con, book, [store, analyst_store])
            stored, legacy, previous = _stored_state(con)
            key = find_pseudonym_key(target)
            problem = _key_problem(target, key, stored, legacy)
            if problem and not rekey:
                raise PseudonymKeyError(problem)
            # a new key is kept in memory and written only when the publish succeeds: a failed
            # run leaves no key file that the published warehouse does not know
            new_key = secrets.token_hex(32) if key is None else None
            key = key if new_key is None else new_key
            same_key = stored is not None and not key_check_differs(key, stored, legacy)
            try:
                parts.checkout(con, book, store, _partitioned_in(con, book),
                               None if periods is None else list(periods))
            except duckdb.IOException as exc:
                raise WarehouseError(
                    f"仓库 {target} 的分区文件不在 {store.parts_dir}（只复制或移动了仓库文件？"
                    f"请连同 {store.parts_dir.name} 文件夹一起复制或移动）：{exc}") from exc
            ensure_schema(con)
            _OPEN[id(con)] = _Publish(book, store)
            try:
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
            finally:
                _OPEN.pop(id(con), None)
            parts.prepare(store)
            new_files = parts.commit(con, book, store, _partitioned_in(con, book), token=token)
            incremental = (refresh.narrowed and same_key and not legacy
                           and _analyst_in_step(target, previous))
            if incremental:
                shutil.copyfile(analyst_path(target), analyst_tmp)
            published_at = datetime.now(UTC)
            con.execute(f"ATTACH ? AS {_ANALYST_CATALOG}", [str(analyst_tmp)])
            analyst_tables = [t.name for t in analyst.TABLES.values() if t.refresh != "full"]
            if incremental:
                for kind, chosen in (("folder", refresh.folder_periods),
                                     ("assessed", refresh.assessed_periods)):
                    if chosen:
                        parts.checkout(con, book, analyst_store,
                                       [t.name for t in analyst.TABLES.values() if t.refresh == kind],
                                       list(chosen))
            analyst.build(con, _ANALYST_CATALOG, key=key, published_at=published_at,
                          folder_periods=refresh.folder_periods if incremental else None,
                          assessed_periods=refresh.assessed_periods if incremental else None,
                          period_scoped=_partitioned_in(con, book) if incremental else ())
            parts.prepare(analyst_store)
            new_files += parts.commit(con, book, analyst_store, analyst_tables, token=token,
                                      now=published_at)
            # views the run did not check out still name their files as the book does; rebuilt
            # so a moved warehouse folder is repaired by any publish
            parts.rebuild_views(con, book, analyst_store)
            con.execute(f"CHECKPOINT {_ANALYST_CATALOG}")
            con.execute(f"DETACH {_ANALYST_CATALOG}")
            con.execute("DELETE FROM pseudonym_state")
            con.execute("INSERT INTO pseudonym_state VALUES (?, ?)", [_key_check(key), published_at])
            con.execute("CHECKPOINT")
            con.close()
            os.chmod(tmp, WAREHOUSE_MODE)
            os.chmod(analyst_tmp, ANALYST_MODE)
            for written in new_files:
                fsync_path(written)
            for folder in {p.parent for p in new_files}:
                fsync_path(folder)
            fsync_path(tmp)
            fsync_path(analyst_tmp)
            if new_key is not None:
                _write_key_file(target, new_key)
            # the warehouse first: a kill between the renames leaves the analyst file behind
            # (rebuilt whole by the next publish), never ahead of the warehouse
            os.replace(tmp, target)
            os.replace(analyst_tmp, analyst_path(target))
            fsync_path(target.parent)
        except parts.PartitionError as exc:
            _discard(con, tmp, analyst_tmp)
            raise WarehouseError(str(exc)) from exc
        except BaseException:
            _discard(con, tmp, analyst_tmp)
            raise
        try:
            staging.rmdir()
        except OSError:
            pass


def _discard(con: duckdb.DuckDBPyConnection, tmp: Path, analyst_tmp: Path) -> None:
    """Close and delete a failed publish's working copies (its new parquet files are orphans,
    removed by the next publish's garbage collection)."""
    try:
        con.close()
    except duckdb.Error:
        pass
    for leftover in (tmp, analyst_tmp):
        leftover.unlink(missing_ok=True)
        Path(str(leftover) + ".wal").unlink(missing_ok=True)


def connect_readonly(path: Path | str | None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (never blocks a run: runs write a copy)."""
    target = resolve(path)
    if not target.exists():
        raise WarehouseError(f"找不到仓库文件 {target}：请先运行 hedui monthly，或用 --warehouse 指定")
    try:
        return duckdb.connect(str(target), read_only=True)
    except duckdb.Error as exc:
        message = lock_conflict_message(target, exc)
        raise WarehouseError(message or f"无法打开仓库文件 {target}：{exc}") from None


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
