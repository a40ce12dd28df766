"""Where the warehouse lives and how it is opened.

Paths, modes, the publish lock, read-only connections, and the one question every module asks
of a connection: which tables it holds.

DuckDB allows one writer or many readers per file, never both across processes; a run writes a
private copy (:mod:`pipelines.warehouse.publish`), so a reader here never blocks a run. A process
that holds the published file read-write (an analyst's shell opened without ``read_only=True``)
is named in the message :func:`lock_conflict_message` builds.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipelines.fsio import PRIVATE_FILE

DEFAULT_WAREHOUSE = Path("warehouse") / "hedui.duckdb"
#: the full warehouse: staff's account only
WAREHOUSE_MODE = PRIVATE_FILE
#: the analyst database: staff and the analysts' group, never other accounts
ANALYST_MODE = 0o640
#: a warehouse folder hedui creates: the analysts' group may enter it to open the analyst file
WAREHOUSE_DIR_MODE = 0o750
#: the folders of the parquet files: identities, staff only / pseudonyms, the analysts' group
PARTS_DIR_MODE = 0o700
ANALYST_PARTS_DIR_MODE = 0o750


class WarehouseError(RuntimeError):
    """The warehouse file cannot be opened, locked or written."""


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


@contextmanager
def exclusive_lock(path: Path, *, wait_seconds: float) -> Iterator[None]:
    """Hold ``<warehouse>.lock`` exclusively: two runs never publish to one warehouse at once."""
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


def table_names(con: duckdb.DuckDBPyConnection, schema: str = "main",
                catalog: str | None = None) -> frozenset[str]:
    """The tables and views of ``schema`` in ``catalog`` (the connection's database by default).

    Views count: a published warehouse holds its per-period tables as views over parquet files.
    By default the connection's temporary tables count too: they shadow the database's names,
    and a publish holds the per-period tables it writes there (:mod:`pipelines.partitions`).
    """
    rows = con.execute(
        "SELECT DISTINCT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND (table_catalog = coalesce(?, current_database()) "
        "OR (? IS NULL AND table_catalog = 'temp'))", [schema, catalog, catalog]).fetchall()
    return frozenset(r[0] for r in rows)


def table_exists(con: duckdb.DuckDBPyConnection, name: str, schema: str = "main",
                 catalog: str | None = None) -> bool:
    """Whether ``schema.name`` is a table or view of ``catalog`` (default: the connection's).

    By default a temporary table shadowing the database's names counts too (:func:`table_names`).
    """
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
        "AND (table_catalog = coalesce(?, current_database()) "
        "OR (? IS NULL AND table_catalog = 'temp'))", [schema, name, catalog, catalog]
    ).fetchall()[0][0])


def column_names(con: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> list[str]:
    """The columns of ``schema.table`` in the connection's database, in order (empty: no table).

    Those of the temporary table of that name when there is one: it shadows the database's.
    """
    rows = con.execute(
        "SELECT table_catalog = 'temp', column_name FROM information_schema.columns "
        "WHERE table_catalog IN (current_database(), 'temp') AND table_schema = ? "
        "AND table_name = ? ORDER BY 1 DESC, ordinal_position", [schema, table]).fetchall()
    return [name for temp, name in rows if temp == rows[0][0]]

