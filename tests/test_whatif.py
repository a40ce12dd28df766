"""hedui whatif on data/sample: the monthly run's warehouse, reassessed under proposals.

Checked against the sample's planted truth (truth/households.csv, computed by an independent
oracle), never against this code's own output: raising one district's standard makes exactly
the households between the old and the new threshold newly eligible, and the cost adds up by
hand. The warehouse stays byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.assess import FLAGS
from pipelines.rulebook import DEFAULT_PARAMETERS
from pipelines.whatif import ProposalError, run_whatif
from pipelines.whatif.outputs import comparison_json, write_json, write_outputs

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD

pytestmark = pytest.mark.slow

RAISED_DISTRICT, RAISED_UR, OLD_S, RAISE = "990102", "城市", Decimal(869), Decimal(60)
NEW_S = OLD_S + RAISE
ASSETS_MONTHS = Decimal(24)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _raised_standard(tmp: Path) -> Path:
    """A proposal of one file: 990102 城市 S + 60 from 2026-10-01."""
    folder = tmp / "raise-990102"
    folder.mkdir()
    text = (DEFAULT_PARAMETERS / "dibao_standard.yaml").read_text(encoding="utf-8")
    old = '  "990102":\n    城市:\n      0001-01-01: 840\n      2026-07-01: 869\n'
    assert old in text
    text = text.replace(old, old + f"      2026-10-01: {NEW_S}\n")
    (folder / "dibao_standard.yaml").write_text(text, encoding="utf-8")
    return folder


def _gradual_exit(tmp: Path, months: int) -> Path:
    folder = tmp / f"gradual-exit-{months}"
    folder.mkdir()
    (folder / "gradual_exit_months.yaml").write_text(
        "description: 低保渐退 adopted from 2026-10-01\nunit: months\nreference: test proposal\n"
        f"values:\n  0001-01-01: 0\n  2026-10-01: {months}\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def raised(sample_warehouse, tmp_path_factory):
    before = _digest(sample_warehouse)
    result = run_whatif(warehouse=sample_warehouse, period=SAMPLE_PERIOD,
                        rules=_raised_standard(tmp_path_factory.mktemp("proposal")))
    assert _digest(sample_warehouse) == before
    return result


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "truth" / "households.csv", infer_schema=False).filter(
        pl.col("period") == SAMPLE_PERIOD)


def _dec(value: str | None) -> Decimal | None:
    return None if value in (None, "") else Decimal(value)


def _eligible(r: dict, s: Decimal) -> bool:
    """Whether this household would qualify with standard S (rules.md, read independently)."""
    if int(r["living_members"]) == 0:
        return False
    income, assets = _dec(r["income_per_capita"]), _dec(r["assets_per_capita"])
    prop = r["property_violation"] or None
    assets_over = assets is not None and assets > ASSETS_MONTHS * s
    if r["programme"] in ("低保", "特困"):
        threshold = s if r["programme"] == "低保" else Decimal(r["standard"])  # T for 特困
        income_over = income is not None and income > threshold
        return not (assets_over or prop == "true" or income_over)
    return (income is not None and income <= s and assets is not None
            and assets <= ASSETS_MONTHS * s and prop == "false")


def test_an_identical_proposal_changes_nothing(sample_warehouse, tmp_path):
    before = _digest(sample_warehouse)
    result = run_whatif(warehouse=sample_warehouse, period=SAMPLE_PERIOD,
                        rules=DEFAULT_PARAMETERS.parent)
    c = result.comparison
    assert c.households.height > 400
    assert c.changed.height == 0 and comparison_json(result)["changed"] == []
    assert c.summary["benefit_diff_fen"].abs().sum() == 0
    for col in c.summary.columns:
        if col.endswith(("_households", "_persons")) and col not in ("households", "persons"):
            assert c.summary[col].sum() == 0, col
    assert _digest(sample_warehouse) == before


def test_raising_one_standard_makes_exactly_the_households_between_the_thresholds_eligible(
        raised, truth):
    scope = truth.filter((pl.col("district_code") == RAISED_DISTRICT)
                         & (pl.col("urban_rural") == RAISED_UR))
    expected = {r["household_id"] for r in scope.iter_rows(named=True)
                if not _eligible(r, OLD_S) and _eligible(r, NEW_S)}
    got = set(raised.comparison.households.filter(pl.col("newly_eligible"))["household_id"])
    assert expected, "the sample should have households between the two thresholds"
    assert got == expected
    assert raised.comparison.summary["newly_eligible_households"].sum() == len(expected)
    assert raised.comparison.summary["no_longer_eligible_households"].sum() == 0
    # nobody outside the district and 城乡类别 whose standard changed is affected
    outside = raised.comparison.changed.filter((pl.col("district_code") != RAISED_DISTRICT)
                                               | (pl.col("urban_rural") != RAISED_UR))
    assert outside.height == 0
    assert set(raised.comparison.changed["parameters"]) == {"dibao_standard"}


def test_the_cost_difference_adds_up_by_hand(raised, truth):
    by_id = {r["household_id"]: r for r in truth.iter_rows(named=True)}
    changed = raised.comparison.changed
    checked = 0
    for r in changed.iter_rows(named=True):
        t = by_id[r["household_id"]]
        living, income = int(t["living_members"]), _dec(t["income_per_capita"])
        diff = Decimal(r["benefit_diff_fen"]) / 100
        if r["status_before"] == r["status_after"] == "eligible" and t["programme"] == "低保":
            # still eligible: S rose by 60 for each living member
            assert diff == RAISE * living, r["household_id"]
            checked += 1
        elif r["newly_eligible"] and t["programme"] == "低保":
            assert diff == (NEW_S - income) * living, r["household_id"]
            checked += 1
        elif r["newly_eligible"]:  # a not-enrolled household costed as if enrolled in 低保
            assert diff == max(NEW_S - income, Decimal(0)) * living, r["household_id"]
            checked += 1
    assert checked >= 5
    total = sum(changed["benefit_diff_fen"].to_list())
    assert raised.comparison.summary["benefit_diff_fen"].sum() == total > 0


def test_the_json_is_the_contracts_and_lists_every_change(raised, tmp_path):
    doc = json.loads(write_json(tmp_path / "c.json", raised).read_text(encoding="utf-8"))
    assert set(doc) == {"period", "rulebook_version_before", "rulebook_version_after", "changed"}
    assert doc["period"] == SAMPLE_PERIOD
    assert doc["rulebook_version_before"] != doc["rulebook_version_after"]
    ids = [e["household_id"] for e in doc["changed"]]
    assert len(ids) == len(set(ids)) == raised.comparison.changed.filter(
        pl.col("changing_flags") | pl.col("benefit_changes")).height > 0
    for e in doc["changed"]:
        assert set(e) == {"household_id", "district_code", "flags_before", "flags_after",
                          "benefit_before", "benefit_after"}
        assert set(e["flags_before"]) | set(e["flags_after"]) <= set(FLAGS)
        assert e["flags_before"] != e["flags_after"] or e["benefit_before"] != e["benefit_after"]


def test_the_workbook_and_page_are_written_without_identities(raised, tmp_path):
    import openpyxl

    paths = write_outputs(raised, tmp_path / "out")
    xlsx, html = paths
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    assert wb.sheetnames == ["说明", "分区县汇总", "受影响家庭", "参数变化"]
    rows = list(wb["受影响家庭"].iter_rows(values_only=True))
    assert rows[0][0] == "户编号" and len(rows) - 1 == raised.comparison.changed.height
    params = list(wb["参数变化"].iter_rows(values_only=True))
    assert params[1][:4] == ("dibao_standard", "990102 城市", "869", str(NEW_S))
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?:", page)  # opens offline
    assert "H9901" not in page  # aggregates only: no household number


def test_gradual_exit_keeps_the_flags_and_names_the_wage_driven_households(
        sample_warehouse, tmp_path, truth):
    result = run_whatif(warehouse=sample_warehouse, period=SAMPLE_PERIOD,
                        rules=_gradual_exit(tmp_path, 6))
    h = result.comparison.households
    # the flag itself is raised exactly as before; only its evidence and the status change
    assert (h["flags_before"] == h["flags_after"]).all()
    entering = set(h.filter(pl.col("entering_gradual_exit"))["household_id"])
    expected = set()
    for r in truth.iter_rows(named=True):
        income, s = _dec(r["income_per_capita"]), Decimal(r["standard"])
        if r["programme"] != "低保" or income is None or income <= s:
            continue
        if _dec(r["wage_income"]) in (None, Decimal(0)):
            continue
        assets = _dec(r["assets_per_capita"])
        if r["property_violation"] == "true" or (assets is not None and assets > ASSETS_MONTHS * s):
            continue  # 渐退 keeps a benefit lost to income only
        months, living = int(r["pension_months"]), int(r["living_members"])
        benefit_pc = (Decimal(r["benefit_income"]) / months / living) if months else Decimal(0)
        if benefit_pc.quantize(Decimal("0.01")) <= s:
            expected.add(r["household_id"])
    assert expected and entering == expected
    # the sample warehouse holds no 2026-09 assessment: the kept benefit is unknown and said so
    assert any("渐退户缺少首次超标前一月" in n for n in result.notes)


def test_the_command_refuses_an_invalid_proposal_and_leaves_everything_untouched(
        sample_warehouse, tmp_path, monkeypatch):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "income_window_months.yaml").write_text(
        "description: d\nunit: months\nreference: r\nvalues:\n  0001-01-01: six\n", encoding="utf-8")
    from pipelines import whatif

    def no_work(*args, **kwargs):
        raise AssertionError("the warehouse was opened for an invalid proposal")

    monkeypatch.setattr(whatif, "open_readonly", no_work)
    with pytest.raises(ProposalError, match="income_window_months.yaml"):
        run_whatif(warehouse=sample_warehouse, period=SAMPLE_PERIOD, rules=folder)
    before = _digest(sample_warehouse)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "whatif", "--period", SAMPLE_PERIOD,
                           "--rules", str(folder), "--warehouse", str(sample_warehouse),
                           "--out", str(out), "--json", str(tmp_path / "c.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1
    said = "".join(proc.stderr.split())  # the console wraps long lines
    assert "提案规则无效" in said and "income_window_months.yaml:values.0001-01-01" in said
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "c.json").exists()
    assert _digest(sample_warehouse) == before


def test_the_command_writes_its_files_and_leaves_the_warehouse_byte_identical(
        sample_warehouse, tmp_path):
    before = _digest(sample_warehouse)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "whatif", "--period", SAMPLE_PERIOD,
                           "--rules", str(_raised_standard(tmp_path)), "--district", RAISED_DISTRICT,
                           "--warehouse", str(sample_warehouse), "--out", str(out),
                           "--json", str(tmp_path / "c.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert _digest(sample_warehouse) == before
    assert sorted(p.name for p in out.iterdir()) == [f"whatif-{SAMPLE_PERIOD}-{RAISED_DISTRICT}.html",
                                                     f"whatif-{SAMPLE_PERIOD}-{RAISED_DISTRICT}.xlsx"]
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert doc["changed"] and {e["district_code"] for e in doc["changed"]} == {RAISED_DISTRICT}


def test_the_command_names_a_month_that_was_never_published(sample_warehouse, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "whatif", "--period", "2026-09",
                           "--rules", str(DEFAULT_PARAMETERS.parent), "--warehouse",
                           str(sample_warehouse), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1 and "2026-09" in proc.stderr and "Traceback" not in proc.stderr
    bad = subprocess.run([sys.executable, "-m", "pipelines.cli", "whatif", "--period", "2026-13",
                          "--rules", str(DEFAULT_PARAMETERS.parent), "--warehouse",
                          str(sample_warehouse)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def _monthly(incoming: Path, period: str, warehouse: Path, rules_dir: Path) -> None:
    from pipelines import runner

    ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse,
                                   rules_dir=rules_dir)
    try:
        runner.execute_monthly(ctx, period, districts=None)
    finally:
        ctx.cleanup()


def test_gradual_exit_counts_months_across_monthly_runs_and_whatif_costs_ending_it(
        sample_warehouse, tmp_path):
    """A city that adopted 渐退 (N = 3): its months checked, then a proposal ending it costed.

    It runs 2026-08, 09 and 10; the month count and the kept benefit are checked against the
    truth of those months, then a proposal ending 渐退 (rules/) is costed.
    """
    home = tmp_path / "city"
    shutil.copytree(sample_warehouse.parent, home)  # the folder cache makes the reruns cheap
    warehouse = home / sample_warehouse.name
    rules = tmp_path / "adopted"
    shutil.copytree(DEFAULT_PARAMETERS, rules)
    (rules / "gradual_exit_months.yaml").write_text(
        "description: 低保渐退 adopted\nunit: months\nreference: test city\n"
        "values:\n  0001-01-01: 3\n", encoding="utf-8")
    for period in ("2026-08", "2026-09", "2026-10"):
        _monthly(SAMPLE / "incoming", period, warehouse, rules)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        states = {h: json.loads(e)["gradual_exit"] for h, e in con.sql(
            "SELECT household_id, evidence::VARCHAR FROM flags WHERE period = '2026-10' AND "
            "flag = 'INCOME_OVER_STANDARD' AND json_exists(evidence, '$.gradual_exit')").fetchall()}
    finally:
        con.close()
    truth = pl.read_csv(SAMPLE / "truth" / "households.csv", infer_schema=False)
    month_truth = {m: {r["household_id"]: r for r in truth.filter(pl.col("period") == m)
                       .iter_rows(named=True)} for m in ("2026-08", "2026-09")}

    def over(r: dict | None) -> bool:
        return (r is not None and r["programme"] == "低保" and r["income_per_capita"] != ""
                and Decimal(r["income_per_capita"]) > Decimal(r["standard"]))

    assert states and {s["months"] for s in states.values()} == {3}
    # 2026-07 was never assessed in this warehouse: a run reaches back to 2026-08 at most
    for hid, state in states.items():
        want = 1
        if over(month_truth["2026-09"].get(hid)):
            want = 3 if over(month_truth["2026-08"].get(hid)) else 2
        assert state["month"] == want, hid
        assert state["in_gradual_exit"] is True
    assert len({s["month"] for s in states.values()}) >= 2

    # the city's adopted rulebook is its own folder; the proposal (rules/) ends 渐退
    result = run_whatif(warehouse=warehouse, period=SAMPLE_PERIOD, rules=DEFAULT_PARAMETERS.parent,
                        adopted_rules=rules)
    assert result.comparison.changed_parameters == ["gradual_exit_months"]
    ending = result.comparison.households.filter(pl.col("status_before") == "gradual_exit")
    assert ending.height and ending["no_longer_eligible"].all()
    changed = result.comparison.changed.filter(pl.col("status_before") == "gradual_exit")
    assert set(changed["parameters"]) == {"gradual_exit_months"}
    kept_checked = 0
    for r in changed.iter_rows(named=True):
        state = states[r["household_id"]]
        before_first = {"2026-09": "2026-08", "2026-10": "2026-09"}.get(state["first_month_over"])
        assert r["benefit_fen_after"] == 0
        if before_first is None:  # the month before the first over S was never assessed
            assert r["benefit_fen_before"] is None
            continue
        t = month_truth[before_first][r["household_id"]]  # kept: that month's 低保 benefit
        kept = (Decimal(t["standard"]) - Decimal(t["income_per_capita"])) * int(t["living_members"])
        assert Decimal(r["benefit_fen_before"]) / 100 == max(kept, Decimal(0)), r["household_id"]
        kept_checked += 1
    assert kept_checked >= 1
