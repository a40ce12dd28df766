"""Run inside a copy of the repository that has the ninth flag: print what became of it (JSON)."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.assess import assess_period
from pipelines.decisions import (
            annotate_flags,
            import_decisions,
            load_decision_params,
            load_flag_decisions,
)
from pipelines.flags import FLAGS
from pipelines.policy_cases import build_case, load_cases, run_cases
from pipelines.report.layout import FLAG_LABELS
from pipelines.report.text import explain_flag
from pipelines.rulebook import load_rulebook

root = Path(sys.argv[1])
rulebook = load_rulebook()
cases_dir = root / "rules" / "tests"
n_cases, failing = run_cases(cases_dir, rulebook)
case = next(c for _, c in load_cases(cases_dir) if "MANY_RESIDENCES" in c["expect"].get("flags", []))
result = assess_period(**build_case(case), rulebook=rulebook)
flag = result.flags.filter(pl.col("flag") == "MANY_RESIDENCES")

con = duckdb.connect(str(root / "warehouse.duckdb"))
con.execute("CREATE TABLE flags (period VARCHAR, household_id VARCHAR, district_code VARCHAR, "
            "flag VARCHAR, evidence JSON, rulebook_version VARCHAR, decision VARCHAR, "
            "decision_reason VARCHAR, decided_by VARCHAR, decided_at TIMESTAMP, re_raised BOOLEAN)")
con.execute("INSERT INTO flags (period, household_id, district_code, flag, evidence, rulebook_version) "
            "SELECT period, household_id, district_code, flag, evidence, rulebook_version FROM flag")
row = flag.row(0, named=True)
csv = root / "decisions.csv"
# the clerk's sheet shows the flag by its Chinese label
csv.write_text("期间,区县代码,户编号,标记代码,处理结果,处理说明,经办人\n"
               f"{row['period']},{row['district_code']},{row['household_id']},"
               f"{FLAG_LABELS['MANY_RESIDENCES']},排除,住宅为继承所得待过户,李明\n", encoding="utf-8")
imported = import_decisions(csv, con, imported_at=datetime(2026, 11, 5, tzinfo=UTC))
decisions = load_flag_decisions(con)
published = con.sql("SELECT flag, decision FROM flags").fetchall()
params = load_decision_params()
same = annotate_flags(flag.select("period", "household_id", "district_code", "flag", "evidence",
                                  "rulebook_version"), decisions, params=params)
moved = json.loads(row["evidence"])
moved["thresholds"]["max_residential_units"]["value"] = 2
changed = annotate_flags(flag.with_columns(evidence=pl.lit(json.dumps(moved)))
                         .select("period", "household_id", "district_code", "flag", "evidence",
                                 "rulebook_version"), decisions, params=params)
print(json.dumps({
    "registered": "MANY_RESIDENCES" in FLAGS,
    "cases": n_cases, "failing": failing,
    "evidence": json.loads(row["evidence"]),
    "notes": result.notes,
    "sentence": explain_flag("MANY_RESIDENCES", row["evidence"]),
    "published": published,
    "carried": same.get_column("decision").to_list(),
    "re_raised": changed.get_column("re_raised").to_list(),
}, ensure_ascii=False))
