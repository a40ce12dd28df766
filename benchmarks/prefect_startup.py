"""Benchmark: what Prefect's orchestration costs a run, apart from the work.

Runs, each in a fresh process with its own empty ``PREFECT_HOME`` (as a cold ``hedui monthly``
does), a flow with one task that does nothing, with the settings ``hedui`` uses (quiet logging,
no heartbeat): once against the ephemeral local server that Prefect starts when no
``PREFECT_API_URL`` is set, and once importing Prefect only. Prints wall seconds and CPU seconds
(this process and its children: the ephemeral server runs as a subprocess) with the load average.

    .venv/bin/python benchmarks/prefect_startup.py --repeat 3
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# prefect_startup: {os.cpu_count()} cores, load {load} at start")
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
