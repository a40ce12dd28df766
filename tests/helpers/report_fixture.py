"""Report layer test support: a small literal warehouse with the published tables.

Shared by the report and notebook tests (``from helpers.report_fixture import build_warehouse``).

Its columns are exactly docs/architecture.md's "Published table columns" and the analyst tables
of the report brief; tests/test_report_fixture.py holds the fixture to that.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

PERIOD = "2026-10"
EARLIER = "2026-09"

PUBLISHED = {
    "links": "source VARCHAR, period VARCHAR, record_no VARCHAR, person_id VARCHAR, household_id VARCHAR, "
             "score DOUBLE, status VARCHAR, method VARCHAR, match_weight DOUBLE, candidate_person_id VARCHAR, "
             "candidate_household_id VARCHAR, reason VARCHAR, comparison VARCHAR",
    "quarantine": "source VARCHAR, period VARCHAR, file VARCHAR, row_number BIGINT, record_no VARCHAR, reason VARCHAR",
    "assessments": "period VARCHAR, household_id VARCHAR, district_code VARCHAR, urban_rural VARCHAR, "
                   "programme VARCHAR, members INTEGER, living_members INTEGER, income_per_capita DECIMAL(18,2), "
                   "assets_per_capita DECIMAL(18,2), residential_units INTEGER, standard DECIMAL(18,2), "
                   "wage_income DECIMAL(18,2), benefit_income DECIMAL(18,2), medical_out_of_pocket DECIMAL(18,2), "
                   "household_income_w DECIMAL(18,2), missing_sources VARCHAR, rulebook_version VARCHAR",
    "flags": "period VARCHAR, household_id VARCHAR, district_code VARCHAR, flag VARCHAR, evidence VARCHAR, "
             "rulebook_version VARCHAR, decision VARCHAR, decision_reason VARCHAR, decided_by VARCHAR, "
             "decided_at TIMESTAMP, re_raised BOOLEAN",
    "stg_register": "source VARCHAR, period VARCHAR, file VARCHAR, row_number BIGINT, household_id VARCHAR, "
                    "person_id VARCHAR, id_raw VARCHAR, id_norm VARCHAR, id18 VARCHAR, id_status VARCHAR, "
                    "id_birth_on DATE, id_sex VARCHAR, name_raw VARCHAR, name_norm VARCHAR, name_pinyin VARCHAR, "
                    "sex VARCHAR, birth_on DATE, relation VARCHAR, district_code VARCHAR, street VARCHAR, "
                    "urban_rural VARCHAR, programme VARCHAR, disability_grade VARCHAR, serious_illness VARCHAR, "
                    "address VARCHAR, phone VARCHAR",
    "runs": "run_id VARCHAR, flow VARCHAR, period VARCHAR, districts VARCHAR, status VARCHAR, "
            "started_at TIMESTAMP, finished_at TIMESTAMP, rulebook_version VARCHAR, code_version VARCHAR, "
            "inputs VARCHAR, summary VARCHAR",
}
_STG_COMMON = ("source VARCHAR, period VARCHAR, file VARCHAR, row_number BIGINT, record_no VARCHAR, "
               "id_raw VARCHAR, id_norm VARCHAR, id18 VARCHAR, id_status VARCHAR, id_birth_on DATE, "
               "id_sex VARCHAR, name_raw VARCHAR, name_norm VARCHAR, name_pinyin VARCHAR")
STG = {
    "stg_tax_wages": _STG_COMMON + ", income_month VARCHAR, amount_fen BIGINT, withholder VARCHAR",
    "stg_pension": _STG_COMMON + ", income_month VARCHAR, amount_fen BIGINT, benefit_type VARCHAR",
    "stg_deaths": _STG_COMMON + ", died_on DATE, data_source VARCHAR",
}

#: (household, person, id, name, relation, district, street, urban_rural, programme)
PEOPLE = [
    ("H0001", "P0001", "990101198001011234", "张伟", "户主", "990101", "和平街道", "城市", "低保"),
    ("H0001", "P0002", "990101198203035678", "陈美玲", "配偶", "990101", "和平街道", "城市", "低保"),
    ("H0002", "P0003", "990101195503034567", "买买提·艾力", "户主", "990101", "和平街道", "城市", "特困"),
    ("H0003", "P0004", "99010219900505789X", "李娜", "户主", "990102", "新华镇", "农村", "低保边缘"),
    ("H0003", "P0005", "990102201505051230", "李小明", "子女", "990102", "新华镇", "农村", "低保边缘"),
    ("H0004", "P0006", "990102197007071111", "王芳", "户主", "990102", "东风街道", "城市", "低保"),
]
#: names and ID numbers that must never reach the HTML report or the analyst tables
IDENTITIES = [p[2] for p in PEOPLE] + [p[3] for p in PEOPLE] + ["990102199005057888", "李 娜", "赵强"]


def _evidence(quantities: dict, thresholds: dict, records: list[tuple[str, str, str]]) -> str:
    return json.dumps({
        "quantities": quantities,
        "thresholds": {k: {"value": v, "parameters": p} for k, (v, p) in thresholds.items()},
        "records": [{"source": s, "period": p, "record_no": r} for s, p, r in records],
    }, ensure_ascii=False)


INCOME_EVIDENCE = _evidence(
    {"income_per_capita": 1234.56, "living_members": 2, "wage_income": 11852.16, "benefit_income": 2962.56},
    {"standard": (1010.00, ["dibao_standard"])},
    [("tax_wages", PERIOD, "T001")],
)
PROPERTY_THRESHOLDS = {
    "max_residential_units": (1, ["max_residential_units"]),
    "business_capital_limit_wan": (10, ["business_capital_limit_wan"]),
    "vehicle_exempt_count": (1, ["vehicle_exempt_count"]),
}
FLAGS = [
    # period, household, district, flag, evidence, decision, reason, by, re_raised
    (PERIOD, "H0001", "990101", "INCOME_OVER_STANDARD", INCOME_EVIDENCE, None, None, None, True),
    (PERIOD, "H0001", "990101", "PROPERTY_OVER_LIMIT", _evidence(
        {"living_members": 2, "residential_units": 2, "has_non_residential_unit": False,
         "vehicles_counted": 1, "businesses_counted": 0},
        PROPERTY_THRESHOLDS, [("real_estate", PERIOD, "R001"), ("real_estate", PERIOD, "R002")]),
     None, None, None, False),
    (PERIOD, "H0002", "990101", "MEMBER_DECEASED", _evidence(
        {"members": 1, "living_members": 0}, {}, [("deaths", PERIOD, "D001")]), None, None, None, False),
    (PERIOD, "H0003", "990102", "MARGINAL_NO_LONGER", _evidence(
        {"living_members": 2, "income_per_capita": 1500.00, "assets_per_capita": 800.00,
         "assets_lower_bound": False, "residential_units": 1, "has_non_residential_unit": False,
         "vehicles_counted": 0, "businesses_counted": 0},
        {"marginal_income_limit": (1000.50, ["marginal_multiplier", "dibao_standard"]),
         "marginal_assets_limit": (24012.00, ["marginal_assets_limit_months", "dibao_standard"]),
         **PROPERTY_THRESHOLDS},
        [("pension", PERIOD, "A001")]), None, None, None, False),
    (PERIOD, "H0004", "990102", "HIGH_MEDICAL_EXPENSE", _evidence(
        {"living_members": 1, "medical_out_of_pocket": 15000.00, "household_income_w": 28000.00},
        {"medical_min_amount": (10000.00, ["medical_min_amount"]),
         "medical_income_share_amount": (14000.00, ["medical_income_share", "employment_cost_deduction_rate"])},
        [("medical", PERIOD, "M001")]), "referred", "已转医保部门核实", "周科员", False),
    (EARLIER, "H0001", "990101", "INCOME_OVER_STANDARD", INCOME_EVIDENCE,
     "dismissed", "一次性补发工资，非经常性收入", "刘科员", False),
    (EARLIER, "H0003", "990102", "MARGINAL_NO_LONGER", _evidence(
        {"income_per_capita": 1400.00}, {"marginal_income_limit": (1000.50, ["marginal_multiplier"])}, []),
     None, None, None, False),
]
# period, household, district, urban_rural, programme, members, living, income, assets, units, standard
ASSESSMENTS = [
    (PERIOD, "H0001", "990101", "城市", "低保", 2, 2, 1234.56, 3000.00, 2, 1010.00),
    (PERIOD, "H0002", "990101", "城市", "特困", 1, 0, None, None, 0, 1313.00),
    (PERIOD, "H0003", "990102", "农村", "低保边缘", 2, 2, 1500.00, 800.00, 1, 667.00),
    (PERIOD, "H0004", "990102", "城市", "低保", 1, 1, 800.00, 100.00, 1, 869.00),
    (EARLIER, "H0001", "990101", "城市", "低保", 2, 2, 1100.00, 3000.00, 1, 1010.00),
    (EARLIER, "H0002", "990101", "城市", "特困", 1, 1, 400.00, 0.00, 0, 1313.00),
    (EARLIER, "H0003", "990102", "农村", "低保边缘", 2, 2, 1400.00, 800.00, 1, 667.00),
    (EARLIER, "H0004", "990102", "城市", "低保", 1, 1, 700.00, 100.00, 1, 869.00),
]
# source, period, record_no, person, household, score, status, method, weight, cand_p, cand_h, reason, comparison
LINKS = [
    ("tax_wages", PERIOD, "T001", "P0001", "H0001", 1.0, "matched", "id_exact", 20.1, None, None, None,
     '{"name": "exact", "id": "exact"}'),
    ("tax_wages", PERIOD, "T002", None, None, 0.82, "review", "low_score", 6.3, "P0004", "H0003",
     "ID and name agree but sex disagree: match probability 0.82 is below the auto-match threshold 0.9",
     '{"name": "pinyin_same", "id": "one_substitution", "birth": "equal"}'),
    ("tax_wages", PERIOD, "T003", None, None, None, "unmatched", "no_candidate", None, None, None,
     "no register person shares the record's ID or name (the ID is valid)", None),
    ("pension", PERIOD, "A001", "P0004", "H0003", 1.0, "matched", "id_exact", 19.8, None, None, None, None),
    ("pension", PERIOD, "A002", None, None, 0.55, "review", "name_only", 3.1, "P0001", "H0001",
     "the record's ID is blank; a register person has the same name; never linked on name alone",
     '{"name": "exact", "id": "none"}'),
    ("deaths", PERIOD, "D001", "P0003", "H0002", 1.0, "matched", "id_exact", 21.0, None, None, None, None),
    ("tax_wages", EARLIER, "T101", "P0001", "H0001", 1.0, "matched", "id_exact", 20.1, None, None, None, None),
    ("tax_wages", EARLIER, "T102", None, None, 0.7, "review", "id_name_mismatch", 5.0, "P0006", "H0004",
     "the ID equals the candidate's but the name is plainly different",
     '{"name": "jw_high", "id": "equal"}'),
]
# table, period, record_no, id_raw, name_raw
RECORDS = [
    ("stg_tax_wages", PERIOD, "T001", "990101198001011234", "张伟"),
    ("stg_tax_wages", PERIOD, "T002", "990102199005057888", "李 娜"),
    ("stg_tax_wages", PERIOD, "T003", "990109198808080001", "赵强"),
    ("stg_pension", PERIOD, "A001", "99010219900505789X", "李娜"),
    ("stg_pension", PERIOD, "A002", None, "张伟"),
    ("stg_deaths", PERIOD, "D001", "990101195503034567", "买买提·艾力"),
    ("stg_tax_wages", EARLIER, "T101", "990101198001011234", "张伟"),
    ("stg_tax_wages", EARLIER, "T102", "990102197007071111", "王方"),
]
QUARANTINE = [  # reasons as the loaders word them (pipelines/reasons.py)
    ("tax_wages", PERIOD, "tax_wages.csv", 5, "T009", "收入额 '12a.5' is not an amount"),
    ("pension", PERIOD, "pension.csv", 7, "A009",
     "发放年月 is blank; 发放金额 '9.195' has more than two decimals"),
    ("bank", PERIOD, "bank_icbc.xlsx", None, None, "bank_icbc.xlsx lacks required column 余额"),
    ("unknown", PERIOD, "notes.txt", None, None, "notes.txt is not a delivery this office knows "
     "(expected register, a source name or bank_*, as .csv or .xlsx)"),
    ("medical", EARLIER, "medical.csv", 2, "M002",
     "结算日期 '2026-10-03' is after the end of the delivery month (2026-09-30)"),
]


def build_warehouse(path: Path) -> Path:
    """Write the fixture warehouse to ``path`` (a new DuckDB file) and return it."""
    con = duckdb.connect(str(path))
    for name, cols in {**PUBLISHED, **STG}.items():
        con.execute(f"CREATE TABLE {name} ({cols})")
    for period in (PERIOD, EARLIER):
        for row_no, (h, p, i, n, rel, d, street, ur, prog) in enumerate(PEOPLE, start=1):
            con.execute(
                "INSERT INTO stg_register (source, period, file, row_number, household_id, person_id, id_raw, "
                "id_norm, id18, id_status, name_raw, name_norm, relation, district_code, street, urban_rural, "
                "programme, serious_illness) VALUES ('register', ?, 'register.csv', ?, ?, ?, ?, ?, ?, 'valid', ?, ?, "
                "?, ?, ?, ?, ?, '否')",
                [period, row_no, h, p, i, i, i, n, n, rel, d, street, ur, prog],
            )
    con.executemany(
        "INSERT INTO flags (period, household_id, district_code, flag, evidence, rulebook_version, decision, "
        "decision_reason, decided_by, re_raised) VALUES (?, ?, ?, ?, ?, 'rb-2026a', ?, ?, ?, ?)", FLAGS)
    con.execute("UPDATE flags SET decided_at = TIMESTAMP '2026-11-06 09:30:00' WHERE decision IS NOT NULL")
    con.executemany(
        "INSERT INTO assessments (period, household_id, district_code, urban_rural, programme, members, "
        "living_members, income_per_capita, assets_per_capita, residential_units, standard, rulebook_version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'rb-2026a')", ASSESSMENTS)
    con.executemany(f"INSERT INTO links VALUES ({', '.join(['?'] * 13)})", LINKS)
    for table, period, rec, id_raw, name in RECORDS:
        source = table.removeprefix("stg_")
        con.execute(
            f"INSERT INTO {table} (source, period, file, row_number, record_no, id_raw, id_norm, name_raw) "
            "VALUES (?, ?, ?, 1, ?, ?, ?, ?)", [source, period, f"{source}.csv", rec, id_raw, id_raw, name])
    con.executemany("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) VALUES (?, ?, ?, ?, ?, ?)", QUARANTINE)
    con.execute(
        "INSERT INTO runs VALUES ('run-1', 'monthly', ?, '990101,990102', 'succeeded', "
        "TIMESTAMP '2026-11-05 02:00:00', TIMESTAMP '2026-11-05 02:03:00', 'rb-2026a', 'abc123', '[]', '{}')",
        [PERIOD])
    _analyst(con)
    con.close()
    return path


def _analyst(con: duckdb.DuckDBPyConnection) -> None:
    key = "md5('fixture-key:' || {})"
    con.execute("CREATE SCHEMA analyst")
    con.execute(f"CREATE TABLE analyst.assessments AS SELECT * EXCLUDE (household_id), "
                f"{key.format('household_id')} AS household_key FROM assessments")
    con.execute(f"CREATE TABLE analyst.flags AS SELECT period, {key.format('household_id')} AS household_key, "
                "district_code, flag, evidence, rulebook_version, decision, re_raised FROM flags")
    con.execute(
        f"CREATE TABLE analyst.links AS SELECT source, period, record_no, "
        f"{key.format('person_id')} AS person_key, {key.format('household_id')} AS household_key, "
        f"{key.format('candidate_person_id')} AS candidate_person_key, score, status, method, match_weight, "
        "comparison, reason FROM links")
    con.execute("CREATE TABLE analyst.quarantine AS SELECT source, period, file, row_number, record_no, reason "
                "FROM quarantine")
    con.execute("CREATE TABLE analyst.runs AS SELECT run_id, flow, period, districts, status, started_at, "
                "finished_at, rulebook_version, code_version, summary FROM runs")
    con.execute(
        f"CREATE TABLE analyst.persons AS SELECT period, {key.format('person_id')} AS person_key, "
        f"{key.format('household_id')} AS household_key, district_code, urban_rural, programme, sex, "
        "year(birth_on) AS birth_year, relation, disability_grade, serious_illness FROM stg_register")
