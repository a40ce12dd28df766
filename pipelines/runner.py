"""Orchestration layer: the stages of a run, each reading and writing parquet in a scratch folder.

Each stage function takes and returns small references (paths, counts), never big frames, so
the same functions serve as Prefect tasks (``pipelines.flows``) and as a plain sequential run
(``orchestrator="local"``, used by tests and benchmarks). Only :func:`stage_publish` touches the
warehouse, and it does so through :func:`pipelines.warehouse.publishing` (atomic).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from pipelines import __version__
from pipelines import periods as pp
from pipelines.deliveries import delivery_changes
from pipelines.fsio import pid_alive
from pipelines.reasons import count_by_kind
from pipelines.sources import EXTRACT_SOURCES

#: months INCOME_DROP always needs (P-5..P), whatever the income window
DROP_MONTHS = 6


class RunFailed(RuntimeError):
    """A failure the contract names (missing folder or register, district without standard, …)."""


class PartitionFailed(RunFailed):
    """A partition's task failed on a Dask cluster; the message names the partition."""


# ---------------------------------------------------------------------------------------------
# progress reporting: the CLI installs a reporter; stages call it; logs never carry identities


ProgressFn = Callable[[str, str, dict], None]
_reporter: ProgressFn | None = None


def set_reporter(fn: ProgressFn | None) -> None:
    """Install a callback ``fn(stage, event, info)`` for stage start/finish events."""
    global _reporter
    _reporter = fn


def _report(stage: str, event: str, **info: object) -> None:
    if _reporter is not None:
        _reporter(stage, event, dict(info))


# ---------------------------------------------------------------------------------------------
# references handed between stages


def scratch_root(warehouse: Path) -> Path:
    """Where runs keep their parquet between stages: ``$HEDUI_SCRATCH``, else ``.work/`` beside
    the warehouse. On a Dask cluster every worker must see it at the same path (shared storage)."""
    env = os.environ.get("HEDUI_SCRATCH", "").strip()
    return Path(env).expanduser().resolve() if env else warehouse.parent / ".work"


def _remove_dead_scratch(work: Path) -> None:
    """Delete scratch folders of runs that were killed: they hold cleaned personal data."""
    if not work.is_dir():
        return
    here = socket.gethostname()
    for run_dir in work.iterdir():
        try:
            # shared scratch: a run of another machine is not ours to judge by its pid
            if (run_dir / "host").read_text() != here:
                continue
        except OSError:
            pass
        try:
            pid = int((run_dir / "pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and (pid == os.getpid() or pid_alive(pid)):
            continue
        shutil.rmtree(run_dir, ignore_errors=True)


@dataclass
class RunContext:
    run_id: str
    flow: str
    incoming: Path
    warehouse: Path
    scratch: Path
    started_at: datetime
    rules_dir: Path | None = None
    matching_file: Path | None = None
    use_cache: bool = True
    #: publish even though the warehouse's pseudonyms were made with a lost or different key
    rekey: bool = False

    @classmethod
    def create(cls, *, flow: str, incoming: Path, warehouse: Path, rules_dir: Path | None = None,
               matching_file: Path | None = None, use_cache: bool = True,
               rekey: bool = False) -> RunContext:
        from pipelines import warehouse as wh
        from pipelines.fsio import private_dir

        run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        work = scratch_root(warehouse)
        _remove_dead_scratch(work)
        # the scratch holds cleaned rows with ID numbers and names: staff's account only
        wh.make_directory(warehouse.parent)
        private_dir(work)
        scratch = private_dir(work / run_id)
        (scratch / "pid").write_text(str(os.getpid()))
        (scratch / "host").write_text(socket.gethostname())
        return cls(run_id=run_id, flow=flow, incoming=incoming, warehouse=warehouse,
                   scratch=scratch, started_at=datetime.now(timezone.utc),
                   rules_dir=rules_dir, matching_file=matching_file, use_cache=use_cache,
                   rekey=rekey)

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
        try:
            self.scratch.parent.rmdir()
        except OSError:
            pass


@dataclass
class FolderRef:
    """What landing and cleaning one month folder produced (files under ``dir``)."""

    period: str
    dir: Path
    exists: bool
    register_ok: bool = False
    register_problem: str | None = None
    files: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: the folder-cache key of this result (None when the cache is off or the folder is absent)
    cache_key: str | None = None

    def stg(self, source: str) -> Path:
        return self.dir / f"stg_{source}.parquet"

    def raw(self, source: str) -> Path:
        return self.dir / f"raw_{source}.parquet"

    @property
    def quarantine(self) -> Path:
        return self.dir / "quarantine.parquet"

    @property
    def links(self) -> Path:
        return self.dir / "links.parquet"


@dataclass
class AssessRef:
    period: str
    assessments: Path
    flags: Path
    rulebook_version: str
    notes: list[str]
    districts: list[str]
    #: issue 19: review records that can change a household's outcome, and those households
    pending_records: Path | None = None
    uncertain: Path | None = None


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def months_to_load(period: str, income_window_months: int) -> list[str]:
    """The delivery folders a run for ``period`` reads: W, and at least P-5..P for INCOME_DROP."""
    return pp.window(period, max(income_window_months, DROP_MONTHS))


# ---------------------------------------------------------------------------------------------
# stage: land + clean one folder


class FileStillBeingWritten(OSError):
    """A delivered file changed while we looked at it: a retry can help."""


def _assert_folder_settled(folder: Path, *, settle_seconds: float) -> None:
    if settle_seconds <= 0:
        return
    now = time.time()
    for f in folder.iterdir():
        if f.is_file() and now - f.stat().st_mtime < settle_seconds:
            raise FileStillBeingWritten(
                f"{folder.name}/{f.name} was modified {now - f.stat().st_mtime:.1f} s ago; "
                "it may still be being delivered")


def stage_land_clean(ctx: RunContext, period: str, *, settle_seconds: float = 0.0) -> FolderRef:
    """Land and clean one month folder into ``scratch/<period>/`` parquet files."""
    from pipelines.clean import load_folder

    folder = ctx.incoming / period
    out = ctx.scratch / period
    out.mkdir(parents=True, exist_ok=True)
    ref = FolderRef(period=period, dir=out, exists=folder.is_dir())
    if not ref.exists:
        ref.register_problem = f"folder {period} is absent from {ctx.incoming.name}/"
        return ref
    _assert_folder_settled(folder, settle_seconds=settle_seconds)
    _report("land", "start", period=period)
    load = load_folder(folder, period=period)
    ref.register_ok = load.register is not None
    ref.register_problem = load.register_problem
    ref.notes = list(load.notes)
    if load.register is not None:
        load.register.write_parquet(ref.stg("register"))
    for source, frame in load.extracts.items():
        frame.write_parquet(ref.stg(source))
    for source, frame in load.raw.items():
        frame.with_columns(pl.lit(period).alias("period")).write_parquet(ref.raw(source))
    load.quarantine.write_parquet(ref.quarantine)
    ref.files = load.files.with_columns(pl.lit(period).alias("period")).to_dicts()
    ref.sources = sorted(load.extracts)
    _report("land", "finish", period=period, files=len(ref.files),
            rows_in=sum(int(f["rows_in"] or 0) for f in ref.files),
            rows_quarantined=sum(int(f["rows_quarantined"] or 0) for f in ref.files))
    return ref


# ---------------------------------------------------------------------------------------------
# stage: match one folder


def _folder_records(ref: FolderRef) -> pl.DataFrame:
    frames = [pl.read_parquet(ref.stg(s)) for s in EXTRACT_SOURCES if ref.stg(s).exists()]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def stage_match(ctx: RunContext, ref: FolderRef, *, overrides: Path | None = None,
                link: Callable[..., tuple] | None = None) -> dict:
    """Link one folder's records to that folder's own register; writes ``links.parquet``.

    ``link`` replaces ``link_folder_with_model`` (same arguments and result): a cluster links
    a big folder in partitions (``pipelines.cluster_link``) and hands the links in here.
    """
    from pipelines.match import link_folder_with_model, load_matching_params, unlinked_no_register
    from pipelines.match.model import comparison_weights, model_frame
    from pipelines.review_queue import model_path

    if not ref.exists:
        return {"period": ref.period, "records": 0}
    _report("match", "start", period=ref.period)
    records = _folder_records(ref)
    if records.height == 0:
        links = unlinked_no_register(records) if records.width else pl.DataFrame()
    elif not ref.register_ok:
        links = unlinked_no_register(records)
    else:
        register = pl.read_parquet(ref.stg("register"))
        decisions = pl.read_parquet(overrides) if overrides is not None and overrides.exists() else None
        params = load_matching_params(ctx.matching_file)
        links, estimates = (link or link_folder_with_model)(records, register, params=params,
                                                           decisions=decisions)
        if estimates is not None:
            model_frame(estimates, period=ref.period, params_version=params.version).write_parquet(
                model_path(ref.dir))
        links = links.with_columns(comparison_weights(links, estimates))
    if links.width:
        if "comparison_weights" not in links.columns:
            links = links.with_columns(comparison_weights(links, None))
        links.write_parquet(ref.links)
    counts = (links.group_by("status").len().to_dicts() if links.width else [])
    by_status = {c["status"]: int(c["len"]) for c in counts}
    _report("match", "finish", period=ref.period, **by_status)
    return {"period": ref.period, "records": records.height, **by_status}


# ---------------------------------------------------------------------------------------------
# stage: assess one period


def deliveries_frame(refs: Sequence[FolderRef]) -> pl.DataFrame:
    """``period, source, files_accepted, files_refused`` for folders whose register loaded."""
    rows = []
    for ref in refs:
        if not (ref.exists and ref.register_ok):
            continue
        for f in ref.files:
            if f.get("role") != "extract":
                continue
            rows.append({"period": ref.period, "source": f["source"],
                         "accepted": bool(f["accepted"])})
    schema = {"period": pl.String, "source": pl.String, "files_accepted": pl.Int64,
              "files_refused": pl.Int64}
    if not rows:
        return pl.DataFrame(schema=schema)
    df = pl.DataFrame(rows)
    return (df.group_by("period", "source")
              .agg(pl.col("accepted").sum().cast(pl.Int64).alias("files_accepted"),
                   (~pl.col("accepted")).sum().cast(pl.Int64).alias("files_refused"))
              .sort("period", "source"))


def _facts(refs: Sequence[FolderRef], persons: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """Clean rows of every loaded folder whose link is ``matched``, with person_id and method;
    only rows of ``persons`` (a ``person_id`` column) when given."""
    facts: dict[str, list[pl.LazyFrame]] = {}
    for ref in refs:
        if not ref.links.exists():
            continue
        links = (pl.scan_parquet(ref.links)
                 .filter(pl.col("status") == "matched")
                 .select("source", "period", "record_no", "person_id",
                         pl.col("method").alias("link_method")))
        if persons is not None:
            links = links.join(persons.lazy(), on="person_id", how="semi", maintain_order="left")
        for source in ref.sources:
            if not ref.stg(source).exists():
                continue
            lf = pl.scan_parquet(ref.stg(source)).join(
                links, on=["source", "period", "record_no"], how="inner")
            facts.setdefault(source, []).append(lf)
    return {s: pl.concat(lfs, how="diagonal_relaxed").collect() for s, lfs in facts.items()}


def stage_assess(ctx: RunContext, period: str, refs: Sequence[FolderRef], *,
                 districts: Sequence[str] | None, tag: str = "") -> AssessRef:
    """Assess and flag ``period`` from the folders of its window; writes two parquet files."""
    from pipelines import gradual_exit
    from pipelines.assess import assess_period
    from pipelines.review_queue import accepted_facts, pending_review, touched_households
    from pipelines.rulebook import load_rulebook
    from schemas.published import ASSESSMENTS, FLAGS_TABLE

    _report("assess", "start", period=period)
    by_period = {r.period: r for r in refs}
    p_ref = by_period.get(period)
    if p_ref is None or not p_ref.register_ok:
        raise RunFailed(p_ref.register_problem if p_ref else f"folder {period} was not loaded")
    rulebook = load_rulebook(ctx.rules_dir)
    register = pl.read_parquet(p_ref.stg("register"))
    scope = sorted(set(districts) if districts else set(register["district_code"].drop_nulls()))
    window_refs = [by_period[m] for m in months_to_load(period, rulebook_window(rulebook, period))
                   if m in by_period]
    # a district partition reads only its own persons' rows: the others' would be dropped by
    # assess_period's joins on person_id anyway, so the rows are the same, the memory smaller
    persons = (register.filter(pl.col("district_code").is_in(scope)).select("person_id").unique()
               if districts else None)
    facts = _facts(window_refs, persons)
    history = None
    if gradual_exit.months_in_force(rulebook.at(pp.month_end(period))):
        # 低保渐退 counts from the first month over S in the earlier assessments
        history = gradual_exit.earlier_assessments(ctx.warehouse, ctx.scratch, period)
    result = assess_period(period=period, register=register, facts=facts,
                           deliveries=deliveries_frame(window_refs), rulebook=rulebook,
                           districts=scope, history=history)
    out = ctx.scratch / f"assess-{period}{tag}"
    out.mkdir(parents=True, exist_ok=True)
    # the published tables' contract, enforced before anything can reach the warehouse
    ASSESSMENTS.validate(result.assessments).write_parquet(out / "assessments.parquet")
    FLAGS_TABLE.validate(result.flags)
    # issue 19: assess again with every review record accepted as proposed; pending beside flags
    # (only the households review records touch: a household's outcome depends on its own members)
    with_review = accepted_facts(window_refs, facts)
    touched = register.filter(pl.col("household_id").is_in(touched_households(with_review, register)))
    accepted = (assess_period(period=period, register=touched, facts=with_review,
                              deliveries=deliveries_frame(window_refs), rulebook=rulebook,
                              districts=scope) if touched.height else
                type(result)(assessments=result.assessments.head(0), flags=result.flags.head(0),
                             notes=[]))
    flags, pending_records, uncertain = pending_review(
        result, accepted, accepted_facts_by_source=with_review, register=register)
    flags.write_parquet(out / "flags.parquet")
    pending_records.write_parquet(out / "pending_records.parquet")
    uncertain.write_parquet(out / "uncertain.parquet")
    version = rulebook.at(pp.month_end(period)).version
    _report("assess", "finish", period=period, households=result.assessments.height,
            flags=result.flags.height)
    return AssessRef(period=period, assessments=out / "assessments.parquet",
                     flags=out / "flags.parquet", rulebook_version=version,
                     notes=list(result.notes), districts=scope,
                     pending_records=out / "pending_records.parquet",
                     uncertain=out / "uncertain.parquet")


def rulebook_window(rulebook, period: str) -> int:
    """``income_window_months`` in force at the end of ``period``."""
    return int(rulebook.at(pp.month_end(period)).value("income_window_months"))


# ---------------------------------------------------------------------------------------------
# stage: publish


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
    """Write everything the run produced into the warehouse in one atomic publish."""
    from pipelines import warehouse as wh
    from pipelines.decisions import annotate_flags, load_decision_params, load_flag_decisions
    from pipelines.fairness import fairness_warnings, publish_fairness
    from pipelines.review_queue import publish_review_queue

    _report("publish", "start", warehouse=str(ctx.warehouse))
    inputs = input_entries(refs)
    refresh = wh.AnalystRefresh()
    # the big tables are stored per period: the block holds only the window's months and the
    # month before each assessed one (read in the block, e.g. fairness compares P with P-1), and
    # the publish rewrites only the months whose rows changed: its cost follows the run, not the
    # history (docs/architecture.md, warehouse)
    with wh.publishing(ctx.warehouse, rekey=ctx.rekey, analyst_refresh=refresh, periods=[]) as con:
        held = wh.loaded_folders(con)
        republished = [ref.period for ref in refs if ref.exists and not (
            # the warehouse already holds exactly these rows for this folder
            ref.cache_key is not None and held.get(ref.period) == ref.cache_key)]
        # every loaded folder too: publish_review_queue re-ranks the review candidates of each
        # folder of the window (the ranking depends on the window) and orders their queue
        wh.declare_periods(con, sorted({*(r.period for r in refs if r.exists),
                                        *(a.period for a in assessed),
                                        *(pp.add_months(a.period, -1) for a in assessed)}))
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
                con.execute("""INSERT INTO links BY NAME SELECT source, period, record_no, person_id,
                    household_id, score, status, method, match_weight, candidate_person_id,
                    candidate_household_id, reason, comparison, comparison_weights
                    FROM read_parquet(?)""", [str(ref.links)])
            con.execute("DELETE FROM quarantine WHERE period = ?", [ref.period])
            if ref.quarantine.exists():
                con.execute("""INSERT INTO quarantine BY NAME SELECT source, period, file, row_number,
                    record_no, reason, reason_code FROM read_parquet(?)""", [str(ref.quarantine)])
            wh.mark_folder_loaded(con, ref.period, ref.cache_key)
        publish_review_queue(con, refs, republished=republished, assessed=assessed)
        decisions = load_flag_decisions(con)
        params = load_decision_params()
        for a in assessed:
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
        fairness = publish_fairness(con, [a.period for a in assessed])
        summary["fairness_warnings"] = fairness_warnings(fairness)
        finished = datetime.now(timezone.utc)
        con.execute(
            """INSERT INTO runs (run_id, flow, period, districts, status, started_at, finished_at,
                                 rulebook_version, code_version, inputs, summary, message)
               VALUES (?, ?, ?, ?, 'succeeded', ?, ?, ?, ?, ?, ?, NULL)""",
            [ctx.run_id, ctx.flow, period_label, ",".join(districts) if districts else None,
             ctx.started_at, finished,
             ",".join(sorted({a.rulebook_version for a in assessed})) or None,
             code_version(), json.dumps(inputs, ensure_ascii=False),
             json.dumps(summary, ensure_ascii=False, default=str)])
        # every loaded folder, not only the re-published ones: publish_review_queue re-ranks the
        # review candidates of every folder of the window (the ranking depends on the window)
        refresh.only(folder_periods=[r.period for r in refs if r.exists],
                     assessed_periods=[a.period for a in assessed])
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
                 ctx.started_at, datetime.now(timezone.utc), code_version(),
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
    notes = [f"{p}: the folder is absent, so nothing was delivered that month" for p in missing_folders]
    for r in refs:
        notes += [f"{r.period}: {n}" for n in r.notes]
        if r.exists and not r.register_ok and r.register_problem:
            notes.append(f"{r.period}: {r.register_problem}; its extracts stay unmatched")
    for a in assessed:
        notes += [f"{a.period}: {n}" for n in a.notes]
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


def as_dict(ref: FolderRef) -> dict:
    d = asdict(ref)
    d["dir"] = str(ref.dir)
    return d


# ---------------------------------------------------------------------------------------------
# composing the stages: one definition serves the local run and the Prefect flows


@dataclass
class Stages:
    """The stage callables a run uses: plain functions, or their Prefect task wrappers."""

    land_clean: Callable[..., FolderRef] = stage_land_clean
    match: Callable[..., dict] = stage_match
    assess: Callable[..., AssessRef] = stage_assess
    publish: Callable[..., dict] = stage_publish
    #: ``folders(ctx, months, overrides=, settle_seconds=) -> {month: (FolderRef, counts)}``:
    #: land+clean+match several folders at once (a cluster); None: land_clean, match in turn
    folders: Callable[..., dict[str, tuple[FolderRef, dict]]] | None = None


def _link_overrides(ctx: RunContext) -> Path | None:
    """Staff link decisions from the published warehouse, as parquet for the match stage."""
    from pipelines import warehouse as wh
    from pipelines.decisions import link_overrides

    if not ctx.warehouse.exists():
        return None
    con = wh.connect_readonly(ctx.warehouse)
    try:
        if not wh.table_exists(con, "decisions"):
            return None
        overrides = link_overrides(con)
    finally:
        con.close()
    if overrides.height == 0:
        return None
    path = ctx.scratch / "link_overrides.parquet"
    overrides.write_parquet(path)
    return path


def _precheck(ctx: RunContext, periods_required: Sequence[str]) -> None:
    from pipelines import warehouse as wh

    # before any work: a warehouse whose pseudonym key is lost is refused, not silently re-keyed
    wh.check_pseudonym_key(ctx.warehouse, rekey=ctx.rekey)
    if not ctx.incoming.is_dir():
        raise RunFailed(f"--incoming {ctx.incoming} is not a directory")
    for p in periods_required:
        if not (ctx.incoming / p).is_dir():
            raise RunFailed(f"the folder of the period being checked, {ctx.incoming / p}, is missing")


def _load_and_match(ctx: RunContext, months: Sequence[str], stages: Stages, *,
                    settle_seconds: float) -> tuple[list[FolderRef], list[dict]]:
    """Land, clean and match each folder, reusing the folder cache where nothing changed."""
    from pipelines import folder_cache

    overrides = _link_overrides(ctx)
    restored: dict[str, tuple[FolderRef, dict]] = {}
    keys: dict[str, str] = {}
    for m in months:
        folder = ctx.incoming / m
        if ctx.use_cache and folder.is_dir():
            _assert_folder_settled(folder, settle_seconds=settle_seconds)
            key = folder_cache.folder_key(folder, matching_file=ctx.matching_file, overrides=overrides)
            keys[m] = key
            meta = folder_cache.restore(ctx.warehouse, m, key, ctx.scratch / m)
            if meta is not None:
                ref = FolderRef(**{**meta["ref"], "dir": ctx.scratch / m, "cache_key": key})
                restored[m] = (ref, meta["counts"])
                _report("reuse", "start", period=m)
                _report("reuse", "finish", period=m, **{k: v for k, v in meta["counts"].items()
                                                        if k not in {"period"}})
    # the folders to process are independent of each other: in turn, or fanned out (Dask)
    todo = [m for m in months if m not in restored]
    if stages.folders is not None:
        computed = stages.folders(ctx, todo, overrides=overrides, settle_seconds=settle_seconds)
    else:
        computed = {}
        for m in todo:
            ref = stages.land_clean(ctx, m, settle_seconds=settle_seconds)
            computed[m] = (ref, stages.match(ctx, ref, overrides=overrides))
    refs: list[FolderRef] = []
    counts: list[dict] = []
    for m in months:
        ref, count = restored[m] if m in restored else computed[m]
        stored_key = keys.get(m)
        if m not in restored and stored_key is not None and ref.exists:
            ref.cache_key = stored_key
            folder_cache.store(ctx.warehouse, m, stored_key, ref.dir,
                               {"ref": {k: v for k, v in as_dict(ref).items()
                                        if k not in {"dir", "cache_key"}}, "counts": count})
        refs.append(ref)
        counts.append(count)
    # issue 19: rank review candidates with the evidence of every folder loaded (not cached:
    # the ranking depends on the window, the links themselves do not)
    from pipelines.match import load_matching_params
    from pipelines.review_queue import rank_folders
    rank_folders(refs, params=load_matching_params(ctx.matching_file),
                 decisions=pl.read_parquet(overrides) if overrides is not None else None)
    return refs, counts


def _require_register(refs: Sequence[FolderRef], period: str) -> None:
    ref = next(r for r in refs if r.period == period)
    if not ref.register_ok:
        raise RunFailed(ref.register_problem or f"register.csv of {period} could not be loaded")


def execute_monthly(ctx: RunContext, period: str, *, districts: Sequence[str] | None,
                    stages: Stages | None = None, settle_seconds: float = 0.0) -> dict:
    """Run the monthly cross-check of ``period``; returns the summary. Raises RunFailed."""
    from pipelines.rulebook import load_rulebook

    stages = stages or Stages()
    pp.parse_period(period)
    _precheck(ctx, [period])
    rulebook = load_rulebook(ctx.rules_dir)
    months = months_to_load(period, rulebook_window(rulebook, period))
    refs, counts = _load_and_match(ctx, months, stages, settle_seconds=settle_seconds)
    _require_register(refs, period)
    assessed = [stages.assess(ctx, period, refs, districts=districts)]
    summary = build_summary(refs, counts, assessed)
    summary["delivery_changes"] = delivery_changes(input_entries(refs), periods=[period], rulebook=rulebook)
    summary.update(period=period, districts=list(districts) if districts else "all",
                   rulebook_version=assessed[0].rulebook_version)
    published = stages.publish(ctx, refs, assessed, period_label=period, districts=districts,
                               summary=summary)
    summary.update(published)
    return summary


def quarter_summary_frame(quarter: str, assessed: Sequence[AssessRef],
                          prior: AssessRef | None) -> pl.DataFrame:
    """``quarter_summary`` rows: households flagged in any month, and those new this quarter."""
    flags = pl.concat([pl.read_parquet(a.flags).select("household_id", "district_code", "flag")
                       for a in assessed], how="vertical_relaxed").unique()
    grouped = flags.group_by("district_code", "flag").agg(
        pl.col("household_id").n_unique().cast(pl.Int64).alias("households_flagged"))
    if prior is None:
        new = grouped.select("district_code", "flag", pl.lit(None, pl.Int64).alias("households_new"))
    else:
        before = pl.read_parquet(prior.flags).select("household_id", "flag").unique()
        new = (flags.join(before, on=["household_id", "flag"], how="anti")
               .group_by("district_code", "flag")
               .agg(pl.col("household_id").n_unique().cast(pl.Int64).alias("households_new")))
        new = grouped.select("district_code", "flag").join(new, on=["district_code", "flag"],
                                                           how="left").with_columns(
            pl.col("households_new").fill_null(0))
    return (grouped.join(new, on=["district_code", "flag"], how="left")
            .with_columns(pl.lit(quarter).alias("quarter"))
            .select("quarter", "district_code", "flag", "households_flagged", "households_new")
            .sort("district_code", "flag"))


def execute_quarterly(ctx: RunContext, quarter: str, *, stages: Stages | None = None,
                      settle_seconds: float = 0.0) -> dict:
    """Assess every month of ``quarter`` over all districts and add ``quarter_summary``."""
    from pipelines.rulebook import load_rulebook

    stages = stages or Stages()
    months = pp.quarter_months(quarter)
    prior_month = pp.add_months(months[0], -1)
    _precheck(ctx, months)
    rulebook = load_rulebook(ctx.rules_dir)
    needed: list[str] = []
    for m in [prior_month, *months]:
        for f in months_to_load(m, rulebook_window(rulebook, m)):
            if f not in needed:
                needed.append(f)
    needed.sort()
    refs, counts = _load_and_match(ctx, needed, stages, settle_seconds=settle_seconds)
    for m in months:
        _require_register(refs, m)
    assessed = [stages.assess(ctx, m, refs, districts=None) for m in months]
    prior_ref = next(r for r in refs if r.period == prior_month)
    prior = None
    if prior_ref.register_ok:
        try:
            prior = stages.assess(ctx, prior_month, refs, districts=None, tag="-prior")
        except PartitionFailed:
            raise  # a lost or failed partition is a failed run, not a month without register
        except RunFailed:
            prior = None
    qs = quarter_summary_frame(quarter, assessed, prior)
    summary = build_summary(refs, counts, assessed)
    summary["delivery_changes"] = delivery_changes(input_entries(refs), periods=months, rulebook=rulebook)
    summary.update(period=quarter, districts="all", months=months,
                   prior_month_assessed=prior is not None,
                   rulebook_version=",".join(sorted({a.rulebook_version for a in assessed})))
    published = stages.publish(ctx, refs, assessed, period_label=quarter, districts=None,
                               summary=summary, quarter_summary=qs, quarter=quarter)
    summary.update(published)
    summary["quarter_summary"] = qs.to_dicts()
    return summary
