"""Benchmark of the raw + clean layers: land, validate and clean generated extract folders.

Generates a month folder of extract rows shaped like inputs.md (tax_wages, pension, bank; valid
and dirty IDs, traditional and minority names, every amount and month format), writes it once as
UTF-8 and once as GB18030, and times :func:`pipelines.clean.load_folder` on each in a fresh
subprocess, reporting rows/s and the subprocess's peak resident memory.

    .venv/bin/python benchmarks/load_clean.py            # 5,000,000 rows
    .venv/bin/python benchmarks/load_clean.py --rows 500000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.normalize.ids import check_digit_expr  # noqa: E402

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单区仇解")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国玉兰志强红梅小红海燕晓东陳麗華張偉國強")
MINORITY = ["买买提·艾力", "阿依古丽.买买提", "热依拉•吐尔逊", "古丽娜尔・艾山", "艾尔肯．阿不都"]
SPLITS = {"tax_wages": 0.5, "pension": 0.3, "bank_icbc": 0.2}


def _ids(n: int, rng: np.random.Generator) -> pl.Series:
    area = rng.choice(["110105", "110106", "440304", "510107", "650102"], n)
    birth = (np.datetime64("1940-01-01") + rng.integers(0, 25000, n).astype("timedelta64[D]"))
    seq = rng.integers(0, 1000, n)
    frame = pl.DataFrame({"area": area, "birth": birth, "seq": seq}).select(
        body=pl.concat_str([pl.col("area"), pl.col("birth").dt.strftime("%Y%m%d"),
                            pl.col("seq").cast(pl.String).str.zfill(3)])
    ).select(pl.concat_str([pl.col("body"), check_digit_expr(pl.col("body"))]).alias("id"))
    ids = frame.to_series()
    noise = rng.random(n)
    return (
        pl.DataFrame({"id": ids, "noise": noise}).select(
            pl.when(pl.col("noise") < 0.02).then(pl.lit(""))
            .when(pl.col("noise") < 0.04).then(pl.col("id").str.slice(0, 6) + " " + pl.col("id").str.slice(6))
            .when(pl.col("noise") < 0.06).then(pl.col("id").str.to_lowercase())
            .when(pl.col("noise") < 0.08).then(pl.col("id").str.slice(0, 17) + "0")
            .otherwise(pl.col("id")).alias("id")
        ).to_series()
    )


def _names(n: int, rng: np.random.Generator) -> pl.Series:
    han = [SURNAMES[a] + GIVEN[b] + (GIVEN[c] if c >= 0 else "")
           for a, b, c in zip(rng.integers(0, len(SURNAMES), 20000), rng.integers(0, len(GIVEN), 20000),
                              rng.integers(-len(GIVEN), len(GIVEN), 20000), strict=True)]
    pool = np.array(han + MINORITY * 20)
    return pl.Series("name", pool[rng.integers(0, len(pool), n)])


def _amounts(n: int, rng: np.random.Generator) -> pl.Series:
    fen = rng.integers(-5000, 2_000_000, n)
    form = rng.integers(0, 6, n)
    frame = pl.DataFrame({"fen": fen, "form": form}).with_columns(
        plain=(pl.col("fen") / 100).round(2).cast(pl.String),
    )
    return frame.select(
        pl.when(pl.col("form") == 0).then(pl.col("plain"))
        .when(pl.col("form") == 1).then(pl.col("plain") + "元")
        .when(pl.col("form") == 2).then("￥" + pl.col("plain"))
        .when(pl.col("form") == 3).then(pl.lit(""))
        .otherwise(pl.col("plain")).alias("amount")
    ).to_series()


def generate(folder: Path, rows: int, *, seed: int = 7) -> None:
    """Write a UTF-8 month folder 2026-10 with ``rows`` extract rows and a small register."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for name, share in SPLITS.items():
        n = int(rows * share)
        ids, names_, amounts = _ids(n, rng), _names(n, rng), _amounts(n, rng)
        record = pl.int_range(start, start + n, eager=True).cast(pl.String).str.zfill(12)
        months = pl.Series(rng.choice(["2026-10", "2026/10", "202610", "2026年10月"], n))
        if name == "tax_wages":
            frame = pl.DataFrame({"记录号": "TW" + record, "纳税人识别号": ids, "纳税人姓名": names_,
                                  "所得期间": months, "收入额": amounts, "扣缴义务人名称": "某某科技有限公司"})
        elif name == "pension":
            frame = pl.DataFrame({"记录号": "PE" + record, "证件号码": ids, "姓名": names_, "发放年月": months,
                                  "发放金额": amounts,
                                  "待遇类型": pl.Series(rng.choice(["基本养老金", "城乡居民养老金", "失业保险金"], n))})
        else:
            frame = pl.DataFrame({"记录号": "BK" + record, "金融机构": "工商银行", "客户证件号码": ids,
                                  "客户姓名": names_,
                                  "账户类型": pl.Series(rng.choice(["活期存款", "定期存款", "理财产品"], n)),
                                  "余额": amounts, "查询日期": "2026-10-31"})
        frame.write_csv(folder / f"{name}.csv")
        start += n
    pl.DataFrame({
        "户编号": ["H1"], "个人编号": ["P1"], "身份证号": ["11010519491231002X"], "姓名": ["陈丽华"],
        "性别": ["女"], "出生日期": ["1949-12-31"], "与户主关系": ["户主"], "区县代码": ["110105"],
        "街道乡镇": ["某街道"], "城乡类别": ["城市"], "保障类别": ["低保"], "残疾等级": [""],
        "重病": ["否"], "地址": ["某路1号"], "联系电话": [""],
    }).write_csv(folder / "register.csv")


def to_gb18030(source: Path, target: Path, *, chunk: int = 16 * 2**20) -> None:
    """Copy a UTF-8 folder re-encoded as GB18030, file by file, in chunks cut at line ends."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        rest = b""
        with path.open("rb") as src, (target / path.name).open("wb") as out:
            while block := src.read(chunk):
                data = rest + block
                cut = data.rfind(b"\n") + 1
                out.write(data[:cut].decode("utf-8").encode("gb18030"))
                rest = data[cut:]
            out.write(rest.decode("utf-8").encode("gb18030"))


def measure(folder: Path) -> dict[str, float]:
    """Load a folder in this process; return wall and CPU seconds, rows and peak RSS (MiB).

    CPU seconds (all threads) say what the work costs when the machine is shared: rows per
    CPU-second times the free cores bounds the wall-clock rate on an idle machine.
    """
    from pipelines.clean import load_folder

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    load = load_folder(folder, period="2026-10")
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = int(load.files.filter(pl.col("role") == "extract").get_column("rows_in").sum())
    loaded = sum(frame.height for frame in load.extracts.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "loaded": loaded, "peak_mib": peak}


def main() -> None:
    """Generate, measure in subprocesses, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory(prefix="hedui-bench-") as tmp:
        utf8, gb = Path(tmp) / "utf8" / "2026-10", Path(tmp) / "gb18030" / "2026-10"
        t0 = time.perf_counter()
        generate(utf8, args.rows)
        to_gb18030(utf8, gb)
        print(f"generated {args.rows:,} extract rows in {time.perf_counter() - t0:.1f} s")
        biggest = max(p.stat().st_size for p in utf8.iterdir()) / 2**20
        print(f"largest UTF-8 file: {biggest:.0f} MiB")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'encoding':<10}{'rows':>12}{'loaded':>12}{'seconds':>10}{'rows/s':>12}"
              f"{'cpu s':>8}{'rows/cpu-s':>12}{'peak MiB':>10}")
        for label, folder in (("UTF-8", utf8), ("GB18030", gb)):
            out = subprocess.run([sys.executable, __file__, "--measure", str(folder)],
                                 check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{label:<10}{r['rows']:>12,}{r['loaded']:>12,}{r['seconds']:>10.1f}"
                  f"{r['rows'] / r['seconds']:>12,.0f}{r['cpu_seconds']:>8.1f}"
                  f"{r['rows'] / r['cpu_seconds']:>12,.0f}{r['peak_mib']:>10.0f}")


if __name__ == "__main__":
    main()
