"""Rules layer: the dated rulebook (rules/parameters/*.yaml) resolved as of a day.

Every number the assessment uses is a parameter file here, OpenFisca style: one YAML file per
parameter with its ``label`` (the Chinese name staff read), ``description``, ``unit``,
``reference`` (the policy document) and ``values``
keyed by effective date, ascending; a ``null`` value ends the parameter. A parameter that varies
by district and 城乡类别 says so with ``varies_by: [district_code, urban_rural]`` and nests its
dated values under ``区县代码`` then ``城乡类别``.

A parameter whose values are words rather than numbers (the vehicle types exempt, the 残疾等级
counted as severe, the 登记状态 counted) says ``kind: words``; each dated value is then a list of
the words as the source writes them. A parameter written down after versions were already
recorded may carry ``version_default``: the value the rules implied before; while the value in
force equals it the parameter is left out of the version hash, so the same rules keep the version
recorded before (any other value changes it).

:func:`load_rulebook` reads and validates the folder; :meth:`Rulebook.at` resolves every value in
force on a day into a frozen :class:`Rules`, whose ``version`` is a short hash of those resolved
values (recorded on every assessment and flag). Re-running an old month resolves the old values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

#: the default rulebook folder, found relative to the package (repo root / rules / parameters)
DEFAULT_PARAMETERS = Path(__file__).resolve().parent.parent / "rules" / "parameters"

#: the standard S (低保标准) and the 特困 standard T, and the ratio that derives T from S
DIBAO_STANDARD = "dibao_standard"
TEKUN_STANDARD = "tekun_standard"
TEKUN_RATIO = "tekun_standard_ratio"

#: parameters every rulebook must define (the formulas in pipelines/assess.py read them)
REQUIRED_PARAMETERS = (
    DIBAO_STANDARD,
    "income_window_months",
    "employment_cost_deduction_rate",
    "max_residential_units",
    "business_capital_limit_wan",
    "assets_limit_months",
    "marginal_multiplier",
    "marginal_assets_limit_months",
    "income_drop_ratio",
    "medical_min_amount",
    "medical_income_share",
    "vehicle_exempt_count",
    "income_drop_months",
    "income_drop_recent_months",
    "vehicle_exempt_types",
    "vehicle_counted_statuses",
    "severe_disability_grades",
    "business_roles",
    "business_counted_statuses",
)

_VARIES = ("district_code", "urban_rural")
_KEYS = {"label", "description", "unit", "reference", "values", "varies_by", "kind",
         "version_default"}
_KINDS = ("number", "words")

#: a dated value: a number, or (``kind: words``) a tuple of words; None ends the parameter
Value = Decimal | tuple[str, ...] | None


class RulebookError(ValueError):
    """The rulebook is invalid, or lacks a value the assessment needs (message says which)."""


@dataclass(frozen=True)
class Parameter:
    """One parameter file: its metadata and its dated values.

    ``series`` maps a key to the dated values in force from each date (``None`` ends the
    parameter). The key is ``()`` for a global parameter and ``(district_code, urban_rural)``
    for one that varies by both.
    """

    name: str
    description: str
    unit: str
    reference: str
    varies_by: tuple[str, ...]
    series: Mapping[tuple[str, ...], tuple[tuple[date, Value], ...]]
    #: the Chinese name staff read (reports show it instead of the file stem)
    label: str = ""
    #: ``number`` or ``words``
    kind: str = "number"
    #: the value left out of the version hash (see the module docstring); None: always hashed
    version_default: Value = None

    def at(self, day: date, key: tuple[str, ...] = ()) -> Any:
        """The value in force on ``day`` for ``key``; None when none is (or it was ended)."""
        value: Value = None
        for start, v in self.series.get(key, ()):
            if start > day:
                break
            value = v
        return value


@dataclass(frozen=True)
class Rules:
    """The rulebook resolved on one day: frozen values and the version that names them.

    Attributes
    ----------
    day : date
        The day the values are in force (the end of the period assessed).
    version : str
        12 hex characters of the SHA-256 of the resolved values.
    values : Mapping[str, Decimal]
        Global parameters in force, by name.
    standards : Mapping[tuple[str, str], Decimal]
        S by ``(district_code, urban_rural)``.
    tekun_standards : Mapping[tuple[str, str], Decimal]
        T by ``(district_code, urban_rural)``: the T table where in force, else
        ``tekun_standard_ratio`` x S rounded half up to the yuan.
    tekun_from_table : frozenset[tuple[str, str]]
        The ``(district_code, urban_rural)`` whose T comes from the T table (the others, if any,
        were derived from S).
    """

    day: date
    version: str
    values: Mapping[str, Decimal]
    standards: Mapping[tuple[str, str], Decimal]
    tekun_standards: Mapping[tuple[str, str], Decimal]
    tekun_from_table: frozenset[tuple[str, str]] = frozenset()
    references: Mapping[str, str] = field(default_factory=dict)
    #: ``kind: words`` parameters in force, by name
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: flag -> the programmes it screens in force (None: every programme), from flags.yaml
    programmes: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)

    def words_of(self, name: str) -> tuple[str, ...]:
        """A ``kind: words`` parameter in force, by name.

        Raises
        ------
        RulebookError
            Naming the parameter when no value is in force.
        """
        try:
            return self.words[name]
        except KeyError:
            raise RulebookError(f"parameter {name!r} has no value in force on {self.day}") from None

    def value(self, name: str, district_code: str | None = None,
              urban_rural: str | None = None) -> Decimal:
        """A parameter in force, looked up by name (and district and 城乡类别 for S and T).

        Parameters
        ----------
        name : str
            The parameter's file stem, e.g. ``income_window_months`` or ``dibao_standard``.
        district_code, urban_rural : str, optional
            Required for the parameters that vary by them (``dibao_standard``,
            ``tekun_standard``; T is the derived 1.3 x S where no T table value is in force).

        Raises
        ------
        RulebookError
            Naming the parameter (and district) when no value is in force.
        """
        if name in (DIBAO_STANDARD, TEKUN_STANDARD):
            table = self.standards if name == DIBAO_STANDARD else self.tekun_standards
            found = table.get((district_code or "", urban_rural or ""))
            if found is None:
                raise RulebookError(f"parameter {name!r} has no value in force on {self.day} "
                                    f"for district {district_code} {urban_rural}")
            return found
        try:
            return self.values[name]
        except KeyError:
            raise RulebookError(f"parameter {name!r} has no value in force on {self.day}") from None

    def standard(self, district_code: str, urban_rural: str) -> Decimal | None:
        """S for a district and 城乡类别, or None when the rulebook has none."""
        return self.standards.get((district_code, urban_rural))

    def tekun_standard(self, district_code: str, urban_rural: str) -> Decimal | None:
        """T for a district and 城乡类别, or None when the rulebook has none."""
        return self.tekun_standards.get((district_code, urban_rural))

    @property
    def districts(self) -> frozenset[str]:
        """Districts that have a standard S in force."""
        return frozenset(d for d, _ in self.standards)

    def require_districts(self, districts: Iterable[str]) -> None:
        """Raise RulebookError naming every district in ``districts`` without a standard."""
        missing = sorted({d for d in districts if d is not None} - self.districts)
        if missing:
            raise RulebookError(
                f"no 低保标准 ({DIBAO_STANDARD}) in force on {self.day} for district(s) "
                + ", ".join(missing)
            )


@dataclass(frozen=True)
class Rulebook:
    """All parameters of one rulebook folder, unresolved."""

    path: Path
    parameters: Mapping[str, Parameter]
    #: flag -> (dated programmes, version_default) from flags.yaml; the repository's by default
    screening: Mapping[str, Screening] = field(default_factory=lambda: load_screening())

    def at(self, day: date) -> Rules:
        """Resolve every parameter in force on ``day``.

        Parameters
        ----------
        day : date
            Usually the last day of the period assessed.

        Returns
        -------
        Rules
            Frozen values with their version hash.
        """
        values: dict[str, Decimal] = {}
        words: dict[str, tuple[str, ...]] = {}
        unhashed: set[str] = set()
        for name, p in self.parameters.items():
            if not p.varies_by:
                v = p.at(day)
                if v is None:
                    continue
                if p.kind == "words":
                    words[name] = v
                else:
                    values[name] = v
                if p.version_default is not None and v == p.version_default:
                    unhashed.add(name)
        standards = self._table(DIBAO_STANDARD, day)
        tekun = self._table(TEKUN_STANDARD, day) if TEKUN_STANDARD in self.parameters else {}
        from_table = frozenset(tekun)
        ratio = values.get(TEKUN_RATIO)
        if ratio is not None:
            for key, s in standards.items():
                if key not in tekun:
                    tekun[key] = (ratio * s).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        payload: dict[str, dict[str, Any]] = {
            "values": {k: str(v) for k, v in sorted(values.items()) if k not in unhashed},
            "S": {"|".join(k): str(v) for k, v in sorted(standards.items())},
            "T": {"|".join(k): str(v) for k, v in sorted(tekun.items())},
        }
        hashed_words = {k: list(v) for k, v in sorted(words.items()) if k not in unhashed}
        if hashed_words:
            payload["words"] = hashed_words
        programmes = {name: sc.at(day) for name, sc in self.screening.items()}
        hashed_programmes = {k: (list(v) if v is not None else ALL_PROGRAMMES)
                             for k, v in sorted(programmes.items())
                             if not self.screening[k].is_default(v)}
        if hashed_programmes:
            payload["programmes"] = hashed_programmes
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
        return Rules(
            day=day,
            version=digest,
            values=MappingProxyType(values),
            standards=MappingProxyType(standards),
            tekun_standards=MappingProxyType(tekun),
            tekun_from_table=from_table,
            references=MappingProxyType({n: p.reference for n, p in self.parameters.items()}),
            words=MappingProxyType(words),
            programmes=MappingProxyType(programmes),
        )

    def _table(self, name: str, day: date) -> dict[tuple[str, str], Decimal]:
        p = self.parameters[name]
        out: dict[tuple[str, str], Decimal] = {}
        for key in p.series:
            v = p.at(day, key)
            if v is not None:
                out[(key[0], key[1])] = v
        return out


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
                key = (str(district), str(ur))
                series[key] = _dated(dated, f"{where}: values.{district}.{ur}", parse)
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


def parse_dated(parameter: Parameter, dated: Any, where: str) -> tuple[tuple[date, Value], ...]:
    """Dated values for ``parameter`` (its kind's values), validated as a parameter file's are.

    Parameters
    ----------
    parameter : Parameter
        The parameter the values are for (its ``kind`` decides how they are read).
    dated : Any
        A mapping of effective dates to values, ascending.
    where : str
        How an error message names the values.

    Raises
    ------
    RulebookError
        Naming ``where`` and the date when a date or value is not one.
    """
    return _dated(dated, where, _as_words if parameter.kind == "words" else _as_number)


def _dated(dated: Any, where: str, parse: Any = None) -> tuple[tuple[date, Value], ...]:
    parse = parse or _as_number
    if not isinstance(dated, dict) or not dated:
        raise RulebookError(f"{where} must map effective dates to values")
    out: list[tuple[date, Value]] = []
    for raw_day, raw_value in dated.items():
        day = _as_date(raw_day, where)
        if out and day <= out[-1][0]:
            raise RulebookError(f"{where}.{raw_day}: dates must ascend ({day} after {out[-1][0]})")
        out.append((day, parse(raw_value, f"{where}.{raw_day}")))
    return tuple(out)


def _as_date(raw: Any, where: str) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise RulebookError(f"{where}: key {raw!r} is not a date (YYYY-MM-DD)") from None


def _as_number(raw: Any, where: str) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise RulebookError(f"{where}: value {raw!r} is not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise RulebookError(f"{where}: value {raw!r} is not a number") from None
    if not value.is_finite():
        raise RulebookError(f"{where}: value {raw!r} is not a finite number")
    return value


def _as_words(raw: Any, where: str) -> tuple[str, ...] | None:
    """A ``kind: words`` value: a non-empty list of non-empty words (None ends the parameter)."""
    if raw is None:
        return None
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(w, str) and w.strip() for w in raw)):
        raise RulebookError(f"{where}: value {raw!r} is not a list of words")
    words = tuple(w.strip() for w in raw)
    if len(set(words)) != len(words):
        raise RulebookError(f"{where}: value {raw!r} names a word twice")
    return words
