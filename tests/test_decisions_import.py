"""Tests of the decisions layer's import: district workbooks and CSVs into ``decisions``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter

from pipelines.decisions import (
    _DDL,
    DecisionImportError,
    ensure_decisions_table,
    import_decisions,
    link_overrides,
    load_flag_decisions,
    read_decision_file,
)
from pipelines.report.layout import (
    FLAG_COLUMNS,
    REVIEW_COLUMNS,
    SHEET_FLAGS,
    SHEET_QUARANTINE,
    SHEET_REVIEW,
    SOURCE_LABELS,
)

P = "2026-10"
T0 = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
T1 = datetime(2026, 11, 6, 9, 30, tzinfo=UTC)

EVIDENCE_H001 = json.dumps({
    "quantities": {"income_per_capita": 1200.0},
    "thresholds": {"S": {"value": 1010.0, "parameters": ["standard"]}},
    "records": [{"source": "tax_wages", "period": P, "record_no": "T9"}],
}, ensure_ascii=False)
EVIDENCE_H002 = json.dumps({
    "quantities": {"residential_units": 3},
    "thresholds": {"max_residential_units": {"value": 1, "parameters": ["max_residential_units"]}},
    "records": [{"source": "real_estate", "period": P, "record_no": "E1"}],
}, ensure_ascii=False)


def _warehouse(path: Path) -> Path:
    """A warehouse with one period of flags, links and staging rows (architecture.md columns)."""
    con = duckdb.connect(str(path))
    con.execute("""CREATE TABLE flags (period VARCHAR, household_id VARCHAR,
        district_code VARCHAR, flag VARCHAR, evidence JSON, rulebook_version VARCHAR,
        decision VARCHAR, decision_reason VARCHAR, decided_by VARCHAR, decided_at TIMESTAMP,
        re_raised BOOLEAN)""")
    con.execute("INSERT INTO flags (period, household_id, district_code, flag, evidence, "
                "rulebook_version) VALUES (?, 'H001', '990101', 'INCOME_OVER_STANDARD', ?, 'v1'),"
                " (?, 'H002', '990102', 'PROPERTY_OVER_LIMIT', ?, 'v1')",
                [P, EVIDENCE_H001, P, EVIDENCE_H002])
    con.execute("""CREATE TABLE links (source VARCHAR, period VARCHAR, record_no VARCHAR,
        person_id VARCHAR, household_id VARCHAR, score DOUBLE, status VARCHAR, method VARCHAR,
        match_weight DOUBLE, candidate_person_id VARCHAR, candidate_household_id VARCHAR,
        reason VARCHAR, comparison VARCHAR)""")
    con.execute("""INSERT INTO links VALUES
        ('tax_wages', '2026-10', 'T1', NULL, NULL, 0.7, 'review', 'scored', 4.1, 'P101', 'H001',
         'name differs', '{"name": "different", "id": "exact"}'),
        ('tax_wages', '2026-10', 'T2', 'P102', 'H001', 1.0, 'matched', 'exact', 20.0, NULL, NULL,
         NULL, '{"name": "exact", "id": "exact"}'),
        ('pension', '2026-10', 'N1', NULL, NULL, 0.6, 'review', 'scored', 2.0, 'P201', 'H002',
         'no usable ID', '{"name": "exact", "id": "blank"}')""")
    con.execute("""CREATE TABLE stg_tax_wages (source VARCHAR, period VARCHAR, record_no VARCHAR,
        id_norm VARCHAR, name_norm VARCHAR, amount_fen BIGINT)""")
    con.execute("""INSERT INTO stg_tax_wages VALUES
        ('tax_wages', '2026-10', 'T1', '990101199001010011', '张玮', 500000),
        ('tax_wages', '2026-10', 'T2', '990101199202020022', '李娜', 300000)""")
    con.execute("""CREATE TABLE stg_pension (source VARCHAR, period VARCHAR, record_no VARCHAR,
        id_norm VARCHAR, name_norm VARCHAR, amount_fen BIGINT)""")
    con.execute("INSERT INTO stg_pension VALUES ('pension', '2026-10', 'N1', NULL, '王芳', 90000)")
    con.close()
    return path


@pytest.fixture
def db(tmp_path: Path):
    con = duckdb.connect(str(_warehouse(tmp_path / "hedui.duckdb")))
    yield con
    con.close()


def _flag_row(period=P, household="H001", flag="INCOME_OVER_STANDARD", result="排除",
              note="工资为一次性补发", clerk="李明") -> dict:
    return {"期间": period, "区县代码": "990101", "户编号": household, "标记代码": flag,
            "处理结果": result, "处理说明": note, "经办人": clerk}


def _review_row(period=P, source=SOURCE_LABELS["tax_wages"], record="T1", candidate="P101",
                result="确认", note=None, clerk="李明") -> dict:
    return {"期间": period, "来源": source, "记录号": record, "候选个人编号": candidate,
            "核对结论": result, "处理说明": note, "经办人": clerk}


def _workbook(path: Path, flags: list[dict | None], reviews: list[dict | None]) -> Path:
    """A district workbook in layout.py's sheets; ``None`` leaves a blank row."""
    book = xlsxwriter.Workbook(str(path))
    for sheet, columns, rows in ((SHEET_FLAGS, FLAG_COLUMNS, flags),
                                 (SHEET_REVIEW, REVIEW_COLUMNS, reviews)):
        ws = book.add_worksheet(sheet)
        ws.write_row(0, 0, columns)
        for r, row in enumerate(rows, start=1):
            for c, name in enumerate(columns):
                value = (row or {}).get(name)
                if value is not None:
                    ws.write_string(r, c, value)
    book.add_worksheet(SHEET_QUARANTINE).write_row(0, 0, ["期间"])
    book.close()
    return path


def _csv(path: Path, columns: tuple[str, ...], rows: list[dict], encoding: str) -> Path:
    lines = [",".join(columns)]
    lines += [",".join((row.get(c) or "") for c in columns) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _dump(con: duckdb.DuckDBPyConnection) -> tuple:
    tables = con.sql("SELECT table_name FROM information_schema.tables "
                     "ORDER BY table_name").fetchall()
    if ("decisions",) not in tables:
        return tables, None
    return tables, con.sql("SELECT * FROM decisions ORDER BY decision_id").fetchall()


def test_valid_workbook_records_link_and_flag_decisions(db, tmp_path):
    book = _workbook(tmp_path / "990101.xlsx", [_flag_row(), None, _flag_row(
        household="H002", flag="PROPERTY_OVER_LIMIT", result="属实", note=None)],
        [_review_row(), _review_row(source="pension", record="N1", candidate=None,
                                    result="否定", note="同名不同人")])
    result = import_decisions(book, db, imported_at=T0)

    assert (result.rows_read, result.recorded, result.already_recorded) == (4, 4, 0)
    assert (result.flag_decisions, result.link_decisions) == (2, 2)
    rows = db.sql("SELECT * FROM decisions ORDER BY decision_id").pl()
    assert rows.get_column("decision_id").to_list() == [1, 2, 3, 4]
    flag = rows.row(0, named=True)
    assert flag["kind"] == "flag" and flag["household_id"] == "H001"
    assert flag["decision"] == "dismissed" and flag["reason"] == "工资为一次性补发"
    assert flag["decided_by"] == "李明" and flag["decided_at"] == T0
    assert flag["evidence"] == EVIDENCE_H001 and flag["import_file"] == "990101.xlsx"
    assert rows.row(1, named=True)["decision"] == "verified"
    link = rows.row(2, named=True)
    assert (link["kind"], link["source"], link["period"], link["record_no"]) == (
        "link", "tax_wages", P, "T1")
    assert (link["id_norm"], link["name_norm"], link["person_id"], link["household_id"]) == (
        "990101199001010011", "张玮", "P101", "H001")
    assert link["decision"] == "confirmed" and link["flag"] is None
    assert json.loads(link["evidence"])["comparison"] == '{"name": "different", "id": "exact"}'
    # a blank candidate cell is the candidate under review
    rejected = rows.row(3, named=True)
    assert (rejected["person_id"], rejected["decision"]) == ("P201", "rejected")


def test_importing_the_same_file_twice_changes_nothing(db, tmp_path):
    book = _workbook(tmp_path / "990101.xlsx", [_flag_row()], [_review_row()])
    import_decisions(book, db, imported_at=T0)
    before = _dump(db)
    again = import_decisions(book, db, imported_at=T1)
    assert (again.recorded, again.already_recorded) == (0, 2)
    assert _dump(db) == before


def test_a_changed_decision_is_appended_and_the_old_one_kept(db, tmp_path):
    first = _workbook(tmp_path / "a.xlsx", [_flag_row()], [])
    import_decisions(first, db, imported_at=T0)
    import_decisions(_workbook(tmp_path / "b.xlsx", [_flag_row(result="转交", note="转街道")], []),
                     db, imported_at=T1)
    decided = load_flag_decisions(db)
    assert decided.get_column("decision").to_list() == ["dismissed", "referred"]
    assert decided.get_column("decided_at").to_list() == [T0, T1]
    # the first file again does not undo the later decision
    before = _dump(db)
    assert import_decisions(first, db, imported_at=T1).recorded == 0
    assert _dump(db) == before
    # a clerk returning to the earlier decision in a new file is recorded
    back = _workbook(tmp_path / "c.xlsx", [_flag_row(note="工资为一次性补发。")], [])
    assert import_decisions(back, db, imported_at=T1).recorded == 1


BAD_ROWS = [
    pytest.param([_flag_row(household="H999")], [], SHEET_FLAGS, 2, "不是本期被标记的家庭",
                 id="unknown-household"),
    pytest.param([_flag_row(flag="ASSETS_OVER_LIMIT")], [], SHEET_FLAGS, 2,
                 "没有标记 ASSETS_OVER_LIMIT", id="unknown-flag"),
    pytest.param([_flag_row(flag="NOT_A_FLAG")], [], SHEET_FLAGS, 2, "不是规则中的标记",
                 id="not-a-flag-name"),
    pytest.param([_flag_row(result="算了")], [], SHEET_FLAGS, 2, "不是可选的结论",
                 id="unknown-decision-word"),
    pytest.param([_flag_row(period="2026-09")], [], SHEET_FLAGS, 2,
                 "在数据仓库中没有核对结果", id="another-period"),
    pytest.param([_flag_row(note=None)], [], SHEET_FLAGS, 2, "须在处理说明中写明理由",
                 id="dismissal-without-reason"),
    pytest.param([None, _flag_row(clerk=None)], [], SHEET_FLAGS, 3, "经办人为空",
                 id="no-clerk"),
    pytest.param([], [_review_row(record="T2", candidate="P102")], SHEET_REVIEW, 2,
                 "不在待复核状态", id="record-not-in-review"),
    pytest.param([], [_review_row(record="T404")], SHEET_REVIEW, 2, "交付中没有记录号",
                 id="record-not-in-links"),
    pytest.param([], [_review_row(candidate="P999")], SHEET_REVIEW, 2,
                 "不是该记录待复核的候选人", id="other-candidate"),
    pytest.param([], [_review_row(source="外星局")], SHEET_REVIEW, 2, "不是约定的数据来源",
                 id="unknown-source"),
    pytest.param([], [_review_row(result="属实")], SHEET_REVIEW, 2, "确认或否定",
                 id="flag-word-on-review-sheet"),
]


@pytest.mark.parametrize(("flags", "reviews", "sheet", "row", "message"), BAD_ROWS)
def test_a_bad_row_refuses_the_whole_file(db, tmp_path, flags, reviews, sheet, row, message):
    import_decisions(_workbook(tmp_path / "first.xlsx", [], [_review_row(
        source="pension", record="N1", candidate="P201", result="否定")]), db, imported_at=T0)
    before = _dump(db)
    good_flag = [_flag_row(household="H002", flag="PROPERTY_OVER_LIMIT", result="属实")]
    book = _workbook(tmp_path / "bad.xlsx", flags or good_flag,
                     reviews or [_review_row(note="核实为同一人")])
    with pytest.raises(DecisionImportError) as caught:
        import_decisions(book, db, imported_at=T1)
    assert [(p[0], p[1]) for p in caught.value.problems] == [(sheet, row)]
    assert message in caught.value.problems[0][2]
    assert f"「{sheet}」第 {row} 行：" in str(caught.value) and "bad.xlsx" in str(caught.value)
    assert _dump(db) == before


def test_every_bad_row_is_listed_and_nothing_is_written_to_a_fresh_warehouse(db, tmp_path):
    before = _dump(db)
    book = _workbook(tmp_path / "bad.xlsx",
                     [_flag_row(), _flag_row(household="H404"), None, _flag_row(result="maybe")],
                     [_review_row(), _review_row(record="T2")])
    with pytest.raises(DecisionImportError) as caught:
        import_decisions(book, db, imported_at=T0)
    where = sorted((p[0], p[1]) for p in caught.value.problems)
    assert where == [(SHEET_REVIEW, 3), (SHEET_FLAGS, 3), (SHEET_FLAGS, 5)]
    assert _dump(db) == before  # not even the decisions table was created


def test_two_rows_deciding_one_flag_differently_are_refused(db, tmp_path):
    book = _workbook(tmp_path / "dup.xlsx", [_flag_row(), _flag_row(result="属实")], [])
    with pytest.raises(DecisionImportError) as caught:
        import_decisions(book, db, imported_at=T0)
    assert caught.value.problems == [(SHEET_FLAGS, 3,
                                      f"与「{SHEET_FLAGS}」第 2 行对同一标记的结论矛盾")]


def test_messages_never_carry_an_id_number_or_a_name(db, tmp_path):
    book = _workbook(tmp_path / "bad.xlsx", [_flag_row(clerk=None)],
                     [_review_row(candidate="P999"), _review_row(record="T2")])
    with pytest.raises(DecisionImportError) as caught:
        import_decisions(book, db, imported_at=T0)
    text = str(caught.value)
    for secret in ("990101199001010011", "990101199202020022", "张玮", "李娜", "P999"):
        assert secret not in text


def test_rows_without_a_decision_are_ignored_and_rows_keep_excel_numbers(tmp_path):
    book = _workbook(tmp_path / "wb.xlsx",
                     [_flag_row(result=None, note=None, clerk=None), None, _flag_row()],
                     [_review_row(result=None, clerk=None)])
    rows = read_decision_file(book)
    assert rows.select("sheet", "row", "kind", "household_id", "decision").rows() == [
        (SHEET_FLAGS, 4, "flag", "H001", "排除")]


def test_csv_of_each_sheet_imports_in_gb18030_and_utf8_bom(db, tmp_path):
    flags = _csv(tmp_path / "flags.csv", FLAG_COLUMNS, [_flag_row()], "gb18030")
    reviews = _csv(tmp_path / "review.csv", REVIEW_COLUMNS,
                   [_review_row(source="tax_wages", note="本人确认")], "utf-8-sig")
    assert import_decisions(flags, db, imported_at=T0).flag_decisions == 1
    assert import_decisions(reviews, db, imported_at=T0).link_decisions == 1
    rows = db.sql("SELECT kind, import_file, decision, reason FROM decisions "
                  "ORDER BY decision_id").fetchall()
    assert rows == [("flag", "flags.csv", "dismissed", "工资为一次性补发"),
                    ("link", "review.csv", "confirmed", "本人确认")]


def test_csv_errors_name_the_file_and_the_row(db, tmp_path):
    bad = _csv(tmp_path / "flags.csv", FLAG_COLUMNS, [_flag_row(), _flag_row(household="H404")],
               "utf-8")
    with pytest.raises(DecisionImportError) as caught:
        import_decisions(bad, db, imported_at=T0)
    assert [(p[0], p[1]) for p in caught.value.problems] == [("flags.csv", 3)]


def test_a_file_that_is_not_a_decision_file_is_refused(db, tmp_path):
    other = _csv(tmp_path / "other.csv", ("期间", "户编号"), [{"期间": P, "户编号": "H001"}],
                 "utf-8")
    with pytest.raises(DecisionImportError, match="既没有 处理结果"):
        import_decisions(other, db)
    book = _workbook(tmp_path / "wb.xlsx", [], [])
    no_column = tmp_path / "short.csv"
    no_column.write_text("期间,户编号,处理结果\n2026-10,H001,排除\n", encoding="utf-8")
    with pytest.raises(DecisionImportError, match="表头缺少列"):
        import_decisions(no_column, db)
    assert import_decisions(book, db).rows_read == 0


def test_import_writes_inside_a_transaction_the_caller_holds(db, tmp_path):
    book = _workbook(tmp_path / "wb.xlsx", [_flag_row()], [])
    db.begin()
    assert import_decisions(book, db, imported_at=T0).recorded == 1
    db.rollback()
    assert _dump(db)[1] is None


def test_decision_times_are_stored_as_moments(db, tmp_path):
    """Issue 14 item 13: decided_at is TIMESTAMPTZ; an import at 07:30 Beijing is 23:30 UTC the day before."""
    from datetime import timedelta, timezone
    shanghai = timezone(timedelta(hours=8))
    book = _workbook(tmp_path / "wb.xlsx", [_flag_row()], [])
    import_decisions(book, db, imported_at=datetime(2026, 11, 6, 7, 30, tzinfo=shanghai))
    types = dict(db.sql("SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'decisions'").fetchall())
    assert types["decided_at"] == types["imported_at"] == "TIMESTAMP WITH TIME ZONE"
    stored = db.sql("SELECT decided_at FROM decisions").fetchall()[0][0]
    assert stored.tzinfo is not None and stored == datetime(2026, 11, 5, 23, 30, tzinfo=UTC)
    assert stored.astimezone(shanghai).date().isoformat() == "2026-11-06"


def test_a_table_of_naive_utc_times_is_converted_keeping_each_moment(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    con.execute(_DDL.replace("TIMESTAMPTZ", "TIMESTAMP"))
    con.execute("INSERT INTO decisions (decision_id, kind, period, decision, decided_by, decided_at, "
                "imported_at, import_file, import_sha256) VALUES (1, 'flag', '2026-10', 'verified', "
                "'李明', TIMESTAMP '2026-11-05 23:30:00', TIMESTAMP '2026-11-05 23:30:00', 'a.xlsx', 'x')")
    ensure_decisions_table(con)
    ensure_decisions_table(con)  # a second call changes nothing
    assert con.sql("SELECT decided_at FROM decisions").fetchall()[0][0] == datetime(2026, 11, 5, 23, 30, tzinfo=UTC)
    con.close()


def test_a_link_decision_imports_again_after_a_run_relinked_the_record(db, tmp_path):
    book = _workbook(tmp_path / "wb.xlsx", [], [_review_row()])
    import_decisions(book, db, imported_at=T0)
    db.execute("UPDATE links SET status = 'matched', method = 'confirmed', person_id = 'P101', "
               "household_id = 'H001', candidate_person_id = NULL, "
               "candidate_household_id = NULL WHERE record_no = 'T1'")
    before = _dump(db)
    assert import_decisions(book, db, imported_at=T1).recorded == 0
    assert _dump(db) == before


def test_link_overrides_latest_decision_wins(db, tmp_path):
    assert link_overrides(db).is_empty()
    import_decisions(_workbook(tmp_path / "a.xlsx", [], [_review_row(), _review_row(
        source="pension", record="N1", candidate="P201")]), db, imported_at=T0)
    first = link_overrides(db)
    assert first.columns == ["scope", "source", "period", "record_no", "id_norm", "name_norm",
                             "person_id", "decision"]
    # a confirmation without an ID number is not carried forward as an identity (name alone
    # never links), but the very record the clerk decided stays decided
    identity = first.filter(pl.col("scope") == "identity").drop("scope", "period", "record_no")
    assert identity.rows() == [("tax_wages", "990101199001010011", "张玮", "P101", "confirmed")]
    record = first.filter(pl.col("scope") == "record").select("source", "record_no", "person_id",
                                                              "decision")
    assert record.sort("source").rows() == [("pension", "N1", "P201", "confirmed"),
                                            ("tax_wages", "T1", "P101", "confirmed")]
    import_decisions(_workbook(tmp_path / "b.xlsx", [], [_review_row(
        result="否定", note="另有其人"), _review_row(source="pension", record="N1",
                                                 candidate="P201", result="rejected")]),
        db, imported_at=T1)
    latest = link_overrides(db)
    assert latest.filter(pl.col("scope") == "identity").drop("scope", "period", "record_no").sort(
        "source").rows() == [("pension", None, "王芳", "P201", "rejected"),
                             ("tax_wages", "990101199001010011", "张玮", "P101", "rejected")]
    assert set(latest.filter(pl.col("scope") == "record")["decision"]) == {"rejected"}


def test_ensure_decisions_table_keeps_existing_rows(db, tmp_path):
    import_decisions(_workbook(tmp_path / "a.xlsx", [_flag_row()], []), db, imported_at=T0)
    ensure_decisions_table(db)
    assert db.sql("SELECT count(*) FROM decisions").fetchall() == [(1,)]
    frame = load_flag_decisions(db)
    assert frame.schema["decided_at"] == pl.Datetime("us", "UTC")


def test_import_brings_the_published_flags_decision_columns_up_to_date(db, tmp_path):
    later = json.loads(EVIDENCE_H001)
    later["quantities"]["income_per_capita"] = 1500.0  # moved by 0.3 S: material
    db.execute("INSERT INTO flags (period, household_id, district_code, flag, evidence, "
               "rulebook_version) VALUES ('2026-11', 'H001', '990101', 'INCOME_OVER_STANDARD', "
               "?, 'v1'), ('2026-12', 'H001', '990101', 'INCOME_OVER_STANDARD', ?, 'v1')",
               [json.dumps(later), EVIDENCE_H001])
    before = db.sql("SELECT period, household_id, flag, evidence FROM flags "
                    "ORDER BY ALL").fetchall()
    result = import_decisions(_workbook(tmp_path / "a.xlsx", [_flag_row()], []), db,
                              imported_at=T0)
    assert result.flags_refreshed == 3
    rows = db.sql("SELECT period, household_id, decision, decided_by, decided_at, re_raised "
                  "FROM flags ORDER BY period, household_id").fetchall()
    assert rows == [("2026-10", "H001", "dismissed", "李明", T0, False),
                    ("2026-10", "H002", None, None, None, None),
                    ("2026-11", "H001", None, None, None, True),
                    ("2026-12", "H001", "dismissed", "李明", T0, False)]
    # decisions never add, remove or alter a computed flag
    assert db.sql("SELECT period, household_id, flag, evidence FROM flags "
                  "ORDER BY ALL").fetchall() == before


def test_a_flags_table_without_decision_columns_is_left_alone(db, tmp_path):
    db.execute("ALTER TABLE flags DROP COLUMN re_raised")
    result = import_decisions(_workbook(tmp_path / "a.xlsx", [_flag_row()], []), db,
                              imported_at=T0)
    assert (result.recorded, result.flags_refreshed) == (1, 0)
    assert db.sql("SELECT count(*) FROM flags WHERE decision IS NOT NULL").fetchall() == [(0,)]


def test_csv_headers_are_trimmed_and_ragged_rows_refused(db, tmp_path):
    spaced = tmp_path / "spaced.csv"
    spaced.write_text(" 期间 ,户编号,标记代码 ,处理结果,处理说明,经办人\n"
                      "2026-10,H001,INCOME_OVER_STANDARD,Dismissed,一次性收入,李明\n",
                      encoding="utf-8")
    rows = read_decision_file(spaced)
    assert rows.select("row", "period", "flag", "decision").rows() == [
        (2, P, "INCOME_OVER_STANDARD", "Dismissed")]
    assert import_decisions(spaced, db, imported_at=T0).recorded == 1
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("期间,户编号,标记代码,处理结果,处理说明,经办人\n"
                      "2026-10,H001,INCOME_OVER_STANDARD,排除,a,b,c,d\n", encoding="utf-8")
    with pytest.raises(DecisionImportError, match="不是格式正确的 CSV 文件"):
        read_decision_file(ragged)


def test_a_recorded_flag_decision_imports_again_after_its_flag_was_recomputed_away(db, tmp_path):
    book = _workbook(tmp_path / "wb.xlsx", [_flag_row()], [])
    import_decisions(book, db, imported_at=T0)
    db.execute("DELETE FROM flags WHERE household_id = 'H001'")  # a re-run no longer raises it
    before = _dump(db)
    assert import_decisions(book, db, imported_at=T1).already_recorded == 1
    assert _dump(db) == before
    changed = _workbook(tmp_path / "changed.xlsx", [_flag_row(result="属实")], [])
    with pytest.raises(DecisionImportError, match="不是本期被标记的家庭"):
        import_decisions(changed, db, imported_at=T1)


def test_a_clerks_own_words_are_stored_exactly_as_written(db, tmp_path):
    """Issue 14 item 12: no NFKC on 处理说明 and 经办人 (full-width ，（）０ stay); codes still match."""
    note = "已入户核实，工资为一次性补发（２０２６年９月）  "
    book = _workbook(tmp_path / "wb.xlsx", [_flag_row(note=note, clerk="李　明")], [])
    assert import_decisions(book, db, imported_at=T0).recorded == 1
    assert db.sql("SELECT reason, decided_by FROM decisions").fetchall() == [(note, "李　明")]
    # a note of nothing but spaces is no note: a dismissal still needs one
    blank = _workbook(tmp_path / "blank.xlsx", [_flag_row(household="H002", flag="PROPERTY_OVER_LIMIT",
                                                          note="　 ")], [])
    with pytest.raises(DecisionImportError, match="须在处理说明中写明理由"):
        import_decisions(blank, db, imported_at=T1)
