"""Benchmark: one monthly run in-process against the same run on a Dask LocalCluster.

Generates (or reuses) a synthetic city of N households × 6 months (``pipelines.sample``: the
three districts of the sample city), or with ``--districts D`` a province of D districts
(``pipelines.sample.province``: written district by district, memory bounded by one district,
its rulebook in ``rules/`` next to the data and used by every run); ``--persons P`` sets the
households to P / 2.15. Then it runs ``2026-10`` twice, each in a fresh subprocess and each into
a fresh warehouse with the folder cache off:

- ``inprocess``: the plain stages in turn (``hedui monthly --orchestrator local``);
- ``dask``: the same with ``--dask local:W`` (W worker processes, one thread each), each folder
  linked in one task (``HEDUI_LINK_PARTITIONS=1``);
- ``dask-kK`` (``--link-partitions K``, repeatable): the same with every folder's linking split
  into K partitions (plan, compare, decide per partition; ``pipelines.cluster_link``).

It prints wall seconds, the driver's CPU seconds and peak RSS, each worker's peak RSS, whether
the two warehouses are equal (every table but ``runs``), and the load average before and after
(the machine is usually shared: wall time depends on the load).

    .venv/bin/python benchmarks/province.py --households 93023 --link-partitions 2  # ≈ 0.2M persons
    .venv/bin/python benchmarks/province.py --households 465116 --link-partitions 2 # ≈ 1M persons

    .venv/bin/python benchmarks/province.py --districts 40 --persons 2000000 --generate-only
        # generate a 2M-person province only, print its manifest, CPU s and peak RSS

Cities are cached under ``benchmarks/.cities/city-<households>-s<seed>`` (provinces under
``province-<D>d-<households>-s<seed>``; git-ignored); a city is complete once its
``truth/flags.csv`` exists, a province once its ``truth/files.csv`` does (each generator writes
that file last).

Prefect is not involved (its start-up is the same either way and reported by city_monthly.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PERIOD = "2026-10"
MONTHS = "2026-05..2026-10"
PERSONS_PER_HOUSEHOLD = 2.15


def _peak_rss_mib() -> float:
    """Peak resident set (VmHWM) of this process, MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _worker_stats(dask_worker=None) -> dict:
    """Run on a worker: its peak RSS (over all its tasks) and CPU seconds, and each task's peak."""
    plugin = (dask_worker.plugins.get(TaskPeaks.name) if dask_worker is not None else None)
    if plugin is None:
        return {"peak_mib": _peak_rss_mib(), "cpu_s": _cpu_seconds()}
    return {"peak_mib": max(_peak_rss_mib(), plugin.overall), "cpu_s": _cpu_seconds(),
            "tasks": plugin.peaks}


def _reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM to the current RSS
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class TaskPeaks(WorkerPlugin):
    """A worker plugin: each task's peak RSS (the worker runs one task at a time, one thread).

    When a task starts executing the worker's VmHWM is reset; when it stops, VmHWM is that
    task's peak. Which task sets a worker's peak is what says whether the peak is bounded by a
    partition (a folder, a district, a link partition) or by the province.
    """

    name = "hedui-task-peaks"

    def __init__(self):
        self.peaks: dict[str, dict] = {}
        self.overall = 0.0
        self._before = 0.0

    def setup(self, worker):
        self.overall = _peak_rss_mib()

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing":
            self.overall = max(self.overall, _peak_rss_mib())
            self._before = _rss_mib()
            _reset_peak_rss()
        elif start == "executing":
            peak = _peak_rss_mib()
            self.overall = max(self.overall, peak)
            self.peaks[str(key)] = {"peak_mib": peak, "rss_before_mib": self._before}


def _heaviest_tasks(workers: list[dict]) -> list[tuple[str, float, float, str]]:
    """Per task kind (land, plan, compare, decide, match, rank, assess): its heaviest task."""
    best: dict[str, tuple[str, float, float, str]] = {}
    for i, w in enumerate(workers):
        for key, t in w.get("tasks", {}).items():
            kind = key.split("-")[1] if key.startswith("hedui-") else key
            part = key[len("hedui-" + kind) + 1:].rsplit("-", 2)[0] if key.startswith("hedui-") else ""
            if kind not in best or t["peak_mib"] > best[kind][1]:
                best[kind] = (part, t["peak_mib"], t["rss_before_mib"], f"worker {i + 1}")
    return sorted(((k, *v) for k, v in best.items()), key=lambda r: -r[2])


def run_one(mode: str, incoming: Path, warehouse: Path, workers: int, rules: Path | None = None) -> dict:
    """One monthly run in this process (called in a child); returns its measurements."""
    from pipelines import cluster, runner

    if mode.startswith("dask"):
        # the driver reads it when it splits the folders' linking
        os.environ["HEDUI_LINK_PARTITIONS"] = mode.split("-k")[1] if "-k" in mode else "1"

    from pipelines.rulebook import parameters_folder

    ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse, use_cache=False,
                                   rules_dir=parameters_folder(rules) if rules else None)
    started = time.perf_counter()
    stats: dict = {}
    try:
        if mode == "inprocess":
            summary = runner.execute_monthly(ctx, PERIOD, districts=None)
        else:
            with cluster.session(f"local:{workers}") as client:
                client.register_plugin(TaskPeaks(), name=TaskPeaks.name)
                summary = runner.execute_monthly(ctx, PERIOD, districts=None,
                                                 stages=cluster.dask_stages())
                stats["workers"] = sorted(client.run(_worker_stats).values(),
                                          key=lambda w: -w["peak_mib"])
    finally:
        ctx.cleanup()
    stats.update(mode=mode, wall_s=time.perf_counter() - started, driver_cpu_s=_cpu_seconds(),
                 driver_peak_mib=_peak_rss_mib(), households=summary["households_assessed"],
                 rows_in=summary["rows_in"])
    return stats


def _folder_ref(stg: Path):
    from pipelines import runner

    return runner.FolderRef(period=PERIOD, dir=stg, exists=True, register_ok=True)


def link_one(mode: str, incoming: Path, stg: Path, workers: int) -> dict:
    """One folder's linking alone (called in a child).

    ``prep`` lands and cleans it into ``stg``; ``link-inprocess`` links it with ``link_folder``; ``link-kK`` links it in K partitions on a
    LocalCluster, the workers restarted between the plan and the partitions so that each one's
    peak is its own. Links and model are written beside ``stg`` for the parent to compare.
    """
    import polars as pl

    from pipelines import cluster, cluster_link, runner
    from pipelines.match import link_folder_with_model
    from pipelines.match.model import model_frame
    from pipelines.match.partition import assemble, fit_folder

    ctx = runner.RunContext.create(flow="monthly", incoming=incoming,
                                   warehouse=stg.parent / "wh" / "hedui.duckdb", use_cache=False)
    started = time.perf_counter()
    stats: dict = {"mode": mode}
    try:
        if mode == "prep":
            ref = runner.stage_land_clean(ctx, PERIOD)
            shutil.copytree(ref.dir, stg)
            stats["rows_in"] = sum(int(f.get("rows_in") or 0) for f in ref.files)
            return stats
        ref = _folder_ref(stg)
        if mode == "link-inprocess":
            records = runner._folder_records(ref)
            register = pl.read_parquet(ref.stg("register"))
            stats["records"] = records.height
            t = time.perf_counter()
            links, est = link_folder_with_model(records, register, params=cluster_link._params(ctx))
            stats["link_s"] = time.perf_counter() - t
        else:
            k = int(mode.split("-k")[1])
            # two clusters: each worker's peak is that of the plan, then of its partitions
            with cluster.session(f"local:{workers}") as client:
                t = time.perf_counter()
                plan = client.submit(cluster_link.plan_on_worker, ctx, ref, None, k,
                                     pure=False).result()
                stats["plan_s"] = time.perf_counter() - t
                stats["plan_workers"] = sorted(client.run(_worker_stats).values(),
                                               key=lambda w: -w["peak_mib"])
                stats["register_rows"], stats["register_copies"] = (plan.register_rows,
                                                                    plan.register_copies)
            with cluster.session(f"local:{workers}") as client:
                t = time.perf_counter()
                patterns = client.gather([client.submit(cluster_link.compare_on_worker, ctx, i, f,
                                                        pure=False) for i, f in plan.parts])
                est = fit_folder(plan.u, patterns, params=cluster_link._params(ctx))
                paths = client.gather([client.submit(cluster_link.decide_on_worker, ctx, i, f, est,
                                                     pure=False) for i, f in plan.parts])
                links = assemble([pl.read_parquet(x) for x in paths])
                stats["partitions_s"] = time.perf_counter() - t
                stats["workers"] = sorted(client.run(_worker_stats).values(),
                                          key=lambda w: -w["peak_mib"])
                stats["partition_records"] = [pl.scan_parquet(f / "recs.parquet").select(pl.len())
                                              .collect().item() for _i, f in plan.parts]
        links.write_parquet(stg.parent / f"links-{mode}.parquet")
        model_frame(est, period=PERIOD, params_version="b").write_parquet(
            stg.parent / f"model-{mode}.parquet")
    finally:
        ctx.cleanup()
    stats.update(wall_s=time.perf_counter() - started, driver_cpu_s=_cpu_seconds(),
                 driver_peak_mib=_peak_rss_mib())
    return stats


def one_folder(args) -> int:
    """``--one-folder``: the linking of one month folder, in-process against K partitions."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from pipelines.sample import generate_city

    city = args.cities / f"city-{args.households}-s{args.seed}"  # a six-month city will do
    if not (city / "truth" / "flags.csv").is_file():
        city = args.cities / f"month-{args.households}-s{args.seed}"
    if args.city is not None:  # a city whose deliveries are written (its truth may not be yet)
        city = args.city
    elif not (city / "truth" / "flags.csv").is_file():
        shutil.rmtree(city, ignore_errors=True)
        generate_city(city, households=args.households, months=[PERIOD], seed=args.seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="hedui-link-") as tmp:
        stg = Path(tmp) / "stg"
        for mode in ["prep", "link-inprocess", *[f"link-k{k}" for k in args.link_partitions]]:
            load = os.getloadavg()[0]
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--incoming", str(city / "incoming"),
                 "--warehouse", str(stg), "--workers", str(args.workers)],
                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=False)
            if proc.returncode != 0:
                print(proc.stderr[-4000:], file=sys.stderr)
                return 1
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r.update(load_before=load, load_after=os.getloadavg()[0])
            if mode.startswith("link-k"):
                try:
                    for what in ("links", "model"):
                        assert_frame_equal(pl.read_parquet(Path(tmp) / f"{what}-{mode}.parquet"),
                                           pl.read_parquet(Path(tmp) / f"{what}-link-inprocess.parquet"))
                    r["same"] = True
                except AssertionError:
                    r["same"] = False
            results.append(r)
            print(json.dumps(r), flush=True)
    return 0 if all(r.get("same", True) for r in results) else 1


def same_warehouse(a: Path, b: Path) -> tuple[bool, list[str]]:
    """Whether two warehouses hold the same rows in every table but ``runs`` and ``_hedui_*``.

    The partition book ``_hedui_*`` names per-period files with a random suffix, and run ids and
    timestamps are set aside; the big tables are views over per-period files. Compared in DuckDB
    (EXCEPT ALL both ways); returns the tables that differ.
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        tables = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'a' "
            "AND table_schema = 'main' AND table_name <> 'runs' "
            # the book of the per-period files names them with a random suffix: storage only
            "AND NOT starts_with(table_name, '_hedui_')").fetchall())
        other = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'b' "
            "AND table_schema = 'main' AND table_name <> 'runs' "
            # the book of the per-period files names them with a random suffix: storage only
            "AND NOT starts_with(table_name, '_hedui_')").fetchall())
        if tables != other:
            return False, sorted(set(tables) ^ set(other))
        differ = []
        for table in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'a' "
                "AND table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                [table]).fetchall()]
            keep = ", ".join(f'"{c}"' for c in cols if c != "run_id" and not c.endswith("_at"))
            n = con.execute(
                f'SELECT (SELECT count(*) FROM (SELECT {keep} FROM a."{table}" EXCEPT ALL '
                f'SELECT {keep} FROM b."{table}")) + (SELECT count(*) FROM (SELECT {keep} FROM '
                f'b."{table}" EXCEPT ALL SELECT {keep} FROM a."{table}"))').fetchone()[0]
            if n:
                differ.append(table)
        return not differ, differ
    finally:
        con.close()


def ensure_city(households: int, seed: int, cities: Path, districts: int | None = None) -> Path:
    """The cached city (or province of ``districts``) of ``households``: its folder, generated if need be."""
    from pipelines.sample import generate_city, parse_months
    from pipelines.sample.province import generate_province

    name = f"city-{households}-s{seed}" if districts is None else f"province-{districts}d-{households}-s{seed}"
    out = cities / name
    # the last file each generator writes: the city's flags, the province's files.csv
    if not (out / "truth" / ("flags.csv" if districts is None else "files.csv")).is_file():
        shutil.rmtree(out, ignore_errors=True)
        t, cpu = time.perf_counter(), _cpu_seconds()
        if districts is None:
            manifest = generate_city(out, households=households, months=parse_months(MONTHS), seed=seed)
        else:
            manifest = generate_province(out, districts=districts, households=households,
                                         months=parse_months(MONTHS), seed=seed)
        print(json.dumps({"generated": name, "wall_s": round(time.perf_counter() - t, 1),
                          "cpu_s": round(_cpu_seconds() - cpu, 1), "peak_mib": round(_peak_rss_mib()),
                          "persons": manifest["persons"], "records": manifest["records"],
                          "bytes": manifest["bytes"], "largest_district_persons":
                          manifest.get("largest_district_persons", manifest["persons"]),
                          "load": os.getloadavg()}, ensure_ascii=False), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=50_000)
    ap.add_argument("--persons", type=int, help="households = PERSONS / 2.15 (overrides --households)")
    ap.add_argument("--districts", type=int, help="a province of this many districts (990101 …), "
                    "generated district by district, run with its generated rulebook")
    ap.add_argument("--generate-only", action="store_true",
                    help="generate (or find) the city or province, print its figures, stop")
    ap.add_argument("--rules", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cities", type=Path, default=ROOT / "benchmarks" / ".cities")
    ap.add_argument("--link-partitions", type=int, action="append", default=[],
                    help="also run with every folder's linking in K partitions (repeatable)")
    ap.add_argument("--skip-inprocess", action="store_true",
                    help="compare the Dask runs with each other only (time is short)")
    ap.add_argument("--skip-k1", action="store_true",
                    help="leave out the Dask run whose folders are linked in one task each")
    ap.add_argument("--one-folder", action="store_true",
                    help="only the linking of one month folder (a one-month city): in-process "
                         "against --link-partitions K on LocalCluster(--workers)")
    ap.add_argument("--city", type=Path, help="with --one-folder: use this city's incoming/")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--incoming", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.persons is not None:
        if args.persons < 1:
            ap.error("--persons must be at least 1")
        args.households = max(1, round(args.persons / PERSONS_PER_HOUSEHOLD))
    if args.districts is not None:
        from pipelines.sample.districts import MAX_DISTRICTS, MIN_HOUSEHOLDS

        if not 1 <= args.districts <= MAX_DISTRICTS:
            ap.error(f"--districts must be between 1 and {MAX_DISTRICTS}")
        if args.households < MIN_HOUSEHOLDS * args.districts:
            ap.error(f"a province needs at least {MIN_HOUSEHOLDS} households per district")
    os.environ.setdefault("HEDUI_PSEUDONYM_KEY", "benchmark-key-not-a-secret")
    if args.child in ("prep", "link-inprocess") or (args.child or "").startswith("link-k"):
        print(json.dumps(link_one(args.child, args.incoming, args.warehouse, args.workers)))
        return 0
    if args.child:
        print(json.dumps(run_one(args.child, args.incoming, args.warehouse, args.workers, args.rules)))
        return 0
    if args.one_folder:
        return one_folder(args)

    city = ensure_city(args.households, args.seed, args.cities, args.districts)
    if args.generate_only:
        return 0
    incoming = city / "incoming"
    rules = ["--rules", str(city / "rules")] if args.districts is not None else []
    modes = ([] if args.skip_inprocess else ["inprocess"]) + ([] if args.skip_k1 else ["dask"]) + \
        [f"dask-k{k}" for k in args.link_partitions]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="hedui-province-") as tmp:
        for mode in modes:
            warehouse = Path(tmp) / mode / "hedui.duckdb"
            load = os.getloadavg()[0]
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--incoming", str(incoming),
                 "--warehouse", str(warehouse), "--workers", str(args.workers), *rules],
                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=False)
            if proc.returncode != 0:
                print(proc.stderr[-4000:], file=sys.stderr)
                return 1
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[mode].update(warehouse=warehouse, load_before=load,
                                 load_after=os.getloadavg()[0])
            print(f"{mode}: {results[mode]['wall_s']:.1f} s", flush=True)
        reference = modes[0]
        for mode in modes[1:]:
            results[mode]["same"] = same_warehouse(results[reference]["warehouse"],
                                                   results[mode]["warehouse"])

    persons = round(args.households * PERSONS_PER_HOUSEHOLD)
    first = results[reference]
    print(f"\ncommit {commit}; households {args.households} (≈{persons:,} persons), "
          f"{first['rows_in']:,} delivered rows; {os.cpu_count()} cores")
    print("| run | load before/after | wall s | driver CPU s | driver peak MiB | "
          "workers' CPU s | workers' peak MiB | same warehouse as " + reference + " |")
    print("|---|---|---:|---:|---:|---|---|---|")
    ok = True
    for mode in modes:
        r = results[mode]
        label = {"inprocess": "in-process", "dask": f"LocalCluster({args.workers}), K=1"}.get(
            mode, f"LocalCluster({args.workers}), K={mode.split('-k')[-1]}")
        workers = r.get("workers", [])
        cpu = ", ".join(f"{w['cpu_s']:.0f}" for w in workers) or "–"
        peaks = ", ".join(f"{w['peak_mib']:.0f}" for w in workers) or "–"
        same = r.get("same")
        ok = ok and (same is None or same[0])
        verdict = "–" if same is None else ("yes" if same[0] else "NO: " + ", ".join(same[1]))
        print(f"| {label} | {r['load_before']:.1f} / {r['load_after']:.1f} | {r['wall_s']:.1f} | "
              f"{r['driver_cpu_s']:.1f} | {r['driver_peak_mib']:.0f} | {cpu} | {peaks} | {verdict} |")
    for mode in modes:
        heaviest = _heaviest_tasks(results[mode].get("workers", []))
        if heaviest:
            print(f"\n{mode}: the heaviest task of each kind (the worker's peak RSS while it ran)")
            print("| task kind | partition | peak MiB | worker RSS before MiB | on |")
            print("|---|---|---:|---:|---|")
            for kind, part, peak, before, on in heaviest:
                print(f"| {kind} | {part} | {peak:.0f} | {before:.0f} | {on} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
