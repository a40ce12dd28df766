"""Stage: publish everything a run produced into the warehouse in one atomic step.

Also the run's ``runs`` row (succeeded or failed) and its summary.

Split out of :mod:`pipelines.runner` (which re-exports every public name). Only this module's
:func:`stage_publish` writes the warehouse's contract tables, through
:func:`pipelines.warehouse.publishing` (atomic).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial

import polars as pl

from pipelines import run_notes as rn
from pipelines.reasons import count_by_kind, reason_code
from pipelines.run.context import (
    AssessRef,
    FolderRef,
    RunContext,
    _report,
    code_version,
)
from pipelines.sources import EXTRACT_SOURCES


def input_entries(refs: Sequence[FolderRef]) -> list[dict]:
    """``runs.inputs``: one entry per delivered file, with the contract's accounting."""
    entries = []
    for ref in refs:
        for f in ref.files:
            loaded = int(f.get("rows_loaded") or 0)
            entries.append({
                "period": ref.period, "file": f["file"], "role": f["role"], "source": f["source"],
                "sha256": f["sha256"], "rows_in": int(f.get("rows_in") or 0),
                "rows_linked": loaded if f["role"] != "unknown" else 0,
                "rows_quarantined": int(f.get("rows_quarantined") or 0),
                "rows_duplicate": int(f.get("rows_duplicate") or 0),
                "accepted": bool(f.get("accepted")), "message": f.get("message"),
            })
    return entries


def stage_publish(ctx: RunContext, refs: Sequence[FolderRef], assessed: Sequence[AssessRef], *,
                  period_label: str, districts: Sequence[str] | None, summary: dict,
                  quarter_summary: pl.DataFrame | None = None, quarter: str | None = None) -> dict:
    """Write everything the run produced into the warehouse in one atomic publish.

    A publish that runs out of DuckDB memory publishes nothing; it is tried again with the next
    of :func:`pipelines.warehouse.memory_limits` (and the run's notes say so).
    """
    from pipelines import warehouse as wh
    from pipelines.run_notes import note

    _report("publish", "start", warehouse=str(ctx.warehouse))
    limits = wh.memory_limits()
    publish = partial(_publish, ctx, refs, assessed, period_label=period_label,
                      districts=districts, summary=summary, quarter_summary=quarter_summary,
                      quarter=quarter)
    for limit, more in zip(limits, limits[1:], strict=False):
        try:
            return publish(memory=limit)
        except wh.PublishOutOfMemory:
            summary.setdefault("notes", []).append(
                note("publish_memory_retry", first=limit, second=more))
    # the last limit's failure is the run's
    return publish(memory=limits[-1])


def _publish(ctx: RunContext, refs: Sequence[FolderRef], assessed: Sequence[AssessRef], *,
             period_label: str, districts: Sequence[str] | None, summary: dict,
             quarter_summary: pl.DataFrame | None, quarter: str | None, memory: str) -> dict:
    from pipelines import warehouse as wh
    from pipelines.decisions import annotate_flags, load_flag_decisions
    from pipelines.fairness import fairness_warnings, publish_fairness
    from pipelines.review_queue import insert_links, publish_review_queue, ranked_path
    from pipelines.warehouse.publish import period_rows

    inputs = input_entries(refs)
    refresh = wh.AnalystRefresh()
    # the big tables are stored per period: the block holds only the window's months and the
    # month before each assessed one (read in the block, e.g. fairness compares P with P-1), and
    # the publish rewrites only the months whose rows changed: its cost follows the run, not the
    # history (docs/architecture.md, warehouse)
    with wh.publishing(ctx.warehouse, rekey=ctx.rekey, analyst_refresh=refresh, periods=[],
                       memory=memory) as con:
        held = wh.loaded_folders(con)
        republished = [ref.period for ref in refs if ref.exists and not (
            # the warehouse already holds exactly these rows for this folder (its ranking too)
            ref.publish_key is not None and held.get(ref.period) == ref.publish_key)]
        # each table holds only the months the block writes: loading (and fingerprinting) a
        # month's raw and staging rows costs as much as writing them. A month only read (the
        # queue's folders, fairness's P-1) is read from its published file (wh.period_rows)
        assessed_months = {a.period for a in assessed}
        wh.declare_periods(con, sorted({*republished, *assessed_months}))
        for ref in refs:
            if ref.period not in republished:
                continue
            by_period = ("period = ?", [ref.period])
            for source in ("register", *EXTRACT_SOURCES):
                wh.replace_rows_from_parquet(con, f"stg_{source}", [ref.stg(source)], where=by_period[0],
                                             params=by_period[1])
                wh.replace_rows_from_parquet(con, f"raw_{source}", [ref.raw(source)], where=by_period[0],
                                             params=by_period[1])
            con.execute("DELETE FROM links WHERE period = ?", [ref.period])
            if ref.links.exists():
                insert_links(con, ref.links, ranked_path(ref.dir))
            con.execute("DELETE FROM quarantine WHERE period = ?", [ref.period])
            if ref.quarantine.exists():
                con.execute("""INSERT INTO quarantine BY NAME SELECT source, period, file, row_number,
                    record_no, reason, reason_code FROM read_parquet(?)""", [str(ref.quarantine)])
            wh.mark_folder_loaded(con, ref.period, ref.publish_key)
        publish_review_queue(con, refs, republished=republished, assessed=assessed,
                             folders_of=lambda period: ctx.month_plan(period).folders)
        decisions = load_flag_decisions(con)
        for a in assessed:
            # rules/decisions.yaml as in force at the end of the month assessed (its run plan)
            params = ctx.month_plan(a.period).decision_params()
            scope = list(a.districts)
            con.execute("DELETE FROM assessments WHERE period = ? AND list_contains(?, district_code)",
                        [a.period, scope])
            con.execute("DELETE FROM flags WHERE period = ? AND list_contains(?, district_code)",
                        [a.period, scope])
            con.execute("INSERT INTO assessments BY NAME SELECT * FROM read_parquet(?)",
                        [str(a.assessments)])
            new_flags = annotate_flags(pl.read_parquet(a.flags), decisions, params=params)
            if new_flags.height:
                con.register("_hedui_new_flags", new_flags)
                con.execute("INSERT INTO flags BY NAME SELECT * FROM _hedui_new_flags")
                con.unregister("_hedui_new_flags")
        if quarter_summary is not None and quarter is not None:
            con.execute("DELETE FROM quarter_summary WHERE quarter = ?", [quarter])
            if quarter_summary.height:
                con.register("_hedui_quarter_summary", quarter_summary)
                con.execute("INSERT INTO quarter_summary BY NAME SELECT * FROM _hedui_quarter_summary")
                con.unregister("_hedui_quarter_summary")
        fairness = publish_fairness(con, [a.period for a in assessed],
                                    rows=lambda table, period: period_rows(con, table, [period]))
        summary["fairness_warnings"] = fairness_warnings(fairness)
        finished = datetime.now(UTC)
        con.execute(
            """INSERT INTO runs (run_id, flow, period, districts, status, started_at, finished_at,
                                 rulebook_version, code_version, inputs, summary, message)
               VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, NULL)""",
            [ctx.run_id, ctx.flow, period_label, ",".join(districts) if districts else None,
             ctx.started_at, finished,
             ",".join(sorted({a.rulebook_version for a in assessed})) or None,
             code_version(), json.dumps(inputs, ensure_ascii=False),
             json.dumps(summary, ensure_ascii=False, default=str)])
        refresh.only(folder_periods=republished, assessed_periods=[a.period for a in assessed])
    _report("publish", "finish", warehouse=str(ctx.warehouse))
    return {"warehouse": str(ctx.warehouse), "finished_at": finished.isoformat(),
            "fairness_warnings": summary["fairness_warnings"]}


def record_failure(ctx: RunContext, *, period_label: str, districts: Sequence[str] | None,
                   message: str, refs: Sequence[FolderRef] = ()) -> None:
    """Append a ``failed`` row to ``runs`` (contract tables untouched); best effort.

    Only into a warehouse that exists: a failed run must not leave behind a warehouse file that
    was not there before it (the row would be the file's only content).
    """
    from pipelines import warehouse as wh

    if not ctx.warehouse.exists():
        return
    try:
        # only the runs log changes: the analyst file's other tables are carried over
        with wh.publishing(ctx.warehouse, lock_wait_seconds=60, periods=[],
                           analyst_refresh=wh.AnalystRefresh([], [])) as con:
            con.execute(
                """INSERT INTO runs (run_id, flow, period, districts, status, started_at,
                       finished_at, rulebook_version, code_version, inputs, summary, message)
                   VALUES (?, ?, ?, ?, 'failed', ?, ?, NULL, ?, ?, NULL, ?)""",
                [ctx.run_id, ctx.flow, period_label, ",".join(districts) if districts else None,
                 ctx.started_at, datetime.now(UTC), code_version(),
                 json.dumps(input_entries(refs), ensure_ascii=False), message])
    except Exception:  # noqa: BLE001 - the run already failed; its own error is what counts
        pass


# ---------------------------------------------------------------------------------------------
# summaries


def build_summary(refs: Sequence[FolderRef], match_counts: Sequence[dict],
                  assessed: Sequence[AssessRef]) -> dict:
    """Counts for the terminal, the Prefect artifact and ``runs.summary`` (no identities)."""
    inputs = input_entries(refs)
    quarantined = [pl.read_parquet(r.quarantine, columns=["source", "reason"])
                   for r in refs if r.quarantine.exists()]
    quarantine_reasons = count_by_kind(pl.concat(quarantined) if quarantined
                                       else pl.DataFrame(schema={"source": pl.String, "reason": pl.String}))
    status = {"matched": 0, "review": 0, "unmatched": 0}
    for c in match_counts:
        for k in status:
            status[k] += int(c.get(k, 0))
    flags_by: list[dict] = []
    households = 0
    for a in assessed:
        f = pl.read_parquet(a.flags)
        households += pl.scan_parquet(a.assessments).select(pl.len()).collect().item()
        if f.height:
            flags_by += (f.group_by("district_code", "flag").len().sort("district_code", "flag")
                         .with_columns(pl.lit(a.period).alias("period")).to_dicts())
    missing_folders = [r.period for r in refs if not r.exists]
    no_register = [r.period for r in refs if r.exists and not r.register_ok]
    # structured (pipelines/run_notes.py): runs.summary keeps the codes, people read run_notes.word
    notes = [rn.note("folder_absent", period=p) for p in missing_folders]
    for r in refs:
        notes += rn.with_period(r.notes, r.period)
        if r.exists and not r.register_ok and r.register_problem:
            refused = [f for f in r.files if f.get("role") == "register" and not f.get("accepted")]
            reason = str(refused[0]["message"]) if refused else ""
            notes.append(rn.note("register_refused", period=r.period, file=refused[0]["file"],
                                 reason=reason, reason_code=reason_code(reason)) if refused
                         else rn.note("register_missing", period=r.period))
    for a in assessed:
        notes += rn.with_period(a.notes, a.period)
    from pipelines.review_queue import pending_summary
    return {
        **pending_summary(assessed),
        "files": len(inputs),
        "rows_in": sum(e["rows_in"] for e in inputs if e["role"] != "unknown"),
        "rows_quarantined": sum(e["rows_quarantined"] for e in inputs),
        "rows_duplicate": sum(e["rows_duplicate"] for e in inputs),
        "files_refused": sum(1 for e in inputs if not e["accepted"]),
        "links": status,
        "households_assessed": households,
        "flags": flags_by,
        # by kind (values left out), each row once, with its sources: pipelines/reasons.py
        "quarantine_reasons": quarantine_reasons.head(20).to_dicts(),
        "folders_missing": missing_folders,
        "folders_without_register": no_register,
        "notes": notes,
    }

