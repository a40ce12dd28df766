"""The pseudonym key: where it is kept, and the warehouse's check value of it.

The pseudonym key lives outside both database files (``$HEDUI_PSEUDONYM_KEY`` or
``<warehouse>.key``); the warehouse keeps only a check value (table ``pseudonym_state``), so a
run can refuse to publish pseudonyms made with a lost or different key
(:class:`PseudonymKeyError`) unless it is told to re-key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.fsio import PRIVATE_FILE
from pipelines.warehouse.connection import WarehouseError, resolve, table_exists

PSEUDONYM_KEY_ENV = "HEDUI_PSEUDONYM_KEY"


class PseudonymKeyError(WarehouseError):
    """The warehouse holds pseudonyms and the key they were made with is missing or different."""



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


def _stored_state(con: duckdb.DuckDBPyConnection) -> tuple[str | None, bool, datetime | None]:
    """``(key_check, is_legacy, analyst_published_at)`` of a warehouse; Nones: no pseudonyms yet."""
    if table_exists(con, "pseudonym_state"):
        row = con.execute("SELECT key_check, analyst_published_at FROM pseudonym_state").fetchone()
        if row:
            return row[0], False, row[1]
    if table_exists(con, "_key_check", "analyst"):
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

