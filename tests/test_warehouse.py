"""The warehouse publishes atomically: all of a run or nothing, and readers are never blocked."""

import hashlib
import threading

import duckdb
import pytest

from pipelines import warehouse as wh


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _seed(path):
    with wh.publishing(path) as con:
        con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) VALUES ('tax_wages', '2026-09', 'tax_wages.csv', 3, 'R1', 'old')")


def test_first_publish_creates_the_contract_tables(tmp_path):
    path = tmp_path / "w" / "hedui.duckdb"
    with wh.publishing(path):
        pass
    con = duckdb.connect(str(path), read_only=True)
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema='main'").fetchall()}
    con.close()
    assert {"links", "quarantine", "assessments", "flags", "runs", "quarter_summary", "decisions"} <= tables


def test_a_failed_run_leaves_the_file_byte_identical_and_no_working_copy(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _seed(path)
    before = _digest(path)
    with pytest.raises(RuntimeError, match="boom"):
        with wh.publishing(path) as con:
            con.execute("DELETE FROM quarantine")
            con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) VALUES ('pension', '2026-10', 'p.csv', 1, 'X', 'new')")
            raise RuntimeError("boom")
    assert _digest(path) == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_a_reader_keeps_its_snapshot_and_a_new_reader_sees_the_whole_new_run(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _seed(path)
    reader = wh.connect_readonly(path)
    with wh.publishing(path) as con:
        con.execute("DELETE FROM quarantine")
        con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) VALUES ('pension', '2026-10', 'p.csv', 1, 'X', 'new')")
        # while the run writes, the published file still opens read-only and shows the old rows
        during = wh.connect_readonly(path)
        assert during.execute("SELECT reason FROM quarantine").fetchall() == [("old",)]
        during.close()
    assert reader.execute("SELECT reason FROM quarantine").fetchall() == [("old",)]
    reader.close()
    after = wh.connect_readonly(path)
    assert after.execute("SELECT reason FROM quarantine").fetchall() == [("new",)]
    after.close()


def test_working_copies_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _seed(path)
    stale = tmp_path / ".hedui.duckdb.99999-deadbeef.tmp"
    stale.write_bytes(b"half a database")
    (tmp_path / ".hedui.duckdb.99999-deadbeef.tmp.wal").write_bytes(b"x")
    _seed(path)
    assert not stale.exists()
    assert not (tmp_path / ".hedui.duckdb.99999-deadbeef.tmp.wal").exists()


def test_two_runs_never_publish_at_once(tmp_path):
    path = tmp_path / "hedui.duckdb"
    _seed(path)
    inside = threading.Event()
    release = threading.Event()

    def first():
        with wh.publishing(path):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)
    try:
        with pytest.raises(wh.WarehouseError, match="another hedui run"):
            with wh.publishing(path, lock_wait_seconds=0.5):
                pass
    finally:
        release.set()
        t.join()


def test_a_warehouse_path_that_is_a_directory_fails_cleanly(tmp_path):
    target = tmp_path / "hedui.duckdb"
    target.mkdir()
    with pytest.raises(wh.WarehouseError):
        with wh.publishing(target):
            pass


def test_analyst_tables_carry_keys_not_identities_and_the_key_stays_out_of_the_file(tmp_path):
    path = tmp_path / "hedui.duckdb"
    key = "k3y-" + "x" * 40
    with wh.publishing(path) as con:
        con.execute("""CREATE TABLE stg_register AS SELECT '2026-10' AS period, 'P001' AS person_id,
            'H001' AS household_id, '110105194912310021' AS id18, '张伟' AS name_raw,
            '990101' AS district_code, '城市' AS urban_rural, '低保' AS programme, '男' AS sex,
            DATE '1949-12-31' AS birth_on, '户主' AS relation, NULL AS disability_grade,
            '否' AS serious_illness, '某街1号' AS address, '13800000000' AS phone""")
        con.execute("""INSERT INTO links (source, period, record_no, person_id, household_id, score,
            status, method) VALUES ('tax_wages', '2026-10', 'R1', 'P001', 'H001', 1.0, 'matched', 'id_exact')""")
        wh.rebuild_analyst_views(con, key=key)
    con = wh.connect_readonly(path)
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema='analyst'").fetchall()}
    persons = con.execute("SELECT person_key, household_key, birth_year FROM analyst.persons").fetchall()
    link_key = con.execute("SELECT person_key FROM analyst.links").fetchone()[0]
    con.close()
    assert not columns & {"id18", "id_raw", "name_raw", "name_norm", "address", "phone",
                          "person_id", "household_id"}
    assert persons[0][0] == link_key and persons[0][0] != "P001" and len(link_key) == 16
    assert persons[0][2] == 1949
    assert key.encode() not in path.read_bytes()


def test_the_pseudonym_key_comes_from_the_environment_or_a_private_file(tmp_path, monkeypatch):
    path = tmp_path / "hedui.duckdb"
    monkeypatch.delenv(wh.PSEUDONYM_KEY_ENV, raising=False)
    first = wh.pseudonym_key(path)
    assert first == wh.pseudonym_key(path)
    key_file = tmp_path / "hedui.duckdb.key"
    assert key_file.stat().st_mode & 0o077 == 0
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "from-env")
    assert wh.pseudonym_key(path) == "from-env"


def test_replacing_a_folder_twice_keeps_one_copy_and_adds_new_columns(tmp_path):
    import polars as pl

    path = tmp_path / "hedui.duckdb"
    first = tmp_path / "a.parquet"
    pl.DataFrame({"period": ["2026-10", "2026-10"], "record_no": ["R1", "R2"]}).write_parquet(first)
    second = tmp_path / "b.parquet"
    pl.DataFrame({"period": ["2026-10"], "record_no": ["R3"], "extra": ["{}"]}).write_parquet(second)
    other = tmp_path / "c.parquet"
    pl.DataFrame({"period": ["2026-09"], "record_no": ["R9"]}).write_parquet(other)
    for files in ([first], [other], [second]):
        with wh.publishing(path) as con:
            period = pl.read_parquet(files[0])["period"][0]
            wh.replace_rows_from_parquet(con, "stg_x", files, where="period = ?", params=[period])
            assert wh.table_exists(con, "stg_x")
            con.execute("SELECT 1").fetchall()
    con = wh.connect_readonly(path)
    rows = con.execute("SELECT period, record_no, extra FROM stg_x ORDER BY ALL").fetchall()
    con.close()
    assert rows == [("2026-09", "R9", None), ("2026-10", "R3", "{}")]
