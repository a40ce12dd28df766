"""Policy cases: rules/tests/*.yaml, each a household situation and what rules.md makes of it.

The runner lives in :mod:`pipelines.policy_cases` (``hedui whatif`` runs a proposed rulebook's
cases with it); see rules/README.md for the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.flags import FLAGS
from pipelines.policy_cases import check_case, load_cases
from pipelines.rulebook import Rulebook, load_rulebook

CASES_DIR = Path(__file__).resolve().parent.parent / "rules" / "tests"
CASES = load_cases(CASES_DIR)


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook()


def test_policy_cases_exist_for_every_flag() -> None:
    flagged = {f for _, c in CASES for f in c["expect"].get("flags", [])}
    assert flagged == set(FLAGS)  # every flag of the registry (pipelines/flags/)


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_policy_case(case: dict[str, Any], rulebook: Rulebook) -> None:
    problems = check_case(case, rulebook)
    assert not problems, "; ".join(problems)
