"""Sample layer: ``python -m pipelines.sample`` — the same options as ``hedui sample``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipelines.sample import generate_city, parse_months


def main(argv: list[str] | None = None) -> int:
    """Generate a synthetic city (or province); print its manifest (counts, timings) as JSON."""
    ap = argparse.ArgumentParser(prog="python -m pipelines.sample",
                                 description="Write a synthetic city with planted truth.")
    ap.add_argument("--households", type=int, required=True)
    ap.add_argument("--months", required=True, help="YYYY-MM..YYYY-MM")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--districts", type=int,
                    help="a province of this many districts, written district by district (with rules/)")
    args = ap.parse_args(argv)
    try:
        months = parse_months(args.months)
    except ValueError as exc:
        ap.error(str(exc))
    if args.districts is None:
        manifest = generate_city(args.out, households=args.households, months=months, seed=args.seed)
    else:
        from pipelines.sample.province import generate_province

        try:
            manifest = generate_province(args.out, districts=args.districts, households=args.households,
                                         months=months, seed=args.seed)
        except ValueError as exc:
            ap.error(str(exc))
    print(json.dumps(manifest, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
