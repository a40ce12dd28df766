"""Dated formula versions of a flag (issue 16): a formula, not a number, that changes on a date.

A flag file may write ``conditions={date(1, 1, 1): old, date(2026, 10, 15): new}``; the formula
in force is resolved on the last day of P, like the parameters, and a dated formula in force that
is not the first enters the rulebook version.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.flags import REGISTRY, Flag, Params, discover, formula_versions
from pipelines.rulebook import RulebookError, load_rulebook

ROOT = Path(__file__).resolve().parents[1]
CHANGE = date(2026, 10, 15)


def _old(p: Params) -> pl.Expr:
    return pl.col("income_pc_fen") > pl.col("s_fen")


def _new(p: Params) -> pl.Expr:
    return pl.col("income_pc_fen") >= pl.col("s_fen")


def _flag(**formulas) -> Flag:
    return Flag(name="DATED", label="按日期的公式", quantities=(), thresholds=(), records=(),
                reraise="exact", sentence="", **formulas)


def test_the_formula_in_force_is_the_last_one_dated_on_or_before_the_day() -> None:
    flag = _flag(conditions={date(1, 1, 1): _old, CHANGE: _new})
    assert flag.formula_at(date(2026, 10, 14)) == (date(1, 1, 1), _old)
    assert flag.formula_at(CHANGE) == (CHANGE, _new)
    assert flag.formula_at(date(2026, 10, 31)) == (CHANGE, _new)
    # the first formula is the one versions were recorded under: it names no version
    assert flag.formula_version(date(2026, 9, 30)) is None
    assert flag.formula_version(date(2026, 10, 31)) == "2026-10-15"
    plain = _flag(condition=_old)
    assert plain.formula_at(date(2026, 10, 31)) == (None, _old)
    assert plain.formula_version(date(2026, 10, 31)) is None


def test_the_repositorys_flags_name_no_formula_version() -> None:
    # every flag of the repository has one formula: today's rulebook versions stay as recorded
    assert formula_versions(date(2026, 10, 31)) == {}
    assert all(f.formula_version(date(2026, 10, 31)) is None for f in REGISTRY.values())


def test_a_day_before_the_first_formula_is_refused_naming_the_file() -> None:
    flag = _flag(conditions={date(2027, 1, 1): _new})
    with pytest.raises(RulebookError) as err:
        flag.formula_at(date(2026, 10, 31))
    message = str(err.value)
    assert "tests/test_flag_formulas.py" in message
    assert "DATED" in message and "没有生效的公式" in message and "2027-01-01" in message


@pytest.mark.parametrize(("formulas", "words"), [
    ({"conditions": {"2027-01-01": _new}}, "不是日期"),
    ({"conditions": {datetime(2027, 1, 1): _new}}, "不是日期"),  # noqa: DTZ001 (a key, not a time)
    ({"conditions": {}}, "非空"),
    ({"conditions": {date(2027, 1, 1): "income_pc_fen > s_fen"}}, "不是函数"),
    ({"condition": _old, "conditions": {date(1, 1, 1): _new}}, "只写其一"),
    ({}, "只写其一"),
])
def test_malformed_formulas_are_refused(formulas: dict, words: str) -> None:
    with pytest.raises(RulebookError, match=words) as err:
        _flag(**formulas)
    assert "标记 DATED" in str(err.value)


def test_a_malformed_flag_file_is_refused_by_its_file_name(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "dated_flags"
    package.mkdir()
    (package / "__init__.py").write_text('"""Flags of a test."""\n', encoding="utf-8")
    (package / "bad_dates.py").write_text(textwrap.dedent('''\
        """A flag whose formula is keyed by text, not a date."""
        import polars as pl
        from pipelines.flags import Flag
        FLAG = Flag(name="BAD_DATES", label="坏日期", quantities=(), thresholds=(), records=(),
                    reraise="exact", sentence="",
                    conditions={"2027-01-01": lambda p: pl.col("has_death")})
        '''), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RulebookError) as err:
        discover([str(package)], "dated_flags")
    message = str(err.value)
    assert message.startswith("dated_flags/bad_dates.py：")
    assert "BAD_DATES" in message and "'2027-01-01'" in message and "不是日期" in message


CHECK = textwrap.dedent('''\
    import json
    from datetime import date
    from pipelines.assess import assess_period
    from pipelines.policy_cases import build_case
    from pipelines.rulebook import load_rulebook
    rulebook = load_rulebook()
    out = {}
    for period, day in (("2026-09", date(2026, 9, 30)), ("2026-10", date(2026, 10, 31)),
                        ("2026-11", date(2026, 11, 30))):
        # income per capita exactly at S = 1010: above it (old) no, at or above it (new) yes
        case = {"period": period, "household": {"programme": "低保"},
                "records": {"pension": [{"who": "A", "month": period, "yuan": 6060.00}]}}
        result = assess_period(**build_case(case), rulebook=rulebook)
        out[period] = {"flags": sorted(result.flags["flag"]),
                       "version": rulebook.at(day).version,
                       "recorded": sorted(set(result.flags["rulebook_version"]))}
    print(json.dumps(out))
    ''')


def test_a_formula_that_changes_mid_year_assesses_each_month_by_the_formula_in_force(
        tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "pipelines", copy / "pipelines", ignore=ignore)
    shutil.copytree(ROOT / "rules", copy / "rules", ignore=ignore)
    flag_file = copy / "pipelines" / "flags" / "income_over_standard.py"
    text = flag_file.read_text(encoding="utf-8")
    assert "    condition=condition,\n" in text
    text = text.replace("import polars as pl\n", "from datetime import date\n\nimport polars as pl\n", 1)
    text = text.replace("    condition=condition,\n",
                        "    conditions={date(1, 1, 1): condition, date(2026, 10, 15): at_or_above},\n")
    text = text.replace("\n\nFLAG = Flag(", '''

def at_or_above(p: Params) -> pl.Expr:
    """From 2026-10-15: income per capita at or above the household's own standard."""
    return pl.col("income_pc_fen") >= pl.when(pl.col("is_tekun")).then(pl.col("t_fen")).otherwise(pl.col("s_fen"))


FLAG = Flag(''', 1)
    flag_file.write_text(text, encoding="utf-8")

    done = subprocess.run([sys.executable, "-c", CHECK], check=False, cwd=copy,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    rulebook = load_rulebook()
    # before the change: the old formula, and the version recorded today
    assert got["2026-09"]["flags"] == []
    assert got["2026-09"]["version"] == rulebook.at(date(2026, 9, 30)).version
    # the month containing the change is resolved on its last day: the new formula
    assert got["2026-10"]["flags"] == ["INCOME_OVER_STANDARD"]
    assert got["2026-11"]["flags"] == ["INCOME_OVER_STANDARD"]
    # same numbers, another formula: another version, recorded on the flags it raised
    for period, day in (("2026-10", date(2026, 10, 31)), ("2026-11", date(2026, 11, 30))):
        assert got[period]["version"] != rulebook.at(day).version
        assert got[period]["recorded"] == [got[period]["version"]]
