"""Per-period partitions: big tables stored as one parquet file per period behind a small catalog.

A DuckDB *catalog* file (the warehouse, or the analyst file) keeps its small tables as ordinary
tables and each partitioned table as a **view** over parquet files, one per period, named by
absolute path (a view never depends on the reader's working directory or a Python variable).
Which file holds which period is recorded in a bookkeeping table (:data:`PARTS_TABLE`) of a
*book* catalog (the warehouse): ``(store, table_schema, table_name, period, file, row_count)``,
with ``file`` relative to the store's parts folder, so the views can be rebuilt from it.

A publish works on a private copy of the catalog (small: it holds no partitioned rows):

1. :func:`checkout` turns each partitioned view of the copy into a real table holding only the
   published rows of the periods the run declares it may change (all periods when it declares
   none), so the run's ``DELETE … WHERE period = ?`` / ``INSERT`` statements work unchanged;
2. the run writes;
3. :func:`commit` writes every changed period of every partitioned table to a **new** parquet
   file (never over a published one), records the files in the book, retires the files they
   replace, and turns the table back into a view over the table's current files. A checked-out
   period whose rows are unchanged (same count and row-hash fingerprint) keeps its file, so a
   run may check out the months it reads (its window) and pays writes only for those it changes.

Nothing is visible until the caller renames the catalog copy over the published catalog: a run
killed before that leaves only unreferenced new files, removed by :func:`collect_garbage` at the
next publish. A reader that opened the previous catalog still reads the previous files: retired
files are kept :data:`pipelines.partitions_gc.RETIRED_KEEP` before they are deleted.

A run's cost is thus set by the rows of the periods it writes (plus the small tables), not by
how many periods the warehouse holds.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

#: bookkeeping: which parquet file holds which period of which partitioned table
PARTS_TABLE = "_hedui_partitions"
#: files a publish stopped referencing, kept a while for readers of the previous catalog
RETIRED_TABLE = "_hedui_retired_partitions"

_BOOK_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {PARTS_TABLE} (
        store VARCHAR NOT NULL, table_schema VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
        period VARCHAR NOT NULL, file VARCHAR NOT NULL, row_count BIGINT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {RETIRED_TABLE} (
        store VARCHAR NOT NULL, file VARCHAR NOT NULL, retired_at TIMESTAMPTZ NOT NULL)""",
)


class PartitionError(RuntimeError):
    """A run wrote rows its publish did not declare, or a partition file cannot be written."""


@dataclass
class Store:
    """One catalog's partitioned tables.

    Attributes
    ----------
    name
        The store's name in the book (``"warehouse"``, ``"analyst"``).
    catalog
        The DuckDB catalog (as attached in the connection) holding the tables and views.
    schema
        The schema of the partitioned tables in ``catalog``.
    parts_dir
        Absolute folder of the parquet files.
    file_mode, dir_mode
        Permission bits of the files and of ``parts_dir`` and its table folders.
    """

    name: str
    catalog: str
    schema: str
    parts_dir: Path
    file_mode: int
    dir_mode: int
    #: ``table -> periods`` checked out by :func:`checkout` (None: every period)
    checked_out: dict[str, list[str] | None] = field(default_factory=dict)
    #: ``table -> {period: fingerprint}`` of the rows checked out, to skip unchanged periods
    fingerprints: dict[str, dict[str, tuple]] = field(default_factory=dict)
    #: the catalog holding the checked-out tables while the run writes (``"temp"``: in memory,
    #: shadowing the catalog's names); None: in ``catalog`` itself. Rows put in a catalog file
    #: are compressed and written to it at the transaction's commit, only to be dropped when the
    #: table turns back into a view: paid twice for nothing
    work_catalog: str | None = None


def ensure_book(con: duckdb.DuckDBPyConnection, book: str) -> None:
    """Create the bookkeeping tables in catalog ``book`` when missing."""
    for ddl in _BOOK_DDL:
        con.execute(ddl.replace("EXISTS ", f"EXISTS {_q(book)}.main.", 1))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """The single number a ``SELECT count(*) …`` returns."""
    row = con.execute(sql).fetchone()
    assert row is not None  # count(*) always returns one row
    return int(row[0])


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _qualified(store: Store, table: str) -> str:
    return f"{_q(store.catalog)}.{_q(store.schema)}.{_q(table)}"


def _work_name(store: Store, table: str) -> str:
    """Where the checked-out table ``table`` is held while the run writes."""
    return f"{_q(store.work_catalog or store.catalog)}.{_q(store.schema)}.{_q(table)}"


def _create(store: Store) -> str:
    return "CREATE TEMP TABLE" if store.work_catalog == "temp" else "CREATE TABLE"


def _work_tables(con: duckdb.DuckDBPyConnection, store: Store) -> set[str]:
    """Tables of the store held in its work catalog (none when it has no work catalog)."""
    if store.work_catalog is None:
        return set()
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? "
        "AND table_schema = ?", [store.work_catalog, store.schema]).fetchall()}


def published(con: duckdb.DuckDBPyConnection, book: str, store: Store) -> dict[str, dict[str, str]]:
    """``table -> {period: file}`` of the store's published partitions (files relative)."""
    out: dict[str, dict[str, str]] = {}
    for table, period, file in con.execute(
            f"SELECT table_name, period, file FROM {_q(book)}.main.{PARTS_TABLE} "
            "WHERE store = ? AND table_schema = ? ORDER BY table_name, period",
            [store.name, store.schema]).fetchall():
        out.setdefault(table, {})[period] = file
    return out


def _objects(con: duckdb.DuckDBPyConnection, store: Store) -> dict[str, str]:
    """``name -> 'BASE TABLE' | 'VIEW'`` in the store's schema."""
    return dict(con.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema = ?", [store.catalog, store.schema]).fetchall())


def _columns(con: duckdb.DuckDBPyConnection, store: Store, table: str,
             catalog: str | None = None) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? "
        "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [catalog or store.catalog, store.schema, table]).fetchall()]


def checkout(con: duckdb.DuckDBPyConnection, book: str, store: Store, tables: Iterable[str],
             periods: Sequence[str] | None) -> None:
    """Turn the partitioned views ``tables`` into real tables holding the rows of ``periods``.

    Only tables that are partitioned views in the store are touched; a table a run does not
    check out stays a view over the published files and is carried over unchanged.

    Parameters
    ----------
    periods
        The periods whose rows the run may change; None loads every period (the table's whole
        history: correct for any write, and as slow as the history is long).
    """
    parts = published(con, book, store)
    objects = _objects(con, store)
    work = _work_tables(con, store)
    for table in tables:
        name = _work_name(store, table)
        held = parts.get(table, {})
        if objects.get(table) == "VIEW":
            wanted = list(held) if periods is None else [p for p in periods if p in held]
            # the view's stored column types, not a bind of it: after a folder move its files
            # are elsewhere, and the publish that repairs the paths must still run
            columns = _columns(con, store, table)
            con.execute(f"DROP VIEW {_qualified(store, table)}")
            con.execute(f"{_create(store)} {name} (" + ", ".join(f"{_q(c)} {t}" for c, t in columns) + ")")
            store.checked_out[table] = None if periods is None else list(periods)
        elif ((table in work or objects.get(table) == "BASE TABLE")
              and store.checked_out.get(table, None) is not None):
            # a second declaration adds periods to a table already checked out
            declared = store.checked_out[table]
            assert declared is not None
            extra = list(held) if periods is None else list(periods)
            wanted = [p for p in extra if p not in declared and p in held]
            store.checked_out[table] = None if periods is None else declared + [
                p for p in periods if p not in declared]
        else:
            continue
        files = [str(store.parts_dir / held[p]) for p in wanted]
        if files:
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM read_parquet(?, union_by_name=true)",
                        [files])
            store.fingerprints.setdefault(table, {}).update(_fingerprints(con, name, wanted))


def _fingerprints(con: duckdb.DuckDBPyConnection, name: str, periods: Sequence[str]) -> dict[str, tuple]:
    """``period -> (rows, xor and sum of row hashes)``: equal when a period's rows are unchanged."""
    if not periods:
        return {}
    return {r[0]: tuple(r[1:]) for r in con.execute(
        f"SELECT period, count(*), bit_xor(hash(t)), sum(hash(t)::HUGEINT) FROM {name} t "
        "WHERE list_contains(?, period) GROUP BY period", [list(periods)]).fetchall()}


def partitionable(con: duckdb.DuckDBPyConnection, store: Store, table: str,
                  catalog: str | None = None) -> bool:
    """Whether a real table can be stored by period: it has a ``period`` column and no null in it."""
    if "period" not in {c for c, _ in _columns(con, store, table, catalog)}:
        return False
    where = f"{_q(catalog or store.catalog)}.{_q(store.schema)}.{_q(table)}"
    return _count(con, f"SELECT count(*) FROM {where} WHERE period IS NULL") == 0


def hold_in_work(con: duckdb.DuckDBPyConnection, store: Store, tables: Iterable[str]) -> None:
    """Move the store's empty real tables ``tables`` into its work catalog.

    Call after the run's DDL: a table it created (a new warehouse) then takes its rows in the
    work catalog like a checked-out one; one it re-created beside a checked-out table of the
    same name (``CREATE TABLE IF NOT EXISTS`` does not see the work catalog) is dropped. A
    table holding rows (an ordinary table of an older warehouse) stays where it is.
    """
    if store.work_catalog is None:
        return
    objects = _objects(con, store)
    work = _work_tables(con, store)
    for table in tables:
        if objects.get(table) != "BASE TABLE":
            continue
        name = _qualified(store, table)
        if _count(con, f"SELECT count(*) FROM (SELECT 1 FROM {name} LIMIT 1)"):
            continue
        if table not in work:
            columns = _columns(con, store, table)
            con.execute(f"{_create(store)} {_work_name(store, table)} ("
                        + ", ".join(f"{_q(c)} {t}" for c, t in columns) + ")")
        con.execute(f"DROP TABLE {name}")


def commit(con: duckdb.DuckDBPyConnection, book: str, store: Store, tables: Iterable[str], *,
           token: str, now: datetime | None = None) -> list[Path]:
    """Write the replaced periods of the real tables ``tables`` to new files and make them views.

    A table that was checked out for some periods replaces those periods only; a table that was
    not (new, or an ordinary table of an older warehouse) replaces every period. A table that
    cannot be partitioned (no ``period`` column, or null periods) stays an ordinary table.

    Returns
    -------
    list of Path
        The new files (to be fsynced before the catalog is published).

    Raises
    ------
    PartitionError
        A checked-out table holds rows of a period the run did not declare: publishing would
        silently drop them.
    """
    now = now or datetime.now(UTC)
    parts = published(con, book, store)
    objects = _objects(con, store)
    work = _work_tables(con, store)
    written: list[Path] = []
    for table in tables:
        held = store.work_catalog if table in work else None
        if held is None and objects.get(table) != "BASE TABLE":
            continue
        if not partitionable(con, store, table, held):
            if table in store.checked_out:
                # its published periods are files: a null period has no file to go to
                raise PartitionError(f"the run wrote rows of {table} without a period")
            if held is not None:
                # an ordinary table after all: back into the catalog, or it is lost
                con.execute(f"CREATE TABLE {_qualified(store, table)} AS "
                            f"SELECT * FROM {_work_name(store, table)}")
                con.execute(f"DROP TABLE {_work_name(store, table)}")
            continue
        name = _work_name(store, table) if held is not None else _qualified(store, table)
        present = [r[0] for r in con.execute(f"SELECT DISTINCT period FROM {name} ORDER BY 1").fetchall()]
        old = parts.get(table, {})
        declared = store.checked_out.get(table, None)
        if table in store.checked_out and declared is not None:
            stray = sorted(set(present) - set(declared))
            if stray:
                raise PartitionError(
                    f"the run wrote rows of {table} for periods it did not declare: {stray}")
            replaced = set(declared)
        else:
            replaced = set(old) | set(present)
        folder = store.parts_dir / f"{store.schema}.{table}"
        _make_dir(folder, store.dir_mode)
        # a checked-out period whose rows the run left exactly as they were keeps its file
        before = store.fingerprints.get(table, {})
        after = _fingerprints(con, name, [p for p in present if p in before])
        unchanged = {p for p in after if after[p] == before[p] and p in old}
        replaced -= unchanged
        new: dict[str, tuple[str, int]] = {}
        for period in present:
            if period not in replaced:
                continue
            rel = f"{store.schema}.{table}/{_file_stem(period)}-{token}.parquet"
            path = store.parts_dir / rel
            con.execute(f"COPY (SELECT * FROM {name} WHERE period = {_lit(period)}) "
                        f"TO {_lit(str(path))} (FORMAT parquet)")
            os.chmod(path, store.file_mode)
            counted = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
            assert counted is not None  # count(*) always returns one row
            rows = counted[0]
            new[period] = (rel, rows)
            written.append(path)
        gone = [old[p] for p in replaced if p in old]
        con.execute(f"DELETE FROM {_q(book)}.main.{PARTS_TABLE} WHERE store = ? AND table_schema = ? "
                    "AND table_name = ? AND list_contains(?, period)",
                    [store.name, store.schema, table, sorted(replaced)])
        for period, (rel, rows) in new.items():
            con.execute(f"INSERT INTO {_q(book)}.main.{PARTS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                        [store.name, store.schema, table, period, rel, rows])
        for rel in gone:
            con.execute(f"INSERT INTO {_q(book)}.main.{RETIRED_TABLE} VALUES (?, ?, ?)",
                        [store.name, rel, now])
        columns = _columns(con, store, table, held)
        con.execute(f"DROP TABLE {name}")
        files = {**{p: f for p, f in old.items() if p not in replaced},
                 **{p: rel for p, (rel, _) in new.items()}}
        con.execute(f"CREATE VIEW {_qualified(store, table)} AS "
                    + view_select(con, columns, [store.parts_dir / files[p] for p in sorted(files)]))
        store.checked_out.pop(table, None)
        store.fingerprints.pop(table, None)
    return written


def rebuild_views(con: duckdb.DuckDBPyConnection, book: str, store: Store) -> None:
    """Re-create every partitioned view of the store from the book (e.g. after a folder move)."""
    objects = _objects(con, store)
    for table, files in published(con, book, store).items():
        if objects.get(table) != "VIEW":
            continue
        name = _qualified(store, table)
        columns = _columns(con, store, table)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS "
                    + view_select(con, columns, [store.parts_dir / files[p] for p in sorted(files)]))


def view_select(con: duckdb.DuckDBPyConnection, columns: Sequence[tuple[str, str]],
                 files: Sequence[Path]) -> str:
    """The view's select: every column with its declared type, over the files (none: no rows)."""
    if not files:
        return "SELECT " + ", ".join(f"NULL::{t} AS {_q(c)}" for c, t in columns) + " WHERE false"
    listed = "[" + ", ".join(_lit(str(f)) for f in files) + "]"
    source = f"read_parquet({listed}, union_by_name=true)"
    have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    # files written before a column was added lack it: union_by_name fills nulls, and a column
    # no file has yet (added by a run that wrote no rows) is a typed null
    select = ", ".join(f"CAST({_q(c)} AS {t}) AS {_q(c)}" if c in have else f"NULL::{t} AS {_q(c)}"
                       for c, t in columns)
    return f"SELECT {select} FROM {source}"


def _file_stem(period: str) -> str:
    safe = re.sub(r"[^0-9A-Za-z_-]", "_", period)[:40]
    return f"{safe}-{hashlib.sha256(period.encode()).hexdigest()[:6]}"


def _make_dir(folder: Path, mode: int) -> None:
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
    if (folder.stat().st_mode & 0o777) != mode:
        os.chmod(folder, mode)


def prepare(store: Store) -> None:
    """Create the store's parts folder with its mode (tightening an existing one)."""
    _make_dir(store.parts_dir, store.dir_mode)
