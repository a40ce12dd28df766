"""Garbage collection of a store's parquet files: what no reader can need any more.

A publish writes new files and retires old ones (:mod:`pipelines.partitions`); a reader holding
a connection from before may still read a retired file, so it is kept for
:data:`RETIRED_KEEP`. Files no published catalog ever referenced (a run killed before its
publish) are deleted at once.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import duckdb

from pipelines.partitions import PARTS_TABLE, RETIRED_TABLE, Store, _q

#: how long a retired partition file is kept for readers that opened the previous catalog
RETIRED_KEEP = timedelta(hours=24)


def collect_garbage(con: duckdb.DuckDBPyConnection, book: str, stores: Collection[Store], *,
                    now: datetime | None = None) -> None:
    """Delete files no reader can need; call with the publish lock held, on the catalog copy.

    Removed: files no published catalog ever referenced (written by a run killed before its
    publish) and retired files older than :data:`RETIRED_KEEP`. Their book rows go from the
    copy, which the publish then makes the catalog.
    """
    now = now or datetime.now(UTC)
    for store in stores:
        if not store.parts_dir.is_dir():
            continue
        live = {r[0] for r in con.execute(
            f"SELECT file FROM {_q(book)}.main.{PARTS_TABLE} WHERE store = ?", [store.name]).fetchall()}
        retired = dict(con.execute(
            f"SELECT file, max(retired_at) FROM {_q(book)}.main.{RETIRED_TABLE} WHERE store = ? "
            "GROUP BY file", [store.name]).fetchall())
        expired = [f for f, at in retired.items() if now - at > RETIRED_KEEP]
        for path in store.parts_dir.glob("*/*"):
            rel = f"{path.parent.name}/{path.name}"
            if rel in live:
                continue
            if rel not in retired or rel in expired:
                path.unlink(missing_ok=True)
        if expired:
            con.execute(f"DELETE FROM {_q(book)}.main.{RETIRED_TABLE} WHERE store = ? "
                        "AND list_contains(?, file)", [store.name, expired])

