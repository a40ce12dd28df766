"""rules/matching.yaml: the loader accepts the shipped file and refuses broken ones by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.match import MatchingParamsError, load_matching_params
from pipelines.match.params import LEVELS, METHODS

SHIPPED = Path(__file__).resolve().parents[1] / "rules" / "matching.yaml"


def test_default_path_is_the_repository_rules_file():
    assert load_matching_params() == load_matching_params(SHIPPED)


def test_shipped_file_describes_every_method_and_orders_its_thresholds():
    params = load_matching_params()
    assert set(params.methods) == set(METHODS)
    assert all(len(description) > 20 for _, description in params.methods.values())
    assert params.review_threshold <= params.match_threshold
    for field, levels in LEVELS.items():
        assert set(params.m[field]) == set(levels)


def _write(tmp_path: Path, edit) -> Path:
    tree = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(tree)
    path = tmp_path / "matching.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t["comparisons"]["name"].pop("pinyin_same"), "comparisons.name.pinyin_same"),
    (lambda t: t["comparisons"]["birth"]["equal"].update(m=0.5), "sum to"),
    (lambda t: t["thresholds"].update(review_probability=0.99), "above match_probability"),
    (lambda t: t["thresholds"].update(match_probability="high"), "must be a number"),
    (lambda t: t["methods"].pop("ambiguous"), "methods.ambiguous"),
    (lambda t: t["methods"].update(guessed={"status": "matched", "description": "x"}),
     "never emits"),
    (lambda t: t["methods"]["id_exact"].update(status="maybe"), "unknown status"),
    (lambda t: t["methods"]["id_name_mismatch"].update(status="matched"), "always gives status"),
    (lambda t: t["name"].update(jw_mid=0.99), "jw_mid"),
])
def test_broken_files_are_refused_naming_the_problem(tmp_path, edit, message):
    with pytest.raises(MatchingParamsError, match=message):
        load_matching_params(_write(tmp_path, edit))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(MatchingParamsError, match="does not exist"):
        load_matching_params(tmp_path / "nope.yaml")
