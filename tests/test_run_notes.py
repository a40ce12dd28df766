"""The run's notes: structured records, merged across district partitions, worded in Chinese once."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from pipelines import run_notes as rn
from pipelines.run_notes import KINDS, merge_notes, note, word

from helpers.english import english_words
from helpers.note_examples import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]

def _codes_built_in(path: Path) -> set[str]:
    """The codes ``note("…", …)`` calls in one source file build (any spelling of the call)."""
    codes = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name != "note" or not node.args:
            continue
        first = node.args[0]
        assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
            f"{path.relative_to(ROOT)}:{node.lineno}: a note's code must be a literal string, so "
            "that this test can check it has a wording")
        codes.add(first.value)
    return codes


def test_every_code_the_pipeline_builds_has_a_chinese_wording():
    built = set().union(*(_codes_built_in(p) for p in (ROOT / "pipelines").rglob("*.py")))
    assert built, "no note(...) call found: the scan is broken"
    assert built <= set(KINDS), f"codes without a wording in pipelines/run_notes.py: {built - set(KINDS)}"
    # and no wording is left over for a note nobody writes any more
    assert set(KINDS) <= built, f"wordings no stage uses: {set(KINDS) - built}"


def test_a_code_without_a_wording_is_refused_when_the_note_is_built():
    with pytest.raises(KeyError, match="no wording"):
        note("INCOME_DROP: 45 household(s) flagged")


@pytest.mark.parametrize("code", sorted(KINDS))
def test_every_kind_words_its_note_in_chinese(code):
    assert set(EXAMPLES) == set(KINDS), "add an example for a new note kind"
    n = note(code, **{**EXAMPLES[code], "period": "2026-10"})
    assert json.loads(json.dumps(n, ensure_ascii=False)) == n  # runs.summary stores it as JSON
    text = word(n)
    assert text.startswith("2026-10：")
    assert english_words(text) == [], text
    for k in KINDS[code].counts:  # every count the note carries is said
        if n.get(k):
            assert str(n[k]) in text


def test_wordings_say_what_the_supervisor_needs():
    assert word(note("flagged", flag="INCOME_DROP", households=45)) == "“家庭收入骤降”（INCOME_DROP）标记 45 户"
    assert word(note("undecided", flag="ELIGIBLE_NOT_ENROLLED", households=1, period="2026-10")) == (
        "2026-10：“可能符合低保条件未纳入”（ELIGIBLE_NOT_ENROLLED）有 1 户无法判定，判定所需的某项数据未知")
    assert word(note("income_source_partial", source="tax_wages", delivered=4, months=6)) == (
        "税务工资薪金在核定窗口的 6 个月中只交付了 4 个月，收入合计按 4 个月平均")
    refused = word(note("register_refused", file="register.csv", reason_code="file_binary",
                        reason="register.csv is not a text file (binary content)"))
    assert "文件 register.csv 不是文本文件（二进制内容）" in refused
    enum = word(note("enum_outside", **EXAMPLES["enum_outside"]))
    assert enum == ("人社养老金/失业金的“待遇类型”有不在约定取值内的值：“遗属补助”（2 行）、“其他”（1 行），"
                    "另有 3 个值未列出")


def test_with_period_sets_the_month_and_keeps_one_already_named():
    notes = [note("income_unknown"), note("flagged", flag="INCOME_DROP", households=1, period="2026-09")]
    assert rn.with_period(notes, "2026-10") == [
        {"code": "income_unknown", "period": "2026-10"},
        {"code": "flagged", "flag": "INCOME_DROP", "households": 1, "period": "2026-09"}]
    assert "period" not in notes[0]  # the input is not changed


# ------------------------------------------------------------------------ merging district partitions


def _flagged(flag, n, period="2026-10"):
    return note("flagged", flag=flag, households=n, period=period)


def test_equal_notes_of_the_partitions_sum_their_counts():
    a = [_flagged("INCOME_DROP", 3), note("no_living_members", households=2, period="2026-10")]
    b = [_flagged("INCOME_DROP", 4), note("no_living_members", households=1, period="2026-10")]
    c = [_flagged("INCOME_DROP", 1)]
    assert merge_notes([a, b, c]) == [note("no_living_members", households=3, period="2026-10"),
                                       _flagged("INCOME_DROP", 8)]
    assert a[0]["households"] == 3  # the partitions' notes are not changed


def test_notes_that_differ_in_anything_but_their_counts_stay_apart():
    a = [_flagged("INCOME_DROP", 3), note("undecided", flag="INCOME_DROP", households=1)]
    b = [_flagged("ASSETS_OVER_LIMIT", 2), _flagged("INCOME_DROP", 5, period="2026-09"),
         note("undecided", flag="INCOME_DROP", households=2)]
    merged = merge_notes([a, b])
    assert len(merged) == 4
    assert _flagged("INCOME_DROP", 3) in merged and _flagged("INCOME_DROP", 5, "2026-09") in merged
    assert _flagged("ASSETS_OVER_LIMIT", 2) in merged
    assert note("undecided", flag="INCOME_DROP", households=3) in merged


def test_a_note_without_counts_is_kept_once_and_first_seen_order_holds_within_a_section():
    w1 = note("income_source_partial", source="tax_wages", delivered=4, months=6)
    w2 = note("source_partial", source="medical", delivered=4, months=6)
    w3 = note("source_absent_window", source="bank", first="2026-05", last="2026-10")
    merged = merge_notes([[w1, w2, _flagged("INCOME_DROP", 1)], [w1, w2, w3, _flagged("INCOME_DROP", 2)]])
    assert merged == [w1, w2, w3, _flagged("INCOME_DROP", 3)]


def test_a_window_note_with_other_values_is_a_different_note():
    four = note("income_source_partial", source="tax_wages", delivered=4, months=6)
    five = note("income_source_partial", source="tax_wages", delivered=5, months=6)
    assert merge_notes([[four], [five]]) == [four, five]
