"""Clean layer: validate and type the landed rows of a month folder into a :class:`FolderLoad`.

Row checks run in the order of inputs.md ("Settled details"): (1) decoding and structure,
(2) a blank 记录号, (3) repeats of a 记录号 within (source, folder) compared on clean values —
all equal: the first copy by (file, row_number) stays and the others are re-sent duplicates;
otherwise every copy is a conflict — and (4) value checks on what remains. Each refused input
row gets one quarantine row carrying all its reasons joined by ``; `` and their stable codes
(``reason_code``, see :mod:`pipelines.reasons`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.land import EXCEL_ID, PROBLEM, LandedFile, land_file, sha256_of
from pipelines.normalize import values
from pipelines.normalize.rows import parse_rows
from pipelines.periods import parse_period
from pipelines.reasons import reason_code, with_reason_code
from pipelines.run_notes import Note, note
from pipelines.sources import REGISTER, SOURCES, Source, source_of, spec
from schemas.clean import check_clean_layout

log = logging.getLogger(__name__)

HOUSEHOLD_ATTRIBUTES: tuple[str, ...] = ("programme", "district_code", "urban_rural")

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "period": pl.String(), "file": pl.String(),
    "row_number": pl.Int64(), "record_no": pl.String(), "reason": pl.String(),
    "reason_code": pl.String(),
}
FILES_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(), "role": pl.String(), "source": pl.String(), "sha256": pl.String(),
    "rows_in": pl.Int64(), "rows_loaded": pl.Int64(), "rows_quarantined": pl.Int64(),
    "rows_duplicate": pl.Int64(), "accepted": pl.Boolean(), "message": pl.String(),
}

@dataclass
class FolderLoad:
    """Everything the clean stage learned from one month folder (docs/architecture.md)."""

    period: str
    register: pl.DataFrame | None
    register_problem: str | None
    extracts: dict[str, pl.DataFrame]
    raw: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    files: pl.DataFrame
    notes: list[Note] = field(default_factory=list)


@dataclass
class CleanResult:
    """The clean stage's verdict on the landed rows of one source."""

    clean: pl.DataFrame
    quarantine: pl.DataFrame
    #: per file: ``file, rows_loaded, rows_quarantined, rows_duplicate``
    counts: pl.DataFrame
    notes: list[Note] = field(default_factory=list)


def _reasons(*parts: pl.Expr) -> pl.Expr:
    text = pl.concat_str(list(parts), separator="; ", ignore_nulls=True)
    return pl.when(text != "").then(text)


def _finish(typed: pl.DataFrame, src: Source, *, period: str, reason: pl.Expr,
            duplicate: pl.Expr, record_no: pl.Expr) -> CleanResult:
    """Split classified rows into clean rows, quarantine rows and per-file counts."""
    typed = typed.with_columns(reason.alias("_reason"), duplicate.fill_null(False).alias("_duplicate"))
    typed = typed.with_columns(
        pl.when(pl.col("_duplicate")).then(None).otherwise(pl.col("_reason")).alias("_reason")
    )
    quarantined = pl.col("_reason").is_not_null()
    quarantine = typed.filter(quarantined).select(
        pl.lit(src.name).alias("source"), pl.lit(period).alias("period"), "file",
        "row_number", record_no.alias("record_no"), pl.col("_reason").alias("reason"),
    )
    counts = typed.group_by("file").agg(
        rows_loaded=(~quarantined & ~pl.col("_duplicate")).sum().cast(pl.Int64),
        rows_quarantined=quarantined.sum().cast(pl.Int64),
        rows_duplicate=pl.col("_duplicate").sum().cast(pl.Int64),
    )
    lead = ["source", "period", "file", "row_number"]
    own = [c.en for c in src.columns if c.kind not in ("id", "name")]
    identity = ["id_raw", "id_norm", "id18", "id_status", "id_birth_on", "id_sex",
                "name_raw", "name_norm", "name_pinyin"]
    if src is REGISTER:
        order = lead + ["household_id", "person_id"] + identity + [
            c for c in own if c not in ("household_id", "person_id")]
    else:
        order = lead + ["record_no"] + identity + [c for c in own if c != "record_no"]
    clean = (
        typed.filter(~quarantined & ~pl.col("_duplicate"))
        .with_columns(pl.lit(src.name).alias("source"), pl.lit(period).alias("period"))
        .select(order)
    )
    quarantine = with_reason_code(quarantine)
    return CleanResult(clean=clean, quarantine=quarantine.cast(pl.Schema(QUARANTINE_SCHEMA)), counts=counts,
                       notes=_enum_notes(clean, src))


def _enum_notes(clean: pl.DataFrame, src: Source) -> list[Note]:
    notes = []
    for col in src.columns:
        if not col.enum:
            continue
        outside = (
            clean.filter(pl.col(col.en).is_not_null() & ~pl.col(col.en).is_in(list(col.enum)))
            .group_by(col.en).len().sort(["len", col.en], descending=[True, False])
        )
        if outside.height:
            # the 20 most frequent values, each with its rows; the rest counted
            values = [[v, int(n)] for v, n in outside.head(20).iter_rows()]
            notes.append(note("enum_outside", source=src.name, column=col.en, values=values,
                              more=max(outside.height - 20, 0)))
    return notes


def _ordered(raw: pl.DataFrame) -> pl.DataFrame:
    """Rows in (file, row_number) order with their ordinal ``_ord``.

    Landed files arrive concatenated in that order already; the sort is skipped when one
    cheap pass shows it (the keys strictly increase), since sorting would not move a row.
    """
    file, row = pl.col("file"), pl.col("row_number")
    increasing = (file > file.shift()) | ((file == file.shift()) & (row > row.shift()))
    in_order = raw.height < 2 or bool(raw.select(
        increasing.slice(1).all(ignore_nulls=False).fill_null(False)).item())
    return (raw if in_order else raw.sort("file", "row_number")).with_row_index("_ord")


def _repeats(raw: pl.DataFrame) -> bool:
    """Whether a 记录号 of a row without a structural problem occurs in more than one row.

    Exact, but cheap for the usual delivery: record numbers issued in increasing order cannot
    repeat (one comparison per row), and all-distinct ones are told by one count; only a
    source that has a repeat pays the per-row test.
    """
    record = values.plain_text(pl.col("记录号"))
    numbers = raw.select(record).to_series()
    if len(numbers) < 2:
        return False
    if numbers.null_count() == 0 and bool((numbers.slice(1) > numbers.slice(0, len(numbers) - 1)).all()):
        return False
    if numbers.n_unique() == len(numbers):
        return False
    return bool(raw.select((record.is_duplicated() & pl.col(PROBLEM).is_null()).any()).item())


def clean_extract(raw: pl.DataFrame, *, source: str, period: str) -> CleanResult:
    """Validate and type the landed rows of one extract source in one folder.

    Parameters
    ----------
    raw
        Landed rows of every accepted file of the source (:func:`pipelines.land.land_file`).
    source
        The source name.
    period
        The folder's month ``'YYYY-MM'``.

    Returns
    -------
    CleanResult
        Clean rows, quarantine rows and per-file counts.
    """
    src = SOURCES[source]
    structural = pl.col(PROBLEM).is_not_null()
    blank = pl.col("record_no").is_null()
    grouped = ~structural & ~blank
    # the comparison of copies is only needed when some record number repeats
    repeats = _repeats(raw)
    typed = parse_rows(_ordered(raw), src, period=period, need_key=repeats)
    if repeats:
        # the windows run only over the rows whose 记录号 repeats; every other row is one copy
        copies = (typed.filter(grouped).select("_ord", "record_no", "_key")
                  .filter(pl.col("record_no").is_duplicated())
                  .select("_ord",
                          _copies=pl.len().over("record_no"),
                          _variants=pl.col("_key").n_unique().over("record_no"),
                          _rank=pl.col("_ord").rank("ordinal").over("record_no")))
        typed = (typed.join(copies, on="_ord", how="left", maintain_order="left")
                 .with_columns(pl.col("_copies", "_variants", "_rank").fill_null(1)))
        repeated = grouped & (pl.col("_copies") > 1)
        conflict = repeated & (pl.col("_variants") > 1)
        duplicate = repeated & (pl.col("_variants") == 1) & (pl.col("_rank") > 1)
    else:
        conflict = duplicate = pl.lit(False)
    reason = (
        pl.when(structural).then(pl.col(PROBLEM))
        .when(blank).then(_reasons(pl.lit("记录号 is blank"), pl.col("_value_problems")))
        .when(conflict).then(_reasons(
            pl.concat_str([pl.lit("记录号 "), pl.col("record_no"),
                           pl.lit(" repeats with different values (conflict)")]),
            pl.col("_value_problems")))
        .otherwise(pl.col("_value_problems"))
    )
    return _finish(typed, src, period=period, reason=reason, duplicate=duplicate,
                   record_no=pl.col("record_no"))


def clean_register(raw: pl.DataFrame, *, period: str) -> CleanResult:
    """Validate and type the landed register rows of one folder.

    A row without 个人编号 or 户编号, or whose 个人编号 is carried by more than one row, is
    quarantined (every such row: which copy is right cannot be told). The household attributes
    保障类别, 区县代码 and 城乡类别 are made equal within a household: the 户主's row decides,
    else the first row.

    Parameters
    ----------
    raw
        Landed register rows.
    period
        The folder's month ``'YYYY-MM'``.

    Returns
    -------
    CleanResult
        Clean register, quarantine rows (``record_no`` holds the 个人编号), per-file counts and
        a note on household disagreements.
    """
    typed = parse_rows(_ordered(raw), REGISTER, period=period, need_key=False)
    structural = pl.col(PROBLEM).is_not_null()
    person = pl.col("person_id")
    copies = pl.len().over(pl.when(person.is_not_null() & ~structural).then(person))
    reason = (
        pl.when(structural).then(pl.col(PROBLEM))
        .otherwise(_reasons(
            pl.when(person.is_null()).then(pl.lit("个人编号 is blank")),
            pl.when(pl.col("household_id").is_null()).then(pl.lit("户编号 is blank")),
            pl.when(person.is_not_null() & (copies > 1)).then(
                pl.concat_str([pl.lit("个人编号 "), person,
                               pl.lit(" repeats ("), copies.cast(pl.String), pl.lit(" rows)")])),
        ))
    )
    result = _finish(typed, REGISTER, period=period, reason=reason, duplicate=pl.lit(False),
                     record_no=person)
    result.clean, note = _harmonise_households(result.clean)
    if note:
        result.notes.append(note)
    return result


def _harmonise_households(register: pl.DataFrame) -> tuple[pl.DataFrame, Note | None]:
    """Make the household attributes equal within each household (户主's row, else first row)."""
    decider = pl.when(pl.col("relation") == "户主").then(pl.lit(0, pl.Int32)).otherwise(pl.lit(1, pl.Int32))
    order = [decider, pl.col("file"), pl.col("row_number")]
    disagree = register.group_by("household_id").agg(
        [(pl.col(a).n_unique() > 1).alias(a) for a in HOUSEHOLD_ATTRIBUTES]
    )
    counts = {a: int(disagree.get_column(a).sum()) for a in HOUSEHOLD_ATTRIBUTES}
    households = int(disagree.select(pl.any_horizontal(list(HOUSEHOLD_ATTRIBUTES)).sum()).item())
    fixed = register.with_columns(
        [pl.col(a).sort_by(order).first().over("household_id") for a in HOUSEHOLD_ATTRIBUTES]
    )
    if not households:
        return fixed, None
    return fixed, note("register_disagreement", households=households, **counts)


# ------------------------------------------------------------------------------------- folder


def _file_row(landed: LandedFile, *, role: str, accepted: bool, message: str,
              counts: dict[str, int] | None = None) -> dict[str, object]:
    counts = counts or {}
    return {
        "file": landed.file, "role": role, "source": landed.source, "sha256": landed.sha256,
        "rows_in": landed.rows_in,
        "rows_loaded": counts.get("rows_loaded", 0),
        "rows_quarantined": counts.get("rows_quarantined", landed.rows_in if not accepted else 0),
        "rows_duplicate": counts.get("rows_duplicate", 0),
        "accepted": accepted, "message": message,
    }


def _file_level(source: str, period: str, file: str, reason: str) -> dict[str, object]:
    return {"source": source, "period": period, "file": file, "row_number": None,
            "record_no": None, "reason": reason, "reason_code": reason_code(reason)}


def load_folder(folder: Path, *, period: str) -> FolderLoad:
    """Land, validate and clean every file of one month folder.

    Parameters
    ----------
    folder
        The month folder (``incoming/YYYY-MM``).
    period
        Its month ``'YYYY-MM'``: the bound for 所得期间/发放年月/结算日期/死亡日期.

    Returns
    -------
    FolderLoad
        See docs/architecture.md. Files are processed one at a time; every input row ends in
        a clean frame, in ``quarantine`` or as a counted re-sent duplicate.
    """
    parse_period(period)
    if not folder.is_dir():
        raise FileNotFoundError(f"month folder {folder} does not exist")
    file_rows: list[dict[str, object]] = []
    file_quarantine: list[dict[str, object]] = []
    notes: list[Note] = []
    landed_by_source: dict[str, list[LandedFile]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        source = source_of(path)
        if source is None:
            message = (f"{path.name} is not a delivery this office knows "
                       f"(expected register, a source name or bank_*, as .csv or .xlsx)")
            unknown = LandedFile(file=path.name, source="unknown", sha256=sha256_of(path))
            file_rows.append(_file_row(unknown, role="unknown", accepted=False, message=message))
            file_quarantine.append(_file_level("unknown", period, path.name, message))
            continue
        landed = land_file(path, spec=spec(source))
        notes.extend(landed.notes)
        role = "register" if source == "register" else "extract"
        if landed.refused is not None:
            log.warning("refused %s/%s: %s", period, landed.file, landed.refused)
            file_rows.append(_file_row(landed, role=role, accepted=False, message=landed.refused))
            file_quarantine.append(_file_level(source, period, landed.file, landed.refused))
            continue
        landed_by_source.setdefault(source, []).append(landed)

    raw: dict[str, pl.DataFrame] = {}
    extracts: dict[str, pl.DataFrame] = {}
    quarantines: list[pl.DataFrame] = []
    register: pl.DataFrame | None = None
    register_problem: str | None = None
    for source, landed_files in landed_by_source.items():
        frame = pl.concat([lf.frame for lf in landed_files if lf.frame is not None], how="vertical")
        raw[source] = frame.drop(PROBLEM, EXCEL_ID)
        if source == "register":
            result = clean_register(frame, period=period)
            register = check_clean_layout(result.clean, source="register")
        else:
            result = clean_extract(frame, source=source, period=period)
            extracts[source] = check_clean_layout(result.clean, source=source)
        quarantines.append(result.quarantine)
        notes.extend(result.notes)
        per_file = {row["file"]: row for row in result.counts.iter_rows(named=True)}
        role = "register" if source == "register" else "extract"
        for lf in landed_files:
            counts = per_file.get(lf.file, {})
            file_rows.append(_file_row(lf, role=role, accepted=True,
                                       message=f"loaded ({lf.encoding})", counts=counts))
    if register is None:
        refused = [r for r in file_rows if r["role"] == "register"]
        register_problem = (str(refused[0]["message"]) if refused
                            else f"register.csv is missing from {period}")

    quarantine = pl.concat(
        [pl.DataFrame(file_quarantine, schema=QUARANTINE_SCHEMA), *quarantines], how="vertical"
    )
    files = pl.DataFrame(file_rows, schema=FILES_SCHEMA).sort("file")
    log.info("folder %s: %d files, %d quarantined rows", period, files.height, quarantine.height)
    return FolderLoad(period=period, register=register, register_problem=register_problem,
                      extracts=extracts, raw=raw, quarantine=quarantine, files=files, notes=notes)
