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

The programmes a flag screens are a rule, not code: dated values of ``rules/flags.yaml``, read
with the rulebook (:func:`pipelines.rulebook.load_screening`) and resolved with it on the last
day of P (:func:`load_flag_programmes`). The registry's order is the order of that file (the order
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

from pipelines.rulebook import DEFAULT_FLAGS_FILE, RulebookError, Rules, load_screening

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
    order = list(load_screening(DEFAULT_FLAGS_FILE))
    rank = {n: i for i, n in enumerate(order)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


#: every flag, by name, in the order of rules/flags.yaml
REGISTRY: Mapping[str, Flag] = MappingProxyType(_discover())
#: the flag names, in registry order
FLAGS: tuple[str, ...] = tuple(REGISTRY)
#: flag code -> Chinese label, in registry order
FLAG_LABELS: dict[str, str] = {f.name: f.label for f in REGISTRY.values()}


def load_flag_programmes(rules: Rules, where: Path | str = "flags.yaml") -> dict[str, tuple[str, ...] | None]:
    """The programmes each registered flag screens on the rules' day (None: every programme).

    Parameters
    ----------
    rules : Rules
        The rulebook resolved at the end of P (its ``programmes`` come from rules/flags.yaml).
    where : Path or str
        How messages name the screening file.

    Raises
    ------
    RulebookError
        When the file names a flag no file of pipelines/flags defines, or leaves a flag out.
    """
    programmes = rules.programmes
    unknown = sorted(set(programmes) - set(REGISTRY))
    if unknown:
        raise RulebookError(f"{where}: names flag(s) no file of pipelines/flags defines: "
                            + ", ".join(unknown))
    lacking = [n for n in REGISTRY if n not in programmes]
    if lacking:
        raise RulebookError(f"{where}: says nothing of which programmes flag(s) "
                            + ", ".join(lacking) + " screen")
    return {n: programmes[n] for n in REGISTRY}


def data_dependent_flags() -> tuple[str, ...]:
    """The flags whose thresholds move with the household's own figures (re-raise class)."""
    return tuple(n for n, f in REGISTRY.items() if f.reraise == "data_dependent")
