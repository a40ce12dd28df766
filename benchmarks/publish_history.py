"""Benchmark: whether a month's publish cost depends on how many months the warehouse already holds.

Builds synthetic warehouses holding N months each (default 6 and 24) of a generated city month —
register, three extract sources (raw and staging layers), links, quarantine, assessments, flags —
then times the publish of one more month into each, the way ``stage_publish`` writes it in a
steady-state monthly run (hold P-1 and P, replace P's rows, narrow the analyst refresh to P,
append a ``runs`` row). Prints
wall and CPU seconds (all threads) per publish with the load average, and the ratio between the
largest and the smallest history.

    .venv/bin/python benchmarks/publish_history.py                       # 6 and 24 months
    .venv/bin/python benchmarks/publish_history.py --persons 100000 --months 6 24 --repeat 3
    .venv/bin/python benchmarks/publish_history.py --code /some/other/checkout   # compare code

``--code`` imports ``pipelines`` from another checkout (e.g. a commit before per-period
partitions, whose ``publishing`` has no ``periods`` argument: it then loads nothing and copies
the whole file, as it did).
"""

from __future__ import annotations

import argparse
import inspect
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

SOURCES = ("tax_wages", "pension", "bank")


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _month(index: int) -> str:
    return f"{2020 + index // 12}-{index % 12 + 1:02d}"


def _ddl(con) -> None:
    """The raw and staging tables a real run creates from its parquet files (same kinds of columns)."""
    con.execute("""CREATE TABLE IF NOT EXISTS stg_register (period VARCHAR, person_id VARCHAR,
        household_id VARCHAR, id18 VARCHAR, name_raw VARCHAR, district_code VARCHAR,
        urban_rural VARCHAR, programme VARCHAR, sex VARCHAR, birth_on DATE, relation VARCHAR,
        disability_grade VARCHAR, serious_illness VARCHAR, address VARCHAR, phone VARCHAR)""")
    con.execute("""CREATE TABLE IF NOT EXISTS raw_register (period VARCHAR, file VARCHAR,
        row_number BIGINT, person_no VARCHAR, household_no VARCHAR, id_raw VARCHAR,
        name_raw VARCHAR, address VARCHAR, phone VARCHAR)""")
    for s in SOURCES:
        con.execute(f"""CREATE TABLE IF NOT EXISTS stg_{s} (source VARCHAR, period VARCHAR,
            record_no VARCHAR, id_norm VARCHAR, name_norm VARCHAR, amount_fen BIGINT)""")
        con.execute(f"""CREATE TABLE IF NOT EXISTS raw_{s} (period VARCHAR, file VARCHAR,
            row_number BIGINT, record_no VARCHAR, id_raw VARCHAR, name_raw VARCHAR,
            amount_raw VARCHAR)""")


def _write_month(con, period: str, persons: int) -> None:
    """One city month's rows, replacing the period's (what stage_publish does per folder)."""
    households = persons // 2
    p = [period]
    for t in ("stg_register", "raw_register", "links", "quarantine", "assessments", "flags",
              *(f"stg_{s}" for s in SOURCES), *(f"raw_{s}" for s in SOURCES)):
        con.execute(f"DELETE FROM {t} WHERE period = ?", p)
    con.execute(f"""INSERT INTO stg_register SELECT ?, 'P' || lpad(i::VARCHAR, 9, '0'),
        'H' || lpad((i // 2)::VARCHAR, 9, '0'), '990101' || (19400101 + i % 600000)::VARCHAR || '001X',
        '张' || chr((19968 + i % 20000)::INTEGER), '99010' || (i % 9)::VARCHAR, '城市', '低保',
        CASE WHEN i % 2 = 0 THEN '男' ELSE '女' END, DATE '1940-01-01' + (i % 25000)::INTEGER,
        '户主', NULL, '否', '某街' || i::VARCHAR || '号', '138' || lpad(i::VARCHAR, 8, '0')
        FROM range({persons}) t(i)""", p)
    con.execute(f"""INSERT INTO raw_register SELECT ?, 'register.csv', i + 2,
        'P' || lpad(i::VARCHAR, 9, '0'), 'H' || lpad((i // 2)::VARCHAR, 9, '0'),
        '990101' || (19400101 + i % 600000)::VARCHAR || '001X', '张' || chr((19968 + i % 20000)::INTEGER),
        '某街' || i::VARCHAR || '号', '138' || lpad(i::VARCHAR, 8, '0') FROM range({persons}) t(i)""", p)
    per_source = persons * 7 // 10
    for s in SOURCES:
        con.execute(f"""INSERT INTO stg_{s} SELECT '{s}', ?, '{s[0]}' || i::VARCHAR,
            '990101' || (19400101 + i % 600000)::VARCHAR || '001X', '张' || chr((19968 + i % 20000)::INTEGER),
            (i * 7919) % 900000 FROM range({per_source}) t(i)""", p)
        con.execute(f"""INSERT INTO raw_{s} SELECT ?, '{s}.csv', i + 2, '{s[0]}' || i::VARCHAR,
            '990101' || (19400101 + i % 600000)::VARCHAR || '001X', '张' || chr((19968 + i % 20000)::INTEGER),
            ((i * 7919) % 900000)::VARCHAR FROM range({per_source}) t(i)""", p)
        con.execute(f"""INSERT INTO links (source, period, record_no, person_id, household_id,
            score, status, method, match_weight, comparison)
            SELECT '{s}', ?, '{s[0]}' || i::VARCHAR, 'P' || lpad(i::VARCHAR, 9, '0'),
            'H' || lpad((i // 2)::VARCHAR, 9, '0'), 1.0, 'matched', 'id_exact', 20.0,
            '{{"id": "exact", "name": "exact"}}' FROM range({per_source}) t(i)""", p)
    con.execute(f"""INSERT INTO quarantine (source, period, file, row_number, record_no, reason)
        SELECT 'bank', ?, 'bank.csv', i + 2, 'b' || i::VARCHAR, 'ID_CHECKSUM'
        FROM range({persons // 100}) t(i)""", p)
    con.execute(f"""INSERT INTO assessments (period, household_id, district_code, urban_rural,
        programme, members, living_members, income_per_capita, assets_per_capita,
        residential_units, standard, rulebook_version)
        SELECT ?, 'H' || lpad(i::VARCHAR, 9, '0'), '99010' || (i % 9)::VARCHAR, '城市', '低保', 2, 2,
        (i % 3000)::DECIMAL(18,2), (i % 90000)::DECIMAL(18,2), 1, 1010, 'v1'
        FROM range({households}) t(i)""", p)
    con.execute(f"""INSERT INTO flags (period, household_id, district_code, flag, evidence,
        rulebook_version) SELECT ?, 'H' || lpad((i * 10)::VARCHAR, 9, '0'),
        '99010' || (i % 9)::VARCHAR, 'INCOME_OVER_STANDARD',
        '{{"quantities": {{}}, "thresholds": {{}}, "records": []}}', 'v1'
        FROM range({households // 10}) t(i)""", p)


def publish_month(wh, path: Path, index: int, persons: int) -> None:
    """Publish month ``index`` as ``stage_publish`` does in a steady-state monthly run.

    The block holds P and P-1 (the month before is read inside the block), rewrites P's rows
    and narrows the analyst refresh to P (the other five folders come from the folder cache).
    """
    period = _month(index)
    declares = "periods" in inspect.signature(wh.publishing).parameters
    refresh = wh.AnalystRefresh()
    # what stage_publish holds: the month it writes and the month before (read by fairness)
    held = [_month(i) for i in range(max(0, index - 1), index + 1)]
    kwargs = {"periods": held} if declares else {}
    with wh.publishing(path, analyst_refresh=refresh, **kwargs) as con:
        _ddl(con)
        _write_month(con, period, persons)
        now = datetime.now(UTC)
        con.execute("""INSERT INTO runs (run_id, flow, period, status, started_at, finished_at)
                       VALUES (?, 'monthly', ?, 'succeeded', ?, ?)""", [f"bench-{period}-{now}", period,
                                                                      now, now])
        refresh.only(folder_periods=[period], assessed_periods=[period])


def _size(path: Path) -> int:
    """Bytes of the warehouse: its file, the analyst file and their partition folders."""
    total = 0
    for p in path.parent.rglob("*"):
        if p.is_file() and not p.name.endswith(".lock"):
            total += p.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=40_000, help="register persons per month")
    parser.add_argument("--months", type=int, nargs="+", default=[6, 24],
                        help="history sizes to compare (months already published)")
    parser.add_argument("--repeat", type=int, default=3, help="timed publishes per history")
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1],
                        help="checkout whose pipelines package to import")
    parser.add_argument("--work", type=Path, default=None, help="folder for the warehouses")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    os.environ.setdefault("HEDUI_PSEUDONYM_KEY", "benchmark-key-" + "0" * 32)
    from pipelines import warehouse as wh

    commit = subprocess.run(["git", "-C", str(args.code), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(args.code), "status", "--porcelain", "pipelines"],
                           capture_output=True, text=True, check=False).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="publish-history-", dir=args.work))
    print(f"# publish_history: code {args.code} commit {commit}{' (modified)' if dirty else ''}, "
          f"{args.persons:,} persons/month, {os.cpu_count()} cores, load {_load()} at start, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print()
    print("| months held | build s (wall) | warehouse MB | publish wall s: median (min–max) "
          "| publish CPU s: median | load avg |")
    print("|---:|---:|---:|---|---:|---|")
    medians = {}
    try:
        paths, builds = {}, {}
        for months in args.months:
            paths[months] = work / f"h{months}" / "hedui.duckdb"
            t0 = time.perf_counter()
            for i in range(months):
                publish_month(wh, paths[months], i, args.persons)
            builds[months] = time.perf_counter() - t0
        # timed publishes interleaved across the histories, so a change in the machine's load
        # hits every history alike; the first adds the next month, the others re-publish it
        walls = {m: [] for m in args.months}
        cpus = {m: [] for m in args.months}
        loads = {m: [] for m in args.months}
        for _ in range(args.repeat):
            for months in args.months:
                w0, c0 = time.perf_counter(), _cpu()
                publish_month(wh, paths[months], months, args.persons)
                walls[months].append(time.perf_counter() - w0)
                cpus[months].append(_cpu() - c0)
                loads[months].append(os.getloadavg()[0])
        for months in args.months:
            w, c = walls[months], cpus[months]
            medians[months] = (statistics.median(w), statistics.median(c))
            print(f"| {months} | {builds[months]:.1f} | {_size(paths[months]) / 1e6:.0f} | "
                  f"{statistics.median(w):.2f} ({min(w):.2f}–{max(w):.2f}) | {statistics.median(c):.2f} | "
                  f"{'/'.join(f'{x:.1f}' for x in loads[months])} (1-min, per publish) |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lo, hi = min(medians), max(medians)
    print()
    print(f"ratio {hi} months / {lo} months: wall {medians[hi][0] / medians[lo][0]:.2f}×, "
          f"CPU {medians[hi][1] / medians[lo][1]:.2f}× (target ≤ 1.2×)")


if __name__ == "__main__":
    main()
