"""The assess stage reads of each source only the columns the rules read (issue 17, memory).

``pipelines.assess.fact_columns`` is the one statement of them: the stage's facts, the review
queue's accepted facts and the what-if inputs read those columns and no others, and the
assessment itself keeps no others, so a rule that reads one more fails in tests (loudly) rather
than finding it null.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.assess import assess_period, fact_columns
from pipelines.assess.context import _FACT_COLUMNS, _Context, _facts
from pipelines.periods import Period
from pipelines.review_queue import ACCEPTED_METHOD, accepted_facts, ranked_path
from pipelines.rulebook import load_rulebook
from pipelines.run.assessing import _facts as stage_facts
from pipelines.run.context import FolderRef
from pipelines.sources import EXTRACT_SOURCES

P = "2026-10"
#: clean-layer columns no rule reads (names and ID numbers among them)
UNREAD = {"file": "f.csv", "id18": "110105194912310021", "name_raw": "张三", "withholder": "某公司"}


def _stg(source: str, rows: list[dict]) -> pl.DataFrame:
    """``stg_<source>`` rows: the key, the rule columns given, and columns no rule reads."""
    return pl.DataFrame([{"source": source, "period": P, **UNREAD, **r} for r in rows])


def _folder(tmp_path: Path) -> FolderRef:
    """P's folder: two pension rows (one matched, one a review record ranked to P2)."""
    ref = FolderRef(period=P, dir=tmp_path, exists=True, register_ok=True, sources=["pension"])
    _stg("pension", [
        {"record_no": "1", "income_month": P, "amount_fen": 100_00},
        {"record_no": "2", "income_month": P, "amount_fen": 250_00},
    ]).write_parquet(ref.stg("pension"))
    pl.DataFrame({"source": ["pension", "pension"], "period": [P, P], "record_no": ["1", "2"],
                  "person_id": ["P1", None], "status": ["matched", "review"],
                  "method": ["id_exact", None]}).write_parquet(ref.links)
    pl.DataFrame({"source": ["pension"], "period": [P], "record_no": ["2"],
                  "candidate_person_id": ["P2"]}).write_parquet(ranked_path(ref.dir))
    return ref


def test_every_source_has_its_key_and_rule_columns() -> None:
    for source in EXTRACT_SOURCES:
        cols = fact_columns(source)
        assert cols[:3] == ("source", "period", "record_no")
        assert set(cols[3:]) == set(_FACT_COLUMNS[source])
    # a source no rule reads still gives its key (its review records can be pending)
    assert fact_columns("not_a_rule_source") == ("source", "period", "record_no")


def test_the_stage_reads_only_the_rule_columns(tmp_path: Path) -> None:
    facts = stage_facts([_folder(tmp_path)])
    assert set(facts) == {"pension"}
    frame = facts["pension"]
    assert set(frame.columns) == {*fact_columns("pension"), "person_id", "link_method"}
    assert frame.select("record_no", "person_id", "amount_fen").rows() == [("1", "P1", 100_00)]


def test_accepted_facts_add_review_records_with_the_same_columns(tmp_path: Path) -> None:
    ref = _folder(tmp_path)
    facts = accepted_facts([ref], stage_facts([ref]))
    frame = facts["pension"].sort("record_no")
    assert set(frame.columns) == {*fact_columns("pension"), "person_id", "link_method"}
    assert frame.select("record_no", "person_id", "link_method").rows() == [
        ("1", "P1", "id_exact"), ("2", "P2", ACCEPTED_METHOD)]


def test_the_assessment_keeps_no_other_column() -> None:
    """A rule sees only what ``fact_columns`` names: reading another column cannot pass a test."""
    rules = load_rulebook().at(Period.parse(P).last_day)
    deliveries = pl.DataFrame({"period": [P], "source": ["pension"], "files_accepted": [1],
                               "files_refused": [0]})
    ctx = _Context.build(Period.parse(P), rules, deliveries, {})
    wide = _stg("pension", [{"record_no": "1", "income_month": P, "amount_fen": 1}]).with_columns(
        person_id=pl.lit("P1"), link_method=pl.lit("id_exact"))
    kept = _facts({"pension": wide}, "pension", ctx)
    assert set(kept.columns) == {*fact_columns("pension"), "person_id", "link_method"}


def test_a_stage_folder_lacking_a_rule_column_fails(tmp_path: Path) -> None:
    ref = _folder(tmp_path)
    pl.read_parquet(ref.stg("pension")).drop("amount_fen").write_parquet(ref.stg("pension"))
    with pytest.raises(pl.exceptions.ColumnNotFoundError, match="amount_fen"):
        stage_facts([ref])


def test_projected_and_full_width_facts_assess_alike(tmp_path: Path) -> None:
    """The columns left out change nothing: the same assessment from full rows and from the stage's."""
    ref = _folder(tmp_path)
    register = pl.DataFrame({"household_id": ["H1", "H2"], "person_id": ["P1", "P2"],
                             "district_code": ["990101"] * 2, "urban_rural": ["城市"] * 2,
                             "programme": ["低保"] * 2, "disability_grade": [None, None],
                             "serious_illness": ["否"] * 2},
                            schema_overrides={"disability_grade": pl.String})
    deliveries = pl.DataFrame({"period": [P], "source": ["pension"], "files_accepted": [1],
                               "files_refused": [0]})
    full = (pl.read_parquet(ref.stg("pension"))
            .join(pl.read_parquet(ref.links).filter(pl.col("status") == "matched")
                  .select("source", "period", "record_no", "person_id", link_method="method"),
                  on=["source", "period", "record_no"]))
    rulebook = load_rulebook()
    a = assess_period(period=P, register=register, facts={"pension": full}, deliveries=deliveries,
                      rulebook=rulebook)
    b = assess_period(period=P, register=register, facts=stage_facts([ref]),
                      deliveries=deliveries, rulebook=rulebook)
    assert a.assessments.equals(b.assessments)
    assert a.flags.equals(b.flags)
    assert a.assessments.filter(pl.col("household_id") == "H1")["benefit_income"].cast(
        pl.String).to_list() == ["100.00"]
