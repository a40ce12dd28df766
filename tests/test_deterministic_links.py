"""outputs.md, "Deterministic links": a folder gives the same links in every run that loads it.

The review ranking reads a fixed set of months (the folder and the month before it), never the
run's window; the queue order, which does depend on the month assessed, lives in
``review_queue``. So the ``links`` rows of a folder (ranked candidates and reasons included) do
not depend on which month was run, and a steady month re-publishes only its new folder.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.review_queue import EVIDENCE_LOOKBACK, evidence_months, rank_key
from pipelines.run.context import FolderRef

from conftest import SAMPLE, copy_warehouse, run_local_monthly
from helpers.warehouse_dump import published

KEY = ["source", "period", "record_no"]


def _links(warehouse: Path, periods: list[str]) -> pl.DataFrame:
    return published(warehouse, "SELECT * FROM links WHERE list_contains($p, period) ORDER BY ALL",
                     {"p": periods})


def test_the_ranking_reads_the_month_before_each_folder_and_no_other():
    assert EVIDENCE_LOOKBACK == 1
    assert evidence_months(["2026-05", "2026-06", "2026-07"]) == ["2026-04"]
    # a gap in the folders (an INCOME_DROP month apart from the window) needs its own month before
    assert evidence_months(["2025-10", "2026-05", "2026-06"]) == ["2025-09", "2026-04"]
    assert evidence_months([]) == []


def test_the_ranking_key_follows_the_folder_and_the_month_before(tmp_path):
    def ref(period: str, key: str | None, exists: bool = True) -> FolderRef:
        return FolderRef(period=period, dir=tmp_path, exists=exists, cache_key=key)

    now = ref("2026-10", "k10")
    assert rank_key(now, ref("2026-09", "k9")) == rank_key(ref("2026-10", "k10"), ref("2026-09", "k9"))
    assert rank_key(now, ref("2026-09", "k9")) != rank_key(now, ref("2026-09", "k9-redelivered"))
    assert rank_key(now, None) == rank_key(now, ref("2026-09", None, exists=False))
    assert rank_key(now, None) != rank_key(now, ref("2026-09", "k9"))
    # the cache off (no key): the ranking is made again and the folder re-published
    assert rank_key(ref("2026-10", None), ref("2026-09", "k9")) is None
    assert rank_key(now, ref("2026-09", None)) is None


def _queue(warehouse: Path, period: str) -> pl.DataFrame:
    return published(warehouse, "SELECT * FROM review_queue WHERE period = $p ORDER BY queue_rank",
                     {"p": period})


def _files(warehouse: Path) -> dict[str, str]:
    rows = published(warehouse, "SELECT period, file FROM _hedui_partitions "
                                "WHERE store = 'warehouse' AND table_name = 'links'")
    return dict(rows.iter_rows())


@pytest.mark.slow
def test_a_folder_gives_the_same_links_whichever_month_is_run(sample_run, tmp_path):
    warehouse, summary = sample_run
    assert summary["period"] == "2026-10"
    steady = tmp_path / "steady" / "hedui.duckdb"
    run_local_monthly(SAMPLE / "incoming", "2026-09", steady)
    common = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]
    ours, theirs = _links(warehouse, common), _links(steady, common)
    assert ours.height > 10_000
    review = ours.filter(pl.col("status") == "review")
    # the ranked candidates are there to compare: ranking did run on both
    assert review.height > 50 and review["candidate_reasons"].null_count() == 0
    assert ours.equals(theirs)
    queued = published(steady, "SELECT DISTINCT period, record_period FROM review_queue "
                               "ORDER BY ALL").rows()
    # the queue is the month's own: its folders' review records (2026-04 was not delivered)
    assert queued == [("2026-09", p) for p in common]

    # the next month on the same warehouse: only its new folder's links are written
    september_files = _files(steady)
    run_local_monthly(SAMPLE / "incoming", "2026-10", steady)
    october_files = _files(steady)
    assert {p: october_files[p] for p in common} == {p: september_files[p] for p in common}
    assert "2026-10" in october_files and "2026-10" not in september_files
    everything = [*common, "2026-10"]
    assert _links(steady, everything).equals(_links(warehouse, everything))
    # October's queue spans its six folders, five of them read from files this run did not write
    assert _queue(steady, "2026-10").equals(_queue(warehouse, "2026-10"))
    assert _queue(steady, "2026-10")["record_period"].unique().sort().to_list() == everything
    # fairness compares October with September, read from September's file: the same table
    fair = "SELECT * FROM fairness WHERE period = '2026-10' ORDER BY ALL"
    assert published(steady, fair).height > 20
    assert published(steady, fair).equals(published(warehouse, fair))


@pytest.mark.slow
def test_a_rerun_writes_no_links_file_again(sample_run, tmp_path):
    warehouse = copy_warehouse(sample_run[0], tmp_path / "copy")
    before = _files(warehouse)
    run_local_monthly(SAMPLE / "incoming", "2026-10", warehouse)
    assert set(before) == {"2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"}
    # same folders, same ranking (both from the folder cache): not one links file written again
    assert _files(warehouse) == before
