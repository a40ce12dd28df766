"""Flag registry: every flag of rules.md written once, one file per flag (OpenFisca style).

Each module of this package (other than this one) defines ``FLAG``, a :class:`Flag` naming:

- ``name`` (the stable code in the warehouse) and ``label`` (the Chinese name staff read);
- ``condition``: ONE polars expression over named household quantities (columns the assessment
  computes, see :data:`QUANTITIES`) and named parameters (``p``, a :class:`Params` over the
  rulebook in force), in SQL's three-valued logic: the flag is raised only when it is TRUE.
  When the formula itself (not a number) changes on a date, the file writes ``conditions``
  instead: ``{date(1, 1, 1): old, date(2027, 1, 1): new}``, one formula per effective date,
  resolved like the parameters on the last day of P (:meth:`Flag.formula_at`); a dated formula
  in force that is not the first enters the rulebook version (:func:`formula_versions`);
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
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
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
Formula = Callable[["Params"], pl.Expr]
#: the repository root (messages name a flag file relative to it)
_ROOT = Path(__file__).resolve().parents[2]


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


@dataclass(frozen=True, kw_only=True)
class Flag:
    """One flag of rules.md, written once (see the module docstring)."""

    name: str
    label: str
    #: the formula, when it has never changed (else ``conditions``)
    condition: Formula | None = None
    #: effective date -> the formula in force from that day (OpenFisca's dated formulas)
    conditions: Mapping[date, Formula] | None = None
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
        if (self.condition is None) == (self.conditions is None):
            raise RulebookError(f"标记 {self.name}：须写 condition=（一个公式）或 conditions=（按生效日期的"
                                "公式），且只写其一")
        if self.condition is not None and not callable(self.condition):
            raise RulebookError(f"标记 {self.name}：condition 须是一个公式（函数 p -> 表达式）")
        if self.conditions is not None:
            if not isinstance(self.conditions, Mapping) or not self.conditions:
                raise RulebookError(f"标记 {self.name}：conditions 须是非空的 {{生效日期: 公式}}")
            for day, formula in self.conditions.items():
                # a datetime is a date to Python, but a formula takes effect on a day
                if not isinstance(day, date) or isinstance(day, datetime):
                    raise RulebookError(f"标记 {self.name}：conditions 的键 {day!r} 不是日期"
                                        "（应写 date(2027, 1, 1)）")
                if not callable(formula):
                    raise RulebookError(f"标记 {self.name}：conditions 中 {day} 起的公式不是函数")

    @property
    def source(self) -> str:
        """The file that defines the flag's formulas (relative to the repository when inside it)."""
        formulas = [self.condition] if self.conditions is None else list(self.conditions.values())
        try:
            found = inspect.getsourcefile(formulas[0])  # type: ignore[arg-type]
        except TypeError:  # a callable without source (a builtin, a partial)
            found = None
        if found is None:
            return f"标记 {self.name} 的文件"
        path = Path(found).resolve()
        return str(path.relative_to(_ROOT)) if path.is_relative_to(_ROOT) else str(path)

    def formula_at(self, day: date) -> tuple[date | None, Formula]:
        """The formula in force on ``day`` and its effective date (None: an undated ``condition``).

        Raises
        ------
        RulebookError
            In Chinese, naming the flag's file, when no dated formula is in force on ``day``.
        """
        if self.conditions is None:
            return None, self.condition  # type: ignore[return-value]
        in_force = [d for d in self.conditions if d <= day]
        if not in_force:
            raise RulebookError(f"{self.source}：标记 {self.name} 在 {day} 没有生效的公式"
                                f"（最早的公式自 {min(self.conditions)} 起生效）")
        since = max(in_force)
        return since, self.conditions[since]

    def formula_version(self, day: date) -> str | None:
        """The effective date of the formula in force on ``day`` when it is not the flag's first.

        None for an undated ``condition`` and for the first dated formula: those are the formulas
        rulebook versions were recorded under, so they leave the version unchanged.
        """
        since, _ = self.formula_at(day)
        if since is None or self.conditions is None or since == min(self.conditions):
            return None
        return since.isoformat()

    def condition_at(self, p: Params) -> pl.Expr:
        """The condition in force on the rules' day (the last day of P) over ``p``."""
        return self.formula_at(p.rules.day)[1](p)


def discover(path: Iterable[str], package: str) -> dict[str, Flag]:
    """Every ``FLAG`` of the modules of a package, by name, in the order of rules/flags.yaml.

    Parameters
    ----------
    path, package : iterable of str, str
        The package's ``__path__`` and name (this package's, for the registry).

    Raises
    ------
    RulebookError
        In Chinese, naming the file, when a flag's formulas are malformed.
    """
    found: dict[str, Flag] = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except RulebookError as e:
            where = "/".join(package.split(".")) + f"/{info.name}.py"
            raise RulebookError(f"{where}：{e}") from None
        flag = getattr(module, "FLAG", None)
        if not isinstance(flag, Flag):
            raise ImportError(  # noqa: TRY004 (a module of the package, not an argument)
                f"{'/'.join(package.split('.'))}/{info.name}.py defines no FLAG = Flag(...)")
        if flag.name in found:
            raise ImportError(f"flag {flag.name} is defined twice")
        found[flag.name] = flag
    order = list(load_screening(DEFAULT_FLAGS_FILE))
    rank = {n: i for i, n in enumerate(order)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


#: every flag, by name, in the order of rules/flags.yaml
REGISTRY: Mapping[str, Flag] = MappingProxyType(discover(__path__, __name__))
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


def formula_versions(day: date) -> dict[str, str]:
    """Flag -> effective date of its dated formula in force on ``day``, when not its first.

    The rulebook folds this into its version (:meth:`pipelines.rulebook.Rulebook.at`): a run under
    a changed formula differs from one under the old formula even when every number is the same.
    Empty while every flag's first (or only) formula is in force.
    """
    return {n: v for n, f in REGISTRY.items() if (v := f.formula_version(day)) is not None}
