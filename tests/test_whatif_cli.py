"""``--rules DIR`` on monthly: the run assesses with that rulebook folder.

Here: it refuses a broken one before landing anything, naming the file and key.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from pipelines.rulebook import DEFAULT_PARAMETERS, load_rulebook, parameters_folder

from conftest import ROOT, SAMPLE, SAMPLE_PERIOD


def test_rules_dir_is_a_rules_folder_or_a_parameters_folder(tmp_path):
    assert parameters_folder(DEFAULT_PARAMETERS.parent) == DEFAULT_PARAMETERS
    assert parameters_folder(DEFAULT_PARAMETERS) == DEFAULT_PARAMETERS
    assert load_rulebook(parameters_folder(DEFAULT_PARAMETERS.parent)).parameters


def test_monthly_uses_the_rules_folder_it_is_given(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_PARAMETERS.parent, rules)
    target = rules / "parameters" / "assets_limit_months.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace(": 24", ": 二十四"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "monthly", "--orchestrator", "local",
         "--incoming", str(SAMPLE / "incoming"), "--period", SAMPLE_PERIOD,
         "--warehouse", str(tmp_path / "w" / "hedui.duckdb"), "--rules", str(rules)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 1
    said = "".join(proc.stderr.split())  # the console wraps long lines
    assert "assets_limit_months.yaml:values.0001-01-01" in said and "notanumber" in said
    assert "Traceback" not in proc.stderr
