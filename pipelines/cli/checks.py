"""Checks that need no run, done before Prefect starts.

A named failure so takes well under a second and prints one Chinese line (exit 1 for the
contract's failures, 2 for usage).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipelines.cli.app import _fail

# ---------------------------------------------------------------------------------------------
# checks that need no run: done before Prefect starts, so they fail in well under a second

_PERIOD_SHAPE = re.compile(r"^(\d{4})-(\d{2})$")
_DISTRICT_SHAPE = re.compile(r"^\d{6}$")


def check_period(text: str) -> str:
    """``text`` stripped when it is a month ``YYYY-MM``; else exit 2 saying what is wrong."""
    value = text.strip()
    m = _PERIOD_SHAPE.match(value)
    if not m:
        _fail(f"--period {text!r} 不是 YYYY-MM 格式的月份（例如 2026-10）", code=2)
    if not 1 <= int(m.group(2)) <= 12:
        _fail(f"--period {value}：月份 {m.group(2)} 超出范围，应为 01–12", code=2)
    return value


def check_quarter(text: str) -> str:
    """``text`` as ``YYYYQn`` (upper case); else exit 2 saying what is wrong."""
    from pipelines.periods import quarter_months

    value = text.strip().upper()
    try:
        quarter_months(value)
    except ValueError:
        m = re.match(r"^\d{4}Q(\d+)$", value)
        if m:
            _fail(f"--quarter {value}：季度 {m.group(1)} 超出范围，应为 1–4", code=2)
        _fail(f"--quarter {text!r} 不是 YYYYQn 格式的季度（例如 2026Q3）", code=2)
    return value


def _register_file(folder: Path) -> Path | None:
    from pipelines.sources import source_of

    found = sorted(p for p in folder.iterdir() if p.is_file() and source_of(p) == "register")
    return found[0] if found else None


def check_incoming(incoming: Path, months: Sequence[str]) -> None:
    """The --incoming folder and the folders (and register) of the months being checked exist.

    Exit 1 naming what is missing: the contract's failures, found before anything is loaded.
    """
    if not incoming.is_dir():
        what = "不是文件夹" if incoming.exists() else "不存在"
        _fail(f"--incoming {incoming} {what}：请给出存放各月文件夹（YYYY-MM/）的目录")
    for m in months:
        folder = incoming / m
        if not folder.is_dir():
            _fail(f"缺少所查月份的文件夹 {folder}：{m} 的数据尚未交付，本次不运行，仓库未改动")
        if _register_file(folder) is None:
            _fail(f"{folder} 中没有 register.csv（户籍/低保登记册）：无法核对 {m}，仓库未改动")


def _writable_dir(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (or its nearest existing ancestor)."""
    probe_dir = folder
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        return f"{probe_dir} 不是文件夹"
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".hedui-probe-"):
            pass
    except OSError as exc:
        return f"{probe_dir} 不可写（{exc.strerror or exc}）"
    return None


def check_warehouse_writable(target: Path) -> None:
    """The warehouse can be written: its folder is writable and no process holds the file.

    Exit 1 naming the folder, or the process that holds the file read-write and what to do.
    """
    from pipelines import warehouse as wh

    problem = _writable_dir(target.parent)
    if problem:
        _fail(f"无法写入仓库：{problem}。请用 --warehouse 指定可写的位置，或请管理员开放写权限")
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        _fail(f"无法写入仓库：没有读写 {target} 的权限")
    try:
        wh.check_not_locked(target)
    except wh.WarehouseError as exc:
        _fail(str(exc))


def check_warehouse_readable(target: Path) -> None:
    """The warehouse exists and no process holds it read-write; else exit 1 saying so."""
    from pipelines import warehouse as wh

    if not target.is_file():
        _fail(f"仓库文件 {target} 不存在：请先运行 hedui monthly，或用 --warehouse 指定仓库文件")
    try:
        wh.check_not_locked(target)
    except wh.WarehouseError as exc:
        _fail(str(exc))


def _register_districts(register: Path) -> set[str]:
    from pipelines.land import land_file
    from pipelines.sources import spec

    landed = land_file(register, spec=spec("register"))
    if landed.frame is None or "区县代码" not in landed.frame.columns:
        return set()
    return {d.strip() for d in landed.frame["区县代码"].drop_nulls().to_list() if d.strip()}


def check_districts(districts: Sequence[str], *, incoming: Path, period: str,
                    rules: Path | None = None) -> list[str]:
    """Refuse district codes before anything is loaded.

    A code that is not six digits, or that is neither on P's register nor in the rulebook's
    standards, is a typo: exit 2. A code on P's register without a 低保标准 in force at the end
    of P is the contract's failure "a district in scope without a standard": exit 1, naming it.
    A code with a standard but no household on the register is accepted (nothing to flag).
    """
    from pipelines.periods import month_end
    from pipelines.rulebook import RulebookError, load_rulebook, parameters_folder

    codes = sorted({d.strip() for d in districts})
    bad = [d for d in codes if not _DISTRICT_SHAPE.match(d)]
    if bad:
        _fail(f"--district {', '.join(bad)} 不是 6 位数字的区县代码", code=2)
    try:
        with_standard = load_rulebook(parameters_folder(rules) if rules is not None else None
                                      ).at(month_end(period)).districts
    except RulebookError as exc:
        _fail(f"规则库无法读取：{exc}")
    lacking = [d for d in codes if d not in with_standard]
    if not lacking:
        return codes
    register = _register_file(incoming / period)
    on_register = _register_districts(register) if register is not None else set()
    unknown = [d for d in lacking if d not in on_register]
    if unknown:
        _fail(f"未知的区县代码 {', '.join(unknown)}：{period} 的登记册上没有该区县，规则库中也没有它的"
              f"低保标准。请检查 --district（登记册上的区县：{', '.join(sorted(on_register)) or '无'}）",
              code=2)
    _fail(f"区县 {', '.join(lacking)} 在 {period} 月末没有生效的低保标准（dibao_standard）："
          "请在 rules/parameters/ 中补充后再运行，仓库未改动")
    raise AssertionError("unreachable")



def check_dask(value: str | None):
    """``--dask`` parsed (``tcp://host:port`` or ``local:N``); else exit 2 saying what is wrong."""
    if value is None:
        return None
    from pipelines import cluster

    try:
        return cluster.parse_target(value)
    except ValueError as exc:
        _fail(str(exc), code=2)
    raise AssertionError("unreachable")

