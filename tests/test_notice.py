"""The household notice (核对告知书) on the sample run: figures, no placeholders, no foreign IDs.

Expected figures are read here straight from the warehouse (evidence JSON and clean rows) and
formatted independently of pipelines/notice.py.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal

import duckdb
import pytest
import yaml

from pipelines.assess import FLAGS
from pipelines.notice import district_notices, household_notice

from conftest import ROOT, SAMPLE_PERIOD

pytestmark = pytest.mark.slow

DEPARTMENTS = yaml.safe_load((ROOT / "rules" / "notices" / "notice.yaml").read_text())["departments"]
#: the money column of each source's clean row that a notice must quote
MONEY = {"tax_wages": "amount_fen", "pension": "amount_fen", "bank": "balance_fen",
         "medical": "self_paid_fen"}
MONTH = {"tax_wages": "income_month", "pension": "income_month"}
#: quantities each flag's text must state
KEY_QUANTITIES = {
    "INCOME_OVER_STANDARD": ("income_per_capita", "wage_income", "benefit_income"),
    "ASSETS_OVER_LIMIT": ("assets_per_capita",),
    "PROPERTY_OVER_LIMIT": (),
    "ELIGIBLE_NOT_ENROLLED": ("income_per_capita", "assets_per_capita"),
    "MARGINAL_NO_LONGER": (),
    "MEMBER_DECEASED": ("members", "living_members"),
    "INCOME_DROP": ("avg_last3", "avg_prev3"),
    "HIGH_MEDICAL_EXPENSE": ("medical_out_of_pocket", "household_income_w"),
}
ID18 = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
ID15 = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
MASKED = re.compile(r"[0-9]{4}\*{10}[0-9X]{4}")


def _yuan(value) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _month(text: str) -> str:
    return f"{int(text[:4])}年{int(text[5:7])}月"


@pytest.fixture(scope="module")
def con(sample_warehouse):
    c = duckdb.connect(str(sample_warehouse), read_only=True)
    yield c
    c.close()


def _first_household(con, flag: str) -> tuple[str, dict, str]:
    row = con.execute("""SELECT household_id, evidence, rulebook_version FROM flags
                         WHERE period = ? AND flag = ? ORDER BY household_id LIMIT 1""",
                      [SAMPLE_PERIOD, flag]).fetchone()
    assert row is not None, f"the sample has no {flag} flag in {SAMPLE_PERIOD}"
    return row[0], json.loads(row[1]), row[2]


def _clean_row(con, source: str, folder: str, record_no: str) -> dict:
    cur = con.execute(f"SELECT * FROM stg_{source} WHERE period = ? AND record_no = ?", [folder, record_no])
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


@pytest.mark.parametrize("flag", FLAGS)
def test_each_flag_states_the_figures_of_its_evidence(con, flag):
    household, evidence, version = _first_household(con, flag)
    text = household_notice(con, period=SAMPLE_PERIOD, household_id=household)
    assert version in text
    for name in KEY_QUANTITIES[flag]:
        value = evidence["quantities"][name]
        assert (_yuan(value) if isinstance(value, float) else str(value)) in text, name
    for name, threshold in evidence["thresholds"].items():
        value = threshold["value"]
        shown = _yuan(value) if isinstance(value, float) else f"{value:,}"
        assert shown in text, name
    assert evidence["records"] or flag == "ELIGIBLE_NOT_ENROLLED"
    for record in evidence["records"]:
        source = record["source"]
        assert record["record_no"] in text
        assert DEPARTMENTS[source] in text
        row = _clean_row(con, source, record["period"], record["record_no"])
        if source in MONEY and row[MONEY[source]] is not None:
            assert _yuan(Decimal(row[MONEY[source]]) / 100) in text, record
        month = row[MONTH[source]] if source in MONTH else record["period"]
        if source == "deaths":
            month = str(row["died_on"])[:7]
        elif source == "medical":
            month = str(row["settled_on"])[:7]
        assert _month(month) in text, record


@pytest.fixture(scope="module")
def all_notices(con):
    districts = [r[0] for r in con.execute(
        "SELECT DISTINCT district_code FROM flags WHERE period = ?", [SAMPLE_PERIOD]).fetchall()]
    return district_notices(con, period=SAMPLE_PERIOD, districts=districts)


def test_every_flagged_household_gets_one_complete_notice(con, all_notices):
    flagged = con.execute("SELECT count(DISTINCT household_id) FROM flags WHERE period = ?",
                          [SAMPLE_PERIOD]).fetchone()[0]
    assert all_notices.height == flagged
    for text in all_notices["text"]:
        for leftover in ("{{", "}}", "{%", "%}", "{#", "None", "nan", "NaN", "不详", "Undefined"):
            assert leftover not in text, leftover
        assert text.startswith("家庭经济状况核对告知书")


def test_no_identity_but_the_households_own_masked_ids(con, all_notices):
    ids = {r[0] for r in con.execute("""
        SELECT id_raw FROM stg_register UNION SELECT id_norm FROM stg_register
        UNION SELECT id_raw FROM stg_tax_wages UNION SELECT id_raw FROM stg_bank
        UNION SELECT id_raw FROM stg_pension UNION SELECT id_raw FROM stg_deaths""").fetchall()
        if r[0] and len(r[0]) >= 15}
    names = {r[0] for r in con.execute("SELECT DISTINCT name_raw FROM stg_register").fetchall()
             if r[0] and len(r[0]) >= 2}
    record_nos = {r[0] for r in con.execute("SELECT record_no FROM links").fetchall()}
    for household, text in zip(all_notices["household_id"], all_notices["text"], strict=True):
        assert not ID18.findall(text), household
        assert set(ID15.findall(text)) <= record_nos, household  # 15 digits: bank 记录号 only
        assert not [i for i in ids if i in text], household
        assert not [n for n in names if n in text], household
        own = con.execute("SELECT count(*) FROM stg_register WHERE period = ? AND household_id = ? "
                          "AND length(id_norm) = 18", [SAMPLE_PERIOD, household]).fetchone()[0]
        assert len(MASKED.findall(text)) >= own


def test_a_repaired_id_link_and_pending_review_records_are_said(con):
    row = con.execute("""
        SELECT f.household_id FROM flags f, unnest(CAST(json_extract(f.evidence, '$.records') AS JSON[])) AS r(rec)
        WHERE f.period = ? AND json_extract_string(rec, '$.link_method') = 'id_transposition'
        ORDER BY 1 LIMIT 1""", [SAMPLE_PERIOD]).fetchone()
    assert row is not None
    assert "相邻两位数字颠倒" in household_notice(con, period=SAMPLE_PERIOD, household_id=row[0])
    pending = con.execute("""
        SELECT f.household_id, l.source FROM flags f JOIN links l ON l.candidate_household_id = f.household_id
        WHERE f.period = ? AND l.status = 'review' ORDER BY 1 LIMIT 1""", [SAMPLE_PERIOD]).fetchone()
    assert pending is not None
    text = household_notice(con, period=SAMPLE_PERIOD, household_id=pending[0])
    assert "待工作人员复核" in text and DEPARTMENTS[pending[1]] in text


@pytest.fixture()
def edited(sample_warehouse, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(sample_warehouse, copy)
    c = duckdb.connect(str(copy))
    # the big tables are views over the original's per-period files (pipelines/partitions.py):
    # the tables these tests edit become the copy's own
    for table in ("flags", "links", "assessments"):
        c.execute(f"CREATE TABLE _edit_{table} AS SELECT * FROM {table}")
        c.execute(f"DROP VIEW {table}")
        c.execute(f"ALTER TABLE _edit_{table} RENAME TO {table}")
    yield c
    c.close()


def test_a_flag_resting_on_a_confirmed_review_link_says_so(edited):
    household, evidence, _ = _first_household(edited, "ASSETS_OVER_LIMIT")
    before = household_notice(edited, period=SAMPLE_PERIOD, household_id=household)
    assert "待复核记录" not in before
    record = evidence["records"][0]
    record["link_method"] = "confirmed"
    edited.execute("UPDATE flags SET evidence = ? WHERE period = ? AND household_id = ? AND flag = ?",
                   [json.dumps(evidence), SAMPLE_PERIOD, household, "ASSETS_OVER_LIMIT"])
    edited.execute("UPDATE links SET method = 'confirmed' WHERE source = ? AND period = ? AND record_no = ?",
                   [record["source"], record["period"], record["record_no"]])
    text = household_notice(edited, period=SAMPLE_PERIOD, household_id=household)
    assert "待复核记录" in text and "人工核对后确认" in text


def test_a_missing_delivery_is_said(edited):
    household, _, _ = _first_household(edited, "INCOME_OVER_STANDARD")
    assert "没有交付" not in household_notice(edited, period=SAMPLE_PERIOD, household_id=household)
    edited.execute("UPDATE assessments SET missing_sources = 'vehicles,bank_partial' "
                   "WHERE period = ? AND household_id = ?", [SAMPLE_PERIOD, household])
    text = household_notice(edited, period=SAMPLE_PERIOD, household_id=household)
    assert "公安交管部门的机动车登记在核对期内没有交付" in text
    assert "部分银行本月的数据未能使用" in text
