"""Dated values in a rules YAML file (``rules/matching.yaml``, ``rules/decisions.yaml``).

Like the parameter files of ``rules/parameters/``, any value of these files may be given as a
mapping from the day it takes effect to the value::

    thresholds:
      match_probability:
        0001-01-01: 0.95
        2027-01-01: 0.96     # from 1 January 2027

A mapping whose keys are all dates is such a dated value; it resolves to the value of its latest
date on or before the day asked (a run of P asks for the last day of P, as the rulebook does), so
re-running an old month uses that month's values. A plain value is valid on every day. A mapping
that mixes dates with names, a date that is not a calendar day, or a day before every date of a
value is refused with a Chinese message naming the file and the key.

:func:`resolve_file` returns the resolved tree and the latest change in force (``None`` when the
values in force are each value's first one), which the loaders add to their version so that two
days with different values never share a version, and a file without dated changes keeps its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DatedFileError(ValueError):
    """A rules file's dated value is malformed or has no value in force (message in Chinese)."""


@dataclass(frozen=True)
class Resolved:
    """A rules file resolved on one day.

    Attributes
    ----------
    tree : Any
        The file's content with every dated value replaced by the value in force.
    day : date
        The day it was resolved on.
    changed_on : date or None
        The latest effective date in force that is not a value's first date (a change from the
        file's starting values); None when every value in force is its first one.
    """

    tree: Any
    day: date
    changed_on: date | None

    def version(self, base: str) -> str:
        """``base`` when no dated change is in force, else ``base@<latest change>``."""
        return base if self.changed_on is None else f"{base}@{self.changed_on.isoformat()}"


def _as_day(key: Any, file: Path, where: str) -> date | None:
    """A mapping key as a date (None when it is a name), refusing a date-like non-day."""
    if isinstance(key, date):
        return key
    if isinstance(key, str) and _DAY.match(key.strip()):
        try:
            return date.fromisoformat(key.strip())
        except ValueError:
            raise DatedFileError(f"{file}：`{where}` 的生效日期 {key} 不是有效的日期") from None
    return None


def _resolve(node: Any, day: date, file: Path, where: str, changes: list[date]) -> Any:
    if isinstance(node, Mapping) and node:
        days: dict[Any, date] = {}
        for k in node:
            d = _as_day(k, file, f"{where}.{k}" if where else str(k))
            if d is not None:
                days[k] = d
        if days and len(days) != len(node):
            raise DatedFileError(f"{file}：`{where or '(顶层)'}` 混用了生效日期和名称；按日期给值时，"
                                 "每个键都必须是日期（YYYY-MM-DD）")
        if days:
            ordered = sorted(((d, node[k]) for k, d in days.items()), key=lambda kv: kv[0])
            in_force = [(d, v) for d, v in ordered if d <= day]
            if not in_force:
                raise DatedFileError(f"{file}：`{where}` 在 {day.isoformat()} 没有生效的值"
                                     f"（最早生效日期 {ordered[0][0].isoformat()}）")
            effective, value = in_force[-1]
            if effective != ordered[0][0]:
                changes.append(effective)
            return _resolve(value, day, file, where, changes)
        return {k: _resolve(v, day, file, f"{where}.{k}" if where else str(k), changes)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, day, file, f"{where}[{i}]", changes) for i, v in enumerate(node)]
    return node


def resolve_tree(tree: Any, day: date, file: Path) -> Resolved:
    """Resolve every dated value of an already parsed ``tree`` (from ``file``) on ``day``.

    Parameters
    ----------
    tree : Any
        The parsed YAML.
    day : date
        Usually the last day of the period the run checks.
    file : Path
        Named in messages.

    Returns
    -------
    Resolved

    Raises
    ------
    DatedFileError
        A mapping mixing dates and names, an invalid date, or no value in force on ``day``.
    """
    changes: list[date] = []
    out = _resolve(tree, day, Path(file), "", changes)
    return Resolved(tree=out, day=day, changed_on=max(changes) if changes else None)


def resolve_file(file: Path, day: date | None) -> Resolved:
    """Read ``file`` (YAML) and resolve it on ``day`` (today when None).

    Raises
    ------
    DatedFileError
        When the file is missing or not YAML, besides :func:`resolve_tree`'s cases.
    """
    file = Path(file)
    try:
        tree = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatedFileError(f"{file}：无法读取（{exc.strerror or exc}）") from None
    except yaml.YAMLError as exc:
        raise DatedFileError(f"{file}：不是有效的 YAML（{str(exc).splitlines()[0]}）") from None
    return resolve_tree(tree, day or date.today(), file)
