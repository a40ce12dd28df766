"""Rules layer: which programmes each flag screens, dated (``rules/flags.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipelines.rulebook.parameter import DEFAULT_PARAMETERS, RulebookError
from pipelines.rulebook.values import _as_words, _dated

#: the default screening file: which programmes each flag screens (rules/flags.yaml)
DEFAULT_FLAGS_FILE = DEFAULT_PARAMETERS.parent / "flags.yaml"
#: the word flags.yaml uses for "every programme"
ALL_PROGRAMMES = "all"


@dataclass(frozen=True)
class Screening:
    """The dated programmes one flag screens (None: every programme), from flags.yaml."""

    series: tuple[tuple[date, tuple[str, ...] | None], ...]
    #: the programmes earlier versions implied: left out of the version hash while in force
    version_default: tuple[str, ...] | None | str = ""

    def at(self, day: date) -> tuple[str, ...] | None:
        """The programmes in force on ``day`` (the first dated value before any is)."""
        value = self.series[0][1]
        for start, v in self.series:
            if start > day:
                break
            value = v
        return value

    def is_default(self, value: tuple[str, ...] | None) -> bool:
        """Whether ``value`` is this flag's ``version_default`` (absent: never)."""
        return self.version_default != "" and value == self.version_default


def flags_file_for(parameters_dir: Path) -> Path:
    """The ``flags.yaml`` that goes with a rulebook's parameters folder.

    ``DIR/flags.yaml`` for ``DIR/parameters`` (a rules folder laid out like rules/), else the
    repository's rules/flags.yaml (a bare parameters folder, e.g. a proposal that changes numbers).
    """
    own = Path(parameters_dir).parent / "flags.yaml"
    if Path(parameters_dir).name == "parameters" and own.is_file():
        return own
    return DEFAULT_FLAGS_FILE


def load_screening(path: Path | None = None) -> dict[str, Screening]:
    """Read which programmes each flag screens: ``flag -> Screening``, in the file's order.

    Each entry has ``programmes`` (a list of 保障类别, or ``all``; or dated values of those, as a
    parameter file's), ``description`` and ``reference``, and may have ``version_default``.

    Raises
    ------
    RulebookError
        Naming the file and flag when an entry is not one.
    """
    file = Path(path) if path is not None else DEFAULT_FLAGS_FILE
    where = str(file)
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulebookError(f"{where}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise RulebookError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or not doc:
        raise RulebookError(f"{where}: expected a mapping of flag names")
    out: dict[str, Screening] = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict):
            raise RulebookError(
                f"{where}: {name}: expected a mapping with programmes, description, reference")
        for key in ("description", "reference"):
            if not str(entry.get(key) or "").strip():
                raise RulebookError(f"{where}: {name}: key {key!r} is missing or empty")
        raw = entry.get("programmes")
        dated = raw if isinstance(raw, dict) else {date(1, 1, 1): raw}
        series = _dated(dated, f"{where}: {name}.programmes", _as_programmes)
        default: tuple[str, ...] | None | str = ""
        if "version_default" in entry:
            default = _as_programmes(entry["version_default"], f"{where}: {name}.version_default")
        out[str(name)] = Screening(series=series, version_default=default)  # type: ignore[arg-type]
    return out


def _as_programmes(raw: Any, where: str) -> tuple[str, ...] | None:
    if raw == ALL_PROGRAMMES:
        return None
    if isinstance(raw, list) and raw:
        words = _as_words(raw, where)
        if words is not None:
            return words
    raise RulebookError(f"{where}: programmes must be a list of 保障类别 or {ALL_PROGRAMMES!r}")
