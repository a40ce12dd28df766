"""Report layer: reading what the notices of a period need from the warehouse.

One household's notice, or every flagged household's of a set of districts, is read in a few
queries: assessments, flags and their evidence, the register's members (masked), the records
behind the evidence and the household's records still in review.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from pipelines.flags import FLAGS
from pipelines.notice.vocabulary import NoticeError
from pipelines.periods import month_end, window
from pipelines.report.text import mask_id, mask_name
from pipelines.rulebook import Rulebook, RulebookError, Rules, load_rulebook
from pipelines.sources import EXTRACT_SOURCES
from pipelines.warehouse.connection import table_names as _tables


def _record_rows(con: duckdb.DuckDBPyConnection, keys: Sequence[dict],
                 tables: frozenset[str]) -> dict[tuple, dict]:
    """The clean row and link of each evidence record, by ``(source, period, record_no)``."""
    out: dict[tuple, dict] = {}
    by_source: dict[str, list[str]] = {}
    for k in keys:
        by_source.setdefault(str(k["source"]), []).append(f"{k['period']}|{k['record_no']}")
    for source, wanted in by_source.items():
        table = f"stg_{source}"
        if source not in EXTRACT_SOURCES or table not in tables:
            continue
        frame = con.sql(f"""
            SELECT s.* EXCLUDE (id_raw, id_norm, id18, name_raw, name_norm, name_pinyin),
                   l.person_id AS linked_person_id, l.method AS linked_method
            FROM {table} s
            LEFT JOIN links l ON l.source = $s AND l.period = s.period AND l.record_no = s.record_no
            WHERE list_contains($k, s.period || '|' || s.record_no)""",
                        params={"s": source, "k": wanted}).pl()
        for row in frame.iter_rows(named=True):
            out.setdefault((source, row["period"], row["record_no"]), row)
    return out


@dataclass(frozen=True)
class _Prefetched:
    """What the notices of a set of households need, read in a few queries for all of them."""

    has_results: bool
    assessments: dict[str, dict]
    flags: dict[str, list[tuple[str, dict, str]]]
    members: dict[str, list[dict]]
    pending: dict[str, list[dict]]
    records: dict[tuple, dict]
    rulebook: Rulebook | None
    resolved: Rules | None


def _prefetch(con: duckdb.DuckDBPyConnection, *, period: str, household_id: str | None = None,
              districts: Sequence[str] = (), rulebook: Rulebook | None = None) -> _Prefetched:
    """Read the period's rows for one household, or for every household of ``districts``."""
    tables = _tables(con)
    for table in ("flags", "assessments", "links"):
        if table not in tables:
            raise NoticeError(f"数据库中没有 {table} 表，请先运行 hedui monthly")
    params: dict[str, Any] = {"p": period}
    if household_id is not None:
        chosen, params["h"] = "household_id = $h", household_id
    else:
        chosen, params["d"] = "list_contains($d, district_code)", list(districts)
    scope = f"SELECT household_id FROM assessments WHERE period = $p AND {chosen}"
    has_results = bool(con.execute("SELECT count(*) FROM assessments WHERE period = ?",
                                   [period]).fetchall()[0][0])
    assessments = {r["household_id"]: r for r in con.sql(
        f"""SELECT household_id, district_code, urban_rural, programme, missing_sources
            FROM assessments WHERE period = $p AND {chosen}""", params=params).pl().iter_rows(named=True)}
    order = {f: i for i, f in enumerate(FLAGS)}
    flags: dict[str, list[tuple[str, dict, str]]] = {}
    for h, f, e, v in con.sql(f"""SELECT household_id, flag, evidence, rulebook_version FROM flags
                                 WHERE period = $p AND household_id IN ({scope})""",
                              params=params).fetchall():
        flags.setdefault(h, []).append((f, json.loads(e) if isinstance(e, str) else (e or {}), v))
    for rows in flags.values():
        rows.sort(key=lambda r: order.get(r[0], len(order)))
    members: dict[str, list[dict]] = {}
    if "stg_register" in tables:
        frame = con.sql(f"""
            SELECT household_id, person_id, relation, name_raw,
                   coalesce(id_norm, id_raw) AS id_text, street, row_number
            FROM stg_register WHERE period = $p AND household_id IN ({scope})
            ORDER BY household_id, row_number""", params=params).pl().select(
            "household_id", "person_id",
            pl.col("relation").fill_null("成员"),
            mask_name(pl.col("name_raw")).fill_null("（未登记姓名）").alias("name_masked"),
            mask_id(pl.col("id_text")).fill_null("（未登记证件号）").alias("id_masked"),
            "street")
        for row in frame.iter_rows(named=True):
            members.setdefault(row["household_id"], []).append(row)
    try:
        book = rulebook or load_rulebook()
        resolved: Rules | None = book.at(month_end(period))
    except RulebookError:
        book, resolved = None, None
    months = 6 if resolved is None else max(int(resolved.value("income_window_months")), 6)
    pending: dict[str, list[dict]] = {}
    for h, source, folder, n in con.sql(f"""
            SELECT candidate_household_id, source, period, count(*) FROM links
            WHERE status = 'review' AND list_contains($f, period)
              AND candidate_household_id IN ({scope})
            GROUP BY ALL ORDER BY candidate_household_id, period, source""",
                                        params={**params, "f": window(period, months)}).fetchall():
        pending.setdefault(h, []).append({"source": source, "period": folder, "n": int(n)})
    keys = [k for rows in flags.values() for _, ev, _ in rows for k in (ev.get("records") or [])]
    return _Prefetched(has_results=has_results, assessments=assessments, flags=flags,
                       members=members, pending=pending, records=_record_rows(con, keys, tables),
                       rulebook=book, resolved=resolved)
