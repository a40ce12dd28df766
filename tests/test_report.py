"""Report layer tests: the district review workbooks written by ``write_reports``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openpyxl
import pytest

from pipelines.report import ReportError, write_reports
from pipelines.report.layout import (
    FLAG_COLUMNS,
    QUARANTINE_COLUMNS,
    REVIEW_COLUMNS,
    SHEET_ABOUT,
    SHEET_FLAGS,
    SHEET_NOTICES,
    SHEET_QUARANTINE,
    SHEET_REVIEW,
)

from helpers.report_fixture import IDENTITIES, PERIOD, build_warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("wh") / "hedui.duckdb")


@pytest.fixture(scope="module")
def city(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_reports(warehouse, period=PERIOD, out=tmp_path_factory.mktemp("out"))


def _rows(path: Path, sheet: str) -> list[dict]:
    ws = openpyxl.load_workbook(path)[sheet]
    values = list(ws.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def _all_text(path: Path, *, skip: tuple[str, ...] = ()) -> str:
    wb = openpyxl.load_workbook(path)
    return "\n".join(str(v) for ws in wb if ws.title not in skip
                     for row in ws.iter_rows(values_only=True) for v in row if v is not None)


def test_city_run_writes_a_workbook_per_district_the_city_workbook_and_the_html(city: list[Path]) -> None:
    assert [p.name for p in city] == [
        f"hedui-{PERIOD}-990101.xlsx", f"hedui-{PERIOD}-990102.xlsx", f"hedui-{PERIOD}-all.xlsx",
        f"hedui-{PERIOD}.html",
    ]
    assert all(p.is_file() and p.stat().st_size > 0 for p in city)


def test_sheets_headers_frozen_panes_and_filters_follow_the_layout(city: list[Path]) -> None:
    district = openpyxl.load_workbook(city[0])
    assert district.sheetnames == [SHEET_ABOUT, SHEET_FLAGS, SHEET_REVIEW, SHEET_NOTICES]
    all_wb = openpyxl.load_workbook(city[2])
    assert all_wb.sheetnames == [SHEET_ABOUT, SHEET_FLAGS, SHEET_REVIEW, SHEET_QUARANTINE]
    for sheet, columns, frozen in ((SHEET_FLAGS, FLAG_COLUMNS, "D2"), (SHEET_REVIEW, REVIEW_COLUMNS, "D2"),
                                   (SHEET_QUARANTINE, QUARANTINE_COLUMNS, "A2")):
        ws = all_wb[sheet]
        assert tuple(c.value for c in ws[1]) == columns
        # the header row and the columns up to 户编号 / 记录号 stay in view
        assert ws.freeze_panes == frozen
        assert ws.auto_filter.ref.startswith("A1:")


def test_known_household_shows_reason_figures_threshold_and_earlier_decision(city: list[Path]) -> None:
    rows = _rows(city[0], SHEET_FLAGS)
    assert [(r["户编号"], r["标记代码"]) for r in rows] == [
        ("H0001", "INCOME_OVER_STANDARD"), ("H0001", "PROPERTY_OVER_LIMIT"), ("H0002", "MEMBER_DECEASED"),
    ]
    income = rows[0]
    assert income["期间"] == PERIOD and income["区县代码"] == "990101"
    assert income["保障类别"] == "低保" and income["街道乡镇"] == "和平街道"
    assert income["标记"] == "收入超过保障标准"
    assert income["原因说明"] == "家庭月人均收入 1,234.56 元，高于低保标准 1,010.00 元"
    assert "家庭月人均收入：1,234.56 元" in income["计算值"]
    assert income["阈值"] == "低保标准：1,010.00 元（依据：低保标准）"
    assert income["规则版本"] == "rb-2026a"
    assert "2026-09 排除：一次性补发工资" in income["既往处理"]
    assert income["既往处理"].startswith("再次提示")
    assert (income["处理结果"], income["处理说明"], income["经办人"]) == (None, None, None)
    assert rows[2]["户主姓名"] == "买买提·**"


def test_a_decision_already_imported_shows_as_history_and_leaves_the_column_empty(city: list[Path]) -> None:
    medical = [r for r in _rows(city[1], SHEET_FLAGS) if r["标记代码"] == "HIGH_MEDICAL_EXPENSE"]
    # decided 09:30 UTC: shown in Beijing time
    assert medical[0]["既往处理"] == "现有处理：转交（已转医保部门核实，周科员，2026-11-06 17:30）"
    assert medical[0]["处理结果"] is None


def test_names_and_ids_are_masked_by_default(city: list[Path]) -> None:
    row = _rows(city[0], SHEET_FLAGS)[0]
    assert (row["户主姓名"], row["户主证件号"]) == ("张*", "9901**********1234")
    for path in city[:3]:
        text = _all_text(path)
        assert [v for v in IDENTITIES if v in text] == [], path.name


def test_full_identity_shows_names_and_ids(warehouse: Path, tmp_path: Path) -> None:
    paths = write_reports(warehouse, period=PERIOD, districts=["990101"], out=tmp_path, full_identity=True)
    row = _rows(paths[0], SHEET_FLAGS)[0]
    assert (row["户主姓名"], row["户主证件号"]) == ("张伟", "990101198001011234")
    review = _rows(paths[0], SHEET_REVIEW)[0]
    assert (review["记录姓名"], review["候选姓名"], review["候选证件号"]) == ("张伟", "张伟", "990101198001011234")
    # the notices are handed to the household: masked whatever the clerk's workbook shows
    assert "部分遮蔽" not in _all_text(paths[0], skip=(SHEET_NOTICES,)) and "完整姓名" in _all_text(paths[0])
    notices = _rows(paths[0], SHEET_NOTICES)
    assert notices and all("990101198001011234" not in r["告知书"] for r in notices)


def test_decision_columns_carry_drop_downs_of_the_decision_words(city: list[Path]) -> None:
    wb = openpyxl.load_workbook(city[2])
    for sheet, column, words in ((SHEET_FLAGS, "处理结果", '"属实,排除,转交"'), (SHEET_REVIEW, "核对结论", '"确认,否定"')):
        ws = wb[sheet]
        letter = openpyxl.utils.get_column_letter([c.value for c in ws[1]].index(column) + 1)
        validations = ws.data_validations.dataValidation
        assert [(v.type, v.formula1, str(v.sqref)) for v in validations] == [
            ("list", words, f"{letter}2:{letter}{ws.max_row}")
        ]


def test_review_records_go_to_the_district_of_their_candidate(city: list[Path]) -> None:
    first = _rows(city[0], SHEET_REVIEW)
    second = _rows(city[1], SHEET_REVIEW)
    assert [r["记录号"] for r in first] == ["A002"]
    assert [(r["期间"], r["记录号"]) for r in second] == [(PERIOD, "T002"), ("2026-09", "T102")]
    t002 = second[0]
    assert t002["来源"] == "税务工资薪金" and t002["候选户编号"] == "H0003" and t002["匹配得分"] == 0.82
    assert t002["存疑原因"].startswith("证件号和姓名一致，但出生日期、性别或区县等不符")
    assert "姓名：拼音相同；证件号：一位数字不同" in t002["存疑原因"]
    assert (t002["记录姓名"], t002["记录证件号"]) == ("李*", "9901**********7888")


def test_quarantine_rows_are_only_in_the_city_workbook(city: list[Path]) -> None:
    rows = _rows(city[2], SHEET_QUARANTINE)
    assert [(r["期间"], r["文件"], r["行号"]) for r in rows] == [
        (PERIOD, "bank_icbc.xlsx", None), (PERIOD, "pension.csv", 7), (PERIOD, "tax_wages.csv", 5),
        (PERIOD, "notes.txt", None), ("2026-09", "medical.csv", 2),
    ]
    assert rows[0]["来源"] == "金融资产" and rows[3]["来源"] == "未知文件"
    about = dict((r["项目"], r["内容"]) for r in _rows(city[0], SHEET_ABOUT))
    assert f"hedui-{PERIOD}-all.xlsx" in about["隔离记录"]
    assert "hedui decisions import" in about["如何导入"]
    assert about["期间"] == PERIOD and about["范围"] == "区县 990101" and about["规则版本"] == "rb-2026a"
    assert about["生成时间"].endswith("（北京时间）")
    assert about["内容"].startswith("「核查标记」3 行（其中 3 行尚无适用的处理结论）")
    city_about = dict((r["项目"], r["内容"]) for r in _rows(city[2], SHEET_ABOUT))
    assert city_about["内容"].startswith("「核查标记」5 行（其中 4 行尚无适用的处理结论）")
    assert "（5 行）" in city_about["隔离记录"]


def test_column_widths_fit_chinese_text(city: list[Path]) -> None:
    ws = openpyxl.load_workbook(city[0])[SHEET_FLAGS]
    widths = {ws.cell(1, i + 1).value: ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width
              for i in range(ws.max_column)}
    # "家庭月人均收入 1,234.56 元，高于低保标准 1,010.00 元" is 44 columns wide: it wraps at 36
    assert 36 <= widths["原因说明"] < 38
    assert ws.cell(2, [c.value for c in ws[1]].index("原因说明") + 1).alignment.wrap_text is True
    assert ws.row_dimensions[2].height >= 30  # two lines
    assert widths["户编号"] >= 8 and widths["户编号"] < 20
    assert widths["户主证件号"] >= 20


def test_named_districts_get_only_their_workbooks(warehouse: Path, tmp_path: Path) -> None:
    paths = write_reports(warehouse, period=PERIOD, districts=["990102"], out=tmp_path)
    assert [p.name for p in paths] == [f"hedui-{PERIOD}-990102.xlsx", f"hedui-{PERIOD}.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_the_warehouse_is_read_only_and_left_unchanged(warehouse: Path, tmp_path: Path) -> None:
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    write_reports(warehouse, period=PERIOD, districts=["990101"], out=tmp_path)
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"period": PERIOD, "districts": ["990109"]}, "990109"),
    ({"period": "2026-03"}, "no assessments for period 2026-03"),
])
def test_a_report_that_cannot_be_made_says_why(warehouse: Path, tmp_path: Path, kwargs, message) -> None:
    with pytest.raises(ReportError, match=message):
        write_reports(warehouse, out=tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_warehouse_or_a_bad_period_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        write_reports(tmp_path / "none.duckdb", period=PERIOD, out=tmp_path)
    with pytest.raises(ValueError, match="YYYY-MM"):
        write_reports(tmp_path / "none.duckdb", period="2026-13", out=tmp_path)


def test_a_filled_in_workbook_reads_back_through_the_decisions_importer(city: list[Path], tmp_path: Path) -> None:
    from pipelines.decisions import read_decision_file

    wb = openpyxl.load_workbook(city[1])
    for sheet, values in ((SHEET_FLAGS, {"处理结果": "属实", "处理说明": "入户核实", "经办人": "周科员"}),
                          (SHEET_REVIEW, {"核对结论": "否定", "经办人": "周科员"})):
        ws = wb[sheet]
        header = [c.value for c in ws[1]]
        for column, value in values.items():
            ws.cell(2, header.index(column) + 1, value)
    filled = tmp_path / "filled.xlsx"
    wb.save(filled)
    rows = read_decision_file(filled).sort("kind")
    assert rows.select("kind", "row", "period", "household_id", "flag", "record_no", "person_id", "decision").rows() == [
        ("flag", 2, PERIOD, "H0004", "HIGH_MEDICAL_EXPENSE", None, None, "属实"),
        ("link", 2, PERIOD, None, None, "T002", "P0004", "否定"),
    ]


@pytest.mark.slow
def test_reports_on_the_sample_citys_real_warehouse(sample_warehouse, tmp_path):
    import duckdb
    import openpyxl

    from pipelines.report import write_reports

    paths = write_reports(sample_warehouse, period="2026-10", out=tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["hedui-2026-10-990101.xlsx", "hedui-2026-10-990102.xlsx",
                     "hedui-2026-10-990103.xlsx", "hedui-2026-10-all.xlsx", "hedui-2026-10.html"]
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    flagged = con.execute("""SELECT count(*) FROM flags WHERE period = '2026-10'
                             AND district_code = '990102'""").fetchall()[0][0]
    con.close()
    wb = openpyxl.load_workbook(tmp_path / "hedui-2026-10-990102.xlsx", read_only=True)
    rows = list(wb["核查标记"].iter_rows(values_only=True))
    assert len(rows) - 1 == flagged > 0
    assert all(r[1] == "990102" for r in rows[1:])
