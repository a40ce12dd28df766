"""Decisions layer: staff decisions from the district workbooks, kept from month to month.

Clerks fill the decision columns of the workbook that ``hedui report`` writes
(``pipelines/report/layout.py``): on the flags sheet 处理结果/处理说明/经办人 for each
(期间, 户编号, 标记代码), on the review sheet 核对结论/处理说明/经办人 for each record waiting in
review. ``import_decisions`` validates every row of such a workbook (or a CSV of one sheet's
columns) against the warehouse and appends the decisions to ``decisions``, an append-only table
that no run deletes from. Two consumers read it back:

- the matcher, through :func:`link_overrides`: a confirmed identity links without review in later
  months (method ``confirmed``); a rejected (identity, person) pair is never matched;
- the flag publisher, through :func:`load_flag_decisions` and :func:`annotate_flags`: a
  dismissed flag stays dismissed while its evidence is materially unchanged and is re-raised when
  it changes (``rules/decisions.yaml``). Decisions never remove a row from ``flags``.

Grain of ``decisions``: one row per staff decision (kind ``link`` or ``flag``).
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import fastexcel
import polars as pl

# the evidence text is read where it is written (pipelines/evidence.py), not re-parsed here
from pipelines.evidence import number as _number
from pipelines.evidence import parse as _parse_evidence
from pipelines.flags import data_dependent_flags
from pipelines.report.layout import (
    FLAG_DECISIONS,
    FLAG_LABELS,
    LINK_DECISIONS,
    SHEET_FLAGS,
    SHEET_REVIEW,
    SOURCE_LABELS,
)
from pipelines.sources import EXTRACT_SOURCES

log = logging.getLogger(__name__)

DEFAULT_PARAMS_PATH = Path(__file__).resolve().parents[1] / "rules" / "decisions.yaml"

#: ``decisions`` columns in table order (docs/architecture.md, "Published table columns")
DECISION_COLUMNS: tuple[str, ...] = (
    "decision_id", "kind", "period", "household_id", "flag", "source", "record_no", "id_norm",
    "name_norm", "person_id", "decision", "reason", "decided_by", "decided_at", "imported_at",
    "import_file", "import_sha256", "evidence",
)

_DDL = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id   BIGINT    NOT NULL PRIMARY KEY,
    kind          VARCHAR   NOT NULL CHECK (kind IN ('link', 'flag')),
    period        VARCHAR   NOT NULL,
    household_id  VARCHAR,
    flag          VARCHAR,
    source        VARCHAR,
    record_no     VARCHAR,
    id_norm       VARCHAR,
    name_norm     VARCHAR,
    person_id     VARCHAR,
    decision      VARCHAR   NOT NULL CHECK (decision IN
                      ('confirmed', 'rejected', 'verified', 'dismissed', 'referred')),
    reason        VARCHAR,
    decided_by    VARCHAR   NOT NULL,
    decided_at    TIMESTAMPTZ NOT NULL,
    imported_at   TIMESTAMPTZ NOT NULL,
    import_file   VARCHAR   NOT NULL,
    import_sha256 VARCHAR   NOT NULL,
    evidence      VARCHAR
)
"""

_DECISION_SCHEMA: dict[str, pl.DataType] = {
    "decision_id": pl.Int64(), "kind": pl.String(), "period": pl.String(),
    "household_id": pl.String(), "flag": pl.String(), "source": pl.String(),
    "record_no": pl.String(), "id_norm": pl.String(), "name_norm": pl.String(),
    "person_id": pl.String(), "decision": pl.String(), "reason": pl.String(),
    "decided_by": pl.String(), "decided_at": pl.Datetime("us", "UTC"),
    "imported_at": pl.Datetime("us", "UTC"),
    "import_file": pl.String(), "import_sha256": pl.String(), "evidence": pl.String(),
}

#: the columns :func:`read_decision_file` returns (all text but ``row``)
ROW_COLUMNS: tuple[str, ...] = (
    "sheet", "row", "kind", "period", "household_id", "flag", "source", "record_no",
    "person_id", "decision", "reason", "decided_by",
)

# workbook column -> row column, per sheet kind
_FLAG_SHEET = {"期间": "period", "户编号": "household_id", "标记代码": "flag",
               "处理结果": "decision", "处理说明": "reason", "经办人": "decided_by"}
_REVIEW_SHEET = {"期间": "period", "来源": "source", "记录号": "record_no",
                 "候选个人编号": "person_id", "核对结论": "decision", "处理说明": "reason",
                 "经办人": "decided_by"}
_KIND_OF_SHEET = {SHEET_FLAGS: ("flag", _FLAG_SHEET), SHEET_REVIEW: ("link", _REVIEW_SHEET)}
_DECISION_FIELDS = ("decision", "reason", "decided_by")
#: clerks' own words: stored as written (codes and keys are NFKC-normalised and trimmed)
_FREE_TEXT = ("reason", "decided_by")
#: links.status as the import's messages name it
_STATUS_WORDS = {"matched": "已匹配", "review": "待复核", "unmatched": "未匹配"}

_FLAG_WORDS = "属实、排除或转交"
_LINK_WORDS = "确认或否定"
_SOURCE_CODE = {**{label: code for code, label in SOURCE_LABELS.items()},
                **{code: code for code in EXTRACT_SOURCES}}
_FLAG_CODE = {**{label: code for code, label in FLAG_LABELS.items()},
              **{code: code for code in FLAG_LABELS}}

_FLAG_DECISION_FRAME = {
    "decision_id": pl.Int64(), "period": pl.String(), "household_id": pl.String(),
    "flag": pl.String(), "decision": pl.String(), "reason": pl.String(),
    "decided_by": pl.String(), "decided_at": pl.Datetime("us", "UTC"), "evidence": pl.String(),
}
_OVERRIDE_FRAME = {"scope": pl.String(), "source": pl.String(), "period": pl.String(),
                   "record_no": pl.String(), "id_norm": pl.String(), "name_norm": pl.String(),
                   "person_id": pl.String(), "decision": pl.String()}


class DecisionImportError(ValueError):
    """A decision file was refused whole; ``problems`` lists every bad row.

    Each problem is ``(sheet, row, message)``: ``sheet`` is the workbook sheet (or the CSV's
    file name), ``row`` the Excel-style row number (header = row 1), or None for a problem with
    the file itself.
    """

    def __init__(self, file: str, problems: list[tuple[str, int | None, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}：未导入，没有记录任何处理结论（{len(problems)} 个问题，改正后重新导入）："]
        for sheet, row, message in problems:
            where = f"「{sheet}」第 {row} 行" if row is not None else f"「{sheet}」"
            lines.append(f"  {where}：{message}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_decisions` did with a file.

    Attributes
    ----------
    file : str
        The file's name.
    sha256 : str
        Hex SHA-256 of the file's bytes.
    rows_read : int
        Rows carrying a decision (rows with all decision columns empty are not counted).
    recorded : int
        Decisions appended to ``decisions``.
    already_recorded : int
        Rows skipped because the same decision is already in the table.
    flag_decisions, link_decisions : int
        How many of ``recorded`` are about flags and about links.
    flags_refreshed : int
        Rows of the published ``flags`` whose decision columns were brought up to date.
    """

    file: str
    sha256: str
    rows_read: int
    recorded: int
    already_recorded: int
    flag_decisions: int
    link_decisions: int
    flags_refreshed: int = 0


# --------------------------------------------------------------------------- parameters


def load_decision_params(path: Path | None = None, *, on: date | None = None) -> dict:
    """Read the re-raise parameters from ``rules/decisions.yaml``, resolved on a day.

    Parameters
    ----------
    path : Path, optional
        The YAML file; ``rules/decisions.yaml`` of this repository by default.
    on : date, optional
        The day its dated values are resolved on (:mod:`pipelines.dated`; a run of P passes the
        last day of P through :mod:`pipelines.plan`); today when None.

    Returns
    -------
    dict
        ``reraise_relative_change`` (float in (0, 1)), ``compared_quantities`` (list of str),
        ``data_dependent_threshold_flags`` (the flags whose file in pipelines/flags/ says
        ``reraise="data_dependent"``), ``new_record_sources`` (list of source names).

    Raises
    ------
    ValueError
        Naming the file and the entry when an entry is missing, lacks its value, description or
        source, or holds a value of the wrong kind.
    """
    from pipelines.dated import resolve_file

    path = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    doc = resolve_file(path, on).tree
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: expected a mapping of parameters")
    out: dict = {}
    if "data_dependent_threshold_flags" in doc:
        raise ValueError(f"{path}: data_dependent_threshold_flags is no longer read here: each "
                         "flag's file in pipelines/flags/ says its re-raise class (reraise=...)")
    for name in ("reraise_relative_change", "compared_quantities", "new_record_sources"):
        entry = doc.get(name)
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise ValueError(f"{path}: parameter {name} is missing or has no value")
        for meta in ("description", "source"):
            if not str(entry.get(meta) or "").strip():
                raise ValueError(f"{path}: parameter {name} has no {meta}")
        out[name] = entry["value"]
    rel = out["reraise_relative_change"]
    if isinstance(rel, bool) or not isinstance(rel, int | float) or not 0 < rel < 1:
        raise ValueError(f"{path}: reraise_relative_change must be a number between 0 and 1")
    out["reraise_relative_change"] = float(rel)
    for name in ("compared_quantities", "new_record_sources"):
        value = out[name]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: {name} must be a list of names")
    # the re-raise class is the flag's own (its threshold formula), not a separate list
    out["data_dependent_threshold_flags"] = list(data_dependent_flags())
    unknown_sources = set(out["new_record_sources"]) - set(EXTRACT_SOURCES)
    if unknown_sources:
        raise ValueError(f"{path}: new_record_sources names unknown sources "
                         f"{sorted(unknown_sources)}")
    return out


# --------------------------------------------------------------------------- table


def ensure_decisions_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the append-only ``decisions`` table when it does not exist.

    ``decided_at`` and ``imported_at`` are moments (TIMESTAMPTZ): a table from before they were
    had them as naive UTC and is converted once, keeping every moment.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse connection. An existing table keeps its rows.
    """
    con.execute(_DDL)
    for column in ("decided_at", "imported_at"):
        to_moment(con, "decisions", column)


def to_moment(con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    """Turn a naive-UTC ``TIMESTAMP`` column into ``TIMESTAMPTZ`` (no-op when it already is)."""
    found = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND column_name = ?", [table, column]).fetchall()
    if found and found[0][0] == "TIMESTAMP":
        con.execute(f"ALTER TABLE {table} ALTER {column} SET DATA TYPE TIMESTAMPTZ "
                    f"USING timezone('UTC', {column})")


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.sql(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ?", params=[table]
    ).fetchall()
    return bool(found[0][0])


def _existing_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    if not _table_exists(con, "decisions"):
        return pl.DataFrame(schema=_DECISION_SCHEMA)
    cols = ", ".join(DECISION_COLUMNS)
    return con.sql(f"SELECT {cols} FROM decisions ORDER BY decision_id").pl().cast(
        _DECISION_SCHEMA)


# --------------------------------------------------------------------------- reading files


def _clean_text(frame: pl.DataFrame) -> pl.DataFrame:
    """NFKC, trimmed, empty -> null, on every text column (distinct values converted once)."""
    out = []
    for name in frame.columns:
        col = frame.get_column(name).cast(pl.String)
        distinct = col.drop_nulls().unique()
        mapping = pl.DataFrame({
            "_v": distinct,
            "_c": [unicodedata.normalize("NFKC", v).strip() or None for v in distinct],
        }, schema={"_v": pl.String(), "_c": pl.String()})
        cleaned = (pl.DataFrame({"_v": col}).join(mapping, on="_v", how="left",
                                                  maintain_order="left")
                   .get_column("_c").alias(name))
        out.append(cleaned)
    return pl.DataFrame(out) if out else frame


def _sheet_rows(table: pl.DataFrame, *, sheet: str, kind: str, columns: Mapping[str, str],
                file: str) -> pl.DataFrame:
    table = table.rename({c: unicodedata.normalize("NFKC", c).strip() for c in table.columns})
    missing = [zh for zh in columns if zh not in table.columns]
    if missing:
        raise DecisionImportError(file, [(sheet, 1, f"表头缺少列 {'、'.join(missing)}")])
    renamed = _clean_text(table.select(list(columns))).rename(dict(columns))
    # what a clerk wrote (处理说明, 经办人) is kept exactly as written: full-width punctuation and
    # all; only a cell of nothing but spaces counts as empty
    free = table.select(list(columns)).rename(dict(columns)).select(
        pl.when(pl.col(c).cast(pl.String).str.strip_chars() != "").then(pl.col(c).cast(pl.String)).alias(c)
        for c in _FREE_TEXT if c in dict(columns).values())
    renamed = renamed.with_columns(free)
    rows = (renamed.with_row_index("row", offset=2)
            .with_columns(pl.col("row").cast(pl.Int64),
                          pl.lit(sheet).alias("sheet"), pl.lit(kind).alias("kind"))
            .filter(pl.any_horizontal([pl.col(c).is_not_null() for c in _DECISION_FIELDS])))
    for col in ROW_COLUMNS:
        if col not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    return rows.select(ROW_COLUMNS)


def _decode_csv(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DecisionImportError(path.name, [(path.name, None,
                                           "既不是 UTF-8 也不是 GB18030 编码的文本")])


def read_decision_file(path: Path) -> pl.DataFrame:
    """Read the decision rows of a district workbook or of a CSV of one of its sheets.

    An ``.xlsx`` is read by sheet name (``layout.SHEET_FLAGS`` and ``layout.SHEET_REVIEW``; a
    workbook may hold either or both). A ``.csv`` (UTF-8, UTF-8 with BOM or GB18030) holds one
    sheet's columns; which one is told by its header (处理结果 → flags, 核对结论 → review).
    Rows whose decision columns are all empty are left out. Key and code cells are
    NFKC-normalised and trimmed; 处理说明 and 经办人 are kept exactly as written. Nothing else is
    interpreted here (:func:`import_decisions` checks the values).

    Parameters
    ----------
    path : Path
        The ``.xlsx`` or ``.csv`` file.

    Returns
    -------
    pl.DataFrame
        One row per decision row, columns :data:`ROW_COLUMNS`: ``sheet`` (the sheet name, or
        the CSV's file name), ``row`` (Int64, Excel-style: header = row 1), ``kind`` (``flag``
        or ``link``), then the cells as text: ``period, household_id, flag, source, record_no,
        person_id`` (the candidate), ``decision``, ``reason``, ``decided_by``. Columns a sheet
        does not have are null.

    Raises
    ------
    DecisionImportError
        When the file is missing, of another type, not decodable, holds neither sheet, or a
        sheet lacks one of the columns the import needs.
    """
    path = Path(path)
    if not path.is_file():
        raise DecisionImportError(path.name, [(path.name, None, "文件不存在")])
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            book = fastexcel.read_excel(path)
        except Exception as exc:  # fastexcel raises its own error types for a bad file
            raise DecisionImportError(path.name, [(path.name, None,
                                                   f"不是可读取的工作簿（{exc}）")]) from exc
        present = [s for s in (SHEET_FLAGS, SHEET_REVIEW) if s in book.sheet_names]
        if not present:
            raise DecisionImportError(path.name, [(path.name, None,
                                                   f"既没有「{SHEET_FLAGS}」表，也没有"
                                                   f"「{SHEET_REVIEW}」表")])
        frames = []
        for sheet in present:
            kind, columns = _KIND_OF_SHEET[sheet]
            # dtypes="string" keeps blank rows, so the frame index maps to the Excel row
            table = book.load_sheet_by_name(sheet, dtypes="string").to_polars()
            frames.append(_sheet_rows(table, sheet=sheet, kind=kind, columns=columns,
                                      file=path.name))
        return pl.concat(frames, how="vertical")
    if suffix == ".csv":
        text = _decode_csv(path)
        try:
            table = pl.read_csv(text.encode("utf-8"), infer_schema=False)
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DecisionImportError(path.name, [(path.name, None,
                                                   f"不是格式正确的 CSV 文件：{reason}")]) from exc
        headers = {unicodedata.normalize("NFKC", c).strip() for c in table.columns}
        if "处理结果" in headers:
            kind, columns = _KIND_OF_SHEET[SHEET_FLAGS]
        elif "核对结论" in headers:
            kind, columns = _KIND_OF_SHEET[SHEET_REVIEW]
        else:
            raise DecisionImportError(path.name, [(path.name, 1, "表头既没有 处理结果（核查标记）"
                                                   "也没有 核对结论（待复核匹配）：不是处理结论文件")])
        return _sheet_rows(table, sheet=path.name, kind=kind, columns=columns, file=path.name)
    raise DecisionImportError(path.name, [(path.name, None, "不是 .xlsx 或 .csv 文件")])


# --------------------------------------------------------------------------- validation


def _normalise(rows: pl.DataFrame) -> pl.DataFrame:
    """Decision words, source labels, flag labels and periods mapped to their codes."""
    word = pl.col("decision").str.to_lowercase()
    period = pl.col("period").str.replace(r"^(\d{4})-(\d{2})-\d{2}(?:[ T].*)?$", "$1-$2")
    return rows.with_columns(
        pl.when(pl.col("kind") == "flag")
        .then(word.replace_strict(FLAG_DECISIONS, default=None))
        .otherwise(word.replace_strict(LINK_DECISIONS, default=None)).alias("decision_code"),
        pl.col("source").replace_strict(_SOURCE_CODE, default=None).alias("source_code"),
        pl.col("flag").replace_strict(_FLAG_CODE, default=None).alias("flag_code"),
        pl.when(period.str.contains(r"^\d{4}-(0[1-9]|1[0-2])$")).then(period)
        .alias("period_code"),
    )


def _warehouse_periods(con: duckdb.DuckDBPyConnection) -> set[str]:
    parts = [f"SELECT DISTINCT period FROM {t}" for t in ("flags", "links", "assessments")
             if _table_exists(con, t)]
    if not parts:
        return set()
    return {r[0] for r in con.sql(" UNION ".join(parts)).fetchall() if r[0] is not None}


def _flags_of(con: duckdb.DuckDBPyConnection, periods: list[str]) -> pl.DataFrame:
    schema = {"period": pl.String(), "household_id": pl.String(), "flag": pl.String(),
              "evidence": pl.String()}
    if not periods or not _table_exists(con, "flags"):
        return pl.DataFrame(schema=schema)
    return con.sql(
        "SELECT period, household_id, flag, CAST(evidence AS VARCHAR) AS evidence FROM flags "
        "WHERE period IN (SELECT unnest(?::VARCHAR[]))", params=[periods],
    ).pl().cast(schema)


def _ranked_candidates_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The select list of the 2nd and 3rd ranked candidates (null on a warehouse without them)."""
    cols = ("candidate_person_id_2", "candidate_household_id_2", "candidate_person_id_3",
            "candidate_household_id_3")
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'links'").fetchall()}
    return "".join(f"{c}, " if c in have else f"NULL::VARCHAR AS {c}, " for c in cols)


def _links_of(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> pl.DataFrame:
    """``links`` rows and the stg identity of the (source, period, record_no) keys asked."""
    schema = {"source_code": pl.String(), "period_code": pl.String(), "record_no": pl.String(),
              "link_status": pl.String(), "link_person_id": pl.String(),
              "link_method": pl.String(), "candidate_person_id": pl.String(),
              "candidate_household_id": pl.String(), "candidate_person_id_2": pl.String(),
              "candidate_household_id_2": pl.String(), "candidate_person_id_3": pl.String(),
              "candidate_household_id_3": pl.String(), "link_evidence": pl.String(),
              "in_stg": pl.Boolean(), "id_norm": pl.String(), "name_norm": pl.String()}
    if keys.is_empty() or not _table_exists(con, "links"):
        return pl.DataFrame(schema=schema)
    frames = []
    for (source, period), group in keys.group_by(["source_code", "period_code"],
                                                  maintain_order=True):
        record_nos = group.get_column("record_no").unique().to_list()
        links = con.sql(
            "SELECT record_no, status AS link_status, person_id AS link_person_id, "
            "method AS link_method, candidate_person_id, "
            "coalesce(candidate_household_id, household_id) AS candidate_household_id, "
            f"{_ranked_candidates_sql(con)}"
            "json_object('score', score, 'status', status, 'method', method, "
            "'reason', reason, 'comparison', comparison) AS link_evidence "
            "FROM links WHERE source = ? AND period = ? "
            "AND record_no IN (SELECT unnest(?::VARCHAR[]))",
            params=[source, period, record_nos],
        ).pl()
        stg_table = f"stg_{source}"
        if _table_exists(con, stg_table):
            # (source, period, record_no) is the key of a clean record; keeping one row per key
            # guards the join against a staging table that repeats one
            stg = (con.sql(
                f"SELECT DISTINCT record_no, id_norm, name_norm, true AS in_stg FROM {stg_table} "
                "WHERE period = ? AND record_no IN (SELECT unnest(?::VARCHAR[]))",
                params=[period, record_nos],
            ).pl().sort(["record_no", "id_norm", "name_norm"], nulls_last=True)
                .unique(subset="record_no", keep="first", maintain_order=True))
        else:
            stg = pl.DataFrame(schema={"record_no": pl.String(), "id_norm": pl.String(),
                                       "name_norm": pl.String(), "in_stg": pl.Boolean()})
        frames.append(
            links.cast({c: pl.String for c in links.columns})
            .join(stg.cast({"record_no": pl.String, "id_norm": pl.String,
                            "name_norm": pl.String}), on="record_no", how="left")
            .with_columns(pl.lit(source).alias("source_code"), pl.lit(period).alias("period_code"))
        )
    return pl.concat(frames, how="diagonal").select(list(schema)).cast(schema)


def _problems(rows: pl.DataFrame, checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.DataFrame:
    """Every (sheet, row, message) for which a check's condition holds."""
    frames = [
        rows.filter(condition.fill_null(False))
        .select("sheet", "row", message.alias("message"))
        for condition, message in checks
    ]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(
        schema={"sheet": pl.String(), "row": pl.Int64(), "message": pl.String()})


def _validate(rows: pl.DataFrame, con: duckdb.DuckDBPyConnection,
              existing: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check every row; return (rows with warehouse facts joined, problems)."""
    rows = _normalise(rows).with_row_index("_i")
    known_periods = _warehouse_periods(con)
    periods = sorted(set(rows.get_column("period_code").drop_nulls().to_list()) & known_periods)

    flags = _flags_of(con, periods)
    flag_households = flags.select("period", "household_id").unique().with_columns(
        pl.lit(True).alias("_household_flagged"))
    flagged = flags.rename({"evidence": "flag_evidence"}).with_columns(
        pl.lit(True).alias("_flag_exists"))
    rows = (rows
            .join(flag_households, left_on=["period_code", "household_id"],
                  right_on=["period", "household_id"], how="left", maintain_order="left")
            .join(flagged, left_on=["period_code", "household_id", "flag_code"],
                  right_on=["period", "household_id", "flag"], how="left", maintain_order="left"))

    link_keys = rows.filter((pl.col("kind") == "link") & pl.col("source_code").is_not_null()
                            & pl.col("period_code").is_in(periods)
                            & pl.col("record_no").is_not_null()
                            ).select("source_code", "period_code", "record_no").unique(
        maintain_order=True)
    links = _links_of(con, link_keys)
    rows = rows.join(links, on=["source_code", "period_code", "record_no"], how="left",
                     maintain_order="left")
    # a candidate left blank is the one under review
    rows = rows.with_columns(
        pl.coalesce("person_id", "candidate_person_id").alias("person_code"))
    # issue 19: a clerk may confirm the second or third ranked candidate instead of the first
    code = pl.col("person_code")
    rows = rows.with_columns(
        candidate_household_id=pl.when(code == pl.col("candidate_person_id_2"))
        .then(pl.col("candidate_household_id_2"))
        .when(code == pl.col("candidate_person_id_3")).then(pl.col("candidate_household_id_3"))
        .otherwise(pl.col("candidate_household_id")),
        candidate_person_id=pl.when((code == pl.col("candidate_person_id_2")).fill_null(False)
                                    | (code == pl.col("candidate_person_id_3")).fill_null(False))
        .then(code).otherwise(pl.col("candidate_person_id")))
    already = (existing.filter(pl.col("kind") == "link")
               .select(pl.col("source").alias("source_code"),
                       pl.col("period").alias("period_code"), "record_no",
                       pl.col("person_id").alias("person_code"))
               .unique().with_columns(pl.lit(True).alias("_decided_before")))
    rows = rows.join(already, on=["source_code", "period_code", "record_no", "person_code"],
                     how="left", maintain_order="left")

    # a flag decision already recorded word for word imports again (and is skipped) even when a
    # later run of its period no longer raises the flag
    recorded_flags = (existing.filter(pl.col("kind") == "flag")
                      .select(pl.col("period").alias("period_code"), "household_id",
                              pl.col("flag").alias("flag_code"),
                              pl.col("decision").alias("decision_code"), "reason", "decided_by")
                      .unique().with_columns(pl.lit(True).alias("_recorded_before")))
    rows = rows.join(recorded_flags, on=["period_code", "household_id", "flag_code",
                                         "decision_code", "reason", "decided_by"],
                     how="left", nulls_equal=True, maintain_order="left")

    is_flag = pl.col("kind") == "flag"
    is_link = pl.col("kind") == "link"
    period_ok = pl.col("period_code").is_in(periods)
    word_col = pl.when(is_flag).then(pl.lit("处理结果")).otherwise(pl.lit("核对结论"))
    words = pl.when(is_flag).then(pl.lit(_FLAG_WORDS)).otherwise(pl.lit(_LINK_WORDS))
    # a record in review for this candidate, or one already decided for this candidate (a file
    # imports again after a later run re-linked its records with the decision)
    acceptable = (((pl.col("link_status") == "review")
                   & (pl.col("candidate_person_id") == pl.col("person_code")))
                  | pl.col("_decided_before")).fill_null(False)
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col("decision").is_null(),
         pl.format("填写了处理说明或经办人，但{}为空", word_col)),
        (pl.col("decision").is_not_null() & pl.col("decision_code").is_null(),
         pl.format("{} “{}” 不是可选的结论；请从下拉框选择 {}", word_col, pl.col("decision"), words)),
        (pl.col("decided_by").is_null(), pl.lit("经办人为空")),
        ((pl.col("decision_code") == "dismissed") & pl.col("reason").is_null(),
         pl.lit("选择“排除”时须在处理说明中写明理由")),
        (pl.col("period").is_null(), pl.lit("期间为空")),
        (pl.col("period").is_not_null() & pl.col("period_code").is_null(),
         pl.format("期间 “{}” 不是 YYYY-MM 格式的月份", pl.col("period"))),
        (pl.col("period_code").is_not_null() & ~period_ok,
         pl.format("期间 {} 在数据仓库中没有核对结果", pl.col("period_code"))),
        # flags sheet
        (is_flag & pl.col("household_id").is_null(), pl.lit("户编号为空")),
        (is_flag & pl.col("flag").is_null(), pl.lit("标记代码为空")),
        (is_flag & pl.col("flag").is_not_null() & pl.col("flag_code").is_null(),
         pl.format("标记代码 “{}” 不是规则中的标记", pl.col("flag"))),
        (is_flag & period_ok & pl.col("household_id").is_not_null()
         & pl.col("_household_flagged").is_null() & pl.col("_recorded_before").is_null(),
         pl.format("户编号 {} 在 {} 没有任何标记：不是本期被标记的家庭",
                   pl.col("household_id"), pl.col("period_code"))),
        (is_flag & period_ok & pl.col("_household_flagged") & pl.col("flag_code").is_not_null()
         & pl.col("_flag_exists").is_null() & pl.col("_recorded_before").is_null(),
         pl.format("户编号 {} 在 {} 没有标记 {}", pl.col("household_id"),
                   pl.col("period_code"), pl.col("flag_code"))),
        # review sheet
        (is_link & pl.col("source").is_null(), pl.lit("来源为空")),
        (is_link & pl.col("source").is_not_null() & pl.col("source_code").is_null(),
         pl.format("来源 “{}” 不是约定的数据来源", pl.col("source"))),
        (is_link & pl.col("record_no").is_null(), pl.lit("记录号为空")),
        (is_link & period_ok & pl.col("source_code").is_not_null()
         & pl.col("record_no").is_not_null() & pl.col("link_status").is_null(),
         pl.format("{} {} 交付中没有记录号 {}", pl.col("period_code"),
                   pl.col("source_code").replace_strict(SOURCE_LABELS, default=pl.col("source_code")),
                   pl.col("record_no"))),
        (is_link & pl.col("link_status").is_not_null() & ~acceptable
         & (pl.col("link_status") != "review"),
         pl.format("{} {} 的记录号 {} 不在待复核状态（当前：{}）", pl.col("period_code"),
                   pl.col("source_code").replace_strict(SOURCE_LABELS, default=pl.col("source_code")),
                   pl.col("record_no"),
                   pl.col("link_status").replace_strict(_STATUS_WORDS, default=pl.col("link_status")))),
        (is_link & (pl.col("link_status") == "review") & ~acceptable,
         pl.lit("候选个人编号不是该记录待复核的候选人")),
        (is_link & pl.col("link_status").is_not_null() & pl.col("in_stg").is_null(),
         pl.format("记录号 {} 不在 {} 的清洗数据中", pl.col("record_no"),
                   pl.col("source_code").replace_strict(SOURCE_LABELS, default=pl.col("source_code")))),
    ]
    problems = _problems(rows, checks)

    # two otherwise valid rows of the file deciding the same thing differently
    key = pl.when(is_flag).then(pl.concat_str("period_code", "household_id", "flag_code",
                                              separator="\x1f")) \
        .otherwise(pl.concat_str("source_code", "period_code", "record_no", separator="\x1f"))
    clean = rows.join(problems.select("sheet", "row").unique(), on=["sheet", "row"], how="anti",
                      maintain_order="left")
    keyed = clean.with_columns(key.alias("_key"),
                              pl.concat_str(pl.col("decision_code").fill_null(""),
                                            pl.col("reason").fill_null(""),
                                            pl.col("decided_by").fill_null(""),
                                            pl.col("person_code").fill_null(""),
                                            separator="\x1f").alias("_what"))
    first = (keyed.filter(pl.col("_key").is_not_null())
             .group_by("_key").agg(pl.col("sheet").first().alias("_first_sheet"),
                                   pl.col("row").first().alias("_first_row"),
                                   pl.col("_what").first().alias("_first_what")))
    conflicts = (keyed.join(first, on="_key", how="inner", maintain_order="left")
                 .filter(pl.col("_what") != pl.col("_first_what"))
                 .select("sheet", "row", pl.format("与「{}」第 {} 行对同一{}的结论矛盾",
                                                   pl.col("_first_sheet"), pl.col("_first_row"),
                                                   pl.when(pl.col("kind") == "flag")
                                                   .then(pl.lit("标记"))
                                                   .otherwise(pl.lit("记录")))
                         .alias("message")))
    problems = pl.concat([problems, conflicts], how="vertical")
    return rows, problems


# --------------------------------------------------------------------------- import


def _as_utc(moment: datetime) -> datetime:
    """An aware moment in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def import_decisions(path: Path, con: duckdb.DuckDBPyConnection, *,
                     imported_at: datetime | None = None,
                     params: dict | None = None) -> ImportResult:
    """Validate every decision row of a file, then append the decisions in one transaction.

    A flag row must name a flag of ``flags`` (期间, 户编号, 标记代码); a review row a record of
    ``links`` (期间, 来源, 记录号) in review with that candidate (or one already decided for
    that candidate, so a file imports again after a run re-linked its records). Decision words
    are those of ``layout.FLAG_DECISIONS`` / ``layout.LINK_DECISIONS``; 经办人 is required; a
    dismissal needs a reason; the period must be in the warehouse. Any bad row refuses the whole
    file and writes nothing.

    A decision equal (same key, decision, reason, clerk and candidate) to the latest one recorded
    for its key, or to one recorded from a file with the same SHA-256, is skipped: importing a
    file twice changes nothing. The workbook carries no decision date, so ``decided_at`` is the
    import time. Link decisions store the record's ``id_norm`` and ``name_norm`` from
    ``stg_<source>`` and the candidate as ``person_id``; flag decisions store the flag's evidence
    at decision time. In the same transaction the decision columns of the published ``flags``
    rows of each decided (household, flag) are recomputed with :func:`annotate_flags`, so the
    next report shows them; no ``flags`` row is added or removed.

    Parameters
    ----------
    path : Path
        A district workbook (``.xlsx``) or a CSV of one sheet's columns.
    con : duckdb.DuckDBPyConnection
        The warehouse being published. When the caller already holds a transaction on it, the
        rows are written in that transaction; otherwise in one of their own.
    imported_at : datetime, optional
        The import time (an aware time, or naive UTC), stored as a moment. Now by default.
    params : dict, optional
        :func:`load_decision_params` output, for refreshing the decision columns of the
        published ``flags`` rows the new decisions touch; read from ``rules/decisions.yaml``
        when not given.

    Returns
    -------
    ImportResult

    Raises
    ------
    DecisionImportError
        Listing every bad row (sheet and Excel row number); nothing was written.
    """
    path = Path(path)
    rows = read_decision_file(path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    moment = _as_utc(imported_at or datetime.now(UTC))
    existing = _existing_decisions(con)
    checked, problems = _validate(rows, con, existing)
    if not problems.is_empty():
        sheet_order = {SHEET_FLAGS: 0, SHEET_REVIEW: 1}
        ordered = sorted(problems.unique().iter_rows(),
                         key=lambda p: (sheet_order.get(p[0], 2), p[0], p[1] or 0, p[2]))
        log.warning("decision file %s refused: %d problem(s)", path.name, len(ordered))
        raise DecisionImportError(path.name, ordered)

    new = _decision_rows(checked, file=path.name, sha256=sha256, moment=moment)
    fresh = _not_yet_recorded(new, existing, sha256=sha256)
    start = int(existing.get_column("decision_id").max() or 0) + 1
    fresh = fresh.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("decision_id")
    ).select(DECISION_COLUMNS).cast(_DECISION_SCHEMA)
    refreshed = 0
    if not fresh.is_empty():
        refreshed = _append(con, fresh, params=params or load_decision_params())
    result = ImportResult(
        file=path.name, sha256=sha256, rows_read=rows.height, recorded=fresh.height,
        already_recorded=new.height - fresh.height,
        flag_decisions=fresh.filter(pl.col("kind") == "flag").height,
        link_decisions=fresh.filter(pl.col("kind") == "link").height,
        flags_refreshed=refreshed,
    )
    log.info("decision file %s: %d row(s), %d recorded, %d already recorded",
             path.name, result.rows_read, result.recorded, result.already_recorded)
    return result


def _decision_rows(checked: pl.DataFrame, *, file: str, sha256: str,
                   moment: datetime) -> pl.DataFrame:
    is_flag = pl.col("kind") == "flag"
    return (checked.sort("_i")
            .unique(subset=["kind", "period_code", "household_id", "flag_code", "source_code",
                            "record_no"], keep="first", maintain_order=True)
            .select(
                pl.lit(None, dtype=pl.Int64).alias("decision_id"),
                "kind",
                pl.col("period_code").alias("period"),
                pl.when(is_flag).then(pl.col("household_id"))
                .otherwise(pl.col("candidate_household_id")).alias("household_id"),
                pl.when(is_flag).then(pl.col("flag_code")).alias("flag"),
                pl.when(~is_flag).then(pl.col("source_code")).alias("source"),
                pl.when(~is_flag).then(pl.col("record_no")).alias("record_no"),
                pl.when(~is_flag).then(pl.col("id_norm")).alias("id_norm"),
                pl.when(~is_flag).then(pl.col("name_norm")).alias("name_norm"),
                pl.when(~is_flag).then(pl.col("person_code")).alias("person_id"),
                pl.col("decision_code").alias("decision"),
                "reason", "decided_by",
                pl.lit(moment, dtype=pl.Datetime("us", "UTC")).alias("decided_at"),
                pl.lit(moment, dtype=pl.Datetime("us", "UTC")).alias("imported_at"),
                pl.lit(file).alias("import_file"),
                pl.lit(sha256).alias("import_sha256"),
                pl.when(is_flag).then(pl.col("flag_evidence"))
                .otherwise(pl.col("link_evidence")).alias("evidence"),
            ).cast(_DECISION_SCHEMA))


_NATURAL_KEY = ("kind", "period", "household_id", "flag", "source", "record_no")
_SAME_DECISION = ("decision", "reason", "decided_by", "person_id")


def _not_yet_recorded(new: pl.DataFrame, existing: pl.DataFrame, *, sha256: str) -> pl.DataFrame:
    """``new`` less the decisions already recorded (latest for their key, or from this file)."""
    if existing.is_empty() or new.is_empty():
        return new
    # a link decision's household follows from its candidate and may be re-linked by a later
    # run, so only a flag decision's household is part of its key
    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.when(pl.col("kind") == "flag")
                                  .then(pl.col("household_id")).alias("_household_key"))

    key = [*(c for c in _NATURAL_KEY if c != "household_id"), "_household_key"]
    recorded = keyed(existing).sort("decision_id")
    latest = recorded.group_by(key, maintain_order=True).last().select(*key, *_SAME_DECISION)
    same_file = recorded.filter(pl.col("import_sha256") == sha256).select(*key, *_SAME_DECISION)
    done = pl.concat([latest, same_file], how="vertical").unique()
    return (keyed(new).join(done, on=[*key, *_SAME_DECISION], how="anti", nulls_equal=True,
                            maintain_order="left")
            .drop("_household_key"))


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the caller holds an open transaction on ``con``.

    In autocommit every statement gets a new transaction id; inside BEGIN ... COMMIT they share
    one. Probing with BEGIN instead would abort the caller's transaction when it fails.
    """
    first, second = (con.sql("SELECT txid_current()").fetchall()[0][0] for _ in range(2))
    return first == second


def _append(con: duckdb.DuckDBPyConnection, fresh: pl.DataFrame, *, params: dict) -> int:
    """Append the decisions and refresh the published flags they touch, in one transaction."""
    own = not _in_transaction(con)
    if own:
        con.begin()
    view = "_hedui_decisions_to_append"
    try:
        ensure_decisions_table(con)
        con.register(view, fresh.to_arrow())
        cols = ", ".join(DECISION_COLUMNS)
        con.execute(f"INSERT INTO decisions ({cols}) SELECT {cols} FROM {view}")
        con.unregister(view)
        touched = fresh.filter(pl.col("kind") == "flag").select("household_id", "flag").unique()
        refreshed = _refresh_flags(con, touched, params=params)
        if own:
            con.commit()
    except Exception:
        if own:
            con.rollback()
        raise
    return refreshed


_FLAG_DECISION_COLUMNS = ("decision", "decision_reason", "decided_by", "decided_at", "re_raised")


def _refresh_flags(con: duckdb.DuckDBPyConnection, touched: pl.DataFrame, *,
                   params: dict) -> int:
    """Re-annotate the published ``flags`` rows of the (household, flag) pairs just decided.

    Without this a decision would show in ``flags`` (and in the reports and their 既往处理
    history) only after the next run of each period. Only the decision columns change; a
    warehouse whose ``flags`` lacks them is left alone. Returns the number of rows refreshed.
    """
    if touched.is_empty() or not _table_exists(con, "flags"):
        return 0
    present = {r[0] for r in con.sql(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'flags'").fetchall()}
    if not set(_FLAG_DECISION_COLUMNS) <= present:
        return 0
    to_moment(con, "flags", "decided_at")  # a warehouse from before decision times were moments
    flags = con.sql(
        "SELECT period, household_id, flag, CAST(evidence AS VARCHAR) AS evidence FROM flags "
        "WHERE list_contains(?::VARCHAR[], household_id || chr(31) || flag)",
        params=[(touched.get_column("household_id") + "\x1f" + touched.get_column("flag"))
                .to_list()],
    ).pl().cast(pl.String)
    if flags.is_empty():
        return 0
    updates = annotate_flags(flags, load_flag_decisions(con), params=params).drop("evidence")
    view = "_hedui_flag_decisions"
    con.register(view, updates.to_arrow())
    sets = ", ".join(f"{c} = u.{c}" for c in _FLAG_DECISION_COLUMNS)
    con.execute(f"UPDATE flags SET {sets} FROM {view} AS u WHERE flags.period = u.period "
                "AND flags.household_id = u.household_id AND flags.flag = u.flag")
    con.unregister(view)
    return updates.height


# --------------------------------------------------------------------------- consumers


def link_overrides(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The staff's link decisions as the matcher uses them, at two scopes.

    ``record``: the decided record itself, ``(source, period, record_no)``, whatever its ID —
    when a later run loads the same folder again (every run loads P-5..P), the clerk is not
    asked the same question twice. ``identity``: the recurring identity ``(source, id_norm,
    name_norm)`` in any folder. A confirmed identity without an ID number (``id_norm`` null) has
    no identity row: carrying it forward would link a later record on its name alone
    (outputs.md, "What may be matched"); rejections are all kept. The latest recorded decision
    per key wins.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse; an empty frame when it has no ``decisions`` table.

    Returns
    -------
    pl.DataFrame
        ``scope, source, period, record_no, id_norm, name_norm, person_id, decision``
        (``confirmed`` or ``rejected``); ``period`` and ``record_no`` are null on identity rows.
    """
    existing = _existing_decisions(con).filter(pl.col("kind") == "link").sort("decision_id")
    identity_key = ["source", "id_norm", "name_norm", "person_id"]
    identity = (existing.group_by(identity_key, maintain_order=True).last()
                .filter((pl.col("decision") == "rejected") | pl.col("id_norm").is_not_null())
                .select(pl.lit("identity").alias("scope"), "source",
                        pl.lit(None, pl.String).alias("period"),
                        pl.lit(None, pl.String).alias("record_no"),
                        "id_norm", "name_norm", "person_id", "decision"))
    record_key = ["source", "period", "record_no", "person_id"]
    record = (existing.group_by(record_key, maintain_order=True).last()
              .select(pl.lit("record").alias("scope"), "source", "period", "record_no",
                      "id_norm", "name_norm", "person_id", "decision"))
    both = pl.concat([identity.cast(_OVERRIDE_FRAME), record.cast(_OVERRIDE_FRAME)])
    return both.sort("scope", "source", "period", "record_no", "id_norm", "name_norm",
                     "person_id", nulls_last=True)


def load_flag_decisions(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every flag decision recorded, for :func:`annotate_flags`.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse; an empty frame when it has no ``decisions`` table.

    Returns
    -------
    pl.DataFrame
        ``decision_id, period, household_id, flag, decision, reason, decided_by, decided_at,
        evidence`` (the evidence at decision time), in recording order.
    """
    existing = _existing_decisions(con).filter(pl.col("kind") == "flag")
    return existing.select(list(_FLAG_DECISION_FRAME)).cast(_FLAG_DECISION_FRAME)


def annotate_flags(flags: pl.DataFrame, decisions: pl.DataFrame, *, params: dict) -> pl.DataFrame:
    """Add the staff's decisions to a period's computed flags; never remove a row.

    For each flag, the decision that applies is the latest one about the same household and
    flag made in the flag's period or earlier (latest period first, then latest recorded).
    A ``verified`` or ``referred`` decision is carried as it is. A ``dismissed`` decision is
    carried while the evidence is materially unchanged since the decision; otherwise the flag is
    re-raised: ``re_raised`` is true and no decision is carried. What "materially" means is set
    in ``rules/decisions.yaml`` (see :func:`load_decision_params`).

    Parameters
    ----------
    flags : pl.DataFrame
        The computed flags: ``period, household_id, district_code, flag, evidence,
        rulebook_version`` (other columns are kept).
    decisions : pl.DataFrame
        :func:`load_flag_decisions` output.
    params : dict
        :func:`load_decision_params` output.

    Returns
    -------
    pl.DataFrame
        ``flags`` in its order with ``decision, decision_reason, decided_by, decided_at,
        re_raised`` (Boolean, never null) added.
    """
    base = flags.drop([c for c in ("decision", "decision_reason", "decided_by", "decided_at",
                                   "re_raised") if c in flags.columns])
    indexed = base.with_row_index("_flag_i")
    candidates = (
        indexed.select("_flag_i", "period", "household_id", "flag", "evidence")
        .join(decisions.cast(_FLAG_DECISION_FRAME).rename(
            {"period": "_d_period", "evidence": "_d_evidence", "reason": "decision_reason"}),
            on=["household_id", "flag"], how="inner")
        .filter(pl.col("_d_period") <= pl.col("period"))
        .sort(["_flag_i", "_d_period", "decision_id"], descending=[False, True, True])
        .unique(subset="_flag_i", keep="first", maintain_order=True)
    )
    dismissed = candidates.filter(pl.col("decision") == "dismissed")
    pairs = dismissed.select("flag", "_d_evidence", "evidence").unique()
    verdicts = pairs.with_columns(pl.Series(
        "_material",
        [_materially_changed(f, old, new, params) for f, old, new in pairs.iter_rows()],
        dtype=pl.Boolean,
    ))
    candidates = (candidates
                  .join(verdicts, on=["flag", "_d_evidence", "evidence"], how="left",
                        nulls_equal=True, maintain_order="left")
                  .with_columns(((pl.col("decision") == "dismissed")
                                 & pl.col("_material").fill_null(False)).alias("re_raised")))
    carried = ~pl.col("re_raised")
    annotated = candidates.select(
        "_flag_i",
        pl.when(carried).then(pl.col("decision")).alias("decision"),
        pl.when(carried).then(pl.col("decision_reason")).alias("decision_reason"),
        pl.when(carried).then(pl.col("decided_by")).alias("decided_by"),
        pl.when(carried).then(pl.col("decided_at")).alias("decided_at"),
        "re_raised",
    )
    return (indexed.join(annotated, on="_flag_i", how="left", maintain_order="left")
            .sort("_flag_i")
            .with_columns(pl.col("re_raised").fill_null(False))
            .drop("_flag_i"))


# --------------------------------------------------------------------------- evidence


def _record_counts(evidence: Mapping) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in evidence.get("records") or []:
        if isinstance(record, Mapping) and record.get("source") is not None:
            counts[str(record["source"])] = counts.get(str(record["source"]), 0) + 1
    return counts


def _materially_changed(flag: str, old_text: str | None, new_text: str | None,
                        params: Mapping) -> bool:
    """Whether a flag's evidence moved enough since a dismissal to show it again.

    Applied once per distinct (flag, old evidence, new evidence) of the dismissed flags; the
    rules are documented in ``rules/decisions.yaml``. Evidence that cannot be read counts as
    changed: a clerk looks again rather than a flag staying silent on a guess.
    """
    if old_text == new_text:
        return False
    old, new = _parse_evidence(old_text), _parse_evidence(new_text)
    if old is None or new is None:
        return True
    rel = float(params["reraise_relative_change"])

    old_thresholds = {str(k): _number(v) for k, v in (old.get("thresholds") or {}).items()}
    new_thresholds = {str(k): _number(v) for k, v in (new.get("thresholds") or {}).items()}
    if set(old_thresholds) != set(new_thresholds):
        return True
    data_dependent = flag in set(params["data_dependent_threshold_flags"])
    for name, before in old_thresholds.items():
        after = new_thresholds[name]
        if (before is None) != (after is None):
            return True
        if before is None or after is None:
            continue
        allowed = rel * abs(before) if data_dependent else 0.0
        if abs(after - before) > allowed:
            return True

    positive = [v for v in old_thresholds.values() if v is not None and v > 0]
    scale = min(positive) if positive else None
    old_q, new_q = old.get("quantities") or {}, new.get("quantities") or {}
    for name in params["compared_quantities"]:
        if name not in old_q and name not in new_q:
            continue
        before, after = _number(old_q.get(name)), _number(new_q.get(name))
        if (before is None) != (after is None):
            return True
        if before is None or after is None:
            continue
        margin = rel * (scale if scale is not None else abs(before))
        if abs(after - before) > margin:
            return True

    old_counts, new_counts = _record_counts(old), _record_counts(new)
    return any(new_counts.get(s, 0) > old_counts.get(s, 0) for s in params["new_record_sources"])
