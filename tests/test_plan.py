"""The run plan: the period parsed once into a type, and the files resolved on P's last day.

The folders come from the rules in force; rules/matching.yaml and rules/decisions.yaml are
resolved on the last day of P like the rulebook.
"""

from __future__ import annotations

import pickle
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from pipelines import runner
from pipelines.match import load_matching_params
from pipelines.periods import Period, Quarter
from pipelines.plan import PlanError, RuleFiles, monthly_plan, quarterly_plan

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


# --------------------------------------------------------------------------- Period


def test_period_is_parsed_once_into_a_value_with_its_days_and_arithmetic():
    p = Period.parse("2026-02")
    assert (p.label, str(p), p.first_day, p.last_day) == ("2026-02", "2026-02", date(2026, 2, 1),
                                                          date(2026, 2, 28))
    assert Period.parse("2024-02").last_day == date(2024, 2, 29)
    assert p.prev() == Period(2026, 1) and p.prev(2) == Period(2025, 12)
    assert p + 11 == Period(2027, 1) and p - 14 == Period(2024, 12)
    assert p - Period(2025, 9) == 5
    assert [m.label for m in p.window(3)] == ["2025-12", "2026-01", "2026-02"]
    assert Period.parse(p) is p
    assert sorted([Period(2026, 3), Period(2025, 12)]) == [Period(2025, 12), Period(2026, 3)]


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "202610", "", "2026-00"])
def test_period_refuses_other_forms(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        Period.parse(bad)


def test_quarter_gives_its_months_and_refuses_other_forms():
    q = Quarter.parse("2026q4")
    assert q.label == "2026Q4"
    assert [m.label for m in q.months] == ["2026-10", "2026-11", "2026-12"]
    with pytest.raises(ValueError, match="YYYYQn"):
        Quarter.parse("2026Q5")


# --------------------------------------------------------------------------- folders


def _rules_copy(tmp_path: Path) -> Path:
    """A copy of rules/ laid out like the repository's (``--rules DIR``)."""
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target, ignore=shutil.ignore_patterns("tests", "notices"))
    return target


def _set_dated(file: Path, dotted: str, values: dict) -> None:
    tree = yaml.safe_load(file.read_text(encoding="utf-8"))
    node = tree
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = values
    file.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_folders_follow_the_income_window_and_the_drop_months_in_force(tmp_path):
    rules = _rules_copy(tmp_path)
    drop = rules / "parameters" / "income_drop_months.yaml"
    _set_dated(drop, "values", {date(1, 1, 1): 6, date(2026, 10, 15): 8})
    before = monthly_plan("2026-09", rules_dir=rules / "parameters")
    after = monthly_plan("2026-10", rules_dir=rules / "parameters")
    # a change dated mid-month is in force for that month (resolved on its last day), not before
    assert before.folders == tuple(p.label for p in Period(2026, 9).window(6))
    assert after.folders == tuple(p.label for p in Period(2026, 10).window(8))
    assert after.assessed[0].rules.day == date(2026, 10, 31)
    # W alone longer than the drop months: W decides (6 drop months, 12-month window)
    _set_dated(rules / "parameters" / "income_window_months.yaml", "values", {date(1, 1, 1): 12})
    assert len(monthly_plan("2026-09", rules_dir=rules / "parameters").folders) == 12
    assert runner.months_to_load("2026-09", before.assessed[0].rules) == list(before.folders)


def test_a_quarterly_plan_covers_its_months_and_the_month_before():
    plan = quarterly_plan("2026Q3")
    assert plan.months == ("2026-07", "2026-08", "2026-09")
    assert plan.prior is not None and plan.prior.label == "2026-06"
    assert plan.folders == tuple(p.label for p in Period(2026, 9).window(9))
    # each month resolved on its own last day
    assert [m.rules.day for m in plan.assessed] == [date(2026, 7, 31), date(2026, 8, 31),
                                                     date(2026, 9, 30)]
    with pytest.raises(KeyError):
        plan.month("2026-10")


# --------------------------------------------------------------------------- dated files


def test_a_dated_matching_value_takes_effect_for_the_period_it_dates_and_not_before(tmp_path):
    rules = _rules_copy(tmp_path)
    matching = rules / "matching.yaml"
    _set_dated(matching, "thresholds.match_probability",
               {date(1, 1, 1): 0.95, date(2026, 10, 15): 0.97})
    sept = monthly_plan("2026-09", rules_dir=rules / "parameters")
    octo = monthly_plan("2026-10", rules_dir=rules / "parameters")
    assert sept.files.matching == matching
    assert sept.matching.match_threshold == 0.95
    assert octo.matching.match_threshold == 0.97
    # the links record which values made them: a change in force shows in the version
    assert sept.matching.version == load_matching_params().version
    assert octo.matching.version == f"{sept.matching.version}@2026-10-15"
    assert load_matching_params(matching, on=date(2026, 10, 14)).match_threshold == 0.95


def test_a_dated_decision_margin_takes_effect_for_the_period_it_dates_and_not_before(tmp_path):
    rules = _rules_copy(tmp_path)
    _set_dated(rules / "decisions.yaml", "reraise_relative_change.value",
               {date(1, 1, 1): 0.10, date(2026, 11, 1): 0.20})
    plan = quarterly_plan("2026Q4", rules_dir=rules / "parameters")
    margins = [m.decision_params()["reraise_relative_change"] for m in plan.assessed]
    assert margins == [0.10, 0.20, 0.20]
    assert plan.prior.decision_params()["reraise_relative_change"] == 0.10
    assert isinstance(plan.assessed[0].decision_params()["compared_quantities"], list)


@pytest.mark.parametrize(("file", "key", "value", "message"), [
    ("matching.yaml", "thresholds.match_probability",
     {date(1, 1, 1): 0.95, "later": 0.97}, "混用了生效日期和名称"),
    ("matching.yaml", "name.jw_high", {"2026-13-01": 0.92}, "不是有效的日期"),
    ("matching.yaml", "thresholds.review_probability", {date(2027, 1, 1): 0.3}, "没有生效的值"),
    ("decisions.yaml", "reraise_relative_change.value",
     {date(1, 1, 1): 0.1, "2026-02-30": 0.2}, "不是有效的日期"),
    ("decisions.yaml", "new_record_sources.value", {date(2027, 1, 1): ["deaths"]}, "没有生效的值"),
])
def test_malformed_dated_files_are_refused_naming_the_file_and_the_key(tmp_path, file, key, value,
                                                                      message):
    rules = _rules_copy(tmp_path)
    _set_dated(rules / file, key, value)
    with pytest.raises(PlanError) as caught:
        monthly_plan("2026-10", rules_dir=rules / "parameters")
    text = str(caught.value)
    assert message in text
    assert str(rules / file) in text
    assert key.rsplit(".value", 1)[0] in text
    assert "无效" in text


def test_the_rules_files_of_a_rules_folder_are_its_own_else_the_repository_s(tmp_path):
    rules = _rules_copy(tmp_path)
    own = RuleFiles.of(rules / "parameters")
    assert (own.matching, own.decisions) == (rules / "matching.yaml", rules / "decisions.yaml")
    bare = tmp_path / "proposal"
    shutil.copytree(rules / "parameters", bare)
    repo = RuleFiles.of(bare)
    assert (repo.matching, repo.decisions) == (ROOT / "rules" / "matching.yaml",
                                               ROOT / "rules" / "decisions.yaml")
    explicit = RuleFiles.of(None, tmp_path / "m.yaml")
    assert explicit.matching == tmp_path / "m.yaml"


def test_a_plan_rebuilt_on_a_worker_refuses_rules_changed_meanwhile(tmp_path):
    rules = _rules_copy(tmp_path)
    plan = monthly_plan("2026-10", rules_dir=rules / "parameters")
    again = pickle.loads(pickle.dumps(plan))
    assert again.fingerprint() == plan.fingerprint()
    assert again.assessed[0].rules.version == plan.assessed[0].rules.version
    frozen = pickle.dumps(plan)
    _set_dated(rules / "matching.yaml", "thresholds.match_probability", {date(1, 1, 1): 0.96})
    with pytest.raises(PlanError, match="规则文件被修改"):
        pickle.loads(frozen)


def test_a_run_with_a_malformed_rules_file_fails_before_loading_anything(tmp_path):
    rules = _rules_copy(tmp_path)
    _set_dated(rules / "matching.yaml", "thresholds.match_probability", {date(2030, 1, 1): 0.9})
    warehouse = tmp_path / "wh" / "hedui.duckdb"
    ctx = runner.RunContext.create(flow="monthly", incoming=SAMPLE / "incoming",
                                   warehouse=warehouse, rules_dir=rules / "parameters",
                                   use_cache=False)
    try:
        with pytest.raises(runner.RunFailed, match="matching.yaml"):
            runner.execute_monthly(ctx, "2026-10", districts=None)
        # nothing landed: the scratch holds only the run's own markers
        assert sorted(p.name for p in ctx.scratch.iterdir()) == ["host", "pid"]
    finally:
        ctx.cleanup()
    assert not warehouse.exists()


@pytest.mark.slow
def test_a_monthly_run_loads_and_resolves_its_rules_once(tmp_path, monkeypatch):
    """Counted on the sample run: the rulebook folder read once and resolved once (one day).

    The dated matching and decision files are resolved once each.
    """
    import pipelines.dated as dated
    import pipelines.rulebook as rb
    import pipelines.rulebook.load as rb_load

    loads: list[str] = []
    days: list[date] = []
    resolved: list[str] = []
    real_load, real_at, real_tree = rb_load._load_parameter, rb.Rulebook.at, dated.resolve_tree

    def counting_load(file):
        loads.append(Path(file).name)
        return real_load(file)

    def counting_at(self, day):
        days.append(day)
        return real_at(self, day)

    def counting_tree(tree, day, file):
        resolved.append(Path(file).name)
        return real_tree(tree, day, file)

    monkeypatch.setattr(rb_load, "_load_parameter", counting_load)
    monkeypatch.setattr(rb.Rulebook, "at", counting_at)
    monkeypatch.setattr(dated, "resolve_tree", counting_tree)
    ctx = runner.RunContext.create(flow="monthly", incoming=SAMPLE / "incoming",
                                   warehouse=tmp_path / "wh" / "hedui.duckdb", use_cache=False)
    try:
        runner.execute_monthly(ctx, "2026-10", districts=None)
    finally:
        ctx.cleanup()
    parameter_files = sorted(p.name for p in (ROOT / "rules" / "parameters").glob("*.yaml"))
    assert sorted(loads) == parameter_files  # each parameter file read once: one load
    assert days == [date(2026, 10, 31)]  # resolved (and hashed) once, on the last day of P
    assert sorted(resolved) == ["decisions.yaml", "matching.yaml"]


def test_a_plan_built_ahead_for_the_same_run_is_kept_and_another_is_replaced(tmp_path):
    """The Prefect head start builds the run's plan before the flow: the flow keeps it."""
    import dataclasses

    from pipelines.run.execute import _planned

    ctx = runner.RunContext.create(flow="monthly", incoming=tmp_path,
                                   warehouse=tmp_path / "wh" / "hedui.duckdb")
    try:
        ahead = dataclasses.replace(ctx, plan=monthly_plan("2026-10"))
        assert _planned(ahead, "monthly", Period.parse("2026-10")) is ahead
        other = _planned(ahead, "monthly", Period.parse("2026-09"))
        assert other.plan is not None and other.plan.label == "2026-09"
        fresh = _planned(ctx, "monthly", Period.parse("2026-10"))
        assert fresh.plan is not None and fresh.plan.label == "2026-10" and ctx.plan is None
    finally:
        ctx.cleanup()
