"""Decisions layer: reading the decision rows of a district workbook or of a CSV of one sheet.

Clerks fill the decision columns of the workbook that ``hedui report`` writes
(``pipelines/report/layout.py``). Nothing is interpreted here beyond finding the rows and
normalising keys: :mod:`pipelines.decisions.validate` checks the values.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path

import fastexcel
import polars as pl

from pipelines.report.layout import SHEET_FLAGS, SHEET_REVIEW

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
                                                   (f"既没有「{SHEET_FLAGS}」表，也没有"
                                                    f"「{SHEET_REVIEW}」表"))])
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
            raise DecisionImportError(path.name, [(path.name, 1, ("表头既没有 处理结果（核查标记）"
                                                   "也没有 核对结论（待复核匹配）：不是处理结论文件"))])
        return _sheet_rows(table, sheet=path.name, kind=kind, columns=columns, file=path.name)
    raise DecisionImportError(path.name, [(path.name, None, "不是 .xlsx 或 .csv 文件")])
