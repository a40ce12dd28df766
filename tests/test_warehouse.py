"""The warehouse publishes atomically: all of a run or nothing, and readers are never blocked."""

import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines import analyst
from pipelines import partitions as parts
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


def test_analyst_tables_carry_keys_not_identities_and_the_key_stays_out_of_the_files(tmp_path, monkeypatch):
    path = tmp_path / "hedui.duckdb"
    key = "k3y-" + "x" * 40
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, key)
    with wh.publishing(path) as con:
        con.execute("""CREATE TABLE stg_register AS SELECT '2026-10' AS period, 'P001' AS person_id,
            'H001' AS household_id, '110105194912310021' AS id18, '张伟' AS name_raw,
            '990101' AS district_code, '城市' AS urban_rural, '低保' AS programme, '男' AS sex,
            DATE '1949-12-31' AS birth_on, '户主' AS relation, NULL AS disability_grade,
            '否' AS serious_illness, '某街1号' AS address, '13800000000' AS phone""")
        con.execute("""INSERT INTO links (source, period, record_no, person_id, household_id, score,
            status, method) VALUES ('tax_wages', '2026-10', 'R1', 'P001', 'H001', 1.0, 'matched', 'id_exact')""")
    con = duckdb.connect(str(wh.analyst_path(path)), read_only=True)
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema='analyst'").fetchall()}
    persons = con.execute("SELECT person_key, household_key, birth_year FROM analyst.persons").fetchall()
    link_key = con.execute("SELECT person_key FROM analyst.links").fetchone()[0]
    con.close()
    assert not columns & {"id18", "id_raw", "name_raw", "name_norm", "address", "phone",
                          "person_id", "household_id"}
    assert persons[0][0] == link_key and persons[0][0] != "P001" and len(link_key) == 16
    assert persons[0][2] == 1949
    for published in (path, wh.analyst_path(path)):
        assert key.encode() not in published.read_bytes()


def test_the_warehouse_keeps_no_analyst_schema_and_the_analyst_file_no_identity_table(tmp_path):
    path = tmp_path / "hedui.duckdb"
    with wh.publishing(path) as con:
        con.execute("CREATE TABLE stg_register AS SELECT 'P1' AS person_id, 'H1' AS household_id, "
                    "'2026-10' AS period, NULL::VARCHAR AS district_code, NULL::VARCHAR AS urban_rural, "
                    "NULL::VARCHAR AS programme, NULL::VARCHAR AS sex, NULL::DATE AS birth_on, "
                    "NULL::VARCHAR AS relation, NULL::VARCHAR AS disability_grade, "
                    "NULL::VARCHAR AS serious_illness")
    con = duckdb.connect(str(path), read_only=True)
    schemas = {r[0] for r in con.execute(
        "SELECT table_schema FROM information_schema.tables").fetchall()}
    con.close()
    assert "analyst" not in schemas
    con = duckdb.connect(str(wh.analyst_path(path)), read_only=True)
    tables = {(r[0], r[1]) for r in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    con.close()
    assert {t for s, t in tables if s == "analyst"} == set(analyst.TABLES)
    assert {t for s, t in tables if s != "analyst"} == {analyst.META_TABLE}


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_files_holding_identities_are_private_whatever_the_umask(tmp_path, umask, monkeypatch):
    from pipelines import folder_cache, runner

    monkeypatch.delenv(wh.PSEUDONYM_KEY_ENV, raising=False)
    path = tmp_path / "new" / "hedui.duckdb"
    old = os.umask(umask)
    try:
        _seed(path)
        source = tmp_path / "scratch-source"
        source.mkdir()
        (source / "stg_register.parquet").write_bytes(b"rows with ID numbers")
        folder_cache.store(path, "2026-10", "k1", source, {"ref": {}})
        ctx = runner.RunContext.create(flow="monthly", incoming=tmp_path, warehouse=path)
        try:
            scratch_modes = (_mode(ctx.scratch.parent), _mode(ctx.scratch))
        finally:
            ctx.cleanup()
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(wh.key_file(path)) == 0o600
    assert _mode(wh.analyst_path(path)) == 0o640
    assert _mode(path.parent) == 0o750  # the analysts' group may enter, nobody else
    assert scratch_modes == (0o700, 0o700)
    cache = path.parent / ".cache"
    assert _mode(cache) == 0o700 and _mode(cache / "folders") == 0o700
    entry = cache / "folders" / "2026-10" / "k1"
    assert _mode(entry) == 0o700 and _mode(entry / "stg_register.parquet") == 0o600


def test_an_existing_world_readable_warehouse_and_cache_are_tightened(tmp_path):
    from pipelines import folder_cache

    path = tmp_path / "hedui.duckdb"
    _seed(path)
    os.chmod(path, 0o644)
    (tmp_path / ".cache" / "folders").mkdir(parents=True)
    os.chmod(tmp_path / ".cache", 0o755)
    os.chmod(tmp_path / ".cache" / "folders", 0o755)
    source = tmp_path / "src"
    source.mkdir()
    folder_cache.store(path, "2026-10", "k1", source, {"ref": {}})
    _seed(path)
    assert _mode(path) == 0o600
    assert _mode(tmp_path / ".cache") == 0o700 and _mode(tmp_path / ".cache" / "folders") == 0o700


def _mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def _analyst_reasons(path):
    con = duckdb.connect(str(wh.analyst_path(path)), read_only=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT reason FROM analyst.quarantine").fetchall())
    finally:
        con.close()


def test_a_kill_between_the_two_renames_leaves_the_old_analyst_file_and_the_next_run_rebuilds_it(
        tmp_path, monkeypatch):
    path = tmp_path / "hedui.duckdb"
    _seed(path)
    analyst_before = _digest(wh.analyst_path(path))
    real_replace = os.replace

    def replace_then_die(src, dst):
        if Path(dst) == wh.analyst_path(path):
            raise KeyboardInterrupt  # stands for the kill: nothing after it runs
        real_replace(src, dst)

    monkeypatch.setattr(wh.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt), wh.publishing(path) as con:
        con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) "
                    "VALUES ('pension', '2026-10', 'p.csv', 1, 'X', 'new')")
    monkeypatch.setattr(wh.os, "replace", real_replace)
    # the warehouse is published, the analyst file is the previous one, whole: never ahead
    assert _digest(wh.analyst_path(path)) == analyst_before
    assert _analyst_reasons(path) == ["old"]
    # the next publish sees the pair does not match and rebuilds the analyst file whole, even
    # when its run says only one folder changed
    with wh.publishing(path, analyst_refresh=wh.AnalystRefresh([], [])):
        pass
    assert _analyst_reasons(path) == ["new", "old"]


_KILL_SCRIPT = """
import sys
from pipelines import warehouse as wh
path = sys.argv[1]
i = int(sys.argv[2])
periods = None if sys.argv[3] == "all" else [sys.argv[3]]
while True:
    i += 1
    # honest about what changed: the 2026-10 folder's analyst rows are rebuilt each time
    with wh.publishing(path, analyst_refresh=wh.AnalystRefresh(["2026-10"], []),
                       periods=periods) as con:
        con.execute("INSERT INTO quarantine SELECT 'bank', '2026-10', 'b.csv', r, 'R' || r, ? "
                    "FROM range(20000) t(r)", [f"publish {i}"])
    print(i, flush=True)
"""


def _counters(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        table = "analyst.quarantine" if path.name.endswith("-analyst.duckdb") else "quarantine"
        return {r[0] for r in con.execute(f"SELECT DISTINCT reason FROM {table}").fetchall()}
    finally:
        con.close()


# the publish of a declared period (writes one partition file per table) and the one that loads
# every period (what a block that declares nothing gets)
@pytest.mark.parametrize(("delay", "periods"), [(0.15, "2026-10"), (0.6, "all"), (1.1, "2026-10"),
                                                (1.7, "2026-10"), (2.5, "all")])
def test_a_run_killed_at_any_moment_leaves_a_readable_pair_and_the_next_run_repairs_it(
        tmp_path, delay, periods):
    path = tmp_path / "hedui.duckdb"
    _seed(path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(path), "0", periods], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    warehouse_rows = _counters(path)
    analyst_rows = _counters(wh.analyst_path(path))
    # the analyst file is the warehouse's own publish or the one before it, never ahead
    assert analyst_rows <= warehouse_rows
    assert len(warehouse_rows - analyst_rows) <= 1
    with wh.publishing(path, analyst_refresh=wh.AnalystRefresh([], [])):
        pass
    assert _counters(wh.analyst_path(path)) == _counters(path)
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    # the killed run's partition files, never published, are gone; the published ones remain
    assert _orphan_partition_files(path) == []


def _orphan_partition_files(path):
    """Partition files neither the published book references nor keeps for old readers."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        known = {r[0] for r in con.execute(
            f"SELECT file FROM {parts.PARTS_TABLE} UNION SELECT file FROM {parts.RETIRED_TABLE}"
        ).fetchall()}
    finally:
        con.close()
    found = [f"{p.parent.name}/{p.name}" for folder in (wh.parts_dir(path), wh.analyst_parts_dir(path))
             for p in folder.glob("*/*")]
    assert found, "the warehouse keeps its big tables in partition files"
    return sorted(set(found) - known)


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
