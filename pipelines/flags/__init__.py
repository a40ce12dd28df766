"""Flag registry: every flag of rules.md written once, one file per flag (OpenFisca style).

Each module of this package (other than this one) defines ``FLAG``, a :class:`Flag` naming:

- ``name`` (the stable code in the warehouse) and ``label`` (the Chinese name staff read);
- ``condition``: ONE polars expression over named household quantities (columns the assessment
  computes, see :data:`QUANTITIES`) and named parameters (``p``, a :class:`Params` over the
  rulebook in force), in SQL's three-valued logic: the flag is raised only when it is TRUE;
- ``quantities``, ``thresholds`` and ``records``: what its evidence carries (evidence quantity
  names, threshold names of the assessment's threshold table and the record categories with the
  condition column that makes them count);
- ``reraise``: how a dismissed flag's thresholds are compared (``exact``, or ``data_dependent``
  when the threshold moves with the household's own figures; rules/decisions.yaml gives the margin);
- ``sentence``: the clerk's sentence, a template over the evidence's quantity and threshold names
  (``{medical_out_of_pocket}``) or a function ``(evidence, text_module, programme) -> str``.

The programmes a flag screens are a rule, not code: they are read from ``rules/flags.yaml``
(see :func:`load_flag_programmes`). The registry's order is the order of that file (the order
reports and notes list flags in); a flag file it does not list follows, by name.

This package imports no other part of hedui but :mod:`pipelines.rulebook`, so assess, reports,
decisions and the sample oracle can all read it without an import cycle.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from pathlib import Path
from types import MappingProxyType
from typing import Any

import polars as pl
import yaml

from pipelines.rulebook import RulebookError, Rules

#: the default programme screening file (rules/flags.yaml of the repository)
DEFAULT_FLAGS_FILE = Path(__file__).resolve().parents[2] / "rules" / "flags.yaml"

#: the word rules/flags.yaml uses for "every programme"
ALL_PROGRAMMES = "all"

#: the household quantities a condition may name (columns of the assessment's household frame)
QUANTITIES: Mapping[str, str] = MappingProxyType({
    "living_members": "members on P's register less those with a death record (persons)",
    "has_death": "a member has a death record of W dated on or before the end of P (bool)",
    "programme": "保障类别 of the household (text)",
    "income_pc_fen": "monthly income per living member, 分, rounded half away from zero",
    "assets_pc_fen": "financial assets per living member, 分 (a lower bound on a partial bank delivery)",
    "assets_pc_complete_fen": "assets_pc_fen when every bank file of P was accepted, else unknown",
    "property_violation": "real estate, vehicle or business rule broken (bool)",
    "re_violation": "more residential units than allowed, or a non-residential unit (bool)",
    "vehicle_violation": "more counted vehicles than exempt (bool)",
    "business_violation": "a counted business registration (bool)",
    "medical_sum": "medical out-of-pocket settled in W, 分",
    "hw_num": "household income over W, 分 × the deduction denominator p.income_denominator",
    "last_num": "income of the last income_drop_recent_months months, summed, 分 × p.income_denominator",
    "prev_num": "income of the months of income_drop_months before them, summed, 分 × p.income_denominator",
    "drop_computable": "every month of the income_drop_months ending with P has a delivery of each "
                       "income source (bool)",
    "is_tekun": "programme is 特困 (bool)",
    "s_fen": "低保标准 S of the household's district and 城乡类别, 分",
    "t_fen": "特困 standard T, 分",
    "assets_limit_fen": "assets_limit_months × S, 分",
    "marginal_income_fen": "marginal_multiplier × S, 分",
    "marginal_assets_fen": "marginal_assets_limit_months × S, 分",
})

Sentence = str | Callable[[dict, Any, "str | None"], str]


@dataclass(frozen=True)
class Params:
    """The named parameters a condition reads, exact, from the rules in force.

    Parameters
    ----------
    rules : Rules
        The rulebook resolved at the end of P.
    income_denominator : int
        The denominator b of ``1 - employment_cost_deduction_rate`` = a/b, by which the
        ``*_num`` quantities are scaled.
    """

    rules: Rules
    income_denominator: int

    def fraction(self, name: str) -> Fraction:
        """A global parameter as an exact fraction."""
        return Fraction(self.rules.value(name))

    def fen_ceil(self, name: str) -> int:
        """A yuan parameter in whole 分, rounded up (an amount in 分 reaches it iff it reaches this)."""
        return ceil(self.fraction(name) * 100)


@dataclass(frozen=True)
class Flag:
    """One flag of rules.md, written once (see the module docstring)."""

    name: str
    label: str
    condition: Callable[[Params], pl.Expr]
    quantities: tuple[str, ...]
    #: threshold names of the assessment's table, or a chooser given ``pick(*names) -> JSON object``
    thresholds: tuple[str, ...] | Callable[[Callable[..., pl.Expr]], pl.Expr]
    #: (record category, when its records count: None always, a boolean column or expression)
    records: tuple[tuple[str, str | pl.Expr | None], ...]
    reraise: str
    sentence: Sentence
    #: raised only for a household with a living member (all flags but MEMBER_DECEASED)
    requires_living: bool = True
    #: the parameters (file stems of rules/parameters) its condition and thresholds read
    parameters: tuple[str, ...] = ()
    #: extra evidence keys the assessment appends (低保渐退 state on INCOME_OVER_STANDARD)
    evidence_extras: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.reraise not in ("exact", "data_dependent"):
            raise ValueError(f"flag {self.name}: reraise must be 'exact' or 'data_dependent'")


def _discover() -> dict[str, Flag]:
    found: dict[str, Flag] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        flag = getattr(module, "FLAG", None)
        if not isinstance(flag, Flag):
            raise ImportError(  # noqa: TRY004 (a module of the package, not an argument)
                f"pipelines/flags/{info.name}.py defines no FLAG = Flag(...)")
        if flag.name in found:
            raise ImportError(f"flag {flag.name} is defined twice")
        found[flag.name] = flag
    order = list(_read_flags_file(DEFAULT_FLAGS_FILE))
    rank = {n: i for i, n in enumerate(order)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _read_flags_file(path: Path) -> dict[str, tuple[str, ...] | None]:
    """``flag -> programmes`` (None for every programme) from a rules/flags.yaml."""
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulebookError(f"{where}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise RulebookError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict) or not doc:
        raise RulebookError(f"{where}: expected a mapping of flag names")
    out: dict[str, tuple[str, ...] | None] = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict):
            raise RulebookError(
                f"{where}: {name}: expected a mapping with programmes, description, reference")
        for key in ("description", "reference"):
            if not str(entry.get(key) or "").strip():
                raise RulebookError(f"{where}: {name}: key {key!r} is missing or empty")
        programmes = entry.get("programmes")
        if programmes == ALL_PROGRAMMES:
            out[str(name)] = None
        elif (isinstance(programmes, list) and programmes
              and all(isinstance(p, str) and p.strip() for p in programmes)):
            out[str(name)] = tuple(p.strip() for p in programmes)
        else:
            raise RulebookError(f"{where}: {name}: programmes must be a list of 保障类别 or "
                                f"{ALL_PROGRAMMES!r}")
    return out


#: every flag, by name, in the order of rules/flags.yaml
REGISTRY: Mapping[str, Flag] = MappingProxyType(_discover())
#: the flag names, in registry order
FLAGS: tuple[str, ...] = tuple(REGISTRY)
#: flag code -> Chinese label, in registry order
FLAG_LABELS: dict[str, str] = {f.name: f.label for f in REGISTRY.values()}


def load_flag_programmes(path: Path | None = None) -> dict[str, tuple[str, ...] | None]:
    """The programmes each registered flag screens (None: every programme), from rules/.

    Parameters
    ----------
    path : Path, optional
        A ``flags.yaml``; default ``rules/flags.yaml`` of the repository.

    Raises
    ------
    RulebookError
        When the file is invalid, names a flag no file defines, or leaves a flag out.
    """
    file = Path(path) if path is not None else DEFAULT_FLAGS_FILE
    programmes = _read_flags_file(file)
    unknown = sorted(set(programmes) - set(REGISTRY))
    if unknown:
        raise RulebookError(f"{file}: names flag(s) no file of pipelines/flags defines: "
                            + ", ".join(unknown))
    lacking = [n for n in REGISTRY if n not in programmes]
    if lacking:
        raise RulebookError(f"{file}: says nothing of which programmes flag(s) "
                            + ", ".join(lacking) + " screen")
    return {n: programmes[n] for n in REGISTRY}


def flags_file_for(parameters_dir: Path) -> Path:
    """The ``flags.yaml`` that goes with a rulebook's parameters folder.

    ``DIR/flags.yaml`` for ``DIR/parameters`` (a rules folder laid out like rules/), else the
    repository's rules/flags.yaml (a bare parameters folder, e.g. a proposal that changes numbers).
    """
    own = Path(parameters_dir).parent / "flags.yaml"
    if Path(parameters_dir).name == "parameters" and own.is_file():
        return own
    return DEFAULT_FLAGS_FILE


def data_dependent_flags() -> tuple[str, ...]:
    """The flags whose thresholds move with the household's own figures (re-raise class)."""
    return tuple(n for n, f in REGISTRY.items() if f.reraise == "data_dependent")
