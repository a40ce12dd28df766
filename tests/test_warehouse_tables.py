"""The table registry: the warehouse it generates is the one the hand-written DDL made.

The schemas, docs and analyst registry generated from or checked against it follow it.
"""

import json
from pathlib import Path

import duckdb
import pandera.errors
import polars as pl
import pytest

from pipelines import analyst
from pipelines import warehouse as wh
from pipelines.warehouse import docs, tables
from pipelines.warehouse.validation import polars_type
from schemas.published import ASSESSMENTS, FLAGS_TABLE, LINKS

#: the layout main 54b810c's hand-written DDL built, captured once from that code (see its
#: ``_comment``): a fresh warehouse, and the sample run's published one
LAYOUT = json.loads((Path(__file__).parent / "data" / "warehouse_layout.json").read_text("utf-8"))


def _columns(con, tables_only=None):
    rows = con.execute(
        "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default "
        "FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
    return [list(r) for r in rows if tables_only is None or r[0] in tables_only]


def _constraints(con):
    return [[str(v) if v is not None else None for v in r] for r in con.execute(
        "SELECT table_name, constraint_type, constraint_column_names::VARCHAR, expression "
        "FROM duckdb_constraints() WHERE database_name = current_database() ORDER BY ALL"
    ).fetchall()]


def test_the_generated_ddl_builds_exactly_the_tables_the_hand_written_ddl_built():
    con = duckdb.connect()
    wh.ensure_schema(con)
    assert _columns(con) == LAYOUT["fresh"]["columns"]
    assert _constraints(con) == LAYOUT["fresh"]["constraints"]
    wh.ensure_schema(con)  # a second run changes nothing
    assert _columns(con) == LAYOUT["fresh"]["columns"]


def test_a_warehouse_of_an_older_release_is_brought_to_the_same_layout():
    con = duckdb.connect()
    # quarantine before reason codes, flags before the review queue and with naive decision times
    con.execute("""CREATE TABLE quarantine (source VARCHAR NOT NULL, period VARCHAR NOT NULL,
        file VARCHAR NOT NULL, row_number BIGINT, record_no VARCHAR, reason VARCHAR NOT NULL)""")
    con.execute("""CREATE TABLE flags (period VARCHAR NOT NULL, household_id VARCHAR NOT NULL,
        district_code VARCHAR, flag VARCHAR NOT NULL, evidence JSON NOT NULL,
        rulebook_version VARCHAR NOT NULL, decision VARCHAR, decision_reason VARCHAR,
        decided_by VARCHAR, decided_at TIMESTAMP, re_raised BOOLEAN)""")
    con.execute("INSERT INTO flags VALUES ('2026-09', 'H1', '01', 'MEMBER_DECEASED', '{}', 'v', "
                "'dismissed', 'r', 'clerk', TIMESTAMP '2026-10-01 08:00:00', false)")
    con.execute("CREATE SCHEMA analyst")
    con.execute("CREATE TABLE analyst.persons AS SELECT 1 AS x")
    # links as the review queue first published it: the queue's order among its columns
    from pipelines.warehouse.ddl import create_sql
    con.execute(create_sql("links"))
    con.execute("ALTER TABLE links ADD COLUMN review_pending BOOLEAN")
    con.execute("ALTER TABLE links ADD COLUMN queue_rank BIGINT")
    con.execute("INSERT INTO links (source, period, record_no, status, method, review_pending, "
                "queue_rank) VALUES ('bank', '2026-09', 'R1', 'review', 'name_only', true, 1)")
    wh.ensure_schema(con)
    assert _columns(con) == LAYOUT["fresh"]["columns"]
    assert con.execute("SELECT record_no, status FROM links").fetchall() == [("R1", "review")]
    assert con.execute("SELECT epoch(decided_at), pending_review FROM flags").fetchall() == [
        (1790841600.0, None)]
    assert not wh.table_exists(con, "persons", "analyst")


@pytest.mark.slow
def test_the_published_sample_warehouse_has_the_layout_it_had(sample_warehouse):
    con = duckdb.connect(str(sample_warehouse), read_only=True)
    try:
        assert _columns(con, set(tables.TABLES)) == LAYOUT["published"]["columns"]
        kinds = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                            "WHERE table_catalog = current_database() AND table_schema = 'main' "
                            "ORDER BY 1").fetchall()
        assert [list(k) for k in kinds if k[0] in tables.TABLES] == LAYOUT["published"]["tables"]
        # the per-period tables are views over parquet files, exactly the registry's list
        assert {k[0] for k in kinds if k[1] == "VIEW" and k[0] in tables.TABLES} == \
            tables.PARTITIONED_TABLES
        LINKS.validate(con.sql("SELECT * FROM links").pl())
    finally:
        con.close()


def test_docs_tables_md_is_what_the_registry_generates():
    assert docs.is_current(docs.DOCS), (
        "docs/tables.md is out of date: run python -m pipelines.warehouse.tables --write-docs")


def test_the_docs_command_notices_and_rewrites_a_stale_list(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "tables.md"
    stale.write_text(docs.render().replace("| `queue_rank` |", "| `old_rank` |"), "utf-8")
    monkeypatch.setattr(docs, "DOCS", stale)
    assert tables.main(["--check-docs"]) == 1
    assert "--write-docs" in capsys.readouterr().err
    assert tables.main(["--write-docs"]) == 0
    assert "| `queue_rank` |" in stale.read_text("utf-8")
    assert tables.main(["--check-docs"]) == 0
    assert tables.main(["--bogus"]) == 2


def test_every_column_is_documented_in_both_languages():
    for table in tables.TABLES.values():
        assert table.zh and table.en
        for column in table.columns:
            assert column.zh.strip() and column.en.strip(), (table.name, column.name)
        assert set(table.key) <= {c.name for c in table.columns}, table.name


def test_the_analyst_registry_agrees_with_the_table_registry():
    selects = {t.name: t.select for t in analyst.TABLES.values()}
    requires = {t.name: t.requires for t in analyst.TABLES.values()}
    tables.check_analyst_tables(selects, requires)  # as analyst.py does on import
    with pytest.raises(ValueError, match="decisions: a staff-only table"):
        tables.check_analyst_tables({**selects, "decisions": "SELECT * FROM decisions"}, requires)
    with pytest.raises(ValueError, match="flags: declared pseudonymised"):
        tables.check_analyst_tables({**selects, "flags": "SELECT * FROM flags"}, requires)
    with pytest.raises(ValueError, match="fairness: declared for analysts, missing"):
        tables.check_analyst_tables({k: v for k, v in selects.items() if k != "fairness"},
                                    requires)
    with pytest.raises(ValueError, match="extra: not a warehouse table"):
        tables.check_analyst_tables({**selects, "extra": "SELECT 1"}, requires)


def test_table_exists_sees_views_and_only_the_connections_database(tmp_path):
    con = duckdb.connect(str(tmp_path / "a.duckdb"))
    con.execute("ATTACH ? AS other", [str(tmp_path / "b.duckdb")])
    con.execute("CREATE TABLE other.main.elsewhere (x INTEGER)")
    con.execute("CREATE TABLE here (x INTEGER)")
    con.execute("CREATE VIEW seen AS SELECT * FROM here")
    assert wh.table_exists(con, "here") and wh.table_exists(con, "seen")
    assert not wh.table_exists(con, "elsewhere")
    assert wh.table_exists(con, "elsewhere", catalog="other")
    assert wh.table_names(con) == {"here", "seen"}
    assert wh.column_names(con, "seen") == ["x"] and wh.column_names(con, "nothing") == []


def _links(**changes):
    row = {"source": "pension", "period": "2026-10", "record_no": "R1", "person_id": "P1",
           "household_id": "H1", "score": 1.0, "status": "matched", "method": "id_exact",
           "match_weight": 12.5, "candidate_person_id": None, "candidate_household_id": None,
           "reason": None, "comparison": None, "candidate_person_id_2": None,
           "candidate_household_id_2": None, "candidate_person_id_3": None,
           "candidate_household_id_3": None, "candidate_reasons": None,
           "comparison_weights": None}
    row.update(changes)
    schema = {c.name: polars_type(c.type) for c in tables.TABLES["links"].columns}
    return pl.DataFrame([row], schema=schema)


def test_links_schema_accepts_a_link_and_refuses_what_the_contract_forbids():
    LINKS.validate(_links())
    LINKS.validate(_links(status="review", person_id=None, household_id=None, score=0.4))
    with pytest.raises(pandera.errors.SchemaError, match="identity_only_when_matched"):
        LINKS.validate(_links(status="review"))
    with pytest.raises(pandera.errors.SchemaError, match="isin"):
        LINKS.validate(_links(status="probable"))
    with pytest.raises(pandera.errors.SchemaError, match="in_range"):
        LINKS.validate(_links(score=1.5))
    with pytest.raises(pandera.errors.SchemaError):
        LINKS.validate(_links(period="2026-13"))
    with pytest.raises(pandera.errors.SchemaError):
        LINKS.validate(pl.concat([_links(), _links()]))  # one row per record
    with pytest.raises(pandera.errors.SchemaError):
        LINKS.validate(_links().drop("candidate_reasons"))


def test_published_schemas_take_the_registrys_columns_and_frame_nullability():
    assert list(ASSESSMENTS.columns) == [c.name for c in tables.TABLES["assessments"].columns]
    assert list(FLAGS_TABLE.columns) == ["period", "household_id", "district_code", "flag",
                                         "evidence", "rulebook_version"]
    # the table accepts a null member count; the assessment never writes one
    assert tables.TABLES["assessments"].column("members").nullable
    assert not ASSESSMENTS.columns["members"].nullable
    assert ASSESSMENTS.columns["income_per_capita"].dtype.type == pl.Decimal(18, 2)


def test_an_unknown_duckdb_type_is_refused_by_name():
    with pytest.raises(ValueError, match="HUGEINT"):
        polars_type("HUGEINT")
