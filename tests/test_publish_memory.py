"""A publish holds the rows it writes in memory, bounded by a DuckDB memory limit it spills past.

The per-period tables a publish writes are temporary tables (not rows of the warehouse copy that
would be compressed into its file at COMMIT and dropped when they turn back into views). Their
memory is DuckDB's ``memory_limit`` of the publish connection (``HEDUI_PUBLISH_MEMORY``): past
it DuckDB spills to the staging folder, so a small limit changes the cost, never the rows.
"""

import os
from types import SimpleNamespace

import duckdb
import pytest

from pipelines import warehouse as wh
from pipelines.warehouse import publish

ROWS = 1_000_000


def _fill(path, period, rows=ROWS, memory=None):
    """Publish ``rows`` quarantine rows of ``period`` (≈ 100 bytes each)."""
    with wh.publishing(path, periods=[period], analyst_refresh=wh.AnalystRefresh([period], [period]),
                       memory=memory) as con:
        setting = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        con.execute("DELETE FROM quarantine WHERE period = ?", [period])
        con.execute(
            "INSERT INTO quarantine (source, period, file, row_number, record_no, reason) "
            "SELECT 'bank', ?, 'bank-' || (i % 97) || '.csv', i, 'R' || i, "
            "'金额不是数字：' || md5(i::VARCHAR) || md5((i + 1)::VARCHAR) FROM range(?) t(i)",
            [period, rows])
    return setting


def _digest(path, sql):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


_DIGEST = ("SELECT period, count(*), sum(row_number), bit_xor(hash(reason, record_no, file)) "
           "FROM quarantine GROUP BY period ORDER BY period")


def test_the_publish_connection_has_the_default_limit_or_the_configured_one(tmp_path, monkeypatch):
    monkeypatch.delenv("HEDUI_PUBLISH_MEMORY", raising=False)
    assert publish.memory_limit() == publish.DEFAULT_PUBLISH_MEMORY
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", "800MiB")
    assert _fill(tmp_path / "hedui.duckdb", "2026-09", rows=10) == "800.0 MiB"


@pytest.mark.parametrize("value", ["lots", "1.5", "-2GB", "2 GBs", "GB"])
def test_a_setting_that_is_not_a_size_is_refused_in_chinese_before_anything_is_written(
        tmp_path, monkeypatch, value):
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", value)
    path = tmp_path / "wh" / "hedui.duckdb"
    with pytest.raises(wh.WarehouseError, match="HEDUI_PUBLISH_MEMORY.*不是内存大小"):
        with wh.publishing(path, periods=["2026-09"]):
            pass
    assert not path.exists() and not path.parent.exists()


@pytest.mark.slow
def test_rows_beyond_the_memory_limit_spill_and_publish_the_same_as_unbounded(tmp_path, monkeypatch):
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", "4GB")
    roomy = tmp_path / "roomy" / "hedui.duckdb"
    _fill(roomy, "2026-08")
    _fill(roomy, "2026-09")
    # ≈ 130 MB of rows per month against a 96 MB limit: DuckDB must spill them to publish
    # (much less fails: a COPY to parquet and the analyst joins need their own buffers)
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", "96MB")
    tight = tmp_path / "tight" / "hedui.duckdb"
    _fill(tight, "2026-08")
    _fill(tight, "2026-09")
    expected = _digest(roomy, _DIGEST)
    assert [r[1] for r in expected] == [ROWS, ROWS]
    assert _digest(tight, _DIGEST) == expected
    assert (_digest(wh.analyst_path(tight), "SELECT count(*) FROM analyst.quarantine")
            == [(2 * ROWS,)])
    # the spill folder is staging's, and nothing of it is left beside the warehouse
    assert sorted(p.name for p in tight.parent.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in roomy.parent.iterdir() if not p.name.startswith("."))


def test_the_published_file_does_not_carry_the_rows_written_to_parquet(tmp_path, monkeypatch):
    # the rows live in the period's parquet files; the warehouse file holds views and the book.
    # Written into the copy first, 1.2M rows left ≈ 40 MB of dead blocks in it
    monkeypatch.delenv("HEDUI_PUBLISH_MEMORY", raising=False)
    path = tmp_path / "hedui.duckdb"
    _fill(path, "2026-08")
    _fill(path, "2026-09")
    parquet = sum(p.stat().st_size for p in wh.parts_dir(path).rglob("*.parquet"))
    assert parquet > 20_000_000
    assert path.stat().st_size < parquet / 4
    assert wh.analyst_path(path).stat().st_size < parquet / 4


def test_a_publish_out_of_memory_fails_in_chinese_naming_the_setting_and_changes_nothing(
        tmp_path, monkeypatch):
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", "4GB")
    path = tmp_path / "hedui.duckdb"
    _fill(path, "2026-08", rows=1000)
    before = _digest(path, _DIGEST)
    analyst_before = _digest(wh.analyst_path(path), "SELECT count(*) FROM analyst.quarantine")
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", "16MB")
    with pytest.raises(wh.WarehouseError, match=r"内存不足（HEDUI_PUBLISH_MEMORY=16MB）.*仓库未改动"):
        _fill(path, "2026-09")
    assert _digest(path, _DIGEST) == before
    assert _digest(wh.analyst_path(path), "SELECT count(*) FROM analyst.quarantine") == analyst_before


def test_the_limits_tried_are_the_setting_alone_or_the_default_then_a_share_of_the_machine(monkeypatch):
    monkeypatch.setenv("HEDUI_PUBLISH_MEMORY", "3GB")
    assert wh.memory_limits() == ["3GB"]
    monkeypatch.delenv("HEDUI_PUBLISH_MEMORY")
    limits = wh.memory_limits()
    assert limits[0] == publish.DEFAULT_PUBLISH_MEMORY
    total_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert len(limits) == 2 and int(limits[1].removesuffix("MiB")) == int(total_mib * 2**20 * 0.6) // 2**20


def test_a_run_whose_publish_does_not_fit_is_published_again_with_more_and_says_so(tmp_path, monkeypatch):
    # the run's own publish (stage_publish) on a prepared folder: 16 MB cannot hold it, 4 GB can
    from pipelines.run import publish as stage

    calls = []

    def attempt(ctx, refs, assessed, *, memory, summary, **kw):
        calls.append(memory)
        _fill(tmp_path / "hedui.duckdb", "2026-09", rows=200_000, memory=memory)
        return {"memory": memory}

    monkeypatch.setattr(stage, "_publish", attempt)
    monkeypatch.setattr(wh, "memory_limits", lambda: ["16MB", "4GB"])
    summary: dict = {"notes": []}
    done = stage.stage_publish(SimpleNamespace(warehouse=tmp_path / "hedui.duckdb"), [], [], period_label="2026-09", districts=None, summary=summary)
    assert calls == ["16MB", "4GB"] and done == {"memory": "4GB"}
    assert summary["notes"] == [{"code": "publish_memory_retry", "first": "16MB", "second": "4GB"}]
    assert _digest(tmp_path / "hedui.duckdb", _DIGEST)[0][1] == 200_000
    # with the operator's setting alone, the failure is the run's: nothing tried twice
    calls.clear()
    monkeypatch.setattr(wh, "memory_limits", lambda: ["16MB"])
    with pytest.raises(wh.PublishOutOfMemory, match="内存不足"):
        stage.stage_publish(SimpleNamespace(warehouse=tmp_path / "hedui.duckdb"), [], [], period_label="2026-10", districts=None, summary={})
    assert calls == ["16MB"]
