"""Staff decisions across consecutive monthly runs on the sample city (real stages, real import)."""

from __future__ import annotations

import csv
import json
import shutil

import duckdb
import polars as pl
import pytest

from pipelines import warehouse as wh
from pipelines.decisions import DecisionImportError, import_decisions
from pipelines.report.layout import FLAG_COLUMNS, REVIEW_COLUMNS

from conftest import SAMPLE, read_delivered_csv, run_local_monthly

# every test builds on the module's own sample runs (2026-09, then 2026-10)
pytestmark = pytest.mark.slow


def _q(path, sql, params=None):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql, params=params).pl()
    finally:
        con.close()


def _write_csv(path, columns, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})
    return path


def _import(path, warehouse):
    with wh.publishing(warehouse) as con:
        return import_decisions(path, con)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A private copy of the sample, run for 2026-09 (the first month)."""
    root = tmp_path_factory.mktemp("decisions-city")
    shutil.copytree(SAMPLE / "incoming", root / "incoming")
    warehouse = root / "hedui.duckdb"
    run_local_monthly(root / "incoming", "2026-09", warehouse)
    return root, warehouse


def test_confirmed_and_rejected_reviews_are_not_asked_again_next_month(city, tmp_path):
    root, warehouse = city
    truth = pl.read_csv(SAMPLE / "truth" / "records.csv", infer_schema=False).filter(
        pl.col("expected") == "link").select(
        "source", "period", "record_no", pl.col("true_person_id").replace("", None))
    review = (_q(warehouse, """SELECT source, period, record_no, candidate_person_id FROM links
                              WHERE status = 'review' ORDER BY ALL""")
              .join(truth, on=["source", "period", "record_no"], how="left"))
    assert review.height > 10
    rows = [{"期间": r["period"], "来源": r["source"], "记录号": r["record_no"],
             "候选个人编号": r["candidate_person_id"],
             "核对结论": "确认" if r["candidate_person_id"] == r["true_person_id"] else "否定",
             "处理说明": "入户核实", "经办人": "王科员"} for r in review.iter_rows(named=True)]
    confirmed = {(r["来源"], r["期间"], r["记录号"]): r["候选个人编号"] for r in rows if r["核对结论"] == "确认"}
    rejected = {(r["来源"], r["期间"], r["记录号"]): r["候选个人编号"] for r in rows if r["核对结论"] == "否定"}
    assert confirmed and rejected
    result = _import(_write_csv(tmp_path / "review.csv", REVIEW_COLUMNS, rows), warehouse)
    assert result.recorded == len(rows)

    run_local_monthly(root / "incoming", "2026-10", warehouse)
    overlap = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09")
    after = _q(warehouse, f"""SELECT source, period, record_no, status, method, person_id,
                              candidate_person_id FROM links WHERE period IN {overlap}""")
    keyed = {(r["source"], r["period"], r["record_no"]): r for r in after.iter_rows(named=True)}
    for key, person in confirmed.items():
        assert keyed[key]["status"] == "matched" and keyed[key]["method"] == "confirmed"
        assert keyed[key]["person_id"] == person
    for key, person in rejected.items():
        assert keyed[key]["person_id"] != person
        assert keyed[key]["candidate_person_id"] != person or keyed[key]["status"] == "unmatched"
    # the queue shrinks by every confirmed record; a record still in review was rejected for
    # its old candidate and now asks about another one (a new question, not the same one)
    review_before = review.filter(pl.col("period").is_in(overlap)).height
    still = after.filter(pl.col("status") == "review")
    confirmed_in_overlap = sum(1 for k in confirmed if k[1] in overlap)
    assert still.height <= review_before - confirmed_in_overlap
    for r in still.iter_rows(named=True):
        key = (r["source"], r["period"], r["record_no"])
        assert key in rejected and r["candidate_person_id"] != rejected[key]
    # importing the same decisions again records nothing
    assert _import(tmp_path / "review.csv", warehouse).recorded == 0


def _flag_row(household, flag, decision="排除", note="已入户核实，收入为一次性补发"):
    return {"期间": "2026-10", "户编号": household, "标记代码": flag, "处理结果": decision,
            "处理说明": note, "经办人": "李科员"}


def test_a_dismissed_flag_stays_quiet_until_its_evidence_changes(city, tmp_path):
    root, warehouse = city
    run_local_monthly(root / "incoming", "2026-10", warehouse)
    flagged = _q(warehouse, """SELECT f.household_id, f.evidence FROM flags f
        WHERE f.period = '2026-10' AND f.flag = 'INCOME_OVER_STANDARD' ORDER BY household_id""")
    assert flagged.height > 0
    household = flagged["household_id"][0]
    _import(_write_csv(tmp_path / "flags.csv", FLAG_COLUMNS,
                       [_flag_row(household, "INCOME_OVER_STANDARD")]), warehouse)

    run_local_monthly(root / "incoming", "2026-10", warehouse)
    row = _q(warehouse, """SELECT decision, re_raised, decision_reason FROM flags WHERE period = '2026-10'
                           AND household_id = ? AND flag = 'INCOME_OVER_STANDARD'""", [household])
    # decision words are read after NFKC; the clerk's remark is kept as written (full-width ，)
    assert row.to_dicts() == [{"decision": "dismissed", "re_raised": False,
                               "decision_reason": "已入户核实，收入为一次性补发"}]  # as the clerk wrote it

    # a new wage of 30,000 yuan for a living member moves income far past the standard
    member = _q(warehouse, """SELECT id18, name_raw FROM stg_register WHERE period = '2026-10'
        AND household_id = ? AND id_status = 'valid' ORDER BY person_id LIMIT 1""", [household])
    wages = root / "incoming" / "2026-10" / "tax_wages.csv"
    frame = read_delivered_csv(wages)
    extra = {c: "" for c in frame.columns}
    extra.update({"记录号": "TW-NEW-0001", "纳税人识别号": member["id18"][0],
                  "纳税人姓名": member["name_raw"][0], "所得期间": "2026-10", "收入额": "30000.00",
                  "扣缴义务人名称": "新单位"})
    pl.concat([frame, pl.DataFrame([extra])]).write_csv(wages)
    run_local_monthly(root / "incoming", "2026-10", warehouse)
    row = _q(warehouse, """SELECT decision, re_raised, evidence FROM flags WHERE period = '2026-10'
                           AND household_id = ? AND flag = 'INCOME_OVER_STANDARD'""", [household])
    assert row.height == 1
    assert row["decision"][0] is None and row["re_raised"][0] is True
    records = json.loads(row["evidence"][0])["records"]
    assert {"source": "tax_wages", "period": "2026-10", "record_no": "TW-NEW-0001"} in [
        {k: r[k] for k in ("source", "period", "record_no")} for r in records]


def test_a_file_with_one_bad_row_changes_nothing(city, tmp_path):
    _root, warehouse = city
    before = wh.connect_readonly(warehouse)
    count = before.execute("SELECT count(*) FROM decisions").fetchall()[0][0]
    before.close()
    bad = _write_csv(tmp_path / "bad.csv", FLAG_COLUMNS, [
        _flag_row("H-NOT-THERE", "INCOME_OVER_STANDARD"),
        _flag_row("H-NOT-THERE-EITHER", "NOT_A_FLAG", decision="也许")])
    with pytest.raises(DecisionImportError) as exc:
        _import(bad, warehouse)
    assert "第 2 行" in str(exc.value) and "第 3 行" in str(exc.value)
    after = wh.connect_readonly(warehouse)
    assert after.execute("SELECT count(*) FROM decisions").fetchall()[0][0] == count
    after.close()
