"""Rules layer: loading and validating a rulebook folder of parameter files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import MappingProxyType

import yaml

from pipelines.rulebook.parameter import (
    _KEYS,
    _KINDS,
    _VARIES,
    DEFAULT_PARAMETERS,
    DIBAO_STANDARD,
    REQUIRED_PARAMETERS,
    TEKUN_STANDARD,
    Parameter,
    RulebookError,
    Value,
)
from pipelines.rulebook.resolve import Rulebook
from pipelines.rulebook.screening import flags_file_for, load_screening
from pipelines.rulebook.values import _as_number, _as_words, _dated


def parameters_folder(rules_dir: Path | str) -> Path:
    """The parameters folder of ``--rules DIR``: ``DIR/parameters`` when it exists, else DIR."""
    folder = Path(rules_dir)
    return folder / "parameters" if (folder / "parameters").is_dir() else folder


def load_rulebook(path: Path | None = None) -> Rulebook:
    """Read and validate a rulebook folder of parameter YAML files.

    Parameters
    ----------
    path : Path, optional
        A folder of ``*.yaml`` parameter files; default ``rules/parameters`` of the repository.

    Returns
    -------
    Rulebook

    Raises
    ------
    RulebookError
        Naming the file and key: a missing ``description``/``unit``/``reference``, a date that is
        not a date or not ascending, a value that is not a number, or a required parameter missing.
    """
    folder = Path(path) if path is not None else DEFAULT_PARAMETERS
    if not folder.is_dir():
        raise RulebookError(f"rulebook folder {folder} does not exist")
    params: dict[str, Parameter] = {}
    for file in sorted(folder.glob("*.yaml")):
        p = _load_parameter(file)
        params[p.name] = p
    missing = [n for n in REQUIRED_PARAMETERS if n not in params]
    if missing:
        raise RulebookError(f"rulebook {folder} lacks parameter file(s): "
                            + ", ".join(f"{n}.yaml" for n in missing))
    for name in (DIBAO_STANDARD, TEKUN_STANDARD):
        if name in params and params[name].varies_by != _VARIES:
            raise RulebookError(f"{name}.yaml: varies_by must be [district_code, urban_rural]")
    return Rulebook(path=folder, parameters=MappingProxyType(params),
                    screening=load_screening(flags_file_for(folder)))


def parameter_labels(path: Path | None = None) -> dict[str, str]:
    """The Chinese label of every parameter of a rulebook folder that has one, by file stem.

    Parameters
    ----------
    path : Path, optional
        A rulebook folder; default ``rules/parameters`` of the repository.
    """
    return {n: p.label for n, p in load_rulebook(path).parameters.items() if p.label}


def _load_parameter(file: Path) -> Parameter:
    where = file.name
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RulebookError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise RulebookError(f"{where}: expected a mapping with description, unit, reference, values")
    unknown = set(doc) - _KEYS
    if unknown:
        raise RulebookError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for key in ("description", "unit", "reference"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise RulebookError(f"{where}: key {key!r} is missing or empty")
    label = doc.get("label", "")
    if not isinstance(label, str):
        raise RulebookError(f"{where}: key 'label' must be text (the Chinese name staff read)")
    label = label.strip()
    varies = doc.get("varies_by") or []
    if not isinstance(varies, list) or tuple(varies) not in ((), _VARIES):
        raise RulebookError(f"{where}: varies_by must be absent or [district_code, urban_rural]")
    kind = doc.get("kind", "number")
    if kind not in _KINDS:
        raise RulebookError(f"{where}: kind must be one of {', '.join(_KINDS)}")
    if kind == "words" and varies:
        raise RulebookError(f"{where}: a words parameter cannot vary by district")
    parse = _as_words if kind == "words" else _as_number
    default = (parse(doc["version_default"], f"{where}: version_default")
               if doc.get("version_default") is not None else None)
    values = doc.get("values")
    if not isinstance(values, dict) or not values:
        raise RulebookError(f"{where}: key 'values' is missing or empty")
    series: dict[tuple[str, ...], tuple[tuple[date, Value], ...]] = {}
    if varies:
        for district, by_ur in values.items():
            if not isinstance(by_ur, dict) or not by_ur:
                raise RulebookError(f"{where}: values.{district} must map 城乡类别 to dated values")
            for ur, dated in by_ur.items():
                series[(str(district), str(ur))] = _dated(dated, f"{where}: values.{district}.{ur}", parse)
    else:
        series[()] = _dated(values, f"{where}: values", parse)
    return Parameter(
        name=file.stem,
        description=doc["description"].strip(),
        unit=doc["unit"].strip(),
        reference=doc["reference"].strip(),
        varies_by=tuple(varies),
        series=MappingProxyType(series),
        label=label,
        kind=kind,
        version_default=default,
    )
