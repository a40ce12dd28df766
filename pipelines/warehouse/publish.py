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

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import analyst, partitions_gc
from pipelines import partitions as parts
from pipelines.fsio import fsync_path, private_dir
from pipelines.warehouse.connection import (
    ANALYST_MODE,
    ANALYST_PARTS_DIR_MODE,
    PARTS_DIR_MODE,
    WAREHOUSE_MODE,
    WarehouseError,
    analyst_parts_dir,
    analyst_path,
    check_not_locked,
    exclusive_lock,
    make_directory,
    parts_dir,
    resolve,
    table_names,
)
from pipelines.warehouse.ddl import ensure_schema
from pipelines.warehouse.keys import (
    PseudonymKeyError,
    _key_check,
    _key_problem,
    _stored_state,
    _write_key_file,
    find_pseudonym_key,
    key_check_differs,
)
from pipelines.warehouse.tables import is_partitioned

#: name under which the analyst working copy is attached while it is built
_ANALYST_CATALOG = "hedui_analyst_build"
#: an in-memory catalog holding the analyst's per-period tables while they are built (written
#: to parquet from there, never into the analyst file)
_ANALYST_WORK = "hedui_analyst_work"


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
        """Whether :meth:`only` narrowed the refresh."""
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
            # DuckDB's spill folder of a killed run is a directory
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


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


#: DuckDB's memory for a publish (``HEDUI_PUBLISH_MEMORY`` overrides it). The tables a publish
#: writes are held in memory, not in the warehouse copy (written there at COMMIT only to be
#: dropped when they turn back into views); past this limit DuckDB spills them to the staging
#: folder instead of growing. At 100,000 households 1.5 GB held the publish at 2.3 GiB peak
#: RSS (5.5 GiB unbounded) for 115 CPU s (95 unbounded; 137 with the copy): benchmarks/README.md
DEFAULT_PUBLISH_MEMORY = "1.5GB"
#: the share of the machine's memory a publish that did not fit the default tries again with:
#: what DuckDB cannot spill (results read into Python, COPY buffers) grows with a folder's rows,
#: and at 1M persons 1.5 GB was too little (benchmarks/README.md)
RETRY_SHARE = 0.6
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class PublishOutOfMemory(WarehouseError):
    """A publish ran out of DuckDB memory; nothing was published (it may be tried with more)."""


def memory_limit() -> str:
    """DuckDB's ``memory_limit`` for a publish: ``HEDUI_PUBLISH_MEMORY`` or the default.

    Raises
    ------
    WarehouseError
        The setting is not a size such as ``1.5GB`` or ``800MiB``.
    """
    value = os.environ.get("HEDUI_PUBLISH_MEMORY", "").strip() or DEFAULT_PUBLISH_MEMORY
    if not _MEMORY.fullmatch(value):
        raise WarehouseError(f"HEDUI_PUBLISH_MEMORY={value!r} 不是内存大小（例如 1.5GB、800MiB）")
    return value


def memory_limits() -> list[str]:
    """The limits a run's publish tries in turn: the setting alone, or the default then more.

    With ``HEDUI_PUBLISH_MEMORY`` set, only that (the operator chose it). Otherwise
    :data:`DEFAULT_PUBLISH_MEMORY`, then :data:`RETRY_SHARE` of the machine's memory when that
    is more: a city publishes in little memory, a province's publish gets what it needs. A
    failed attempt leaves the warehouse as it was, so trying again is safe.
    """
    first = memory_limit()
    if os.environ.get("HEDUI_PUBLISH_MEMORY", "").strip():
        return [first]
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return [first]
    more = int(total * RETRY_SHARE) // 2**20
    return [first, f"{more}MiB"] if more > 1536 else [first]


#: where a publish holds the warehouse's per-period tables it writes (in memory)
_WORK_CATALOG = "temp"


def _partitioned_in(con: duckdb.DuckDBPyConnection, catalog: str, schema: str = "main") -> list[str]:
    names = table_names(con, schema, catalog)
    if schema == "main":
        names |= table_names(con, schema, _WORK_CATALOG)
    return sorted(t for t in names if is_partitioned(t))


def work_catalog(con: duckdb.DuckDBPyConnection) -> str | None:
    """The catalog where an open publish on ``con`` holds new per-period tables (None: no publish)."""
    return _WORK_CATALOG if id(con) in _OPEN else None


def declare_periods(con: duckdb.DuckDBPyConnection, periods: Sequence[str],
                    tables: Callable[[str], bool] | None = None) -> None:
    """Declare more periods a ``publishing(..., periods=[...])`` block will change.

    Loads the published rows of those periods into the block's partitioned tables (call it
    before deleting or inserting rows of these periods). A block opened with ``periods=None``
    already holds every period.

    Parameters
    ----------
    periods
        The periods to load.
    tables
        Which partitioned tables to load them into (a test on the table's name); None: all. A
        table of the block holds only its declared periods, so a block that reads a period of
        a table inside the block declares it for that table too.
    """
    state = _OPEN.get(id(con))
    if state is None:
        raise WarehouseError("declare_periods needs the connection of an open publishing block")
    chosen = [t for t in _partitioned_in(con, state.book) if tables is None or tables(t)]
    parts.checkout(con, state.book, state.store, chosen, list(periods))


def period_rows(con: duckdb.DuckDBPyConnection, table: str, periods: Sequence[str]) -> str:
    """SQL selecting a partitioned table's rows of ``periods`` inside a publishing block.

    A period the block declared for ``table`` is read from the block's table (with this run's
    changes); any other from its published file, without loading it into the block (the run
    reads it, never writes it: e.g. the review queue over the window's ``links``).
    """
    state = _OPEN.get(id(con))
    if state is None:
        raise WarehouseError("period_rows needs the connection of an open publishing block")
    # not checked out: the name is the published view (or a table new in this block), whole
    declared = state.store.checked_out.get(table, None)
    held = parts.published(con, state.book, state.store).get(table, {})
    inside = list(periods) if declared is None else [p for p in periods if p in declared]
    files = [str(state.store.parts_dir / held[p]) for p in periods
             if p not in inside and p in held]
    literal = ", ".join("'" + p.replace("'", "''") + "'" for p in inside)
    parts_sql = [f"SELECT * FROM {table} WHERE period IN ({literal})"] if inside else []
    if files:
        # the block's column types; a file written before a column was added reads it as null
        columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
        parts_sql.append(parts.view_select(con, columns, [Path(f) for f in files]))
    return " UNION ALL BY NAME ".join(parts_sql) or f"SELECT * FROM {table} WHERE false"


@contextmanager
def publishing(path: Path | str | None, *, lock_wait_seconds: float = 600.0, rekey: bool = False,
               analyst_refresh: AnalystRefresh | None = None,
               periods: Sequence[str] | None = None,
               memory: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
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
    memory
        DuckDB's ``memory_limit`` for the publish (``"4GB"``); None: :func:`memory_limit`.

    Raises
    ------
    WarehouseError
        The directory or file cannot be written, another run holds the lock too long, or the
        block wrote rows of a period it did not declare.
    PseudonymKeyError
        The warehouse holds pseudonyms, their key is missing or different and ``rekey`` is off.
    """
    target = resolve(path)
    limit = memory or memory_limit()
    refresh = analyst_refresh if analyst_refresh is not None else AnalystRefresh()
    try:
        make_directory(target.parent)
    except OSError as exc:
        raise WarehouseError(f"无法创建仓库目录 {target.parent}：{exc}") from exc
    if not os.access(target.parent, os.W_OK):
        raise WarehouseError(f"仓库目录 {target.parent} 不可写")
    if target.exists() and not os.access(target, os.R_OK):
        raise WarehouseError(f"仓库文件 {target} 不可读")
    with exclusive_lock(target, wait_seconds=lock_wait_seconds):
        # a copy of a file another process is writing may be torn, and publishing over it
        # would discard that process's writes: refuse, naming the holder
        check_not_locked(target)
        _remove_stale_temporaries(target)
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        try:
            staging = private_dir(_staging(target))
        except OSError as exc:
            raise WarehouseError(f"无法在 {target} 旁创建暂存目录：{exc}") from exc
        tmp = staging / f"{target.name}.{token}.tmp"
        analyst_tmp = staging / f"{analyst_path(target).name}.{token}.tmp"
        try:
            if target.exists():
                shutil.copyfile(target, tmp)
            con = duckdb.connect(str(tmp), config={"memory_limit": limit})
        except (OSError, duckdb.Error) as exc:
            tmp.unlink(missing_ok=True)
            raise WarehouseError(f"无法打开 {target} 的工作副本：{exc}") from exc
        try:
            book = con.sql("SELECT current_database()").fetchall()[0][0]
            store = parts.Store("warehouse", book, "main", parts_dir(target), WAREHOUSE_MODE,
                                PARTS_DIR_MODE, work_catalog=_WORK_CATALOG)
            analyst_store = parts.Store("analyst", _ANALYST_CATALOG, analyst.SCHEMA,
                                        analyst_parts_dir(target), ANALYST_MODE, ANALYST_PARTS_DIR_MODE,
                                        work_catalog=_ANALYST_WORK)
            parts.ensure_book(con, book)
            partitions_gc.collect_garbage(con, book, [store, analyst_store])
            stored, legacy, previous = _stored_state(con)
            key = find_pseudonym_key(target)
            problem = _key_problem(target, key, stored, legacy)
            if problem and not rekey:
                raise PseudonymKeyError(problem)
            # a new key is kept in memory and written only when the publish succeeds: a failed
            # run leaves no key file that the published warehouse does not know
            new_key: str | None = None
            if key is None:
                key = new_key = secrets.token_hex(32)
            same_key = stored is not None and not key_check_differs(key, stored, legacy)
            try:
                parts.checkout(con, book, store, _partitioned_in(con, book),
                               None if periods is None else list(periods))
            except duckdb.IOException as exc:
                raise WarehouseError(
                    f"仓库 {target} 的分区文件不在 {store.parts_dir}（只复制或移动了仓库文件？"
                    f"请连同 {store.parts_dir.name} 文件夹一起复制或移动）：{exc}") from exc
            ensure_schema(con)
            parts.hold_in_work(con, store, _partitioned_in(con, book))
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
            con.execute(f"ATTACH ':memory:' AS {_ANALYST_WORK}")
            con.execute(f"CREATE SCHEMA {_ANALYST_WORK}.{analyst.SCHEMA}")
            analyst_tables = [t.name for t in analyst.TABLES.values() if t.refresh != "full"]
            if incremental:
                for kind, chosen in (("folder", refresh.folder_periods),
                                     ("assessed", refresh.assessed_periods)):
                    if chosen:
                        parts.checkout(con, book, analyst_store,
                                       [t.name for t in analyst.TABLES.values() if t.refresh == kind],
                                       list(chosen))
            analyst.build(con, _ANALYST_CATALOG, work=_ANALYST_WORK, key=key,
                          published_at=published_at,
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
            con.execute(f"DETACH {_ANALYST_WORK}")
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
        except duckdb.OutOfMemoryException as exc:
            _discard(con, tmp, analyst_tmp)
            raise PublishOutOfMemory(
                f"发布时内存不足（HEDUI_PUBLISH_MEMORY={limit}）：仓库未改动。请调大 "
                f"HEDUI_PUBLISH_MEMORY（例如 4GB）后重新运行：{exc}") from exc
        except BaseException:
            _discard(con, tmp, analyst_tmp)
            raise
        try:
            staging.rmdir()
        except OSError:
            pass


def _discard(con: duckdb.DuckDBPyConnection, tmp: Path, analyst_tmp: Path) -> None:
    """Close and delete a failed publish's working copies.

    Its new parquet files are orphans, removed by the next publish's garbage collection.
    """
    try:
        con.close()
    except duckdb.Error:
        pass
    for leftover in (tmp, analyst_tmp):
        leftover.unlink(missing_ok=True)
        Path(str(leftover) + ".wal").unlink(missing_ok=True)
