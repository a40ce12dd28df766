"""Sample layer: generate a whole synthetic city — delivered folders plus the planted truth."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.periods import add_months, parse_period
from pipelines.sample.corrupt import CorruptionRates, plant, render
from pipelines.sample.facts import BANKS, build_facts
from pipelines.sample.oracle import assess_truth
from pipelines.sample.population import build_population
from pipelines.sample.write import ENCODINGS, write_csv, write_xlsx
from pipelines.sources import REGISTER, SOURCES

_RANGE = re.compile(r"^\s*(\d{4}-\d{2})\s*\.\.\s*(\d{4}-\d{2})\s*$")
EXTRA_COLUMNS = ("备注", "数据提取日期", "经办网点")
UNKNOWN_FILE = "说明.txt"
HEADER_ONLY_SOURCE = "vehicles"
#: what the oracle reads of each record: the truth columns and the source's typed values
_ORACLE_COLUMNS = ("period", "person_id", "true_person_id", "expected", "matchable")
ORACLE_VALUES = {
    "tax_wages": ("income_month", "amount_fen"), "pension": ("income_month", "amount_fen"),
    "bank": ("balance_fen",), "real_estate": ("unit_no", "usage"), "vehicles": ("vehicle_type", "vehicle_status"),
    "business": ("role", "capital_wan", "registration_status"), "medical": ("settled_on", "self_paid_fen"),
    "deaths": ("died_on",),
}
RECORD_COLUMNS = ("source", "period", "file", "row_number", "record_no", "true_person_id",
                  "true_household_id", "corruptions", "expected", "matchable")


def parse_months(text: str) -> list[str]:
    """``'2026-05..2026-10'`` -> the consecutive months from the first to the last, inclusive.

    A single ``'YYYY-MM'`` is a one-month range. Raises ValueError naming the text when it is
    malformed or the range runs backwards.
    """
    m = _RANGE.match(text)
    first, last = (m.group(1), m.group(2)) if m else (text.strip(), text.strip())
    try:
        y0, m0 = parse_period(first)
        y1, m1 = parse_period(last)
    except ValueError as exc:
        raise ValueError(f"months {text!r} is not YYYY-MM or YYYY-MM..YYYY-MM") from exc
    count = (y1 * 12 + m1) - (y0 * 12 + m0) + 1
    if count < 1:
        raise ValueError(f"months {text!r} runs backwards")
    return [add_months(first, k) for k in range(count)]


def _text_column(df: pl.DataFrame, en: str) -> str:
    return f"{en}_text" if f"{en}_text" in df.columns else en


def generate_city(out: Path, *, households: int, months: list[str], seed: int,
                  rates: CorruptionRates | None = None) -> dict:
    """Write a synthetic city into ``out/incoming/YYYY-MM/`` and its truth into ``out/truth/``.

    Parameters
    ----------
    out : Path
        Target directory (created; files of the same names are overwritten).
    households : int
        Households on the first month's register (at least 1).
    months : list of str
        Consecutive ``YYYY-MM`` months, e.g. from :func:`parse_months`.
    seed : int
        The same seed, size, months and rates give the same bytes.
    rates : CorruptionRates, optional
        Planting rates; the defaults when None.

    Returns
    -------
    dict
        Manifest: ``households, persons, months, files, records, rows_by_expected, flags,
        seconds`` (timings per step) and ``bytes``.
    """
    if households < 1:
        raise ValueError("households must be at least 1")
    if not months:
        raise ValueError("months must name at least one month")
    for a, b in zip(months, months[1:], strict=False):
        if add_months(a, 1) != b:
            raise ValueError(f"months must be consecutive: {a} is followed by {b}")
    rates = rates or CorruptionRates()
    rng = np.random.default_rng(seed)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    pop = build_population(rng, households, months)
    facts = build_facts(rng, pop, months)
    timings["population_and_facts"] = round(time.perf_counter() - t0, 3)

    out = Path(out)
    incoming, truth_dir = out / "incoming", out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    known_ids = np.sort(pop.persons["true_id"].to_numpy().astype("U18"))
    person_attr = pop.persons.select("person_id", "register_id", "register_id_kind", "name", "sex", "birth_on",
                                     "disability_grade", "serious_illness")
    hh_attr = pop.households.drop("size")
    register_all = (pop.membership.join(person_attr, on="person_id", how="left", maintain_order="left")
                    .join(hh_attr, on="household_id", how="left", maintain_order="left"))
    header_only_month = months[len(months) // 2] if len(months) > 1 else None

    t1 = time.perf_counter()
    records, files = [], []
    ledgers: dict[str, list[pl.DataFrame]] = {s: [] for s in SOURCES}
    delivered: set[tuple[str, str]] = set()
    for period in months:
        folder = incoming / period
        folder.mkdir(parents=True, exist_ok=True)
        reg = register_all.filter(pl.col("period") == period)
        files.append(_write_register(rng, reg, folder))
        on_register = reg.select("person_id", pl.col("household_id").alias("true_household_id"),
                                 (pl.col("register_id_kind") != "blank").alias("register_has_id"))
        for source in SOURCES:
            month_facts = facts[source].filter(pl.col("period") == period)
            if source == HEADER_ONLY_SOURCE and period == header_only_month:
                month_facts = month_facts.head(0)
            planted = plant(rng, month_facts, source=source, period=period, rates=rates, known_ids=known_ids)
            rendered = render(rng, planted, source=source, period=period)
            rendered = rendered.join(on_register, on="person_id", how="left", maintain_order="left").with_columns(
                true_person_id=pl.when(pl.col("true_household_id").is_not_null()).then("person_id"),
                matchable=(pl.col("expected") != "quarantine") & pl.col("true_household_id").is_not_null()
                & pl.col("register_has_id").fill_null(False) & (pl.col("id_kind") != "id_blank"),
            )
            stems = [b[0] for b in BANKS] if source == "bank" else [source]
            for stem in stems:
                part = rendered.filter(pl.col("file_stem") == stem) if source == "bank" else rendered
                written, info = _write_extract(rng, part, folder, source=source, stem=stem, period=period)
                records.append(written.select(*RECORD_COLUMNS))
                ledgers[source].append(written.select(*_ORACLE_COLUMNS, *ORACLE_VALUES[source]))
                files.append(info)
            delivered.add((period, source))
        if period == header_only_month:
            (folder / UNKNOWN_FILE).write_bytes("本目录为各部门报送的月度数据，文件说明见数据交换平台。\n".encode())
            files.append({"period": period, "file": UNKNOWN_FILE, "source": "unknown", "format": "txt",
                          "encoding": "utf-8", "rows": 0, "note": "unknown file name: never guessed"})
    timings["render_and_write"] = round(time.perf_counter() - t1, 3)

    t2 = time.perf_counter()
    ledger = {s: pl.concat(v, how="diagonal") for s, v in ledgers.items()}
    register_truth = register_all.select("period", "person_id", "household_id", "district_code", "urban_rural",
                                         "programme", "disability_grade", "serious_illness")
    households_truth, flags_truth = assess_truth(register_truth, ledger, delivered, months)
    timings["oracle"] = round(time.perf_counter() - t2, 3)

    rec = pl.concat(records).sort("period", "source", "file", "row_number")
    rec.write_csv(truth_dir / "records.csv")
    pl.DataFrame(files).with_columns(pl.col("rows").cast(pl.Int64)).sort("period", "file").write_csv(
        truth_dir / "files.csv")
    households_truth.write_csv(truth_dir / "households.csv")
    flags_truth.write_csv(truth_dir / "flags.csv")
    timings["total"] = round(time.perf_counter() - t0, 3)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()
               and (incoming in p.parents or truth_dir in p.parents))
    return {
        "households": households,
        "persons": pop.persons.height,
        "months": months,
        "seed": seed,
        "files": len(files),
        "records": rec.height,
        "rows_by_expected": dict(rec.group_by("expected").len().sort("expected").iter_rows()),
        "flags": dict(flags_truth.group_by("flag").len().sort("flag").iter_rows()),
        "seconds": timings,
        "bytes": size,
    }


def _write_register(rng: np.random.Generator, reg: pl.DataFrame, folder: Path) -> dict:
    """register.csv of one month: clean in most rows (legacy and blank IDs already planted)."""
    body = register_body(rng, reg)
    if tuple(body.columns) != REGISTER.required:
        raise RuntimeError("register columns no longer follow pipelines.sources.REGISTER")
    encoding = ENCODINGS[int(rng.integers(0, len(ENCODINGS)))]
    write_csv(body, folder / "register.csv", encoding=encoding)
    return {"period": folder.name, "file": "register.csv", "source": "register", "format": "csv",
            "encoding": encoding, "rows": body.height, "note": ""}


def register_body(rng: np.random.Generator, reg: pl.DataFrame) -> pl.DataFrame:
    """A month's register rows as delivered text (a tenth of birth dates written with slashes)."""
    slash = pl.Series(rng.random(reg.height) < 0.1)
    return reg.select(
        pl.col("household_id").alias("户编号"), pl.col("person_id").alias("个人编号"),
        pl.col("register_id").alias("身份证号"), pl.col("name").alias("姓名"), pl.col("sex").alias("性别"),
        pl.when(slash).then(pl.col("birth_on").dt.strftime("%Y/%m/%d"))
        .otherwise(pl.col("birth_on").dt.strftime("%Y-%m-%d")).alias("出生日期"),
        pl.col("relation").alias("与户主关系"), pl.col("district_code").alias("区县代码"),
        pl.col("street").alias("街道乡镇"), pl.col("urban_rural").alias("城乡类别"),
        pl.col("programme").alias("保障类别"), pl.col("disability_grade").alias("残疾等级"),
        pl.col("serious_illness").alias("重病"), pl.col("address").alias("地址"),
        pl.col("phone").alias("联系电话"),
    )


def _write_extract(rng: np.random.Generator, part: pl.DataFrame, folder: Path, *, source: str, stem: str,
                   period: str) -> tuple[pl.DataFrame, dict]:
    """Shuffle rows, add extra columns, shuffle column order, write; return rows with truth."""
    bank = next((b for b in BANKS if b[0] == stem), None)
    is_xlsx = bool(bank and bank[2])
    numeric_no = bool(bank and bank[3])
    name = f"{stem}.{'xlsx' if is_xlsx else 'csv'}"
    order = rng.permutation(part.height)
    part = settle_rows(part[order], source=source, name=name)
    body = delivered_body(part, source)
    u = rng.random(3)
    if u[0] < 0.5:
        extra = EXTRA_COLUMNS[int(rng.integers(0, len(EXTRA_COLUMNS)))]
        body = body.with_columns(pl.lit(f"{period}批次" if extra != "数据提取日期" else f"{period}-28").alias(extra))
    if u[1] < 0.5:
        cols = list(body.columns)
        body = body.select([cols[i] for i in rng.permutation(len(cols))])
    if is_xlsx:
        write_xlsx(body, folder / name, numeric=xlsx_numbers(part, body, numeric_no=numeric_no))
        encoding = ""
    else:
        encoding = ENCODINGS[int(rng.integers(0, len(ENCODINGS)))]
        write_csv(body, folder / name, encoding=encoding)
    note = "header only: a delivery of zero rows" if part.height == 0 else ""
    return part, {"period": period, "file": name, "source": source, "format": "xlsx" if is_xlsx else "csv",
                  "encoding": encoding, "rows": part.height, "note": note}


def settle_rows(part: pl.DataFrame, *, source: str, name: str, first_row: int = 1) -> pl.DataFrame:
    """Rows in file order (already shuffled) -> numbered from ``first_row``, duplicates settled."""
    part = part.with_columns(source=pl.lit(source), file=pl.lit(name),
                             row_number=pl.int_range(first_row, pl.len() + first_row, dtype=pl.Int64))
    # re-sent copies: the first by row number stays, later copies are duplicates
    resent = pl.col("problem") == "duplicate_resent"
    return part.with_columns(
        expected=pl.when(resent).then(
            pl.when(pl.col("row_number") == pl.col("row_number").min().over("record_no"))
            .then(pl.lit("link")).otherwise(pl.lit("duplicate"))).otherwise("expected"),
        record_no=pl.when(pl.col("problem") == "record_no_blank").then(pl.lit(None, pl.String))
        .otherwise("record_no"),
        corruptions=pl.when(pl.col("kinds") == "").then(None).otherwise("kinds"),
    )


def delivered_body(part: pl.DataFrame, source: str) -> pl.DataFrame:
    """The delivered text columns of ``part`` under their Chinese names, in the source's order."""
    spec = SOURCES[source]
    body = part.select([pl.col(_text_column(part, c.en)).alias(c.zh) if c.en != "record_no"
                        else pl.col("record_no_text").alias(c.zh) for c in spec.columns
                        if c.en != "institution"] + ([pl.col("institution").alias("金融机构")] if source == "bank" else []))
    return body.select(spec.required)


def xlsx_numbers(part: pl.DataFrame, body: pl.DataFrame, *, numeric_no: bool) -> dict[str, list[object]]:
    """Cells an institution's XLSX export writes as numbers or dates (see ``write_xlsx``)."""
    numeric: dict[str, list[object]] = {}
    if numeric_no:
        numeric["记录号"] = [int(v) if v else None for v in body["记录号"].to_list()]
    clean_amount = (part["fmt_amount"] == "") & (part["problem"] == "")
    numeric["余额"] = [f / 100 if ok else t for f, ok, t in
                      zip(part["balance_fen"].to_list(), clean_amount.to_list(), body["余额"].to_list(),
                          strict=True)]
    iso = part["fmt_opt"] == ""
    numeric["查询日期"] = [d if ok else t for d, ok, t in
                        zip(part["queried_on"].to_list(), iso.to_list(), body["查询日期"].to_list(),
                            strict=True)]
    return numeric
