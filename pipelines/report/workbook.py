"""Report layer: the district review workbook (xlsxwriter), in the layout of ``layout.py``.

:func:`flag_sheet`, :func:`review_sheet` and :func:`quarantine_sheet` turn the frames of
:mod:`pipelines.report.data` into frames whose columns are exactly the layout's Chinese headers;
:func:`write_workbook` writes them with a frozen header, an autofilter, widths that fit Chinese
text and drop-downs of the decision words on the columns a clerk fills in.
"""

from __future__ import annotations

import json

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import xlsxwriter

from pipelines.report.layout import (
    FLAG_COLUMNS,
    FLAG_DECISIONS,
    FLAG_LABELS,
    LINK_DECISIONS,
    QUARANTINE_COLUMNS,
    REVIEW_COLUMNS,
    SHEET_ABOUT,
    SOURCE_LABELS,
)
from pipelines.report.text import (
    FLAG_DECISION_WORDS,
    REVIEW_METHODS,
    describe_comparison,
    describe_quantities,
    describe_thresholds,
    display_width,
    explain_flag,
    mask_id,
    mask_name,
    parse_evidence,
)

#: the drop-down words (Chinese only; the importer also accepts the English words)
FLAG_CHOICES = [w for w in FLAG_DECISIONS if not w.isascii()]
LINK_CHOICES = [w for w in LINK_DECISIONS if not w.isascii()]
#: the column a clerk picks a decision word in, per sheet
FLAG_DECISION_COLUMN = "处理结果"
REVIEW_DECISION_COLUMN = "核对结论"

_MIN_WIDTH, _MAX_WIDTH = 6, 60
_WRAP_WIDTH = 48


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name, its rows (columns = headers), and the columns with a drop-down."""

    name: str
    frame: pl.DataFrame
    choices: dict[str, list[str]] = field(default_factory=dict)
    #: columns a clerk fills in (highlighted header)
    editable: tuple[str, ...] = ()


def _identity(expr: pl.Expr, *, full_identity: bool, kind: str) -> pl.Expr:
    if full_identity:
        text = expr.str.strip_chars()
        return pl.when(text != "").then(text)
    return mask_id(expr) if kind == "id" else mask_name(expr)


def _history(rows: pl.DataFrame) -> list[str | None]:
    """既往处理: the decision that applies now, a re-raise, and earlier periods' decisions."""
    texts: list[str | None] = []
    names = ("history", "re_raised", "decision", "decision_reason", "decided_by", "decided_at")
    for history, re_raised, decision, reason, by, at in zip(*(rows[c].to_list() for c in names), strict=True):
        parts = []
        if re_raised:
            parts.append("再次提示：此前已排除，但情况有实质变化，请重新核实")
        if decision:
            word = FLAG_DECISION_WORDS.get(decision, decision)
            who = "，".join(str(x) for x in (by, at.strftime("%Y-%m-%d") if at else None) if x)
            detail = "，".join(x for x in (reason, who) if x)
            parts.append(f"现有处理：{word}" + (f"（{detail}）" if detail else ""))
        for item in history or []:
            word = FLAG_DECISION_WORDS.get(item["decision"], item["decision"])
            parts.append(f"{item['period']} {word}" + (f"：{item['reason']}" if item["reason"] else ""))
        texts.append("；".join(parts) or None)
    return texts


def flag_sheet(flags: pl.DataFrame, *, full_identity: bool = False) -> pl.DataFrame:
    """The 核查标记 sheet: one row per (household, flag), columns ``FLAG_COLUMNS``.

    Parameters
    ----------
    flags : pl.DataFrame
        :func:`pipelines.report.data.flagged_households`.
    full_identity : bool
        Show the 户主's name and ID in full (default: masked in the middle).
    """
    # evidence sentences are built per flag row in Python: one short JSON per flagged household
    # (thousands, not millions), and the wording depends on which figures each flag carries
    parsed = [parse_evidence(e) for e in flags["evidence"]]
    reasons = [
        explain_flag(f, e, programme=p)
        for f, e, p in zip(flags["flag"], parsed, flags["programme"], strict=True)
    ]
    quantities = [describe_quantities(e) or None for e in parsed]
    thresholds = [describe_thresholds(e) or None for e in parsed]
    return flags.select(
        pl.col("period").alias("期间"),
        pl.col("district_code").alias("区县代码"),
        pl.col("household_id").alias("户编号"),
        pl.col("programme").alias("保障类别"),
        pl.col("street").alias("街道乡镇"),
        _identity(pl.col("head_name"), full_identity=full_identity, kind="name").alias("户主姓名"),
        _identity(pl.col("head_id"), full_identity=full_identity, kind="id").alias("户主证件号"),
        pl.col("flag").alias("标记代码"),
        pl.col("flag").replace_strict(FLAG_LABELS, default=pl.col("flag")).alias("标记"),
        pl.Series("原因说明", reasons, dtype=pl.String),
        pl.Series("计算值", quantities, dtype=pl.String),
        pl.Series("阈值", thresholds, dtype=pl.String),
        pl.col("rulebook_version").alias("规则版本"),
        pl.Series("既往处理", _history(flags), dtype=pl.String),
        *(pl.lit(None, dtype=pl.String).alias(c) for c in ("处理结果", "处理说明", "经办人")),
    ).select(FLAG_COLUMNS)


def review_sheet(review: pl.DataFrame, *, full_identity: bool = False) -> pl.DataFrame:
    """The 待复核匹配 sheet: one row per record in review, columns ``REVIEW_COLUMNS``.

    Parameters
    ----------
    review : pl.DataFrame
        :func:`pipelines.report.data.review_records` (already cut to the district).
    full_identity : bool
        Show names and IDs in full (default: masked in the middle).
    """
    comparisons = [describe_comparison(c) if c else None for c in review["comparison"]]
    why = pl.concat_str(
        [
            pl.col("method").replace_strict(REVIEW_METHODS, default=None, return_dtype=pl.String),
            pl.Series(comparisons, dtype=pl.String),
            pl.concat_str([pl.lit("系统说明："), pl.col("reason")]),
        ],
        separator="；",
        ignore_nulls=True,
    )
    return review.select(
        pl.col("period").alias("期间"),
        pl.col("source").replace_strict(SOURCE_LABELS, default=pl.col("source")).alias("来源"),
        pl.col("record_no").alias("记录号"),
        _identity(pl.col("record_name"), full_identity=full_identity, kind="name").alias("记录姓名"),
        _identity(pl.col("record_id"), full_identity=full_identity, kind="id").alias("记录证件号"),
        pl.col("candidate_person_id").alias("候选个人编号"),
        pl.col("candidate_household_id").alias("候选户编号"),
        _identity(pl.col("candidate_name"), full_identity=full_identity, kind="name").alias("候选姓名"),
        _identity(pl.col("candidate_id"), full_identity=full_identity, kind="id").alias("候选证件号"),
        pl.col("score").round(3).alias("匹配得分"),
        why.alias("存疑原因"),
        *_queue_cells(review),
        *(pl.lit(None, dtype=pl.String).alias(c) for c in ("核对结论", "处理说明", "经办人")),
    ).select(REVIEW_COLUMNS)


def _queue_cells(review: pl.DataFrame) -> list[pl.Expr]:
    """Issue 19's cells: whether the record can change a household's outcome, the 2nd and 3rd
    ranked candidates (a clerk may confirm one of them by typing it into 候选个人编号), and each
    candidate's reasons in words."""
    def col(name: str, dtype) -> pl.Expr:
        return pl.col(name) if name in review.columns else pl.lit(None, dtype=dtype)

    def other(i: int) -> pl.Expr:
        return pl.when(col(f"candidate_person_id_{i}", pl.String).is_not_null()).then(pl.format(
            "{}（户 {}）", col(f"candidate_person_id_{i}", pl.String),
            col(f"candidate_household_id_{i}", pl.String)))

    reasons = [_reason_text(text) for text in (review["candidate_reasons"]
                                               if "candidate_reasons" in review.columns
                                               else [None] * review.height)]
    return [
        pl.when(col("review_pending", pl.Boolean)).then(pl.lit("是：接受后该户的标记或类别会改变"))
        .when(col("review_pending", pl.Boolean).is_not_null()).then(pl.lit("否"))
        .alias("影响认定"),
        other(2).alias("第二候选"),
        other(3).alias("第三候选"),
        pl.Series("候选依据", reasons, dtype=pl.String),
    ]


def _reason_text(candidate_reasons: str | None) -> str | None:
    """One line per ranked candidate: ``第1候选：reason；reason``."""
    if not candidate_reasons:
        return None
    return "\n".join(f"第{c['rank']}候选：{'；'.join(c['reasons']) or '无其他依据'}"
                     for c in json.loads(candidate_reasons))


def quarantine_sheet(quarantine: pl.DataFrame) -> pl.DataFrame:
    """The 隔离记录 sheet: one row per refused row or file, columns ``QUARANTINE_COLUMNS``."""
    return quarantine.select(
        pl.col("period").alias("期间"),
        pl.col("source").replace_strict(SOURCE_LABELS, default=pl.col("source")).alias("来源"),
        pl.col("file").alias("文件"),
        pl.col("row_number").alias("行号"),
        pl.col("record_no").alias("记录号"),
        pl.col("reason").alias("原因"),
        pl.lit(None, dtype=pl.String).alias("处理说明"),
    ).select(QUARANTINE_COLUMNS)


def column_widths(frame: pl.DataFrame) -> list[int]:
    """Excel widths that fit each column's header and values (CJK counts 2), clamped to 6..60."""
    if frame.width == 0:
        return []
    widest = frame.select(display_width(pl.col(c)).max().alias(c) for c in frame.columns).row(0)
    headers = frame.select(display_width(pl.lit(c)).alias(c) for c in frame.columns).row(0)
    return [
        min(_MAX_WIDTH, max(_MIN_WIDTH, (w or 0) + 2, h + 2))
        for w, h in zip(widest, headers, strict=True)
    ]


def write_workbook(path: Path, *, sheets: list[Sheet], about: list[tuple[str, str]]) -> Path:
    """Write the workbook: the 说明 sheet first, then each sheet with its header frozen.

    Parameters
    ----------
    path : Path
        Target ``.xlsx`` file (overwritten).
    sheets : list of Sheet
        Data sheets in order.
    about : list of (str, str)
        Rows of the 说明 sheet (item, text).
    """
    workbook = xlsxwriter.Workbook(str(path))
    header = workbook.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "valign": "top"})
    editable = workbook.add_format({"bold": True, "bg_color": "#FFF2CC", "border": 1, "valign": "top"})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    plain = workbook.add_format({"valign": "top"})
    fill = workbook.add_format({"bg_color": "#FFFBEA", "valign": "top", "border": 1, "border_color": "#BFBFBF"})
    _write_about(workbook, about, header=header, wrap=wrap)
    for sheet in sheets:
        _write_sheet(workbook, sheet, header=header, editable=editable, wrap=wrap, plain=plain, fill=fill)
    workbook.close()
    return path


def _write_about(workbook: xlsxwriter.Workbook, about: list[tuple[str, str]], *, header, wrap) -> None:
    ws = workbook.add_worksheet(SHEET_ABOUT)
    ws.write_row(0, 0, ["项目", "内容"], header)
    for r, (item, text) in enumerate(about, start=1):
        ws.write_string(r, 0, item)
        ws.write_string(r, 1, text, wrap)
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 100)
    ws.freeze_panes(1, 0)


def _write_sheet(workbook: xlsxwriter.Workbook, sheet: Sheet, *, header, editable, wrap, plain, fill) -> None:
    ws = workbook.add_worksheet(sheet.name)
    frame = sheet.frame
    n = frame.height
    for c, (name, width) in enumerate(zip(frame.columns, column_widths(frame), strict=True)):
        is_edit = name in sheet.editable
        ws.write_string(0, c, name, editable if is_edit else header)
        ws.set_column(c, c, max(width, 12) if is_edit else width, wrap if width >= _WRAP_WIDTH else plain)
    fill_in = {c for c, name in enumerate(frame.columns) if name in sheet.editable}
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is None:
                if c in fill_in:
                    ws.write_blank(r, c, None, fill)
                continue
            if isinstance(value, str):
                # write_string: an ID or 记录号 must stay text, never become a rounded number
                ws.write_string(r, c, value)
            else:
                ws.write(r, c, value)
    for c, name in enumerate(frame.columns):
        if name in sheet.choices and n:
            words = sheet.choices[name]
            ws.data_validation(1, c, n, c, {
                "validate": "list", "source": words, "ignore_blank": True,
                "input_title": "请选择", "input_message": "、".join(words),
                "error_title": "无效的选项", "error_message": "只能选择：" + "、".join(words),
            })
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(n, 1), frame.width - 1)
