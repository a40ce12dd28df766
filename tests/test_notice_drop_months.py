"""The INCOME_DROP notice names the months of the split in force, not a fixed 3 against 3."""

from __future__ import annotations

import jinja2
import pytest

from pipelines.notice.context import _flag_context, _RuleInfo
from pipelines.notice.vocabulary import NOTICE_DIR, load_vocabulary

EVIDENCE = {
    "quantities": {"living_members": 2, "avg_last3": 800.0, "avg_prev3": 2400.0},
    "thresholds": {"income_drop_limit": {"value": 1200.0}},
    "records": [],
}


def _context(drop_months: tuple[int, int]) -> dict:
    return _flag_context("INCOME_DROP", EVIDENCE, "v1", period="2026-10", assessment={},
                         rows={}, members={}, vocab=load_vocabulary(None),
                         rules=_RuleInfo(None, False), window_months=6,
                         drop_split=(drop_months[1], drop_months[0] - drop_months[1]),
                         deduction=None)


def _render(f: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(NOTICE_DIR),
                             undefined=jinja2.StrictUndefined)
    return env.get_template("INCOME_DROP.md.j2").render(f=f)


@pytest.mark.parametrize(("drop_months", "recent", "earlier"), [
    ((6, 3), "2026年8月至2026年10月", "2026年5月至2026年7月"),
    ((8, 3), "2026年8月至2026年10月", "2026年3月至2026年7月"),
    ((4, 1), "2026年10月至2026年10月", "2026年7月至2026年9月"),
])
def test_the_months_compared_are_those_of_the_parameters_in_force(drop_months, recent, earlier):
    text = _render(_context(drop_months))
    n, k = drop_months
    assert f"近 {k} 个月（{recent}）" in text
    assert f"之前 {n - k} 个月（{earlier}）" in text
