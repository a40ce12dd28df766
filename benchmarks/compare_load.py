"""Compare ``pipelines.clean.load_folder`` of two checkouts frame for frame (issue 17).

Runs each checkout's ``load_folder`` in its own subprocess (``PYTHONPATH`` = that checkout) on
the same folders, writes every output (clean register and extracts, raw frames, quarantine,
files, notes, register problem) to parquet/JSON, and compares them exactly: same columns, dtypes,
row order and values. Folders: every month of ``data/sample/incoming``, a generated city with
ten times the default corruption rates, and a folder of structural damage built here (GB18030,
BOM, CRLF, blank lines, quoted commas, undecodable bytes, control bytes, wrong field counts,
header-only, 0-byte and binary files, a missing column, an unknown file).

    .venv/bin/python benchmarks/compare_load.py --reference /work/main
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

ROOT = Path(__file__).resolve().parents[1]


def dump(folder: Path, period: str, out: Path) -> None:
    """Load ``folder`` with the ``pipelines`` on ``sys.path`` and write every output to ``out``."""
    from pipelines.clean import load_folder

    load = load_folder(folder, period=period)
    out.mkdir(parents=True, exist_ok=True)
    frames = {"quarantine": load.quarantine, "files": load.files}
    if load.register is not None:
        frames["register"] = load.register
    frames |= {f"extract_{k}": v for k, v in load.extracts.items()}
    frames |= {f"raw_{k}": v for k, v in load.raw.items()}
    for name, frame in frames.items():
        frame.write_parquet(out / f"{name}.parquet")
    (out / "meta.json").write_text(json.dumps({
        "frames": sorted(frames), "notes": load.notes, "register_problem": load.register_problem,
        "fields": [f.name for f in dataclasses.fields(load)],
    }, ensure_ascii=False))


def _run(code: Path, folder: Path, period: str, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(code)}
    subprocess.run([sys.executable, __file__, "--dump", str(folder), "--period", period,
                    "--out", str(out)], check=True, env=env, cwd=code)


def compare(a: Path, b: Path) -> list[str]:
    """Differences between two dumps (empty when identical)."""
    meta_a, meta_b = (json.loads((d / "meta.json").read_text()) for d in (a, b))
    problems = [f"{k} differs" for k in meta_a if meta_a[k] != meta_b.get(k)]
    for name in sorted(set(meta_a["frames"]) & set(meta_b["frames"])):
        try:
            assert_frame_equal(pl.read_parquet(a / f"{name}.parquet"),
                               pl.read_parquet(b / f"{name}.parquet"), check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name}: {str(exc).splitlines()[0]}")
    return problems


def _utf8(path: Path) -> bytes:
    """A generated file's bytes as UTF-8 (the generator writes some files as GB18030)."""
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030").encode("utf-8")
    return data


def _damaged(base: Path, out: Path) -> None:
    """A folder of structural damage, built from a generated folder's files."""
    out.mkdir(parents=True)
    shutil.copy(base / "register.csv", out / "register.csv")
    tax = _utf8(base / "tax_wages.csv").split(b"\n")
    # GB18030 with undecodable bytes in one record, a blank line and CRLF line ends
    gb = [line.decode("utf-8").encode("gb18030") for line in tax[:200]]
    gb[5] = gb[5][:10] + b"\x80\xff" + gb[5][12:]
    gb.insert(9, b"")
    (out / "tax_wages.csv").write_bytes(b"\r\n".join(gb) + b"\r\n")
    # UTF-8 with BOM, quoted commas, a record with one field too many and a control byte
    pension = _utf8(base / "pension.csv").split(b"\n")[:300]
    pension[3] = pension[3] + b",extra"
    fields = pension[7].split(b",")
    pension[7] = b",".join([b'"' + fields[0] + b',x"', *fields[1:]])
    pension[11] = pension[11][:4] + b"\x01" + pension[11][4:]
    (out / "pension.csv").write_bytes(b"\xef\xbb\xbf" + b"\n".join(pension))
    # a clean GB18030 file (fast path) and a header-only file
    medical = _utf8(base / "medical.csv")
    (out / "medical.csv").write_bytes(medical.decode("utf-8").encode("gb18030"))
    (out / "deaths.csv").write_bytes(_utf8(base / "deaths.csv").split(b"\n")[0] + b"\n")
    # a bad UTF-8 byte in a record of an otherwise clean file, a blank line in another
    vehicles = _utf8(base / "vehicles.csv").split(b"\n")
    vehicles[4] = vehicles[4][:6] + b"\xc3" + vehicles[4][6:]
    (out / "vehicles.csv").write_bytes(b"\n".join(vehicles))
    business = _utf8(base / "business.csv").split(b"\n")
    business.insert(3, b"   ")
    (out / "business.csv").write_bytes(b"\n".join(business))
    # 0-byte, binary, missing column, unknown
    (out / "bank_zero.csv").write_bytes(b"")
    (out / "bank_png.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    real = _utf8(base / "real_estate.csv").split(b"\n")
    real[0] = real[0].replace("坐落".encode(), "地址".encode())
    (out / "real_estate.csv").write_bytes(b"\n".join(real))
    (out / "notes.txt").write_text("not a delivery")


def folders(work: Path) -> list[tuple[str, Path, str]]:
    """(label, folder, period) of every folder compared."""
    from pipelines.sample import CorruptionRates, generate_city

    found = [(f"sample {p.name}", p, p.name)
             for p in sorted((ROOT / "data" / "sample" / "incoming").iterdir()) if p.is_dir()]
    rates = CorruptionRates()
    dirty = CorruptionRates(**{f.name: min(1.0, getattr(rates, f.name) * 10)
                               for f in dataclasses.fields(rates)
                               if isinstance(getattr(rates, f.name), float)})
    city = work / "city"
    generate_city(city, households=1500, months=["2026-09", "2026-10"], seed=11, rates=dirty)
    for p in sorted((city / "incoming").iterdir()):
        found.append((f"corrupt city {p.name}", p, p.name))
    damaged = work / "damaged" / "2026-09"
    _damaged(city / "incoming" / "2026-09", damaged)
    found.append(("structural damage", damaged, "2026-09"))
    return found


def main() -> int:
    """Compare the two checkouts on every folder; exit 1 on any difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=Path("/work/main"))
    parser.add_argument("--candidate", type=Path, default=ROOT)
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--period", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(args.dump, args.period, args.out)
        return 0
    sys.path.insert(0, str(ROOT))
    failed = 0
    with tempfile.TemporaryDirectory(prefix="hedui-compare-") as tmp:
        work = Path(tmp)
        for i, (label, folder, period) in enumerate(folders(work)):
            ref, cand = work / f"ref{i}", work / f"cand{i}"
            _run(args.reference, folder, period, ref)
            _run(args.candidate, folder, period, cand)
            problems = compare(ref, cand)
            quarantined = pl.read_parquet(ref / "quarantine.parquet").height
            print(f"{label:<28} {'same' if not problems else 'DIFFERENT'}"
                  f"  ({quarantined} quarantine rows)")
            for p in problems:
                print(f"    {p}")
            failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
