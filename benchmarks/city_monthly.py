"""Benchmark: the monthly cross-check of a whole city, stage by stage.

Generates (or reuses) a synthetic city of N households × 6 months with planted truth, runs the
monthly stages exactly as ``hedui monthly --orchestrator local`` does, and prints wall time, CPU
time (all threads) and peak resident memory per stage (land, validate, match, assess, publish),
rows per second, and the match precision and recall against the city's truth. The heading names
the commit and the load average before and after, since the machine is usually shared.

    .venv/bin/python benchmarks/city_monthly.py --households 100000
    .venv/bin/python benchmarks/city_monthly.py --scaling            # 10k, 100k, 1M persons

Prefect's start-up (8–20 s for the ephemeral server) is not part of the stages: it is measured
by ``benchmarks/prefect_startup.py`` (``--monthly`` times the whole default command), and
``hedui`` overlaps it with landing (:mod:`pipelines.head_start`).

The generated city is kept in ``--cities`` (default ``benchmarks/.cities/``, git-ignored) and
reused by the next run; point ``--cities`` at another checkout's folder to reuse its city.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import clean as clean_mod  # noqa: E402
from pipelines import runner  # noqa: E402
from pipelines.sample import generate_city, parse_months  # noqa: E402

PERSONS_PER_HOUSEHOLD = 2.15


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads.

    The machine is shared: wall time depends on the load, CPU time much less.
    """
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class MemorySampler:
    """Samples resident memory every 20 ms; ``window()`` gives the peak inside a block."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(0.02)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def window(self, into: dict, name: str):
        self.peak = _rss_bytes()
        t0, c0 = time.perf_counter(), _cpu_seconds()
        yield
        into.setdefault(name, [0.0, 0, 0.0])
        into[name][0] += time.perf_counter() - t0
        into[name][1] = max(into[name][1], self.peak, _rss_bytes())
        into[name][2] += _cpu_seconds() - c0


@dataclass
class Result:
    households: int
    persons: int = 0
    rows: int = 0
    stages: dict = field(default_factory=dict)
    precision: float = float("nan")
    recall: float = float("nan")
    review_share: float = float("nan")
    total: float = 0.0
    cpu: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def ensure_city(households: int, seed: int, cities: Path, months: list[str]) -> Path:
    out = cities / f"city-{households}-s{seed}"
    if (out / "truth" / "records.csv").exists():
        return out
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    generate_city(out, households=households, months=months, seed=seed)
    print(f"generated {households} households in {time.perf_counter() - t0:.1f} s → {out}", flush=True)
    return out


def run_city(city: Path, period: str, work: Path) -> Result:
    incoming = city / "incoming"
    warehouse = work / "hedui.duckdb"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    stages: dict[str, list] = {}
    land_time = {"t": 0.0, "cpu": 0.0}
    real_land = clean_mod.land_file

    def timed_land(*args, **kwargs):
        t0, c0 = time.perf_counter(), _cpu_seconds()
        try:
            return real_land(*args, **kwargs)
        finally:
            land_time["t"] += time.perf_counter() - t0
            land_time["cpu"] += _cpu_seconds() - c0

    clean_mod.land_file = timed_land
    ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse)
    try:
        with MemorySampler() as mem:
            load_before = os.getloadavg()[0]
            t_all, c_all = time.perf_counter(), _cpu_seconds()
            from pipelines.plan import monthly_plan

            # the run's plan, built once, as execute_monthly does (the stages read it from ctx)
            ctx = dataclasses.replace(ctx, plan=monthly_plan(period))
            from pipelines.review_queue import evidence_months
            from pipelines.run.folders import _rank

            months = ctx.plan.folders
            # as the run does: the month before the window is loaded too, for the ranking
            extra = [m for m in evidence_months(months) if (incoming / m).is_dir()]
            loaded = []
            for m in [*months, *extra]:
                with mem.window(stages, "land+validate"):
                    loaded.append(runner.stage_land_clean(ctx, m))
            counts = []
            for ref in loaded:
                with mem.window(stages, "match"):
                    counts.append(runner.stage_match(ctx, ref))
            refs, counts = loaded[:len(months)], counts[:len(months)]
            # as the run does after matching (pipelines/run/folders.py): each folder's review
            # candidates ranked with its own and the month before's evidence
            with mem.window(stages, "rank"):
                _rank(ctx, refs, loaded[len(months):], overrides=None)
            with mem.window(stages, "assess"):
                assessed = [runner.stage_assess(ctx, period, refs, districts=None)]
            summary = runner.build_summary(refs, counts, assessed)
            with mem.window(stages, "publish"):
                runner.stage_publish(ctx, refs, assessed, period_label=period, districts=None,
                                     summary=summary)
            total, cpu = time.perf_counter() - t_all, _cpu_seconds() - c_all
            load_after = os.getloadavg()[0]
    finally:
        clean_mod.land_file = real_land
        ctx.cleanup()
    lv_time, lv_mem, lv_cpu = stages.pop("land+validate")
    ordered = {"land": [land_time["t"], lv_mem, land_time["cpu"]],
               "validate": [lv_time - land_time["t"], lv_mem, lv_cpu - land_time["cpu"]]}
    ordered.update(stages)
    res = Result(households=0, stages=ordered, total=total, rows=summary["rows_in"], cpu=cpu,
                 load=(load_before, load_after))
    _quality(res, city, warehouse, summary)
    return res


def run_steady(city: Path, period: str, work: Path) -> Result:
    """The month staff actually run (``runner.execute_monthly``, cache on).

    The previous month's run already populated the warehouse and the folder cache, so only P's
    folder is new.
    """
    from pipelines import periods as pp

    incoming = city / "incoming"
    warehouse = work / "hedui.duckdb"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    prev = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse)
    try:
        runner.execute_monthly(prev, pp.add_months(period, -1), districts=None)
    finally:
        prev.cleanup()
    stages: dict[str, list] = {}
    started: dict[tuple, tuple[float, float]] = {}
    with MemorySampler() as mem:
        def reporter(stage: str, event: str, info: dict) -> None:
            key = (stage, info.get("period"))
            if event == "start":
                started[key] = (time.perf_counter(), _cpu_seconds())
                mem.peak = _rss_bytes()
                return
            t0, c0 = started.pop(key)
            entry = stages.setdefault(stage, [0.0, 0, 0.0])
            entry[0] += time.perf_counter() - t0
            entry[1] = max(entry[1], mem.peak, _rss_bytes())
            entry[2] += _cpu_seconds() - c0

        load0 = os.getloadavg()[0]
        runner.set_reporter(reporter)
        ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        try:
            summary = runner.execute_monthly(ctx, period, districts=None)
        finally:
            ctx.cleanup()
            runner.set_reporter(None)
        total, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        other_peak = mem.peak
    accounted = sum(v[0] for v in stages.values())
    stages["other (hashing, cache restore, copy)"] = [total - accounted, other_peak,
                                                      cpu - sum(v[2] for v in stages.values())]
    res = Result(households=0, stages=stages, total=total, cpu=cpu, rows=summary["rows_in"],
                 load=(load0, os.getloadavg()[0]))
    _quality(res, city, warehouse, summary)
    return res


def _quality(res: Result, city: Path, warehouse: Path, summary: dict) -> None:
    import duckdb

    truth = pl.read_csv(city / "truth" / "records.csv", infer_schema=False)
    con = duckdb.connect(str(warehouse), read_only=True)
    links = con.sql("SELECT source, period, record_no, person_id, status FROM links").pl()
    res.persons = con.execute("SELECT count(*) FROM stg_register WHERE period = (SELECT max(period) FROM stg_register)").fetchone()[0]
    res.households = con.execute("SELECT count(DISTINCT household_id) FROM stg_register WHERE period = (SELECT max(period) FROM stg_register)").fetchone()[0]
    con.close()
    t = truth.filter(pl.col("expected") == "link").select(
        "source", "period", "record_no", pl.col("true_person_id").replace("", None))
    j = t.join(links, on=["source", "period", "record_no"], how="inner")
    matched = j.filter(pl.col("status") == "matched")
    correct = matched.filter(pl.col("person_id") == pl.col("true_person_id")).height
    res.precision = correct / matched.height if matched.height else float("nan")
    on_register = j.filter(pl.col("true_person_id").is_not_null()).height
    res.recall = correct / on_register if on_register else float("nan")
    res.review_share = j.filter(pl.col("status") == "review").height / max(j.height, 1)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.python_implementation()} {platform.python_version()}"


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_result(res: Result) -> None:
    print(f"\n## {res.households} households, {res.persons} persons, {res.rows} extract rows in "
          f"(6 folders) — {machine()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"commit {commit()}, load average {res.load[0]:.1f} before / {res.load[1]:.1f} after")
    print("| stage | wall s | CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name, (secs, peak, cpu) in res.stages.items():
        print(f"| {name} | {secs:.1f} | {cpu:.1f} | {peak / 2**20:.0f} |")
    peak_all = max(p for _, p, _ in res.stages.values())
    print(f"| **total** | **{res.total:.1f}** | **{res.cpu:.1f}** | **{peak_all / 2**20:.0f}** |")
    print(f"\nrows/s (whole run): {res.rows / res.total:,.0f}; match precision {res.precision:.4f}, "
          f"recall {res.recall:.4f}, review share {res.review_share:.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--months", default="2026-05..2026-10")
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--cities", type=Path, default=ROOT / "benchmarks" / ".cities")
    ap.add_argument("--steady-state", action="store_true",
                    help="time the monthly run after the previous month's run (folder cache warm): "
                         "what staff run each month")
    ap.add_argument("--scaling", action="store_true",
                    help="run at 10,000, 100,000 and 1,000,000 persons and print how cost grows")
    args = ap.parse_args(argv)
    months = parse_months(args.months)
    sizes = ([round(p / PERSONS_PER_HOUSEHOLD) for p in (10_000, 100_000, 1_000_000)]
             if args.scaling else [args.households])
    results = []
    for n in sizes:
        city = ensure_city(n, args.seed, args.cities, months)
        if args.steady_state:
            res = run_steady(city, args.period, args.cities / f"steady-{n}")
        else:
            res = run_city(city, args.period, args.cities / f"work-{n}")
        print_result(res)
        results.append(res)
    if len(results) > 1:
        print("\n## scaling")
        print("| persons | total s | CPU s | s per 10k persons | peak RSS MiB |")
        print("|---:|---:|---:|---:|---:|")
        for r in results:
            peak = max(p for _, p, _ in r.stages.values())
            print(f"| {r.persons:,} | {r.total:.1f} | {r.cpu:.1f} | {r.total / r.persons * 10_000:.2f} "
                  f"| {peak / 2**20:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
