"""Benchmark of the match layer: hedui's linkage against Splink on the same generated city.

For each size, a synthetic city (``pipelines.sample.generate_city``, one month) is written,
loaded with ``pipelines.clean.load_folder``, linked by ``pipelines.match.link_folder`` and by a
Splink model (DuckDB backend) configured as a careful Splink user would for this data (exact and
edit-distance ID levels, pinyin Jaro-Winkler, birth date, sex and district; u by random sampling,
m by EM). Both are scored against the city's planted truth (``truth/records.csv``):

- precision: matched records linked to their true person / all matched records;
- recall: matched to the true person / records whose person is on the register and that carry a
  usable ID on both sides (``matchable``), as the contract measures it;
- false links of people who are not on the register (the error that raises false flags).

Usage::

    python benchmarks/linkage_vs_splink.py [--households 10000 100000] [--work DIR] [--seed N]
    python benchmarks/linkage_vs_splink.py --scale 200000 1000000     # hedui's wall time only

Splink is optional: without it the script reports hedui alone and says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.clean import load_folder  # noqa: E402
from pipelines.match import link_folder, load_matching_params  # noqa: E402
from pipelines.sample import generate_city  # noqa: E402

PERIOD = "2026-10"
KEY = ["source", "period", "record_no"]


def evaluate(predicted: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Precision, recall and F1 of ``predicted`` (``source, period, record_no, person_id``)."""
    j = truth.join(predicted.select(*KEY, "person_id"), on=KEY, how="left")
    linked = j.filter(pl.col("person_id").is_not_null())
    correct = linked.filter(pl.col("person_id") == pl.col("true_person_id")).height
    wrong = linked.height - correct
    outsiders = linked.filter(pl.col("true_person_id").is_null()).height
    eligible = j.filter(pl.col("matchable") & pl.col("true_person_id").is_not_null())
    found = eligible.filter(pl.col("person_id") == pl.col("true_person_id")).height
    precision = correct / linked.height if linked.height else 1.0
    recall = found / eligible.height if eligible.height else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"records": j.height, "linked": linked.height, "correct": correct, "wrong": wrong,
            "outsiders_linked": outsiders, "precision": round(precision, 5),
            "recall": round(recall, 5), "f1": round(f1, 5)}


def run_hedui(records: pl.DataFrame, register: pl.DataFrame) -> tuple[pl.DataFrame, float, dict]:
    params = load_matching_params()
    started = time.perf_counter()
    links = link_folder(records, register, params=params)
    seconds = time.perf_counter() - started
    review = links.filter(pl.col("status") == "review").height
    predicted = links.filter(pl.col("status") == "matched").select(*KEY, "person_id")
    return predicted, seconds, {"review": review, "review_share": round(review / max(links.height, 1), 5)}


def _splink_inputs(records: pl.DataFrame, register: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    id_cmp = (pl.when(pl.col("id_status").is_in(["valid", "converted_15", "bad_checksum"])
                      & (pl.col("id_norm").str.len_chars() == 18)).then(pl.col("id_norm")))
    left = records.select(
        unique_id=pl.concat_str(["source", "period", "record_no"], separator="|"),
        id_cmp=id_cmp, name_norm="name_norm", name_pinyin="name_pinyin",
        birth=id_cmp.str.slice(6, 8), district=id_cmp.str.slice(0, 6),
        sex=pl.when(id_cmp.str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 1).then(pl.lit("男"))
        .when(id_cmp.is_not_null()).then(pl.lit("女")))
    right = register.select(
        unique_id="person_id",
        id_cmp=pl.when(pl.col("id_status").is_in(["valid", "converted_15"])).then(pl.col("id18")),
        name_norm="name_norm", name_pinyin="name_pinyin",
        birth=pl.col("birth_on").dt.strftime("%Y%m%d"), district="district_code", sex="sex")
    return left, right


def run_splink(records: pl.DataFrame, register: pl.DataFrame, *, seed: int,
               threshold: float) -> tuple[pl.DataFrame, float]:
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    left, right = _splink_inputs(records, register)
    started = time.perf_counter()
    db = DuckDBAPI()
    sdf_l = db.register(left.to_arrow(), table_name="records")
    sdf_r = db.register(right.to_arrow(), table_name="register")
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.LevenshteinAtThresholds("id_cmp", [1, 2]),
            cl.JaroWinklerAtThresholds("name_pinyin", [0.95, 0.88]),
            cl.ExactMatch("birth"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("district"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_cmp"),
            block_on("substr(id_cmp, 1, 14)"),   # a typo in the sequence or check digits
            block_on("substr(id_cmp, 7, 12)"),   # a typo in the district digits
            block_on("name_norm", "birth"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([sdf_l, sdf_r], settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match([block_on("id_cmp")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_cmp"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name_norm", "birth"))
    scored = pl.from_arrow(linker.inference.predict(
        threshold_match_probability=threshold).as_pyarrow_table())
    # one person per record: the best-scoring pair above the threshold
    best = (scored.sort("match_probability", descending=True)
            .unique("unique_id_l", keep="first")
            .select(pl.col("unique_id_l").str.split_exact("|", 2)
                    .struct.rename_fields(KEY).alias("k"), person_id="unique_id_r")
            .unnest("k"))
    return best, time.perf_counter() - started


def scale_frames(n_persons: int, n_records: int, *, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clean-layer frames of a large synthetic folder, built in memory (no files, no truth).

    Persons get unique valid IDs; records are 90 % exact IDs, 4 % one wrong digit, 1 % a
    neighbour swap, 2 % blank IDs and 3 % valid IDs of people who are not on the register.
    """
    import numpy as np
    from pypinyin import lazy_pinyin

    rng = np.random.default_rng(seed)
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    checks = np.array(list("10X98765432"))

    def ids(index: np.ndarray) -> pl.Series:
        days = (index // 1000).astype("timedelta64[D]") + np.datetime64("1940-01-01")
        district = 1 + index % 3
        text = pl.Series(np.char.add(np.char.add(
            np.char.add("9901", np.char.zfill(district.astype(str), 2)),
            np.datetime_as_string(days).astype("U10")), np.char.zfill((index % 1000).astype(str), 3)))
        body = text.str.replace_all("-", "", literal=True)
        digits = np.frombuffer("".join(body.to_list()).encode(), np.uint8).reshape(-1, 17) - 48
        return body + pl.Series(checks[(digits @ weights) % 11])

    surnames, given = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"), list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉春")
    def names(n: int) -> np.ndarray:
        s = np.array(surnames)[rng.integers(0, len(surnames), n)]
        g1 = np.array(given)[rng.integers(0, len(given), n)]
        g2 = np.where(rng.random(n) < 0.7, np.array(given)[rng.integers(0, len(given), n)], "")
        return np.char.add(np.char.add(s, g1), g2)

    person_ids = ids(np.arange(n_persons))
    person_names = names(n_persons)
    pinyin = {n: " ".join(lazy_pinyin(n)) for n in set(person_names.tolist())}
    identity = [pl.col("id18").str.slice(6, 8).str.to_date("%Y%m%d", strict=False).alias("id_birth_on"),
                pl.when(pl.col("id18").str.slice(16, 1).cast(pl.Int64) % 2 == 1).then(pl.lit("男"))
                .when(pl.col("id18").is_not_null()).then(pl.lit("女")).alias("id_sex"),
                pl.col("name_norm").replace_strict(pinyin, default=None).alias("name_pinyin")]
    register = (pl.DataFrame({"person_id": [f"P{i:07d}" for i in range(n_persons)],
                              "household_id": [f"H{i // 3:07d}" for i in range(n_persons)],
                              "id_norm": person_ids, "name_raw": person_names})
                .with_columns(id18="id_norm", id_status=pl.lit("valid"), name_norm="name_raw")
                .with_columns(identity)
                .with_columns(birth_on="id_birth_on", sex="id_sex",
                              district_code=pl.col("id18").str.slice(0, 6)))
    who = rng.integers(0, n_persons, n_records)
    kind = rng.random(n_records)
    pos = rng.integers(0, 16, n_records)
    true_id = person_ids.gather(who)
    outsider = ids(n_persons + rng.integers(0, 10 * n_persons, n_records))
    digit = true_id.str.slice(pl.Series(pos), 1).cast(pl.Int64)
    typo = (true_id.str.slice(0, pl.Series(pos)) + ((digit + 1) % 10).cast(pl.String)
            + true_id.str.slice(pl.Series(pos) + 1))
    swapped = (true_id.str.slice(0, pl.Series(pos)) + true_id.str.slice(pl.Series(pos) + 1, 1)
               + true_id.str.slice(pl.Series(pos), 1) + true_id.str.slice(pl.Series(pos) + 2))
    frame = pl.DataFrame({"k": kind, "true": true_id, "typo": typo, "swapped": swapped,
                          "outsider": outsider, "name_raw": person_names[who]})
    id_norm = (pl.when(pl.col("k") < 0.90).then("true").when(pl.col("k") < 0.94).then("typo")
               .when(pl.col("k") < 0.95).then("swapped").when(pl.col("k") < 0.97).then(None)
               .otherwise("outsider"))
    records = (frame.select(source=pl.lit("tax_wages"), period=pl.lit(PERIOD),
                            record_no=pl.int_range(pl.len()).cast(pl.String),
                            id_norm=id_norm, name_raw="name_raw")
               .with_columns(id_status=pl.when(pl.col("id_norm").is_null()).then(pl.lit("blank"))
                             .when(pl.col("id_norm").is_in(frame["true"].implode()) |
                                   pl.col("id_norm").is_in(frame["outsider"].implode()))
                             .then(pl.lit("valid")).otherwise(pl.lit("bad_checksum")),
                             name_norm="name_raw")
               .with_columns(id18=pl.when(pl.col("id_status") == "valid").then(pl.col("id_norm")))
               .with_columns(identity))
    return records, register


def bench_scale(n_persons: int, n_records: int, *, seed: int) -> dict:
    records, register = scale_frames(n_persons, n_records, seed=seed)
    started = time.perf_counter()
    links = link_folder(records, register, params=load_matching_params())
    seconds = time.perf_counter() - started
    counts = links.group_by("status").len().sort("status")
    return {"persons": n_persons, "records": n_records, "seconds": round(seconds, 2),
            **dict(counts.iter_rows())}


def bench(households: int, *, work: Path, seed: int, with_splink: bool) -> dict:
    city = work / f"city_{households}_{seed}"
    if not (city / "truth" / "records.csv").exists():
        generate_city(city, households=households, months=[PERIOD], seed=seed)
    folder = load_folder(city / "incoming" / PERIOD, period=PERIOD)
    if folder.register is None:
        raise SystemExit(f"the generated city has no usable register: {folder.register_problem}")
    records = pl.concat(list(folder.extracts.values()), how="diagonal")
    truth = (pl.read_csv(city / "truth" / "records.csv", infer_schema=False)
             .filter(pl.col("expected") == "link")
             .with_columns(matchable=pl.col("matchable") == "true"))
    params = load_matching_params()
    result = {"households": households, "records": records.height,
              "register_persons": folder.register.height}
    predicted, seconds, extra = run_hedui(records, folder.register)
    result["hedui"] = {"seconds": round(seconds, 2), **evaluate(predicted, truth), **extra}
    if with_splink:
        best, seconds = run_splink(records, folder.register, seed=seed,
                                   threshold=params.match_threshold)
        result["splink"] = {"seconds": round(seconds, 2), **evaluate(best, truth)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--work", type=Path, default=None, help="where the cities are written")
    parser.add_argument("--seed", type=int, default=20261001)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--scale", type=int, nargs=2, metavar=("PERSONS", "RECORDS"), default=None,
                        help="instead: time hedui alone on in-memory frames of this size")
    args = parser.parse_args(argv)
    if args.scale:
        r = bench_scale(*args.scale, seed=args.seed)
        print(json.dumps(r))
        return 0
    with_splink = importlib.util.find_spec("splink") is not None
    if not with_splink:
        print("splink is not installed: reporting hedui alone "
              "(pip install splink into the venv to compare)")
    work = args.work or Path(tempfile.mkdtemp(prefix="hedui-bench-"))
    results = []
    for households in args.households:
        r = bench(households, work=work, seed=args.seed, with_splink=with_splink)
        results.append(r)
        for engine in ("hedui", "splink"):
            if engine in r:
                m = r[engine]
                print(f"{households:>7} households {r['records']:>9} records  {engine:<6} "
                      f"P={m['precision']:.4f} R={m['recall']:.4f} F1={m['f1']:.4f} "
                      f"wrong={m['wrong']} outsiders_linked={m['outsiders_linked']} "
                      f"time={m['seconds']:.1f}s"
                      + (f" review_share={m['review_share']:.4f}" if "review_share" in m else ""),
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
