"""Benchmark: one monthly run in-process against the same run on a Dask LocalCluster.

Generates (or reuses) a synthetic city of N households × 6 months (``pipelines.sample``: three
districts; a province is many households in those districts, since the generator and the
rulebook know only three), then runs ``2026-10`` twice, each in a fresh subprocess and each into
a fresh warehouse with the folder cache off:

- ``inprocess``: the plain stages in turn (``hedui monthly --orchestrator local``);
- ``dask``: the same with ``--dask local:W`` (W worker processes, one thread each).

It prints wall seconds, the driver's CPU seconds and peak RSS, each worker's peak RSS, whether
the two warehouses are equal (every table but ``runs``), and the load average before and after
(the machine is usually shared: wall time depends on the load).

    .venv/bin/python benchmarks/province.py --households 50000           # ≈ 0.1M persons
    .venv/bin/python benchmarks/province.py --households 930000 --workers 2   # ≈ 2M persons

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


def _worker_stats() -> dict:
    """Run on a worker: its peak RSS and CPU seconds."""
    return {"peak_mib": _peak_rss_mib(), "cpu_s": _cpu_seconds()}


def run_one(mode: str, incoming: Path, warehouse: Path, workers: int) -> dict:
    """One monthly run in this process (called in a child); returns its measurements."""
    from pipelines import cluster, runner

    ctx = runner.RunContext.create(flow="monthly", incoming=incoming, warehouse=warehouse,
                                   use_cache=False)
    started = time.perf_counter()
    stats: dict = {}
    try:
        if mode == "inprocess":
            summary = runner.execute_monthly(ctx, PERIOD, districts=None)
        else:
            with cluster.session(f"local:{workers}") as client:
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


def same_warehouse(a: Path, b: Path) -> tuple[bool, list[str]]:
    """Whether two warehouses hold the same rows in every table but ``runs``; the tables that differ.

    Run ids and timestamps aside, compared in DuckDB (EXCEPT ALL both ways).
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        tables = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'a' "
            "AND table_schema = 'main' AND table_name <> 'runs'").fetchall())
        other = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'b' "
            "AND table_schema = 'main' AND table_name <> 'runs'").fetchall())
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


def ensure_city(households: int, seed: int, cities: Path) -> Path:
    from pipelines.sample import generate_city, parse_months

    out = cities / f"city-{households}-s{seed}"
    if not (out / "incoming" / PERIOD).is_dir():
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        generate_city(out, households=households, months=parse_months(MONTHS), seed=seed)
        print(f"generated {households} households in {time.perf_counter() - t:.0f} s", flush=True)
    return out / "incoming"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cities", type=Path, default=Path(tempfile.gettempdir()) / "hedui-cities")
    ap.add_argument("--child", choices=["inprocess", "dask"], help=argparse.SUPPRESS)
    ap.add_argument("--incoming", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HEDUI_PSEUDONYM_KEY", "benchmark-key-not-a-secret")
    if args.child:
        print(json.dumps(run_one(args.child, args.incoming, args.warehouse, args.workers)))
        return 0

    incoming = ensure_city(args.households, args.seed, args.cities)
    load_before = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory(prefix="hedui-province-") as tmp:
        for mode in ("inprocess", "dask"):
            warehouse = Path(tmp) / mode / "hedui.duckdb"
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--incoming", str(incoming),
                 "--warehouse", str(warehouse), "--workers", str(args.workers)],
                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[mode]["warehouse"] = warehouse
            print(f"{mode}: {results[mode]['wall_s']:.1f} s", flush=True)
        same, differ = same_warehouse(results["inprocess"]["warehouse"],
                                      results["dask"]["warehouse"])
    load_after = os.getloadavg()

    persons = round(args.households * PERSONS_PER_HOUSEHOLD)
    a, d = results["inprocess"], results["dask"]
    print(f"\nhouseholds {args.households} (≈{persons:,} persons), {a['rows_in']:,} delivered rows; "
          f"{os.cpu_count()} cores; load average before {load_before[0]:.1f}, "
          f"after {load_after[0]:.1f}")
    print("| run | wall s | driver CPU s | driver peak MiB | workers' peak MiB |")
    print("|---|---:|---:|---:|---|")
    print(f"| in-process | {a['wall_s']:.1f} | {a['driver_cpu_s']:.1f} | {a['driver_peak_mib']:.0f} | – |")
    peaks = ", ".join(f"{w['peak_mib']:.0f}" for w in d["workers"])
    print(f"| LocalCluster({args.workers}) | {d['wall_s']:.1f} | {d['driver_cpu_s']:.1f} | "
          f"{d['driver_peak_mib']:.0f} | {peaks} |")
    print(f"ratio dask / in-process: {d['wall_s'] / a['wall_s']:.2f}; "
          f"same warehouse (all tables but runs): {same}"
          + (f" (differ: {', '.join(differ)})" if differ else ""))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
