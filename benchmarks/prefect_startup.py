"""Benchmark: what Prefect's orchestration costs a run, apart from the work.

Runs, each in a fresh process with its own empty ``PREFECT_HOME`` (as a cold ``hedui monthly``
does), a flow with one task that does nothing, with the settings ``hedui`` uses (quiet logging,
no heartbeat): once against the ephemeral local server that Prefect starts when no
``PREFECT_API_URL`` is set, and once importing Prefect only. Prints wall seconds and CPU seconds
(this process and its children: the ephemeral server runs as a subprocess) with the load average.

    .venv/bin/python benchmarks/prefect_startup.py --repeat 3

``--monthly ROOT [ROOT ...]`` instead times the whole default command, ``hedui monthly --period
2026-10`` on data/sample/ (fresh warehouse and ``PREFECT_HOME`` each time, so every folder is
landed and the server starts cold), with each ROOT's code first on the path, the ROOTs
interleaved (a checkout of main against a branch, say):

    .venv/bin/python benchmarks/prefect_startup.py --monthly /work/main . --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "incoming"

_CHILD = r"""
import os, time
t0 = time.perf_counter()
from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
t_import = time.perf_counter() - t0
if os.environ["MODE"] == "flow":
    @task
    def nothing():
        return 1

    @flow
    def empty():
        return nothing()

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        t1 = time.perf_counter()
        empty()
        t_flow = time.perf_counter() - t1
else:
    t_flow = 0.0
print(f"{t_import:.3f} {t_flow:.3f}")
"""


def _run(mode: str) -> tuple[float, float, float, float]:
    """(wall s, CPU s of the process and its children, import s, first flow s)."""
    with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
        env = {**os.environ, "MODE": mode, "PREFECT_HOME": home, "PREFECT_LOGGING_LEVEL": "WARNING",
               "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
        env.pop("PREFECT_API_URL", None)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    t_import, t_flow = map(float, done.stdout.split()[-2:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, t_import, t_flow


def _commit(root: Path) -> str:
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or root.name


def _monthly(root: Path, period: str) -> tuple[float, float, str]:
    """(wall s, CPU s incl. children, load 1/5/15 after) of one cold default monthly run."""
    with tempfile.TemporaryDirectory(prefix="hedui-monthly-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(root), "PREFECT_HOME": f"{tmp}/prefect-home"}
        env.pop("PREFECT_API_URL", None)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "monthly", "--incoming",
                               str(SAMPLE), "--period", period, "--warehouse",
                               f"{tmp}/w/hedui.duckdb"], cwd=root, env=env, capture_output=True,
                              text=True, timeout=1200, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, "/".join(f"{x:.1f}" for x in os.getloadavg())


def compare_monthly(roots: list[Path], repeat: int, period: str) -> None:
    """Print one row per run (interleaved) and the medians per ROOT."""
    print("| code | run | wall s | CPU s (incl. server) | load avg 1/5/15 after |")
    print("|---|---:|---:|---:|---|")
    results: dict[Path, list[tuple[float, float]]] = {r: [] for r in roots}
    for i in range(repeat):
        for root in roots:
            wall, cpu, load = _monthly(root, period)
            results[root].append((wall, cpu))
            print(f"| {root} ({_commit(root)}) | {i + 1} | {wall:.1f} | {cpu:.1f} | {load} |",
                  flush=True)
    print()
    print("| code | wall s: median (min–max) | CPU s: median |")
    print("|---|---|---:|")
    for root, rows in results.items():
        walls = [w for w, _ in rows]
        print(f"| {root} ({_commit(root)}) | {statistics.median(walls):.1f} "
              f"({min(walls):.1f}–{max(walls):.1f}) | {statistics.median(c for _, c in rows):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--monthly", nargs="+", type=Path, metavar="ROOT",
                        help="time `hedui monthly` on data/sample with each ROOT's code instead")
    parser.add_argument("--period", default="2026-10")
    args = parser.parse_args()
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# prefect_startup: {os.cpu_count()} cores, load {load} at start")
    if args.monthly:
        print()
        compare_monthly([r.resolve() for r in args.monthly], args.repeat, args.period)
        return
    print()
    print("| process | wall s: median (min–max) | CPU s (incl. server): median | import prefect s "
          "| first flow run s | load avg 1/5/15 |")
    print("|---|---|---:|---:|---:|---|")
    for mode, label in (("import", "import prefect only"), ("flow", "one empty flow + task, ephemeral server")):
        rows = [_run(mode) for _ in range(args.repeat)]
        walls = [r[0] for r in rows]
        print(f"| {label} | {statistics.median(walls):.1f} ({min(walls):.1f}–{max(walls):.1f}) | "
              f"{statistics.median(r[1] for r in rows):.1f} | "
              f"{statistics.median(r[2] for r in rows):.1f} | {statistics.median(r[3] for r in rows):.1f} | "
              f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} |", flush=True)


if __name__ == "__main__":
    main()
