"""Decisions layer: importing a decision file into ``decisions`` in one transaction.

:func:`import_decisions` reads a file (:mod:`~pipelines.decisions.read`), checks every row
(:mod:`~pipelines.decisions.validate`), appends what is not yet recorded and, in the same
transaction, brings the decision columns of the published ``flags`` rows it touches up to date
(:func:`~pipelines.decisions.carry.annotate_flags`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import duckdb
import polars as pl

from pipelines.decisions.carry import annotate_flags, load_flag_decisions
from pipelines.decisions.params import load_decision_params
from pipelines.decisions.read import DecisionImportError, read_decision_file
from pipelines.decisions.table import (
    DECISION_COLUMNS,
    DECISION_SCHEMA,
    ensure_decisions_table,
    existing_decisions,
    table_exists,
    to_moment,
)
from pipelines.decisions.validate import validate_rows
from pipelines.report.layout import SHEET_FLAGS, SHEET_REVIEW

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_decisions` did with a file.

    Attributes
    ----------
    file : str
        The file's name.
    sha256 : str
        Hex SHA-256 of the file's bytes.
    rows_read : int
        Rows carrying a decision (rows with all decision columns empty are not counted).
    recorded : int
        Decisions appended to ``decisions``.
    already_recorded : int
        Rows skipped because the same decision is already in the table.
    flag_decisions, link_decisions : int
        How many of ``recorded`` are about flags and about links.
    flags_refreshed : int
        Rows of the published ``flags`` whose decision columns were brought up to date.
    """

    file: str
    sha256: str
    rows_read: int
    recorded: int
    already_recorded: int
    flag_decisions: int
    link_decisions: int
    flags_refreshed: int = 0


def _as_utc(moment: datetime) -> datetime:
    """An aware moment in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def import_decisions(path: Path, con: duckdb.DuckDBPyConnection, *,
                     imported_at: datetime | None = None,
                     params: dict | None = None) -> ImportResult:
    """Validate every decision row of a file, then append the decisions in one transaction.

    A flag row must name a flag of ``flags`` (期间, 户编号, 标记代码); a review row a record of
    ``links`` (期间, 来源, 记录号) in review with that candidate (or one already decided for
    that candidate, so a file imports again after a run re-linked its records). Decision words
    are those of ``layout.FLAG_DECISIONS`` / ``layout.LINK_DECISIONS``; 经办人 is required; a
    dismissal needs a reason; the period must be in the warehouse. Any bad row refuses the whole
    file and writes nothing.

    A decision equal (same key, decision, reason, clerk and candidate) to the latest one recorded
    for its key, or to one recorded from a file with the same SHA-256, is skipped: importing a
    file twice changes nothing. The workbook carries no decision date, so ``decided_at`` is the
    import time. Link decisions store the record's ``id_norm`` and ``name_norm`` from
    ``stg_<source>`` and the candidate as ``person_id``; flag decisions store the flag's evidence
    at decision time. In the same transaction the decision columns of the published ``flags``
    rows of each decided (household, flag) are recomputed with :func:`annotate_flags`, so the
    next report shows them; no ``flags`` row is added or removed.

    Parameters
    ----------
    path : Path
        A district workbook (``.xlsx``) or a CSV of one sheet's columns.
    con : duckdb.DuckDBPyConnection
        The warehouse being published. When the caller already holds a transaction on it, the
        rows are written in that transaction; otherwise in one of their own.
    imported_at : datetime, optional
        The import time (an aware time, or naive UTC), stored as a moment. Now by default.
    params : dict, optional
        :func:`load_decision_params` output, for refreshing the decision columns of the
        published ``flags`` rows the new decisions touch; read from ``rules/decisions.yaml``
        when not given.

    Returns
    -------
    ImportResult

    Raises
    ------
    DecisionImportError
        Listing every bad row (sheet and Excel row number); nothing was written.
    """
    path = Path(path)
    rows = read_decision_file(path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    moment = _as_utc(imported_at or datetime.now(UTC))
    existing = existing_decisions(con)
    checked, problems = validate_rows(rows, con, existing)
    if not problems.is_empty():
        sheet_order = {SHEET_FLAGS: 0, SHEET_REVIEW: 1}
        ordered = sorted(problems.unique().iter_rows(),
                         key=lambda p: (sheet_order.get(p[0], 2), p[0], p[1] or 0, p[2]))
        log.warning("decision file %s refused: %d problem(s)", path.name, len(ordered))
        raise DecisionImportError(path.name, ordered)

    new = _decision_rows(checked, file=path.name, sha256=sha256, moment=moment)
    fresh = _not_yet_recorded(new, existing, sha256=sha256)
    # decision_id is Int64: its max is an int, or None when nothing is recorded yet
    start = int(cast("int | None", existing.get_column("decision_id").max()) or 0) + 1
    fresh = fresh.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("decision_id")
    ).select(DECISION_COLUMNS).cast(pl.Schema(DECISION_SCHEMA))
    refreshed = 0
    if not fresh.is_empty():
        refreshed = _append(con, fresh, params=params or load_decision_params())
    result = ImportResult(
        file=path.name, sha256=sha256, rows_read=rows.height, recorded=fresh.height,
        already_recorded=new.height - fresh.height,
        flag_decisions=fresh.filter(pl.col("kind") == "flag").height,
        link_decisions=fresh.filter(pl.col("kind") == "link").height,
        flags_refreshed=refreshed,
    )
    log.info("decision file %s: %d row(s), %d recorded, %d already recorded",
             path.name, result.rows_read, result.recorded, result.already_recorded)
    return result


def _decision_rows(checked: pl.DataFrame, *, file: str, sha256: str,
                   moment: datetime) -> pl.DataFrame:
    is_flag = pl.col("kind") == "flag"
    return (checked.sort("_i")
            .unique(subset=["kind", "period_code", "household_id", "flag_code", "source_code",
                            "record_no"], keep="first", maintain_order=True)
            .select(
                pl.lit(None, dtype=pl.Int64).alias("decision_id"),
                "kind",
                pl.col("period_code").alias("period"),
                pl.when(is_flag).then(pl.col("household_id"))
                .otherwise(pl.col("candidate_household_id")).alias("household_id"),
                pl.when(is_flag).then(pl.col("flag_code")).alias("flag"),
                pl.when(~is_flag).then(pl.col("source_code")).alias("source"),
                pl.when(~is_flag).then(pl.col("record_no")).alias("record_no"),
                pl.when(~is_flag).then(pl.col("id_norm")).alias("id_norm"),
                pl.when(~is_flag).then(pl.col("name_norm")).alias("name_norm"),
                pl.when(~is_flag).then(pl.col("person_code")).alias("person_id"),
                pl.col("decision_code").alias("decision"),
                "reason", "decided_by",
                pl.lit(moment, dtype=pl.Datetime("us", "UTC")).alias("decided_at"),
                pl.lit(moment, dtype=pl.Datetime("us", "UTC")).alias("imported_at"),
                pl.lit(file).alias("import_file"),
                pl.lit(sha256).alias("import_sha256"),
                pl.when(is_flag).then(pl.col("flag_evidence"))
                .otherwise(pl.col("link_evidence")).alias("evidence"),
            ).cast(pl.Schema(DECISION_SCHEMA)))


_NATURAL_KEY = ("kind", "period", "household_id", "flag", "source", "record_no")
_SAME_DECISION = ("decision", "reason", "decided_by", "person_id")


def _not_yet_recorded(new: pl.DataFrame, existing: pl.DataFrame, *, sha256: str) -> pl.DataFrame:
    """``new`` less the decisions already recorded (latest for their key, or from this file)."""
    if existing.is_empty() or new.is_empty():
        return new
    # a link decision's household follows from its candidate and may be re-linked by a later
    # run, so only a flag decision's household is part of its key
    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.when(pl.col("kind") == "flag")
                                  .then(pl.col("household_id")).alias("_household_key"))

    key = [*(c for c in _NATURAL_KEY if c != "household_id"), "_household_key"]
    recorded = keyed(existing).sort("decision_id")
    latest = recorded.group_by(key, maintain_order=True).last().select(*key, *_SAME_DECISION)
    same_file = recorded.filter(pl.col("import_sha256") == sha256).select(*key, *_SAME_DECISION)
    done = pl.concat([latest, same_file], how="vertical").unique()
    return (keyed(new).join(done, on=[*key, *_SAME_DECISION], how="anti", nulls_equal=True,
                            maintain_order="left")
            .drop("_household_key"))


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the caller holds an open transaction on ``con``.

    In autocommit every statement gets a new transaction id; inside BEGIN ... COMMIT they share
    one. Probing with BEGIN instead would abort the caller's transaction when it fails.
    """
    first, second = (con.sql("SELECT txid_current()").fetchall()[0][0] for _ in range(2))
    return first == second


def _append(con: duckdb.DuckDBPyConnection, fresh: pl.DataFrame, *, params: dict) -> int:
    """Append the decisions and refresh the published flags they touch, in one transaction."""
    own = not _in_transaction(con)
    if own:
        con.begin()
    view = "_hedui_decisions_to_append"
    try:
        ensure_decisions_table(con)
        con.register(view, fresh.to_arrow())
        cols = ", ".join(DECISION_COLUMNS)
        con.execute(f"INSERT INTO decisions ({cols}) SELECT {cols} FROM {view}")
        con.unregister(view)
        touched = fresh.filter(pl.col("kind") == "flag").select("household_id", "flag").unique()
        refreshed = _refresh_flags(con, touched, params=params)
        if own:
            con.commit()
    except Exception:
        if own:
            con.rollback()
        raise
    return refreshed


_FLAG_DECISION_COLUMNS = ("decision", "decision_reason", "decided_by", "decided_at", "re_raised")


def _refresh_flags(con: duckdb.DuckDBPyConnection, touched: pl.DataFrame, *,
                   params: dict) -> int:
    """Re-annotate the published ``flags`` rows of the (household, flag) pairs just decided.

    Without this a decision would show in ``flags`` (and in the reports and their 既往处理
    history) only after the next run of each period. Only the decision columns change; a
    warehouse whose ``flags`` lacks them is left alone. Returns the number of rows refreshed.
    """
    if touched.is_empty() or not table_exists(con, "flags"):
        return 0
    present = {r[0] for r in con.sql(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'flags'").fetchall()}
    if not set(_FLAG_DECISION_COLUMNS) <= present:
        return 0
    to_moment(con, "flags", "decided_at")  # a warehouse from before decision times were moments
    flags = con.sql(
        "SELECT period, household_id, flag, CAST(evidence AS VARCHAR) AS evidence FROM flags "
        "WHERE list_contains(?::VARCHAR[], household_id || chr(31) || flag)",
        params=[(touched.get_column("household_id") + "\x1f" + touched.get_column("flag"))
                .to_list()],
    ).pl().cast(pl.String)
    if flags.is_empty():
        return 0
    updates = annotate_flags(flags, load_flag_decisions(con), params=params).drop("evidence")
    view = "_hedui_flag_decisions"
    con.register(view, updates.to_arrow())
    sets = ", ".join(f"{c} = u.{c}" for c in _FLAG_DECISION_COLUMNS)
    con.execute(f"UPDATE flags SET {sets} FROM {view} AS u WHERE flags.period = u.period "
                "AND flags.household_id = u.household_id AND flags.flag = u.flag")
    con.unregister(view)
    return updates.height
