"""What-if layer, the proposal: a proposed rulebook, validated like the adopted one before use.

A proposal is a folder: either a whole rules folder (``parameters/`` and optionally ``tests/``)
or a folder of only the parameter files it changes (with an optional ``tests/`` beside them).
Its parameter files replace the adopted files of the same name; every other parameter is the
adopted one. Before any work the proposal is checked:

- every file of the proposal is a parameter the adopted rulebook knows (a misspelt file name
  would otherwise change nothing silently);
- each file passes the rulebook loader (schema, dates ascending, numbers), as the adopted one;
- its ``unit`` and ``varies_by`` are those of the adopted parameter (a proposal cannot change
  what a number means);
- the merged rulebook resolves at the end of P for every district in scope;
- when it carries ``tests/*.yaml``, its own policy cases pass under the merged rulebook.

Anything else is refused with :class:`ProposalError`, whose message (Chinese) names the file and
key.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines import gradual_exit
from pipelines.periods import month_end
from pipelines.policy_cases import PolicyCaseError, run_cases
from pipelines.rulebook import (
    DEFAULT_PARAMETERS,
    Rulebook,
    RulebookError,
    load_rulebook,
    parameters_folder,
)


class ProposalError(ValueError):
    """The proposed rulebook is invalid (message in Chinese names the file and key)."""


@dataclass(frozen=True)
class Proposal:
    """A validated proposal merged over the adopted rulebook."""

    folder: Path
    rulebook: Rulebook
    adopted: Rulebook
    files: tuple[str, ...]  # parameter files the proposal carries
    cases_run: int


def _refuse(where: Path, message: str) -> ProposalError:
    return ProposalError(f"提案规则无效，未做任何核算：{where}：{message}")


def load_proposal(folder: Path, *, period: str, districts: Sequence[str],
                  adopted_folder: Path | None = None) -> Proposal:
    """Validate ``folder`` and merge it over the adopted rulebook.

    Parameters
    ----------
    folder : Path
        The proposal (see the module docstring).
    period : str
        P; the merged rulebook must resolve at its end.
    districts : Sequence[str]
        Districts in scope; each must have a standard in force at the end of P.
    adopted_folder : Path, optional
        The adopted parameters folder (default: the project's ``rules/parameters``).

    Raises
    ------
    ProposalError
        Naming the file and key.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ProposalError(f"提案规则目录 {folder} 不存在")
    adopted_dir = Path(adopted_folder) if adopted_folder is not None else DEFAULT_PARAMETERS
    adopted = load_rulebook(adopted_dir)
    params_dir = parameters_folder(folder)
    files = sorted(params_dir.glob("*.yaml"))
    tests_dir = folder / "tests"
    if not files and not tests_dir.is_dir():
        raise ProposalError(f"提案规则目录 {folder} 中没有参数文件（*.yaml）")
    for file in files:
        if file.stem not in adopted.parameters:
            raise _refuse(file, f"现行规则中没有参数 {file.stem}（文件名应为现行参数之一："
                                f"{'、'.join(sorted(adopted.parameters))}）")
    with tempfile.TemporaryDirectory(prefix="hedui-whatif-rules-") as tmp:
        merged = Path(tmp)
        for f in adopted_dir.glob("*.yaml"):
            shutil.copyfile(f, merged / f.name)
        for f in files:
            shutil.copyfile(f, merged / f.name)
        try:
            rulebook = load_rulebook(merged)
        except RulebookError as exc:
            raise _refuse(_where(str(exc), params_dir, files), str(exc)) from None
    rulebook = Rulebook(path=params_dir, parameters=rulebook.parameters)
    for file in files:
        new, old = rulebook.parameters[file.stem], adopted.parameters[file.stem]
        if new.unit != old.unit:
            raise _refuse(file, f"键 unit 为 {new.unit!r}，与现行参数的单位 {old.unit!r} 不同"
                                "（提案不能改变参数的单位）")
        if new.varies_by != old.varies_by:
            raise _refuse(file, f"键 varies_by 为 {list(new.varies_by)}，与现行参数的 "
                                f"{list(old.varies_by)} 不同")
    try:
        rules = rulebook.at(month_end(period))
        rules.require_districts(districts)
        window = rules.value("income_window_months")
        if window != window.to_integral_value() or window < 1:
            raise RulebookError(f"income_window_months in force on {rules.day} is {window}: "
                                "it must be a whole number of months, at least 1")
        gradual_exit.months_in_force(rules)
    except RulebookError as exc:
        raise _refuse(params_dir, f"在 {period} 月末无法使用：{exc}") from None
    cases_run = 0
    if tests_dir.is_dir():
        try:
            cases_run, failing = run_cases(tests_dir, rulebook)
        except PolicyCaseError as exc:
            raise _refuse(tests_dir, f"政策测试用例无法读取：{exc}") from None
        if failing:
            lines = [f"{case_id}：{'；'.join(problems)}" for case_id, problems in failing[:10]]
            raise _refuse(tests_dir, f"提案自带的政策测试用例有 {len(failing)} 个未通过：\n  "
                                     + "\n  ".join(lines))
    return Proposal(folder=folder, rulebook=rulebook, adopted=adopted,
                    files=tuple(f.name for f in files), cases_run=cases_run)


def _where(message: str, params_dir: Path, files: Sequence[Path]) -> Path:
    """The proposal file a loader message names (its messages start with the file name)."""
    for f in files:
        if message.startswith(f.name):
            return f
    return params_dir
