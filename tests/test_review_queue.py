"""The review queue (issue 19): pending beside flags, the queue's order, and the sample run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.assess import Assessment
from pipelines.match.model import rebuild_match_weight
from pipelines.review_queue import (
    ACCEPTED_METHOD,
    QUEUE_ORDER,
    pending_review,
    pending_summary,
    touched_households,
)
from pipelines.warehouse import ensure_schema

from helpers.warehouse_dump import published

KEY = ["source", "period", "record_no"]


def _assessment(flags: list[tuple[str, str]], households=("H1", "H2", "H3")) -> Assessment:
    assessments = pl.DataFrame({"household_id": list(households),
                                "district_code": ["990101", "990101", "990102"][:len(households)],
                                "programme": ["低保"] * len(households),
                                "standard": ["800.00"] * len(households)})
    flag_rows = pl.DataFrame(
        {"period": ["2026-10"] * len(flags), "household_id": [h for h, _ in flags],
         "district_code": ["990101" if h != "H3" else "990102" for h, _ in flags],
         "flag": [f for _, f in flags], "evidence": ["{}"] * len(flags),
         "rulebook_version": ["v1"] * len(flags)},
        schema={"period": pl.String, "household_id": pl.String, "district_code": pl.String,
                "flag": pl.String, "evidence": pl.String, "rulebook_version": pl.String})
    return Assessment(assessments=assessments, flags=flag_rows, notes=[])


REGISTER = pl.DataFrame({"person_id": ["P1", "P2", "P3"], "household_id": ["H1", "H2", "H3"]})


def _facts(*rows: tuple[str, str, str]) -> dict[str, pl.DataFrame]:
    frame = pl.DataFrame([{"source": "bank", "period": "2026-10", "record_no": no,
                           "person_id": pid, "link_method": method} for no, pid, method in rows])
    return {"bank": frame}


def test_a_household_whose_flags_would_change_is_pending_and_its_rows_name_the_records():
    base = _assessment([("H1", "INCOME_DROP"), ("H2", "INCOME_DROP")])
    accepted = _assessment([("H1", "INCOME_DROP"), ("H1", "PROPERTY_OVER_LIMIT"),
                            ("H2", "INCOME_DROP"), ("H3", "INCOME_OVER_STANDARD")])
    facts = _facts(("1", "P1", "id_exact"), ("7", "P1", ACCEPTED_METHOD),
                   ("8", "P2", ACCEPTED_METHOD), ("9", "P3", ACCEPTED_METHOD))
    flags, records, uncertain = pending_review(base, accepted, accepted_facts_by_source=facts,
                                               register=REGISTER)
    # the flag rows are exactly the computed ones; pending is beside them
    assert flags.select(base.flags.columns).equals(base.flags)
    by_household = {r["household_id"]: r for r in flags.iter_rows(named=True)}
    assert by_household["H1"]["pending_review"] is True
    assert json.loads(by_household["H1"]["pending_records"]) == [
        {"source": "bank", "period": "2026-10", "record_no": "7"}]
    assert (by_household["H2"]["pending_review"], by_household["H2"]["pending_records"]) == (False, None)
    # H3 has no flag yet but would gain one: uncertain, counted, its record in the queue's front
    assert uncertain.rows() == [("H1", "990101"), ("H3", "990102")]
    assert records.select(*KEY, "district_code").rows() == [("bank", "2026-10", "7", "990101"),
                                                             ("bank", "2026-10", "9", "990102")]


def test_a_changed_standard_makes_a_household_uncertain_and_no_change_makes_none():
    base = _assessment([("H1", "INCOME_DROP")])
    same = _assessment([("H1", "INCOME_DROP")])
    facts = _facts(("7", "P1", ACCEPTED_METHOD))
    flags, records, uncertain = pending_review(base, same, accepted_facts_by_source=facts,
                                               register=REGISTER)
    assert uncertain.height == records.height == 0
    assert flags["pending_review"].to_list() == [False]
    changed = _assessment([("H1", "INCOME_DROP")])
    changed = Assessment(assessments=changed.assessments.with_columns(
        standard=pl.when(pl.col("household_id") == "H2").then(pl.lit("900.00"))
        .otherwise(pl.col("standard"))), flags=changed.flags, notes=[])
    _, _, uncertain = pending_review(base, changed, accepted_facts_by_source=facts,
                                     register=REGISTER)
    assert uncertain["household_id"].to_list() == ["H2"]


def test_the_second_assessment_may_cover_only_the_households_review_records_touch():
    facts = _facts(("1", "P1", "id_exact"), ("7", "P2", ACCEPTED_METHOD))
    assert touched_households(facts, REGISTER) == ["H2"]
    assert touched_households(_facts(("1", "P1", "id_exact")), REGISTER) == []
    base = _assessment([("H1", "INCOME_DROP"), ("H2", "INCOME_DROP")])
    # only H2 assessed again, and unchanged: H1 (absent from it) is not uncertain
    only_h2 = _assessment([("H2", "INCOME_DROP")], households=("H2",))
    flags, records, uncertain = pending_review(base, only_h2, accepted_facts_by_source=facts,
                                               register=REGISTER)
    assert uncertain.height == records.height == 0
    assert flags["pending_review"].to_list() == [False, False]


def _queue(con, *, period: str, folders: list[str]) -> list[tuple]:
    links = "SELECT * FROM links WHERE list_contains(" + repr(folders) + ", period)"
    con.execute(QUEUE_ORDER.format(links=links), [period, period])
    return con.execute("""SELECT record_period, record_no, review_pending, queue_rank
                          FROM review_queue WHERE period = ? ORDER BY queue_rank""",
                       [period]).fetchall()


def test_the_queue_puts_pending_records_first_then_the_heaviest():
    con = duckdb.connect()
    ensure_schema(con)
    con.execute("""INSERT INTO links (source, period, record_no, status, method, match_weight) VALUES
        ('bank', '2026-10', 'a', 'review', 'name_only', 30.0),
        ('bank', '2026-10', 'b', 'review', 'name_only', NULL),
        ('bank', '2026-09', 'c', 'review', 'name_only', 10.0),
        ('bank', '2026-10', 'd', 'review', 'name_only', 20.0),
        ('bank', '2026-10', 'e', 'matched', 'id_exact', 40.0),
        ('bank', '2026-03', 'f', 'review', 'name_only', 50.0)""")
    con.execute("""INSERT INTO review_pending_records VALUES
        ('2026-10', '990101', 'H1', 'bank', '2026-09', 'c'),
        ('2026-10', '990101', 'H1', 'bank', '2026-10', 'e'),
        ('2026-09', '990101', 'H1', 'bank', '2026-10', 'd')""")
    got = _queue(con, period="2026-10", folders=["2026-09", "2026-10"])
    # e was decided (matched): it is not queued even though its pending entry is still there;
    # d is pending for 2026-09's assessment, not 2026-10's; f is outside the month's folders
    assert got == [("2026-09", "c", True, 1), ("2026-10", "a", False, 2),
                   ("2026-10", "d", False, 3), ("2026-10", "b", False, 4)]


def test_each_assessed_month_has_its_own_queue():
    con = duckdb.connect()
    ensure_schema(con)
    con.execute("""INSERT INTO links (source, period, record_no, status, method, match_weight) VALUES
        ('bank', '2026-09', 'c', 'review', 'name_only', 10.0),
        ('bank', '2026-10', 'd', 'review', 'name_only', 20.0)""")
    con.execute("""INSERT INTO review_pending_records VALUES
        ('2026-09', '990101', 'H1', 'bank', '2026-09', 'c')""")
    september = _queue(con, period="2026-09", folders=["2026-09"])
    october = _queue(con, period="2026-10", folders=["2026-09", "2026-10"])
    assert september == [("2026-09", "c", True, 1)]
    assert october == [("2026-10", "d", False, 1), ("2026-09", "c", False, 2)]
    # the links rows themselves carry no queue: they are the same whichever month is run
    assert "queue_rank" not in {r[0] for r in con.execute("DESCRIBE links").fetchall()}


@dataclass
class _Assessed:
    period: str
    uncertain: Path
    pending_records: Path


def test_the_summary_counts_uncertain_households_per_district(tmp_path):
    pl.DataFrame({"household_id": ["H1", "H2", "H3"],
                  "district_code": ["990101", "990102", "990101"]}).write_parquet(tmp_path / "u.parquet")
    pl.DataFrame({"source": ["bank", "bank"], "period": ["2026-10"] * 2, "record_no": ["1", "2"],
                  "household_id": ["H1", "H2"]}).write_parquet(tmp_path / "r.parquet")
    got = pending_summary([_Assessed("2026-10", tmp_path / "u.parquet", tmp_path / "r.parquet")])
    assert got == {"households_pending_review": [
        {"period": "2026-10", "district_code": "990101", "households": 2},
        {"period": "2026-10", "district_code": "990102", "households": 1}],
        "review_records_pending": 2}


@pytest.mark.slow
def test_the_sample_run_publishes_ranked_candidates_queue_models_and_pending(sample_run):
    warehouse, summary = sample_run
    period = summary["period"]
    review = published(warehouse, f"""SELECT l.*, q.review_pending, q.queue_rank
                                       FROM links l JOIN review_queue q
                                         ON q.source = l.source AND q.record_period = l.period
                                        AND q.record_no = l.record_no AND q.period = '{period}'
                                       ORDER BY q.queue_rank""")
    assert review.height > 50
    assert review["status"].unique().to_list() == ["review"]
    queued = published(warehouse, "SELECT count(*) AS n FROM links WHERE status = 'review'")
    assert review.height == queued["n"][0]   # the sample's six folders are the month's
    assert review["candidate_reasons"].null_count() == 0
    assert review["queue_rank"].to_list() == list(range(1, review.height + 1))
    pending = review["review_pending"].to_list()
    assert any(pending) and pending == sorted(pending, reverse=True)   # pending ones first
    others = published(warehouse, "SELECT * FROM links WHERE status <> 'review'")
    assert others.select(pl.col("candidate_reasons", "candidate_person_id_2")
                         .null_count()).row(0) == (others.height,) * 2
    assert (review["candidate_person_id"] == review["candidate_person_id_2"]).fill_null(False).sum() == 0

    models = published(warehouse, "SELECT period, count(*) AS n FROM match_models GROUP BY 1")
    assert models["n"].to_list() == [23] * models.height and models.height >= 6
    scored = published(warehouse, """SELECT match_weight, comparison_weights::JSON AS w FROM links
                                      WHERE comparison_weights IS NOT NULL""")
    assert scored.height > 17000
    for weight, w in scored.iter_rows():
        assert rebuild_match_weight(w) == weight

    flags = published(warehouse, "SELECT * FROM flags")
    assert flags["pending_review"].null_count() == 0
    marked = flags.filter(pl.col("pending_review"))
    named = {(r["source"], r["period"], r["record_no"])
             for text in marked["pending_records"] for r in json.loads(text)}
    front = set(review.filter(pl.col("review_pending")).select(KEY).iter_rows())
    assert named and named <= front
    counted = sum(r["households"] for r in summary["households_pending_review"])
    assert counted >= marked["household_id"].n_unique()
    assert summary["review_records_pending"] == len(front)


@pytest.mark.slow
def test_a_clerk_may_confirm_the_second_ranked_candidate(sample_run, tmp_path):
    import csv
    import shutil

    from pipelines import warehouse as wh
    from pipelines.decisions import import_decisions
    from pipelines.report.layout import REVIEW_COLUMNS

    # the warehouse's folder (its key file and caches with it): this test writes decisions
    shutil.copytree(sample_run[0].parent, tmp_path / "copy")
    warehouse = tmp_path / "copy" / sample_run[0].name
    second = published(warehouse, """SELECT source, period, record_no, candidate_person_id_2,
                                             candidate_household_id_2
                                      FROM links WHERE status = 'review'
                                        AND candidate_person_id_2 IS NOT NULL
                                      ORDER BY source, period, record_no LIMIT 1""").row(0, named=True)
    row = {"期间": second["period"], "来源": second["source"], "记录号": second["record_no"],
           "候选个人编号": second["candidate_person_id_2"], "核对结论": "确认",
           "处理说明": "入户核实", "经办人": "王科员"}
    path = tmp_path / "review.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(REVIEW_COLUMNS))
        writer.writeheader()
        writer.writerow({c: row.get(c, "") for c in REVIEW_COLUMNS})
    with wh.publishing(warehouse) as con:
        result = import_decisions(path, con)
    assert result.recorded == 1
    stored = published(warehouse, """SELECT person_id, household_id, decision FROM decisions
                                      WHERE kind = 'link'""")
    assert stored.rows() == [(second["candidate_person_id_2"], second["candidate_household_id_2"],
                              "confirmed")]
