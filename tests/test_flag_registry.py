"""The flag registry (pipelines/flags/): each flag written once, and a ninth flag added in one file."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.flags import (
    DEFAULT_FLAGS_FILE,
    FLAG_LABELS,
    FLAGS,
    REGISTRY,
    data_dependent_flags,
    load_flag_programmes,
)
from pipelines.report import layout
from pipelines.rulebook import RulebookError, load_rulebook, load_screening

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 10, 31)
NINTH = Path(__file__).resolve().parent / "data" / "ninth_flag"


def test_every_flag_file_is_screened_by_rules_and_listed_in_its_order() -> None:
    programmes = load_flag_programmes(load_rulebook().at(DAY))
    assert list(programmes) == list(FLAGS)
    assert programmes["MARGINAL_NO_LONGER"] == ("低保边缘",)
    assert programmes["HIGH_MEDICAL_EXPENSE"] is None
    assert layout.FLAG_LABELS is FLAG_LABELS


def test_flag_parameters_are_parameters_of_the_rulebook() -> None:
    known = set(load_rulebook().parameters)
    for flag in REGISTRY.values():
        assert set(flag.parameters) <= known, flag.name


def test_the_re_raise_class_is_the_flags_own() -> None:
    assert set(data_dependent_flags()) == {"INCOME_DROP", "HIGH_MEDICAL_EXPENSE"}


@pytest.mark.parametrize(("text", "message"), [
    ("INCOME_OVER_STANDARD:\n  programmes: []\n  description: x\n  reference: y\n",
     "programmes must be"),
    ("INCOME_OVER_STANDARD:\n  programmes: 低保\n  description: x\n  reference: y\n",
     "programmes must be"),
    ("INCOME_OVER_STANDARD:\n  programmes: all\n  description: x\n", "'reference'"),
    (("INCOME_OVER_STANDARD:\n  programmes: {2026-10-01: all, 2026-09-01: [低保]}\n"
      "  description: x\n  reference: y\n"), "dates must ascend"),
])
def test_a_bad_flags_file_is_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulebookError, match=message):
        load_screening(path)


@pytest.mark.parametrize(("drop", "message"), [
    ("INCOME_DROP", "says nothing of which programmes flag\\(s\\) INCOME_DROP"),
    (None, "NOT_A_FLAG"),
])
def test_a_flags_file_must_match_the_flag_files(drop: str | None, message: str) -> None:
    rules = load_rulebook().at(DAY)
    programmes = dict(rules.programmes)
    if drop:
        del programmes[drop]
    else:
        programmes["NOT_A_FLAG"] = None
    with pytest.raises(RulebookError, match=message):
        load_flag_programmes(dataclasses.replace(rules, programmes=programmes))


def test_dated_programmes_resolve_on_the_last_day_and_name_the_version(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "parameters", rules_dir / "parameters")
    text = DEFAULT_FLAGS_FILE.read_text(encoding="utf-8")
    (rules_dir / "flags.yaml").write_text(text, encoding="utf-8")
    before = load_rulebook(rules_dir / "parameters").at(DAY)
    assert before.version == load_rulebook().at(DAY).version
    # from 2026-10-15 MARGINAL_NO_LONGER also screens 支出型困难
    (rules_dir / "flags.yaml").write_text(text.replace(
        "    0001-01-01: [低保边缘]\n", "    0001-01-01: [低保边缘]\n    2026-10-15: [低保边缘, 支出型困难]\n"),
        encoding="utf-8")
    book = load_rulebook(rules_dir / "parameters")
    assert book.at(date(2026, 9, 30)).programmes["MARGINAL_NO_LONGER"] == ("低保边缘",)
    after = book.at(DAY)
    assert after.programmes["MARGINAL_NO_LONGER"] == ("低保边缘", "支出型困难")
    assert after.version != before.version
    assert book.at(date(2026, 9, 30)).version == before.version


def test_the_default_flags_file_is_the_repositorys() -> None:
    assert DEFAULT_FLAGS_FILE == ROOT / "rules" / "flags.yaml"


def test_a_ninth_flag_is_one_file_plus_its_programmes_and_a_policy_case(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "pipelines", copy / "pipelines", ignore=ignore)
    shutil.copytree(ROOT / "rules", copy / "rules", ignore=ignore)
    shutil.copy(NINTH / "many_residences.py", copy / "pipelines" / "flags" / "many_residences.py")
    with (copy / "rules" / "flags.yaml").open("a", encoding="utf-8") as out:
        out.write((NINTH / "flags_entry.yaml").read_text(encoding="utf-8"))
    shutil.copy(NINTH / "many_residences_case.yaml", copy / "rules" / "tests" / "many_residences.yaml")

    done = subprocess.run([sys.executable, str(NINTH / "check.py"), str(copy)], check=False, cwd=copy,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)

    assert got["registered"]
    # assessed: its policy cases pass, and so do all the others (no other flag moved)
    assert got["failing"] == [] and got["cases"] > 2
    # evidenced
    assert got["evidence"]["flag"] == "MANY_RESIDENCES"
    assert got["evidence"]["quantities"] == {"living_members": 1, "residential_units": 3}
    assert got["evidence"]["thresholds"] == {
        "max_residential_units": {"value": 1, "parameters": ["max_residential_units"]}}
    assert [r["record_no"] for r in got["evidence"]["records"]] == [
        "real_estate-1", "real_estate-2", "real_estate-3"]
    assert any(n["code"] == "flagged" and n["flag"] == "MANY_RESIDENCES" and n["households"] == 1
               for n in got["notes"])
    # reported, from its own template
    assert got["sentence"] == "家庭名下住宅 3 套，超过每户上限 1 套的两倍"
    # decidable: a clerk's 排除 by the Chinese label is imported, carried, and re-raised exactly
    assert got["published"] == [["MANY_RESIDENCES", "dismissed"]]
    assert got["carried"] == ["dismissed"]
    assert got["re_raised"] == [True]
