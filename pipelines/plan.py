"""One frozen run plan per monthly or quarterly run: everything the stages need to know about P.

A run's period text is parsed once (:class:`pipelines.periods.Period`), the rulebook folder is
loaded once and resolved once per assessed month (on its last day, so its version is hashed
once), and the dated files ``rules/matching.yaml`` and ``rules/decisions.yaml`` are resolved on
the same day (:mod:`pipelines.dated`). From the rules in force the plan derives the month
folders to load: the income window W and the INCOME_DROP months (``income_window_months`` and
``income_drop_months``), both ending with P. The stages of :mod:`pipelines.runner` read the plan
from the run's context instead of re-parsing the period or reloading rules.

Which day resolves what:

- the rulebook and ``rules/decisions.yaml``: the last day of each assessed month (a quarterly run
  resolves its three months, and the month before, each on its own last day);
- ``rules/matching.yaml``: the last day of the run's last assessed month. Folders are matched
  once per run and shared by the months assessed, so one set of linkage parameters serves them.

A plan pickles as the recipe that built it (a Dask worker rebuilds it from the same files) and
refuses to rebuild when the files changed meanwhile: every partition of a run uses the same rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pipelines.periods import Period, Quarter
from pipelines.rulebook import (
    DEFAULT_PARAMETERS,
    Rulebook,
    RulebookError,
    Rules,
    load_rulebook,
)
from pipelines.run.context import RunFailed

#: the repository's dated rules files besides the parameters folder
DEFAULT_RULES = DEFAULT_PARAMETERS.parent
MATCHING_FILE = "matching.yaml"
DECISIONS_FILE = "decisions.yaml"


class PlanError(RunFailed):
    """A rules file of the run cannot be used (message in Chinese, naming the file).

    The run fails before it loads anything, as for any failure the contract names.
    """


# --------------------------------------------------------------------------- windows


def whole_months(rules: Rules, name: str, least: int) -> int:
    """A parameter in force that counts months: a whole number, at least ``least``."""
    raw = rules.value(name)
    if raw != raw.to_integral_value() or raw < least:
        raise RulebookError(f"{name} in force on {rules.day} is {raw}: it must be a whole number "
                            f"of months, at least {least}")
    return int(raw)


@dataclass(frozen=True)
class Windows:
    """The months P's rules read, both ending with P, oldest first.

    Attributes
    ----------
    income : tuple[Period, ...]
        W, ``income_window_months`` long.
    drop : tuple[Period, ...]
        The INCOME_DROP months, ``income_drop_months`` long.
    drop_recent : int
        ``income_drop_recent_months``: the last of ``drop``, compared with the others.
    """

    income: tuple[Period, ...]
    drop: tuple[Period, ...]
    drop_recent: int

    @property
    def folders(self) -> tuple[Period, ...]:
        """The delivery folders a run of P loads: W and the INCOME_DROP months together."""
        return tuple(sorted({*self.income, *self.drop}))


def windows(period: Period, rules: Rules) -> Windows:
    """W and the INCOME_DROP months of ``period`` under ``rules`` (resolved at its last day).

    Raises
    ------
    RulebookError
        When a month count in force is not a whole number, or the recent months are not fewer
        than the INCOME_DROP months.
    """
    win = whole_months(rules, "income_window_months", 1)
    drop_n = whole_months(rules, "income_drop_months", 2)
    recent = whole_months(rules, "income_drop_recent_months", 1)
    if recent >= drop_n:
        raise RulebookError(f"income_drop_recent_months in force on {rules.day} is {recent}: it "
                            f"must be fewer than income_drop_months ({drop_n})")
    return Windows(income=period.window(win), drop=period.window(drop_n), drop_recent=recent)


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class RuleFiles:
    """Where a run's rules come from.

    Attributes
    ----------
    parameters : Path or None
        The parameters folder (``--rules DIR`` → ``DIR/parameters``); None: the repository's.
    matching : Path
        ``matching.yaml``: the run's own file when given, else ``DIR/matching.yaml`` beside the
        parameters folder when there is one, else the repository's.
    decisions : Path
        ``decisions.yaml``, found the same way.
    """

    parameters: Path | None
    matching: Path
    decisions: Path

    @classmethod
    def of(cls, parameters: Path | None, matching_file: Path | None = None) -> RuleFiles:
        """The files of a run given its ``--rules`` parameters folder and matching file."""
        def beside(name: str) -> Path:
            if parameters is not None and Path(parameters).name == "parameters":
                own = Path(parameters).parent / name
                if own.is_file():
                    return own
            return DEFAULT_RULES / name

        return cls(parameters=Path(parameters) if parameters is not None else None,
                   matching=Path(matching_file) if matching_file is not None
                   else beside(MATCHING_FILE),
                   decisions=beside(DECISIONS_FILE))


def _matching(files: RuleFiles, period: Period):
    from pipelines.match.params import MatchingParamsError, load_matching_params

    try:
        return load_matching_params(files.matching, on=period.last_day)
    except MatchingParamsError as exc:
        raise PlanError(f"匹配参数文件无效，未做任何核对：{exc}") from None


def _decisions(files: RuleFiles, period: Period) -> Mapping[str, Any]:
    from pipelines.decisions import load_decision_params

    try:
        params = load_decision_params(files.decisions, on=period.last_day)
    except ValueError as exc:
        raise PlanError(f"处理决定参数文件无效，未做任何核对：{exc}") from None
    return MappingProxyType({k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class MonthPlan:
    """One assessed month: its rules in force and the months they read.

    Attributes
    ----------
    period : Period
    rules : Rules
        The rulebook resolved on the last day of the month (its ``version`` hashed once).
    windows : Windows
    decisions : Mapping[str, Any]
        ``rules/decisions.yaml`` resolved on the same day (lists as tuples).
    """

    period: Period
    rules: Rules
    windows: Windows
    decisions: Mapping[str, Any]

    @property
    def label(self) -> str:
        """The month's label ``YYYY-MM``."""
        return self.period.label

    @property
    def rulebook_version(self) -> str:
        """The version of the month's rulebook."""
        return self.rules.version

    @property
    def folders(self) -> tuple[str, ...]:
        """The labels of the folders this month's assessment reads."""
        return tuple(p.label for p in self.windows.folders)

    def decision_params(self) -> dict[str, Any]:
        """The decision parameters as :func:`pipelines.decisions.load_decision_params` gives them."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.decisions.items()}


def _month(rulebook: Rulebook, files: RuleFiles, period: Period) -> MonthPlan:
    rules = rulebook.at(period.last_day)
    return MonthPlan(period=period, rules=rules, windows=windows(period, rules),
                     decisions=_decisions(files, period))


@dataclass(frozen=True)
class RunPlan:
    """Everything decided before a run loads anything, built once per run.

    Attributes
    ----------
    kind : {'monthly', 'quarterly'}
    label : str
        ``YYYY-MM`` or ``YYYYQn``: the run's ``runs.period``.
    assessed : tuple[MonthPlan, ...]
        The months assessed and published, in order.
    prior : MonthPlan or None
        A quarterly run's month before the quarter (assessed for ``households_new``, never
        published).
    rulebook : Rulebook
        The rulebook folder, loaded once.
    files : RuleFiles
    matching : MatchParams
        ``rules/matching.yaml`` resolved on the last day of the last assessed month.
    """

    kind: Literal["monthly", "quarterly"]
    label: str
    assessed: tuple[MonthPlan, ...]
    prior: MonthPlan | None
    rulebook: Rulebook
    files: RuleFiles
    matching: Any

    @property
    def months(self) -> tuple[str, ...]:
        """The labels of the assessed months."""
        return tuple(m.label for m in self.assessed)

    @property
    def folders(self) -> tuple[str, ...]:
        """Every delivery folder the run loads (all months' windows), oldest first."""
        plans = [*self.assessed, *([self.prior] if self.prior is not None else [])]
        return tuple(p.label for p in sorted({f for m in plans for f in m.windows.folders}))

    def month(self, period: str | Period) -> MonthPlan:
        """The plan of one month of this run (assessed or prior); KeyError otherwise."""
        label = period.label if isinstance(period, Period) else str(period)
        for m in (*self.assessed, *([self.prior] if self.prior is not None else [])):
            if m.label == label:
                return m
        raise KeyError(f"{label} is not a month of the run {self.label}")

    def has_month(self, period: str | Period) -> bool:
        """Whether ``period`` is a month of this run (assessed or prior)."""
        try:
            self.month(period)
        except KeyError:
            return False
        return True

    def fingerprint(self) -> str:
        """A hash of every resolved value the stages read (rules, matching, decisions)."""
        months = [*self.assessed, *([self.prior] if self.prior is not None else [])]
        # every matching value, not only its version (a file edited without a new version)
        payload = {"label": self.label, "matching": repr(self.matching),
                   "months": [[m.label, m.rules.version, json.dumps(m.decision_params(),
                                                                    sort_keys=True)]
                              for m in months]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def __reduce__(self):
        # resolved rules hold read-only mappings that do not pickle: a worker rebuilds the plan
        return (_rebuild, (self.kind, self.label, self.files, self.fingerprint()))


def _rebuild(kind: str, label: str, files: RuleFiles, fingerprint: str) -> RunPlan:
    plan = build_plan(kind, label, files)
    if plan.fingerprint() != fingerprint:
        raise PlanError(f"运行 {label} 期间规则文件被修改（{files.parameters or DEFAULT_PARAMETERS}）："
                        "各分区必须使用同一套规则，请重新运行")
    return plan


def build_plan(kind: str, label: str | Period | Quarter, files: RuleFiles) -> RunPlan:
    """The plan of a monthly run of ``label`` (``YYYY-MM``) or a quarterly run (``YYYYQn``).

    Parameters
    ----------
    kind : {'monthly', 'quarterly'}
    label : str, Period or Quarter
        Parsed here, once.
    files : RuleFiles

    Returns
    -------
    RunPlan

    Raises
    ------
    ValueError
        A period or quarter not of the form ``YYYY-MM`` / ``YYYYQn``.
    RulebookError
        The parameters folder is invalid, or a month count in force is impossible.
    PlanError
        ``matching.yaml`` or ``decisions.yaml`` is invalid or has no value in force.
    """
    rulebook = load_rulebook(files.parameters)
    prior: MonthPlan | None = None
    if kind == "monthly":
        period = label if isinstance(label, Period) else Period.parse(str(label))
        assessed: tuple[MonthPlan, ...] = (_month(rulebook, files, period),)
        text = period.label
    elif kind == "quarterly":
        quarter = label if isinstance(label, Quarter) else Quarter.parse(str(label))
        assessed = tuple(_month(rulebook, files, m) for m in quarter.months)
        prior = _month(rulebook, files, quarter.months[0].prev())
        text = quarter.label
    else:
        raise ValueError(f"unknown run kind {kind!r}")
    return RunPlan(kind="monthly" if kind == "monthly" else "quarterly", label=text, assessed=assessed, prior=prior, rulebook=rulebook,
                   files=files, matching=_matching(files, assessed[-1].period))


def monthly_plan(period: str | Period, *, rules_dir: Path | None = None,
                 matching_file: Path | None = None) -> RunPlan:
    """:func:`build_plan` of a monthly run."""
    return build_plan("monthly", period, RuleFiles.of(rules_dir, matching_file))


def quarterly_plan(quarter: str | Quarter, *, rules_dir: Path | None = None,
                   matching_file: Path | None = None) -> RunPlan:
    """:func:`build_plan` of a quarterly run."""
    return build_plan("quarterly", quarter, RuleFiles.of(rules_dir, matching_file))
