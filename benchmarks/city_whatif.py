"""Benchmark: ``hedui whatif`` on a city whose monthly run is already in a warehouse.

Runs the preview twice, each in-process as ``hedui whatif`` calls it (validation with the
proposal's policy cases, read-back of the stored records, reassessment, comparison, workbook and
page): once with a proposal identical to rules/ (nothing may change) and once with one file that
raises 990102 城市's standard by 60 yuan from P. Prints wall and CPU seconds per phase, the
households affected, the peak RSS and the load average; checks the warehouse stays byte-identical.

    .venv/bin/python benchmarks/city_whatif.py --warehouse W/hedui.duckdb --period 2026-10
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.rulebook import DEFAULT_PARAMETERS
from pipelines.whatif import run_whatif
from pipelines.whatif.outputs import write_json, write_outputs


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _raised(folder: Path) -> Path:
    text = (DEFAULT_PARAMETERS / "dibao_standard.yaml").read_text(encoding="utf-8")
    old = '  "990102":\n    城市:\n      0001-01-01: 840\n      2026-07-01: 869\n'
    (folder / "dibao_standard.yaml").write_text(text.replace(old, old + "      2026-10-01: 929\n"),
                                                encoding="utf-8")
    return folder


def _one(label: str, warehouse: Path, period: str, rules: Path, out: Path) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_whatif(warehouse=warehouse, period=period, rules=rules)
    mark = time.perf_counter()
    write_outputs(result, out)
    write_json(out / "comparison.json", result)
    outputs = time.perf_counter() - mark
    t = result.timings
    print(f"{label}: households {result.comparison.households.height:,}, affected "
          f"{result.comparison.changed.height:,}; wall {time.perf_counter() - wall:.1f} s "
          f"(validate {t['validate']:.1f}, read {t['read']:.1f}, assess {t['assess']:.1f}, "
          f"compare {t['compare']:.1f}, outputs {outputs:.1f}), CPU {time.process_time() - cpu:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument("--period", default="2026-10")
    args = ap.parse_args()
    before = _digest(args.warehouse)
    with tempfile.TemporaryDirectory() as tmp:
        _one("identical proposal", args.warehouse, args.period, DEFAULT_PARAMETERS.parent,
             Path(tmp) / "same")
        proposal = Path(tmp) / "raise"
        proposal.mkdir()
        _one("990102 城市 S +60", args.warehouse, args.period, _raised(proposal), Path(tmp) / "raise-out")
    assert _digest(args.warehouse) == before, "the warehouse changed"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"warehouse byte-identical; peak RSS {rss:,.0f} MiB; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
