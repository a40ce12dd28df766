r"""Benchmark: how many months of evidence the review ranking needs (issue 19, outputs.md).

Reads one folder's review records from a warehouse's folder cache (a monthly run with the
cache on has filled it) and ranks them with the evidence rows of the folder and of 0, 1 and 5
months before it, then prints, against the city's truth (``truth/records.csv``), how often the
right person is first and among the first three, and the ranking's seconds.

    .venv/bin/python benchmarks/rank_lookback.py \\
        --cache benchmarks/.cities/steady-100000/.cache/folders \\
        --truth benchmarks/.cities/city-100000-s8/truth/records.csv --period 2026-10

The run ranks with one month before (``pipelines.review_queue.EVIDENCE_LOOKBACK``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.match.model import estimates_from_frame  # noqa: E402
from pipelines.match.params import load_matching_params  # noqa: E402
from pipelines.match.rank import FolderForRanking, evidence_table, rank_review_candidates  # noqa: E402
from pipelines.periods import add_months  # noqa: E402
from pipelines.sources import EXTRACT_SOURCES  # noqa: E402

KEY = ["source", "period", "record_no"]
CANDIDATES = ("candidate_person_id", "candidate_person_id_2", "candidate_person_id_3")


def _folder(cache: Path, period: str) -> FolderForRanking | None:
    entries = sorted((cache / period).glob("*/links.parquet"))
    if not entries:
        return None
    d = entries[0].parent
    records = pl.concat([pl.read_parquet(d / f"stg_{s}.parquet") for s in EXTRACT_SOURCES
                         if (d / f"stg_{s}.parquet").exists()], how="diagonal_relaxed")
    return FolderForRanking(period, records, pl.read_parquet(d / "stg_register.parquet"),
                            pl.read_parquet(d / "links.parquet"),
                            estimates_from_frame(pl.read_parquet(d / "model.parquet")))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True, help="a warehouse's .cache/folders")
    ap.add_argument("--truth", type=Path, required=True, help="the city's truth/records.csv")
    ap.add_argument("--period", default="2026-10")
    ap.add_argument("--lookback", type=int, nargs="+", default=[0, 1, 5])
    args = ap.parse_args(argv)
    target = _folder(args.cache, args.period)
    if target is None:
        print(f"no cached folder {args.period} under {args.cache}", file=sys.stderr)
        return 1
    truth = (pl.read_csv(args.truth, infer_schema=False)
             .select(*KEY, "true_person_id").filter(pl.col("period") == args.period))
    on_register = target.register["person_id"].implode()
    evidence = {args.period: evidence_table([target])}
    print("| months before | review records | on the register | right first | right in top 3 | ranking s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for back in args.lookback:
        for k in range(1, back + 1):
            month = add_months(args.period, -k)
            if month not in evidence:
                folder = _folder(args.cache, month)
                evidence[month] = evidence_table([folder]) if folder is not None else None
        parts = [evidence[add_months(args.period, -k)] for k in range(back + 1)]
        t = time.perf_counter()
        ranked = rank_review_candidates([target], params=load_matching_params(),
                                        evidence=pl.concat([p for p in parts if p is not None]))
        took = time.perf_counter() - t
        got = (ranked[args.period].join(truth, on=KEY)
               .filter(pl.col("true_person_id").is_in(on_register)))
        first = got.select((pl.col("candidate_person_id") == pl.col("true_person_id"))
                           .fill_null(False).mean()).item()
        top3 = got.select(pl.any_horizontal([pl.col(c).eq_missing(pl.col("true_person_id"))
                                             for c in CANDIDATES]).mean()).item()
        print(f"| {back} | {ranked[args.period].height:,} | {got.height:,} | {100 * first:.1f} % "
              f"| {100 * top3:.1f} % | {took:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
