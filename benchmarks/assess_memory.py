"""Benchmark: the assess stage alone (CPU seconds and peak memory), on folders prepared once.

Landing, cleaning, matching and ranking the six folders of a 100,000-household city costs minutes;
the assess stage costs seconds. This script does the expensive part once and keeps its results,
so the assess stage can be timed (and its outputs compared) before and after a change of the code,
each in a fresh process, on exactly the same folders:

    # once: land + clean + match + rank P-5..P into a kept scratch (not a warehouse)
    .venv/bin/python benchmarks/assess_memory.py prepare --incoming CITY/incoming --work W
    # as often as needed, each in a fresh process: stage_assess alone, outputs copied to OUT
    .venv/bin/python benchmarks/assess_memory.py assess --work W --out OUT
    # the outputs of two assess runs, frame by frame (polars ``equals``)
    .venv/bin/python benchmarks/assess_memory.py compare OUT_BEFORE OUT_AFTER

``assess`` prints the stage's CPU seconds (user + system, all threads), its peak resident memory
(sampled every 20 ms) and the process's resident memory before the stage started. The kept
scratch holds cleaned personal data: delete ``W`` when done.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.city_monthly import MemorySampler, _cpu_seconds, _rss_bytes, commit  # noqa: E402
from pipelines import runner  # noqa: E402
from pipelines.plan import monthly_plan  # noqa: E402

OUTPUTS = ("assessments", "flags", "pending_records", "uncertain")


def _context(incoming: Path, work: Path, scratch: Path) -> runner.RunContext:
    # built directly, not with RunContext.create: create() removes the scratch of runs whose
    # process has ended, which is exactly what this script keeps between its steps
    return runner.RunContext(run_id="assess-benchmark", flow="monthly", incoming=incoming,
                             warehouse=work / "hedui.duckdb", scratch=scratch,
                             started_at=datetime.now(UTC), use_cache=False)


def prepare(incoming: Path, work: Path, period: str) -> None:
    """Land, clean, match and rank the folders of ``period``'s window under ``work``."""
    from pipelines.run.execute import Stages
    from pipelines.run.folders import _load_and_match

    if work.exists():
        shutil.rmtree(work)
    (work / "folders").mkdir(parents=True)
    ctx = _context(incoming, work, work / "folders")
    ctx.plan = monthly_plan(period)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    refs, _ = _load_and_match(ctx, ctx.plan.folders, Stages(), settle_seconds=0.0)
    (work / "refs.json").write_text(json.dumps(
        {"period": period, "incoming": str(incoming), "refs": [runner.as_dict(r) for r in refs]}))
    print(f"prepared {len(refs)} folders in {time.perf_counter() - t0:.0f} s wall, "
          f"{_cpu_seconds() - c0:.0f} CPU s → {work}")


def assess(work: Path, out: Path) -> None:
    """Time ``stage_assess`` alone on the prepared folders; copy its outputs to ``out``."""
    meta = json.loads((work / "refs.json").read_text())
    period = meta["period"]
    refs = [runner.FolderRef(**{**r, "dir": Path(r["dir"])}) for r in meta["refs"]]
    scratch = work / "assess-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    ctx = _context(Path(meta["incoming"]), work, scratch)
    ctx.plan = monthly_plan(period)  # read the rules before the clock starts, as a run does
    rows = sum(pl.scan_parquet(r.stg(s)).select(pl.len()).collect().item()
               for r in refs for s in r.sources if r.stg(s).exists())
    with MemorySampler() as mem:
        before = _rss_bytes()
        mem.peak = before
        t0, c0 = time.perf_counter(), _cpu_seconds()
        ref = runner.stage_assess(ctx, period, refs, districts=None)
        wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        peak = max(mem.peak, _rss_bytes())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in OUTPUTS:
        shutil.copy(getattr(ref, name), out / f"{name}.parquet")
    (out / "notes.json").write_text(json.dumps(ref.notes, ensure_ascii=False))
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"stage_assess {period}, commit {commit()}, {rows:,} clean rows in "
          f"{len(refs)} folders: {cpu:.1f} CPU s, {wall:.1f} wall s, peak RSS "
          f"{peak / 2**20:.0f} MiB (process before the stage {before / 2**20:.0f} MiB, "
          f"stage's own {(peak - before) / 2**20:.0f} MiB)")


def compare(a: Path, b: Path) -> int:
    """0 when every output frame of ``a`` equals ``b``'s (and the notes are the same)."""
    same = True
    for name in OUTPUTS:
        fa, fb = pl.read_parquet(a / f"{name}.parquet"), pl.read_parquet(b / f"{name}.parquet")
        eq = fa.equals(fb)
        same &= eq
        print(f"{name}: {fa.height:,} × {fa.width} vs {fb.height:,} × {fb.width} rows × columns, "
              f"{'equal' if eq else 'DIFFERENT'}")
    notes_eq = (a / "notes.json").read_text() == (b / "notes.json").read_text()
    print(f"notes: {'equal' if notes_eq else 'DIFFERENT'}")
    return 0 if same and notes_eq else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--incoming", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--period", default="2026-10")
    a = sub.add_parser("assess")
    a.add_argument("--work", type=Path, required=True)
    a.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.incoming, args.work, args.period)
        return 0
    if args.cmd == "assess":
        assess(args.work, args.out)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
