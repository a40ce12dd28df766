"""Sample layer: a province — many districts — generated and written one district at a time.

:func:`generate_province` makes the same kind of delivery as :func:`pipelines.sample.generate_city`
(the same people, facts, planted defects and oracle), but district by district: each district is
drawn, planted, written and assessed on its own and then dropped, so memory is bounded by the
largest district, not by the province. inputs.md allows one file per source per month (banks
excepted), so each district's rows are appended to the month's ``register.csv`` and extracts; a
file's encoding, extra column and column order are chosen once, when its first rows are written.
The institutions that export XLSX write one workbook per district (``bank_icbc_990104.xlsx``:
``bank_`` and anything is a bank file, and a workbook cannot be appended to). 个人编号 and 记录号
go on numbering from district to district; IDs carry the district code, so they stay unique.

Next to ``incoming/`` and ``truth/`` it writes ``rules/parameters``: the repository's rulebook
with every extra district's 低保标准 and 特困标准 (:func:`pipelines.sample.districts.write_rules`),
for ``hedui monthly --rules OUT/rules``. The truth files list each district's rows in turn
(sorted within the district as the city's are).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.periods import add_months
from pipelines.sample.city import (
    _ORACLE_COLUMNS,
    EXTRA_COLUMNS,
    HEADER_ONLY_SOURCE,
    ORACLE_VALUES,
    RECORD_COLUMNS,
    UNKNOWN_FILE,
    delivered_body,
    register_body,
    settle_rows,
    xlsx_numbers,
)
from pipelines.sample.corrupt import CorruptionRates, plant, render
from pipelines.sample.districts import District, province_districts, split_households, standards_table, write_rules
from pipelines.sample.facts import BANKS, build_facts
from pipelines.sample.oracle import assess_truth
from pipelines.sample.population import build_population
from pipelines.sample.write import ENCODINGS, write_csv, write_xlsx
from pipelines.sources import SOURCES


class _Deliveries:
    """The month folders' files as they grow: each file's layout, rows so far and files.csv row."""

    def __init__(self, incoming: Path, rng: np.random.Generator) -> None:
        self.incoming = incoming
        self.rng = rng  # the province's layout generator: one draw per file, in the order files appear
        self.layout: dict[tuple[str, str], tuple[str | None, list[str] | None, str]] = {}
        self.info: dict[tuple[str, str], dict] = {}

    def rows(self, period: str, name: str) -> int:
        """Rows already written to the file (0 before its first chunk)."""
        return int(self.info[(period, name)]["rows"]) if (period, name) in self.info else 0

    def _choose(self, period: str, name: str, columns: list[str], *, shuffle: bool, csv: bool) -> tuple:
        key = (period, name)
        if key not in self.layout:
            extra, order = None, None
            if shuffle:  # as the city: an extra column in half the files, another column order in half
                u = self.rng.random(3)
                if u[0] < 0.5:
                    extra = EXTRA_COLUMNS[int(self.rng.integers(0, len(EXTRA_COLUMNS)))]
                cols = columns + ([extra] if extra else [])
                order = [cols[i] for i in self.rng.permutation(len(cols))] if u[1] < 0.5 else cols
            encoding = ENCODINGS[int(self.rng.integers(0, len(ENCODINGS)))] if csv else ""
            self.layout[key] = (extra, order, encoding)
        return self.layout[key]

    def write(self, body: pl.DataFrame, *, period: str, name: str, source: str, shuffle: bool = True,
              numeric: dict | None = None) -> None:
        """Write ``body`` as the file's next rows (XLSX: the whole file), in the file's layout."""
        csv = numeric is None
        extra, order, encoding = self._choose(period, name, list(body.columns), shuffle=shuffle, csv=csv)
        if extra:
            body = body.with_columns(pl.lit(f"{period}批次" if extra != "数据提取日期" else f"{period}-28").alias(extra))
        if order:
            body = body.select(order)
        path = self.incoming / period / name
        key = (period, name)
        if not csv:
            write_xlsx(body, path, numeric=numeric)
        elif key not in self.info:
            write_csv(body, path, encoding=encoding)
        else:  # appended rows: no header, and no second BOM
            text = body.write_csv(include_header=False, null_value="", quote_style="necessary", line_terminator="\n")
            with path.open("ab") as fh:
                fh.write(text.encode("utf-8" if encoding == "utf-8-sig" else encoding))
        info = self.info.setdefault(key, {"period": period, "file": name, "source": source,
                                          "format": "csv" if csv else "xlsx", "encoding": encoding,
                                          "rows": 0, "note": ""})
        info["rows"] += body.height

    def files(self) -> list[dict]:
        for info in self.info.values():
            if info["source"] != "unknown":
                info["note"] = "header only: a delivery of zero rows" if info["rows"] == 0 else ""
        return list(self.info.values())


def _append(df: pl.DataFrame, path: Path) -> None:
    """A truth frame's rows appended to ``path`` (the header when the file is new)."""
    text = df.write_csv(include_header=not path.exists())
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def generate_province(out: Path, *, districts: int, households: int, months: list[str], seed: int,
                      rates: CorruptionRates | None = None) -> dict:
    """Write a synthetic province (delivery, truth, rulebook) one district at a time.

    The delivery goes to ``out/incoming``, the truth to ``out/truth`` and the rulebook that knows
    every district to ``out/rules/parameters``.

    Parameters
    ----------
    out : Path
        Target directory; its ``incoming/``, ``truth/`` and ``rules/`` are replaced whole.
    districts : int
        Number of districts, 1 to :data:`pipelines.sample.districts.MAX_DISTRICTS` (codes 990101 …).
    households : int
        Households on the first month's register over all districts (at least one per district).
    months : list of str
        Consecutive ``YYYY-MM`` months.
    seed : int
        The same seed, districts, households, months and rates give the same bytes.
    rates : CorruptionRates, optional
        Planting rates; the defaults when None.

    Returns
    -------
    dict
        Manifest: ``districts, households, persons, months, seed, files, records, rows_by_expected,
        flags, largest_district_persons, seconds, bytes, rules``.

    Raises
    ------
    ValueError
        For a district count outside the code space, fewer households than districts, or months
        that are empty or not consecutive.
    """
    specs = province_districts(districts)
    per_district = split_households(households, specs)
    if not months:
        raise ValueError("months must name at least one month")
    for a, b in zip(months, months[1:], strict=False):
        if add_months(a, 1) != b:
            raise ValueError(f"months must be consecutive: {a} is followed by {b}")
    rates = rates or CorruptionRates()
    out = Path(out)
    incoming, truth_dir = out / "incoming", out / "truth"
    for d in (incoming, truth_dir):
        if d.exists():
            shutil.rmtree(d)  # appended files must start empty
    truth_dir.mkdir(parents=True)
    for period in months:
        (incoming / period).mkdir(parents=True)
    t0 = time.perf_counter()
    deliveries = _Deliveries(incoming, np.random.default_rng([seed, 0]))
    header_only_month = months[len(months) // 2] if len(months) > 1 else None
    delivered = {(p, s) for p in months for s in SOURCES}
    next_person = 1
    next_record: Counter[tuple[str, str]] = Counter()
    expected: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    records = largest = 0
    for k, (spec, n_households) in enumerate(zip(specs, per_district, strict=True)):
        persons, n_records = _district(
            np.random.default_rng([seed, 1, k]), spec, n_households, months, rates=rates,
            first_person=next_person, next_record=next_record, deliveries=deliveries,
            header_only_month=header_only_month, delivered=delivered, truth_dir=truth_dir,
            expected=expected, flags=flags)
        next_person += persons
        records += n_records
        largest = max(largest, persons)
    if header_only_month:
        (incoming / header_only_month / UNKNOWN_FILE).write_bytes(
            "本目录为各部门报送的月度数据，文件说明见数据交换平台。\n".encode())
        deliveries.info[(header_only_month, UNKNOWN_FILE)] = {
            "period": header_only_month, "file": UNKNOWN_FILE, "source": "unknown", "format": "txt",
            "encoding": "utf-8", "rows": 0, "note": "unknown file name: never guessed"}
    files = deliveries.files()
    pl.DataFrame(files).with_columns(pl.col("rows").cast(pl.Int64)).sort("period", "file").write_csv(
        truth_dir / "files.csv")
    rules = write_rules(specs, out / "rules")
    seconds = round(time.perf_counter() - t0, 3)
    size = sum(p.stat().st_size for d in (incoming, truth_dir) for p in d.rglob("*") if p.is_file())
    return {
        "districts": districts, "households": households, "persons": next_person - 1, "months": months,
        "seed": seed, "files": len(files), "records": records,
        "rows_by_expected": dict(sorted(expected.items())), "flags": dict(sorted(flags.items())),
        "largest_district_persons": largest, "seconds": {"total": seconds}, "bytes": size,
        "rules": str(rules),
    }


def _district(rng: np.random.Generator, spec: District, households: int, months: list[str], *,
              rates: CorruptionRates, first_person: int, next_record: Counter, deliveries: _Deliveries,
              header_only_month: str | None, delivered: set, truth_dir: Path, expected: Counter,
              flags: Counter) -> tuple[int, int]:
    """Generate, write and assess one district; returns its persons and records."""
    table = standards_table([spec])
    pop = build_population(rng, households, months, districts=(spec,), first_person=first_person)
    facts = build_facts(rng, pop, months, standards=table)
    known_ids = np.sort(pop.persons["true_id"].to_numpy().astype("U18"))
    person_attr = pop.persons.select("person_id", "register_id", "register_id_kind", "name", "sex", "birth_on",
                                     "disability_grade", "serious_illness")
    register_all = (pop.membership.join(person_attr, on="person_id", how="left", maintain_order="left")
                    .join(pop.households.drop("size"), on="household_id", how="left", maintain_order="left"))
    recs: list[pl.DataFrame] = []
    ledgers: dict[str, list[pl.DataFrame]] = {s: [] for s in SOURCES}
    for period in months:
        reg = register_all.filter(pl.col("period") == period)
        deliveries.write(register_body(rng, reg), period=period, name="register.csv", source="register",
                         shuffle=False)
        on_register = reg.select("person_id", pl.col("household_id").alias("true_household_id"),
                                 (pl.col("register_id_kind") != "blank").alias("register_has_id"))
        for source in SOURCES:
            month_facts = facts[source].filter(pl.col("period") == period)
            if source == HEADER_ONLY_SOURCE and period == header_only_month:
                month_facts = month_facts.head(0)
            planted = plant(rng, month_facts, source=source, period=period, rates=rates, known_ids=known_ids,
                            first_record=next_record[(source, period)] + 1)
            next_record[(source, period)] += planted["record_no"].n_unique() if planted.height else 0
            rendered = render(rng, planted, source=source, period=period)
            rendered = rendered.join(on_register, on="person_id", how="left", maintain_order="left").with_columns(
                true_person_id=pl.when(pl.col("true_household_id").is_not_null()).then("person_id"),
                matchable=(pl.col("expected") != "quarantine") & pl.col("true_household_id").is_not_null()
                & pl.col("register_has_id").fill_null(False) & (pl.col("id_kind") != "id_blank"),
            )
            for bank in (BANKS if source == "bank" else [(source, "", False, False)]):
                stem, is_xlsx = bank[0], bank[2]
                part = rendered.filter(pl.col("file_stem") == stem) if source == "bank" else rendered
                name = f"{stem}_{spec.code}.xlsx" if is_xlsx else f"{stem}.csv"
                part = settle_rows(part[rng.permutation(part.height)], source=source, name=name,
                                   first_row=deliveries.rows(period, name) + 1)
                body = delivered_body(part, source)
                numeric = xlsx_numbers(part, body, numeric_no=bank[3]) if is_xlsx else None
                deliveries.write(body, period=period, name=name, source=source, numeric=numeric)
                recs.append(part.select(*RECORD_COLUMNS))
                ledgers[source].append(part.select(*_ORACLE_COLUMNS, *ORACLE_VALUES[source]))
    ledger = {s: pl.concat(v, how="diagonal") for s, v in ledgers.items()}
    register_truth = register_all.select("period", "person_id", "household_id", "district_code", "urban_rural",
                                         "programme", "disability_grade", "serious_illness")
    households_truth, flags_truth = assess_truth(register_truth, ledger, delivered, months, standards=table)
    rec = pl.concat(recs).sort("period", "source", "file", "row_number")
    _append(rec, truth_dir / "records.csv")
    _append(households_truth, truth_dir / "households.csv")
    _append(flags_truth, truth_dir / "flags.csv")
    expected.update(dict(rec.group_by("expected").len().iter_rows()))
    flags.update(dict(flags_truth.group_by("flag").len().iter_rows()))
    return pop.persons.height, rec.height

