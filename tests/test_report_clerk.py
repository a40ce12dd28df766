"""The workbook as a clerk uses it (issue 14, items 10-16).

Chinese throughout, decision columns in view, honest scores, a distinct name for full identities
and a print layout.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from pipelines.report import write_reports
from pipelines.report.layout import (
    FLAG_COLUMNS,
    REVIEW_COLUMNS,
    SHEET_FLAGS,
    SHEET_QUARANTINE,
    SHEET_REVIEW,
)
from pipelines.report.text import review_reason_zh
from pipelines.report.workbook import NAME_ONLY_SCORE, beijing_time

from helpers.report_fixture import PERIOD, build_warehouse

#: a run of Latin letters as in an English sentence or a parameter ID (not 户编号 H0001, not X)
_LATIN_WORD = re.compile(r"[A-Za-z_]{3,}")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    warehouse = build_warehouse(tmp_path_factory.mktemp("wh") / "hedui.duckdb")
    return write_reports(warehouse, period=PERIOD, out=tmp_path_factory.mktemp("out"))


def _rows(path: Path, sheet: str) -> list[dict]:
    values = list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_quarantine_reasons_are_chinese_sentences_naming_column_and_value(city: list[Path]) -> None:
    rows = _rows(city[2], SHEET_QUARANTINE)
    by_file = {r["文件"]: r["原因"] for r in rows}
    assert by_file["tax_wages.csv"] == "收入额 “12a.5” 不是有效金额"
    assert by_file["pension.csv"] == "发放年月 为空；发放金额 “9.195” 的小数超过两位"
    assert by_file["bank_icbc.xlsx"] == "文件 bank_icbc.xlsx 缺少必需列 余额"
    assert by_file["medical.csv"] == "结算日期 “2026-10-03” 晚于交付月份的最后一天（2026-09-30）"
    for r in rows:
        # only file names are Latin
        names = re.sub(r"[\w*.]*\.(csv|xlsx)|register|bank_\*", "", r["原因"].replace(r["文件"], ""))
        assert not _LATIN_WORD.search(names), r["原因"]


def test_the_quarantine_sheet_has_nothing_to_fill_in(city: list[Path]) -> None:
    """Item 11: nothing imports a note on a quarantined row, so the sheet offers none."""
    ws = openpyxl.load_workbook(city[2])[SHEET_QUARANTINE]
    header = [c.value for c in ws[1]]
    assert "处理说明" not in header
    fills = {c.fill.fgColor.rgb for c in ws[1]}
    assert not any(str(f).endswith("FFF2CC") for f in fills)  # the yellow "fill me" header
    assert ws.data_validations.dataValidation == []
    about = dict((r["项目"], r["内容"]) for r in _rows(city[2], "说明"))
    assert "只填黄色表头的列" in about["如何填写"]


def test_review_reasons_and_thresholds_carry_no_english_or_parameter_ids(city: list[Path]) -> None:
    for row in _rows(city[2], SHEET_REVIEW):
        assert not _LATIN_WORD.search(row["存疑原因"]), row["存疑原因"]
    for row in _rows(city[2], SHEET_FLAGS):
        assert not _LATIN_WORD.search(row["阈值"] or ""), row["阈值"]
    t002 = next(r for r in _rows(city[1], SHEET_REVIEW) if r["记录号"] == "T002")
    assert "系统说明：证件号和姓名一致，但性别不一致：匹配概率 0.82 低于自动匹配阈值 0.9" in t002["存疑原因"]


def test_thresholds_name_their_parameters_by_label(city: list[Path]) -> None:
    medical = next(r for r in _rows(city[1], SHEET_FLAGS) if r["标记代码"] == "HIGH_MEDICAL_EXPENSE")
    assert "（依据：医疗支出占家庭收入比例、就业成本扣除比例）" in medical["阈值"]
    assert "（依据：医疗支出最低金额）" in medical["阈值"]


@pytest.mark.parametrize(("english", "chinese"), [
    ("two register persons agree on ID and name with close match weights (14.2 and 13.9); the best is "
     "named: check which one the record belongs to",
     "两名登记人员的证件号和姓名都与记录相符，匹配权重接近（14.2 和 13.9），列出的是较高者：请核实记录属于哪一位"),
    ("ID and name agree but birth date, district disagree: match probability 0.41 is below the auto-match "
     "threshold 0.9", "证件号和姓名一致，但出生日期、区县不一致：匹配概率 0.41 低于自动匹配阈值 0.9"),
    ("the ID is one wrong digit from the candidate's but the name only sounds similar (pinyin similarity 0.93)",
     "证件号与候选人相差一位数字，但姓名只是读音相近（拼音相似度 0.93）"),
    ("the ID equals the candidate's once converted from 15 digits but the record or the register has no name",
     "证件号由15位旧号转换后与候选人相同，但记录或花名册缺少姓名"),
    ("the record's ID is blank; a register person has the same name and birth date; never linked on name "
     "alone (3 register persons are candidates)",
     "记录的证件号为空；花名册上有姓名和出生日期相同的人员；仅凭姓名不自动关联（共 3 名登记人员为候选）"),
    ("the record's ID is stored as a number by Excel; a register person has the same name; never linked on "
     "name alone", "记录的证件号被 Excel 存成了数字；花名册上有姓名相同的人员；仅凭姓名不自动关联"),
    ("the record's ID is valid but not on the register; a register person with the same name has no usable "
     "ID there; never linked on name alone",
     "记录的证件号有效但不在花名册上；花名册上的同名人员没有可用证件号；仅凭姓名不自动关联"),
    ("the record's ID is valid but not on the register, so it belongs to someone else; a namesake without "
     "a usable register ID scored only 0.12",
     "记录的证件号有效但不在花名册上，属于他人；花名册上没有可用证件号的同名人员匹配概率仅 0.12"),
    ("a register person shares the name, but sex disagree (probability 0.05 is below the review threshold 0.2)",
     "花名册上有同名人员，但性别不一致（匹配概率 0.05 低于复核阈值 0.2）"),
    ("no register person shares the record's ID or name (the ID is fails its check digit)",
     "花名册上没有与记录证件号或姓名相同的人员（记录的证件号校验位不正确）"),
    ("staff rejected every candidate for this identity", "经办人已否定此身份的所有候选人"),
    ("something new the matcher says", None),
])
def test_the_matchers_reasons_read_in_chinese(english: str, chinese: str | None) -> None:
    assert review_reason_zh(english) == chinese


def test_decision_columns_come_before_the_long_texts_and_the_key_stays_in_view(city: list[Path]) -> None:
    """Item 14: 处理结果 beside the household, 户编号 frozen with the header."""
    for sheet, decision, long_text in ((SHEET_FLAGS, "处理结果", "原因说明"), (SHEET_REVIEW, "核对结论", "存疑原因")):
        columns = FLAG_COLUMNS if sheet == SHEET_FLAGS else REVIEW_COLUMNS
        assert columns.index(decision) < columns.index(long_text)
    ws = openpyxl.load_workbook(city[0])[SHEET_FLAGS]
    header = [c.value for c in ws[1]]
    frozen = ws.freeze_panes  # the top-left cell of the scrolling part
    assert frozen == f"{openpyxl.utils.get_column_letter(header.index('户编号') + 2)}2"


def test_a_name_only_candidate_shows_no_score(city: list[Path]) -> None:
    rows = {r["记录号"]: r for r in _rows(city[0], SHEET_REVIEW)}
    assert rows["A002"]["匹配得分"] == NAME_ONLY_SCORE  # stored score 0.55: not a match score
    scored = {r["记录号"]: r for r in _rows(city[1], SHEET_REVIEW)}
    assert scored["T002"]["匹配得分"] == 0.82  # still a number Excel can sort


def test_full_identity_workbooks_are_named_apart(tmp_path: Path) -> None:
    warehouse = build_warehouse(tmp_path / "hedui.duckdb")
    masked = write_reports(warehouse, period=PERIOD, out=tmp_path / "out")
    full = write_reports(warehouse, period=PERIOD, out=tmp_path / "out", full_identity=True)
    assert [p.name for p in full[:-1]] == [f"hedui-{PERIOD}-990101-实名.xlsx", f"hedui-{PERIOD}-990102-实名.xlsx",
                                            f"hedui-{PERIOD}-all-实名.xlsx"]
    # the masked workbooks are still there, unchanged in name and still masked
    assert all(p.exists() for p in masked)
    assert "张伟" not in str(list(openpyxl.load_workbook(masked[0])[SHEET_FLAGS].values))
    about = dict((r["项目"], r["内容"]) for r in _rows(full[0], "说明"))
    assert f"hedui-{PERIOD}-all-实名.xlsx" in about["隔离记录"]


def test_decision_times_are_shown_in_beijing_time() -> None:
    """Item 13: a decision recorded at 23:30 UTC was taken the next morning in Beijing."""
    assert beijing_time(datetime(2026, 11, 5, 23, 30)) == "2026-11-06 07:30"
    assert beijing_time(datetime(2026, 11, 5, 23, 30, tzinfo=UTC)) == "2026-11-06 07:30"


def test_every_sheet_prints_landscape_one_page_wide_with_header_and_footer(city: list[Path]) -> None:
    """Item 16 (the layout as written; tests/test_report_print.py prints it with LibreOffice)."""
    wb = openpyxl.load_workbook(city[0])
    for ws in wb:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.paperSize == 9, ws.title  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        # fitToWidth 1 is the file format's default, which xlsxwriter leaves out
        assert (ws.page_setup.fitToWidth or 1, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.print_title_rows in ("1:1", "$1:$1"), ws.title
        footer = ws.oddFooter
        assert footer.left.text == f"区县 990101 · {PERIOD}"
        assert footer.right.text == "第 &P 页，共 &N 页"


def test_every_parameter_has_a_chinese_label_and_a_bad_label_is_refused(tmp_path: Path) -> None:
    import shutil

    from pipelines.rulebook import (
        DEFAULT_PARAMETERS,
        RulebookError,
        load_rulebook,
        parameter_labels,
    )

    labels = parameter_labels()
    assert set(labels) == set(load_rulebook().parameters)
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in labels.values())
    rules = tmp_path / "parameters"
    shutil.copytree(DEFAULT_PARAMETERS, rules)
    path = rules / "income_drop_ratio.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("label: 收入骤降比例", "label: [1, 2]"),
                    encoding="utf-8")
    with pytest.raises(RulebookError, match="income_drop_ratio.yaml: key 'label'"):
        load_rulebook(rules)
