"""What a supervisor sees of a run is Chinese: the terminal summary, the Prefect artifact, the stage lines.

Codes (INCOME_DROP, 990101), paths and option names may stay; English words meant for people may
not (:mod:`helpers.english` says which is which, and is tested here on the old wording too).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from pipelines.cli.app import INFO_WORDS, STAGE_WORDS, _StageProgress, stage_line
from pipelines.run_notes import KINDS, note, word
from pipelines.summary import print_quarter_summary, print_summary, summary_markdown

from helpers.english import english_words
from helpers.note_examples import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]


def _render(fn, summary: dict) -> str:
    console = Console(record=True, width=240, highlight=False)
    fn(summary, console)
    return console.export_text()


def _summary(**extra) -> dict:
    """A summary with every section filled: flags, deliveries, quarantine, fairness, every note."""
    notes = [note(code, **{**params, "period": params.get("period", "2026-10")})
             for code, params in EXAMPLES.items()]
    return {
        "period": "2026-10", "districts": ["990101", "990102"], "files": 54, "files_refused": 2,
        "rows_in": 48_112, "rows_quarantined": 31, "rows_duplicate": 4,
        "links": {"matched": 40_000, "review": 120, "unmatched": 900},
        "households_assessed": 500, "rulebook_version": "3f9ac2e1d0b7",
        "warehouse": "/srv/hedui/warehouse/hedui.duckdb",
        "flags": [{"period": "2026-10", "district_code": "990101", "flag": "INCOME_DROP", "len": 4},
                  {"period": "2026-10", "district_code": "990102", "flag": "MEMBER_DECEASED", "len": 1}],
        "delivery_changes": [{"source": "vehicles", "period": "2026-10", "previous_period": "2026-09",
                              "rows": 0, "previous_rows": 3120, "change": -1.0, "threshold": 0.5}],
        "quarantine_reasons": [{"kind": "余额 “…” 不是有效金额", "code": "amount_invalid", "rows": 2,
                                "by_source": [{"source": "bank", "rows": 2}]}],
        "fairness_warnings": ["2026-10 公平性提示：证件号状态「15位旧号」(legacy_15) 的待复核比例 "
                              "12.0%（6/50）超过全市 1.0% 的 3 倍"],
        "notes": notes, **extra,
    }


# ------------------------------------------------------------------------------- the checker


@pytest.mark.parametrize("old", [
    "hedui 2026-10 — run summary", "households assessed 500", "flags by kind and district",
    "INCOME_DROP: 45 household(s) flagged", "note 2026-10: bank was not delivered in 2026-10",
    "next: hedui report --period 2026-10", "warehouse: /tmp/hedui.duckdb",
    "✓ land     2026-10   0.4 s  files 9, rows_in 4811", "bank.xlsx: 1 extra sheet(s) ignored",
])
def test_the_checker_finds_the_english_a_supervisor_used_to_read(old):
    assert english_words(old)


@pytest.mark.parametrize("fine", [
    "下一步：hedui report --period 2026-10 --warehouse /tmp/x/hedui.duckdb",
    "“家庭收入骤降”（INCOME_DROP）标记 45 户", "工作簿 bank_boc.xlsx 另有 1 个工作表",
    "规则版本 3f9ac2e1d0b7", "证件号状态「15位旧号」(legacy_15)、「18位有效」(valid)",
    "hedui monthly（月度核对）2026-10 → 仓库 warehouse/hedui.duckdb",
])
def test_the_checker_lets_codes_paths_and_options_through(fine):
    assert english_words(fine) == []


# ------------------------------------------------------------------------------- the summary


def test_the_terminal_summary_is_chinese():
    text = _render(print_summary, _summary())
    assert english_words(text) == [], text
    for expected in ("hedui 2026-10 运行摘要", "读入行数", "记录匹配：已匹配", "核定户数", "规则版本",
                     "各类标记户数（按区县）", "家庭收入骤降", "INCOME_DROP", "990102",
                     "仓库：/srv/hedui/warehouse/hedui.duckdb"):
        assert expected in text
    for n in _summary()["notes"]:  # every note, worded once by pipelines/run_notes.py
        assert f"说明 {word(n)}" in text


def test_the_prefect_artifact_is_chinese():
    markdown = summary_markdown(_summary())
    assert english_words(markdown) == [], markdown
    assert markdown.startswith("# hedui 核对 2026-10\n")
    assert "| 2026-10 | 990101 | 家庭收入骤降 | INCOME_DROP | 4 |" in markdown
    assert "## 运行说明" in markdown and "## 公平性提示" in markdown
    assert all(f"- {word(n)}" in markdown for n in _summary()["notes"])


def test_the_quarterly_summary_is_chinese():
    quarterly = _summary(period="2026Q3", districts="all", quarter_summary=[
        {"quarter": "2026Q3", "district_code": "990101", "flag": "INCOME_OVER_STANDARD",
         "households_flagged": 3, "households_new": None}])
    text = _render(print_summary, quarterly) + _render(print_quarter_summary, quarterly)
    text += summary_markdown(quarterly)
    assert english_words(text) == [], text
    assert "核定户月数" in text and "季度内任一月被标记即计一户" in text and "2026Q3 季度汇总" in text


def test_an_english_note_would_be_caught():
    # the check can fail: a note worded in English (as before) shows up in the rendering
    text = _render(print_summary, {**_summary(notes=[]), "fairness_warnings": ["bank was not delivered"]})
    assert english_words(text) == ["bank", "delivered"]


# ------------------------------------------------------------------------------- stage lines


def _reported() -> tuple[set[str], set[str]]:
    """The stages and the info keys the runner's ``_report`` calls name (pipelines/, by AST)."""
    stages, keys = set(), set()
    for path in (ROOT / "pipelines").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "_report":
                if node.args and isinstance(node.args[0], ast.Constant):
                    stages.add(node.args[0].value)
                keys |= {k.arg for k in node.keywords if k.arg}
    return stages, keys - {"period", "warehouse"}


def test_every_stage_and_count_the_runner_reports_has_a_chinese_word():
    stages, keys = _reported()
    assert {"land", "match", "assess", "publish"} <= stages
    assert stages <= set(STAGE_WORDS), stages - set(STAGE_WORDS)
    assert keys <= set(INFO_WORDS), keys - set(INFO_WORDS)
    # match reports its counts by link status (**by_status) and as records (reuse, folder)
    assert {"matched", "review", "unmatched", "records"} <= set(INFO_WORDS)


def test_stage_lines_are_chinese():
    console = Console(record=True, width=200, highlight=False)
    progress = _StageProgress(console)
    for stage in STAGE_WORDS:
        progress(stage, "start", {"period": "2026-10"})
        progress(stage, "finish", {"period": "2026-10", "warehouse": "w/hedui.duckdb",
                                   **{k: 3 for k in INFO_WORDS}})
    text = console.export_text()
    assert english_words(text) == [], text
    assert "落地 2026-10" in text and "已匹配 3" in text and "核定" in text
    # a count nobody worded would show as its key, and be caught
    progress("land", "finish", {"period": "2026-10", "rows_weird": 1, "spilled": 2})
    assert english_words(console.export_text()) == ["spilled"]


def test_the_prefect_start_up_line_is_chinese():
    line = stage_line("prefect", "", 9.2, "与落地同时启动；运行为此等待 1.5 秒")
    console = Console(record=True, width=200)
    console.print(line)
    text = console.export_text()
    assert english_words(text) == [] and "Prefect 启动" in text and "9.2 秒" in text


# ------------------------------------------------------------------------------- a real run


def test_the_sample_runs_summary_is_chinese_and_its_notes_stay_codes(sample_run):
    warehouse, summary = sample_run
    text = _render(print_summary, summary) + summary_markdown(summary)
    assert english_words(text) == [], text
    assert summary["notes"] and all(isinstance(n, dict) and "code" in n for n in summary["notes"])
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stored = json.loads(con.execute("SELECT summary FROM runs WHERE status = 'succeeded' "
                                        "ORDER BY finished_at DESC LIMIT 1").fetchone()[0])
    finally:
        con.close()
    # the runs table keeps the codes and counts, not a wording
    assert stored["notes"] == summary["notes"]
    assert {n["code"] for n in stored["notes"]} <= set(KINDS)
    assert not any(word(n) in json.dumps(stored, ensure_ascii=False) for n in stored["notes"])
