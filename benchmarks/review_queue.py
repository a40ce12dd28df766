"""Benchmark: the review queue a clerk works through (issue 19), on a generated city.

Generates (or reuses) a synthetic city of N households × 6 months with planted truth, runs the
monthly cross-check of the last month exactly as ``hedui monthly --orchestrator local`` does, and
reads the published warehouse back:

- review records, and how often the right person (the truth file's ``true_person_id``) is the
  first candidate and among the first three — before ranking (matching's own best namesake, kept
  in the stage's links parquet) and after (what ``links`` publishes);
- that nothing else changed: link precision (no matched record names a wrong person), and no
  record without a usable ID is matched;
- the share of review records that can change some household's flags, the uncertain households
  per district, and that the queue puts all of those first;
- wall and CPU seconds of the whole run and of the ranking alone.

    .venv/bin/python benchmarks/review_queue.py --households 10000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import runner  # noqa: E402
from pipelines.sample import generate_city, parse_months  # noqa: E402

KEY = ["source", "period", "record_no"]
PERIOD = "2026-10"


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _city(households: int, seed: int, work: Path) -> Path:
    out = work / f"city-{households}-s{seed}"
    if not (out / "truth" / "records.csv").exists():
        t = time.time()
        generate_city(out, households=households, months=parse_months("2026-05..2026-10"), seed=seed)
        print(f"generated {out.name} in {time.time() - t:.0f} s", flush=True)
    return out


def _run(city: Path, warehouse: Path) -> tuple[dict, pl.DataFrame, float, float]:
    """One monthly run; returns its summary, matching's own review candidates, wall and CPU s."""
    before: list[pl.DataFrame] = []
    from pipelines.run import folders

    original_rank = folders._rank
    timing = {}

    def rank_and_keep(ctx, refs, extra, **kw):
        # matching's own first candidate, before the ranking replaces it on publish
        for ref in refs:
            if ref.links.exists():
                before.append(pl.read_parquet(ref.links).filter(pl.col("status") == "review")
                              .select(*KEY, "match_weight", old_candidate="candidate_person_id"))
        t, c = time.time(), _cpu()
        out = original_rank(ctx, refs, extra, **kw)
        timing["rank"] = (time.time() - t, _cpu() - c)
        return out

    folders._rank = rank_and_keep
    ctx = runner.RunContext.create(flow="monthly", incoming=city / "incoming", warehouse=warehouse,
                                   use_cache=False)
    t, c = time.time(), _cpu()
    try:
        summary = runner.execute_monthly(ctx, PERIOD, districts=None)
    finally:
        ctx.cleanup()
        folders._rank = original_rank
    wall, cpu = time.time() - t, _cpu() - c
    summary["_rank_seconds"] = timing.get("rank")
    return summary, pl.concat(before), wall, cpu


def measure(households: int, seed: int, work: Path) -> dict:
    city = _city(households, seed, work)
    warehouse = work / f"review-queue-{households}-s{seed}" / "hedui.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    for f in warehouse.parent.glob("hedui*"):
        f.unlink()
    os.environ.setdefault("HEDUI_PSEUDONYM_KEY", "benchmark-key-not-a-secret")
    summary, before, wall, cpu = _run(city, warehouse)

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        links = con.sql(f"""SELECT l.source, l.period, l.record_no, l.status, l.person_id,
                                  l.candidate_person_id, l.candidate_person_id_2,
                                  l.candidate_person_id_3, q.review_pending, q.queue_rank,
                                  l.comparison
                           FROM links l LEFT JOIN review_queue q
                             ON q.period = '{PERIOD}' AND q.source = l.source
                            AND q.record_period = l.period AND q.record_no = l.record_no""").pl()
        flags = con.sql("SELECT household_id, district_code, pending_review FROM flags").pl()
    finally:
        con.close()
    truth = pl.read_csv(city / "truth" / "records.csv", infer_schema=False).select(
        *KEY, "true_person_id", "matchable")
    joined = links.join(truth, on=KEY, how="inner")
    matched = joined.filter(pl.col("status") == "matched")
    wrong = matched.filter(pl.col("person_id") != pl.col("true_person_id")).height
    outsiders = matched.filter(pl.col("true_person_id").is_null()).height
    no_id_matched = matched.filter(pl.col("matchable") == "false").height

    review = (joined.filter(pl.col("status") == "review")
              .join(before, on=KEY, how="left"))
    known = review.filter(pl.col("true_person_id").is_not_null())
    right = pl.col("true_person_id")

    def share(expr: pl.Expr) -> float:
        return float(known.select(expr.fill_null(False).mean()).item()) if known.height else 0.0

    top3 = pl.any_horizontal([(pl.col(c) == right).fill_null(False) for c in
                              ("candidate_person_id", "candidate_person_id_2",
                               "candidate_person_id_3")])
    queue = review.sort("queue_rank")
    pending = queue["review_pending"].to_list()
    return {
        "households": households, "seed": seed,
        "records": links.height, "review": review.height, "review_with_truth": known.height,
        "review_outsiders": review.height - known.height,
        "top1_before": share(pl.col("old_candidate") == right),
        "top1_after": share(pl.col("candidate_person_id") == right),
        "top3_after": share(top3),
        "matched": matched.height, "wrong_links": wrong, "outsiders_linked": outsiders,
        "matched_without_usable_id": no_id_matched,
        "review_pending": int(sum(bool(p) for p in pending)),
        "pending_share": (sum(bool(p) for p in pending) / len(pending)) if pending else 0.0,
        "queue_pending_first": pending == sorted(pending, reverse=True),
        "flag_rows_pending": int(flags["pending_review"].sum()),
        "households_pending": summary["households_pending_review"],
        "wall_s": wall, "cpu_s": cpu,
        "rank_wall_s": summary["_rank_seconds"][0], "rank_cpu_s": summary["_rank_seconds"][1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, nargs="+", default=[10000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".cities")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for n in args.households:
        r = measure(n, args.seed, args.work)
        results.append(r)
        print(f"\n{n} households: {r['review']} review records ({r['review_with_truth']} of a "
              f"register person), {r['records']} records")
        print(f"  right candidate first: {r['top1_before']:.1%} before ranking -> "
              f"{r['top1_after']:.1%} after; among the first three {r['top3_after']:.1%}")
        print(f"  matched {r['matched']}: wrong {r['wrong_links']}, outsiders {r['outsiders_linked']}, "
              f"without usable ID {r['matched_without_usable_id']}")
        print(f"  review records that can change a household's flags: {r['review_pending']} "
              f"({r['pending_share']:.1%}); queue puts them first: {r['queue_pending_first']}")
        per_district = ", ".join(f"{d['district_code']} {d['households']}"
                                 for d in r["households_pending"])
        print(f"  households pending per district: {per_district or 'none'}")
        print(f"  run {r['wall_s']:.0f} s wall / {r['cpu_s']:.0f} s CPU; ranking "
              f"{r['rank_wall_s']:.1f} s wall / {r['rank_cpu_s']:.1f} s CPU; "
              f"load average now {os.getloadavg()[0]:.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
