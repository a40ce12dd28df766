"""Pseudonyms: keyed, stable under one key, changed by another, and a lost key refuses the run.

Each test here fails for a planted broken pseudonym: a household_key that is the raw 户编号, a
person_key that is an unkeyed sha256/md5 of 个人编号 or of the ID number (anyone can recompute
it from an ID), a key that silently changes when the warehouse moves without its key file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines import analyst
from pipelines import warehouse as wh

ROOT = Path(__file__).resolve().parents[1]
#: (个人编号, 户编号, ID number, name): what a broken pseudonym would leak or be computed from
PEOPLE = [
    ("R000000001", "H990101000001", "990101199606043841", "王芳"),
    ("R000000002", "H990101000001", "990101194509305456", "李涛"),
    ("R000000003", "H990101000002", "11010519491231002X", "买买提·艾力"),
    ("R000000004", "H990101000003", "110105491231002", "陈丽华"),
]


def _plant(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""CREATE TABLE stg_register (period VARCHAR, person_id VARCHAR, household_id VARCHAR,
        id18 VARCHAR, name_raw VARCHAR, district_code VARCHAR, urban_rural VARCHAR, programme VARCHAR,
        sex VARCHAR, birth_on DATE, relation VARCHAR, disability_grade VARCHAR,
        serious_illness VARCHAR, address VARCHAR, phone VARCHAR)""")
    for i, (pid, hh, id_, name) in enumerate(PEOPLE):
        con.execute("INSERT INTO stg_register VALUES ('2026-10', ?, ?, ?, ?, '990101', '城市', '低保', "
                    "'女', DATE '1960-01-01', '户主', NULL, '否', '幸福路1号', '13595853415')",
                    [pid, hh, id_, name])
        con.execute("INSERT INTO links (source, period, record_no, person_id, household_id, score, "
                    "status, method) VALUES ('tax_wages', '2026-10', ?, ?, ?, 1.0, 'matched', 'id_exact')",
                    [f"TW{i}", pid, hh])
    con.execute("INSERT INTO links (source, period, record_no, status, method, candidate_person_id, "
                "candidate_household_id, reason) VALUES ('bank', '2026-10', 'B1', 'review', 'name_only', "
                "'R000000002', 'H990101000001', 'never linked on name alone')")
    con.execute("""INSERT INTO assessments (period, household_id, district_code, rulebook_version)
        SELECT DISTINCT '2026-10', household_id, '990101', 'v1' FROM stg_register""")
    con.execute("""INSERT INTO flags (period, household_id, district_code, flag, evidence, rulebook_version)
        VALUES ('2026-10', 'H990101000001', '990101', 'INCOME_OVER_STANDARD', '{}', 'v1')""")
    # a register row repeating a 个人编号: its 记录号 is the 个人编号, and so is its reason's text
    con.execute("INSERT INTO quarantine (source, period, file, row_number, record_no, reason) "
                "VALUES ('register', '2026-10', 'register.csv', 7, 'R000000003', "
                "'个人编号 R000000003 repeats (2 rows)')")


def _publish(path: Path, **kwargs) -> None:
    with wh.publishing(path, **kwargs) as con:
        if not wh.table_exists(con, "stg_register"):
            _plant(con)


def _keys(path: Path) -> dict[str, dict[str, str]]:
    """个人编号 → person_key and 户编号 → household_key, joined back through the record numbers."""
    con = duckdb.connect(str(wh.analyst_path(path)), read_only=True)
    try:
        rows = con.execute("SELECT record_no, person_key, household_key FROM analyst.links "
                           "WHERE status = 'matched'").fetchall()
    finally:
        con.close()
    by_record = {r[0]: (r[1], r[2]) for r in rows}
    persons = {pid: by_record[f"TW{i}"][0] for i, (pid, *_) in enumerate(PEOPLE)}
    households = {hh: by_record[f"TW{i}"][1] for i, (_, hh, *_) in enumerate(PEOPLE)}
    return {"person": persons, "household": households}


def _all_text(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        return "\n".join(str(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables)
    finally:
        con.close()


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "first-key-" + "a" * 30)
    path = tmp_path / "hedui.duckdb"
    _publish(path)
    return path


def test_a_household_key_is_not_and_does_not_contain_the_household_number(keyed):
    keys = _keys(keyed)
    identities = [v for p in PEOPLE for v in p]
    for hh, key in keys["household"].items():
        assert key != hh
        assert not any(i in key or key in i for i in identities)
    for pid, key in keys["person"].items():
        assert key != pid
        assert not any(i in key or key in i for i in identities)


def test_a_person_key_is_no_unkeyed_hash_of_the_person_number_or_the_id(keyed):
    keys = _keys(keyed)
    for pid, hh, id_, _ in PEOPLE:
        unkeyed = {f(v.encode()).hexdigest() for v in (pid, id_, hh, f"p|{pid}", f"person|{pid}")
                   for f in (hashlib.sha256, hashlib.md5, hashlib.sha1)}
        key = keys["person"][pid]
        # a truncated unkeyed hash is a prefix (or part) of the full one
        assert not any(key in h for h in unkeyed), pid
        assert not any(keys["household"][hh] in h for h in unkeyed), hh


def test_the_pseudonym_is_the_documented_hmac_under_the_key(keyed):
    keys = _keys(keyed)
    key = os.environ[wh.PSEUDONYM_KEY_ENV]
    for pid, hh, *_ in PEOPLE:
        assert keys["person"][pid] == analyst.pseudonym(pid, key=key, kind="person")
        assert keys["household"][hh] == analyst.pseudonym(hh, key=key, kind="household")
    # persons and households are keyed apart: the same text never gives the same pseudonym
    assert analyst.pseudonym("X1", key=key, kind="person") != analyst.pseudonym("X1", key=key, kind="household")


def test_pseudonyms_are_stable_across_runs_with_the_same_key(keyed):
    first = _keys(keyed)
    _publish(keyed)
    _publish(keyed, analyst_refresh=wh.AnalystRefresh(["2026-10"], ["2026-10"]))
    assert _keys(keyed) == first


def test_every_pseudonym_changes_when_the_key_changes(keyed, monkeypatch):
    first = _keys(keyed)
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "second-key-" + "b" * 30)
    _publish(keyed, rekey=True)
    second = _keys(keyed)
    for kind in ("person", "household"):
        assert set(first[kind]) == set(second[kind])
        assert all(first[kind][i] != second[kind][i] for i in first[kind])


def test_a_register_rows_person_number_does_not_reach_the_analyst_quarantine(keyed):
    text = _all_text(wh.analyst_path(keyed))
    for pid, hh, id_, name in PEOPLE:
        for identity in (pid, hh, id_, name, "幸福路1号", "13595853415"):
            assert identity not in text
    con = duckdb.connect(str(wh.analyst_path(keyed)), read_only=True)
    row = con.execute("SELECT record_no, person_key, reason FROM analyst.quarantine").fetchone()
    con.close()
    assert row[0] is None and row[1] == _keys(keyed)["person"]["R000000003"]
    assert row[2] == "个人编号 … repeats (2 rows)"


def test_neither_file_holds_the_key(keyed):
    key = os.environ[wh.PSEUDONYM_KEY_ENV].encode()
    for path in (keyed, wh.analyst_path(keyed)):
        assert key not in path.read_bytes()


# ------------------------------------------------------------------------------ the lost key


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.iterdir() if p.is_file() and not p.name.endswith(".lock")}


def test_a_warehouse_moved_without_its_key_file_is_refused_and_left_unchanged(tmp_path, monkeypatch):
    monkeypatch.delenv(wh.PSEUDONYM_KEY_ENV, raising=False)
    home = tmp_path / "home" / "hedui.duckdb"
    _publish(home)
    assert wh.key_file(home).exists()
    first = _keys(home)
    moved = tmp_path / "moved" / "hedui.duckdb"
    moved.parent.mkdir()
    shutil.copyfile(home, moved)
    shutil.copyfile(wh.analyst_path(home), wh.analyst_path(moved))
    shutil.copytree(wh.parts_dir(home), wh.parts_dir(moved))  # the big tables' files move too
    before = _digests(moved.parent)
    with pytest.raises(wh.PseudonymKeyError) as refused:
        _publish(moved)
    message = str(refused.value)
    assert wh.PSEUDONYM_KEY_ENV in message and "--rekey" in message and str(wh.key_file(moved)) in message
    assert "密钥" in message
    with pytest.raises(wh.PseudonymKeyError):
        wh.check_pseudonym_key(moved)
    assert _digests(moved.parent) == before  # no new key file, nothing published
    # restoring the key file restores the run, with the same pseudonyms
    shutil.copyfile(wh.key_file(home), wh.key_file(moved))
    _publish(moved)
    assert _keys(moved) == first


def test_a_different_key_is_refused_and_rekey_is_deliberate(tmp_path, monkeypatch):
    path = tmp_path / "hedui.duckdb"
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "the-original-key")
    _publish(path)
    first = _keys(path)
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "someone-elses-key")
    with pytest.raises(wh.PseudonymKeyError, match="不一致"):
        _publish(path)
    assert _keys(path) == first
    monkeypatch.delenv(wh.PSEUDONYM_KEY_ENV)
    _publish(path, rekey=True)  # no key anywhere: --rekey creates a new key file
    assert wh.key_file(path).exists()
    assert set(_keys(path)["person"].values()).isdisjoint(first["person"].values())
    _publish(path)  # and from then on the new key is the warehouse's key


def test_a_warehouse_of_the_previous_release_without_its_key_is_refused(tmp_path, monkeypatch):
    # before the analyst file, the warehouse kept analyst.* and a check of the key in analyst._key_check
    path = tmp_path / "hedui.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA analyst")
    con.execute("CREATE TABLE analyst._key_check AS SELECT sha256('hedui-analyst-key-check|old') AS key_check")
    con.execute("CREATE TABLE analyst.flags AS SELECT 'x' AS household_key")
    con.close()
    monkeypatch.delenv(wh.PSEUDONYM_KEY_ENV, raising=False)
    with pytest.raises(wh.PseudonymKeyError):
        _publish(path)
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "old")
    _publish(path)  # the right key upgrades it: the analyst schema moves out into the analyst file
    con = duckdb.connect(str(path), read_only=True)
    assert not con.execute("SELECT count(*) FROM information_schema.schemata "
                           "WHERE schema_name = 'analyst'").fetchone()[0]
    con.close()


def test_the_command_refuses_a_warehouse_without_its_key_with_exit_1(tmp_path, monkeypatch):
    monkeypatch.setenv(wh.PSEUDONYM_KEY_ENV, "deployment-key")
    path = tmp_path / "hedui.duckdb"
    _publish(path)
    before = _digests(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != wh.PSEUDONYM_KEY_ENV}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "monthly", "--incoming",
                           str(ROOT / "data" / "sample" / "incoming"), "--period", "2026-10",
                           "--warehouse", str(path), "--orchestrator", "local"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "--rekey" in done.stderr and wh.PSEUDONYM_KEY_ENV in done.stderr
    assert _digests(tmp_path) == before
    assert not (tmp_path / ".work").exists() or not any((tmp_path / ".work").iterdir())


def test_a_failed_first_run_leaves_no_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(wh.PSEUDONYM_KEY_ENV, raising=False)
    path = tmp_path / "hedui.duckdb"
    with pytest.raises(RuntimeError, match="boom"), wh.publishing(path):
        raise RuntimeError("boom")
    assert not wh.key_file(path).exists() and not path.exists()
    _publish(path)
    assert wh.key_file(path).exists()
    assert wh.key_file(path).read_text().strip() == wh.pseudonym_key(path)
