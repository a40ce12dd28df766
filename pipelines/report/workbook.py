"""Report layer: the district review workbook (xlsxwriter), in the layout of ``layout.py``.

:func:`flag_sheet`, :func:`review_sheet` and :func:`quarantine_sheet` turn the frames of
:mod:`pipelines.report.data` into frames whose columns are exactly the layout's Chinese headers;
:func:`write_workbook` writes them with the header and the row's key frozen, an autofilter, widths
that fit Chinese text, drop-downs of the decision words on the columns a clerk fills in, and a
print layout (landscape A4, one page wide, header row on every page, a footer).
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import xlsxwriter

from pipelines.reasons import with_reason_zh
from pipelines.report.layout import (
    FLAG_COLUMNS,
    FLAG_DECISIONS,
    FLAG_LABELS,
    FROZEN_COLUMNS,
    LINK_DECISIONS,
    QUARANTINE_COLUMNS,
    REVIEW_COLUMNS,
    SHEET_ABOUT,
    SOURCE_LABELS,
    UNPRINTED_COLUMNS,
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
    review_reason_zh,
)

if TYPE_CHECKING:
    from pipelines.rulebook import Rules

#: the drop-down words (Chinese only; the importer also accepts the English words)
FLAG_CHOICES = [w for w in FLAG_DECISIONS if not w.isascii()]
LINK_CHOICES = [w for w in LINK_DECISIONS if not w.isascii()]
#: the column a clerk picks a decision word in, per sheet
FLAG_DECISION_COLUMN = "处理结果"
REVIEW_DECISION_COLUMN = "核对结论"

_MIN_WIDTH, _MAX_WIDTH = 6, 60
#: a column whose text is wider than this wraps at this width (on screen and on paper: a sheet
#: printed one page wide is only readable when its long texts wrap instead of widening the page)
_WRAP_WIDTH = 36
#: points per line of wrapped 11-point text (CJK glyphs are taller than Latin ones)
_LINE_HEIGHT = 15
#: China has no daylight saving: Beijing time is UTC+8 all year
BEIJING = timezone(timedelta(hours=8), "北京时间")
#: what 匹配得分 says for a candidate found by name alone (its probability is not a match score)
NAME_ONLY_SCORE = "仅姓名相同，不计分"


def beijing_time(moment: datetime) -> str:
    """A stored moment as Beijing date and time (``2026-11-06 07:30``); a naive one is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its name, its rows (columns = headers), and the columns with a drop-down."""

    name: str
    frame: pl.DataFrame
    choices: dict[str, list[str]] = field(default_factory=dict)
    #: columns a clerk fills in (highlighted header)
    editable: tuple[str, ...] = ()
    #: text columns whose numeric values are written as numbers (e.g. 匹配得分 beside 仅姓名相同)
    numbers: tuple[str, ...] = ()


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
            who = "，".join(str(x) for x in (by, beijing_time(at) if at else None) if x)
            detail = "，".join(x for x in (reason, who) if x)
            parts.append(f"现有处理：{word}" + (f"（{detail}）" if detail else ""))
        for item in history or []:
            word = FLAG_DECISION_WORDS.get(item["decision"], item["decision"])
            parts.append(f"{item['period']} {word}" + (f"：{item['reason']}" if item["reason"] else ""))
        texts.append("；".join(parts) or None)
    return texts


def flag_sheet(flags: pl.DataFrame, *, full_identity: bool = False,
               rules: Rules | None = None) -> pl.DataFrame:
    """The 核查标记 sheet: one row per (household, flag), columns ``FLAG_COLUMNS``.

    Parameters
    ----------
    flags : pl.DataFrame
        :func:`pipelines.report.data.flagged_households`.
    full_identity : bool
        Show the 户主's name and ID in full (default: masked in the middle).
    rules : Rules, optional
        The rulebook resolved on the last day of the report's period. A row assessed under the
        same version is worded by it (INCOME_DROP's months); another row, or none given, reads as
        under the default parameters.
    """
    # evidence sentences are built per flag row in Python: one short JSON per flagged household
    # (thousands, not millions), and the wording depends on which figures each flag carries
    parsed = [parse_evidence(e) for e in flags["evidence"]]
    in_force = [rules if rules is not None and v == rules.version else None
                for v in flags["rulebook_version"]]
    reasons = [
        explain_flag(f, e, programme=p, rules=r)
        for f, e, p, r in zip(flags["flag"], parsed, flags["programme"], in_force, strict=True)
    ]
    quantities = [describe_quantities(e, rules=r) or None
                  for e, r in zip(parsed, in_force, strict=True)]
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
    notes = [review_reason_zh(r) for r in review["reason"]]
    why = pl.concat_str(
        [
            pl.col("method").replace_strict(REVIEW_METHODS, default=None, return_dtype=pl.String),
            pl.Series(comparisons, dtype=pl.String),
            pl.concat_str([pl.lit("系统说明："), pl.Series(notes, dtype=pl.String)]),
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
        # a name-only candidate is never scored as a match: say so rather than show its number
        pl.when(pl.col("method") == "name_only").then(pl.lit(NAME_ONLY_SCORE))
        .otherwise(pl.col("score").round(3).map_elements(lambda v: f"{v:.3f}", return_dtype=pl.String))
        .alias("匹配得分"),
        why.alias("存疑原因"),
        *_queue_cells(review),
        *(pl.lit(None, dtype=pl.String).alias(c) for c in ("核对结论", "处理说明", "经办人")),
    ).select(REVIEW_COLUMNS)


def _queue_cells(review: pl.DataFrame) -> list[pl.Expr | pl.Series]:
    """Issue 19's cells of the review sheet.

    Whether the record can change a household's outcome, the 2nd and 3rd ranked candidates (a
    clerk may confirm one of them by typing it into 候选个人编号), and each candidate's reasons
    in words.
    """
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
    """The 隔离记录 sheet: one row per refused row or file, columns ``QUARANTINE_COLUMNS``.

    The reason is shown in Chinese (:func:`pipelines.reasons.reason_zh`); the sheet is for
    reference only and has nothing to fill in.
    """
    return with_reason_zh(quarantine).select(
        pl.col("period").alias("期间"),
        pl.col("source").replace_strict(SOURCE_LABELS, default=pl.col("source")).alias("来源"),
        pl.col("file").alias("文件"),
        pl.col("row_number").alias("行号"),
        pl.col("record_no").alias("记录号"),
        pl.col("reason_zh").alias("原因"),
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


def write_workbook(path: Path, *, sheets: list[Sheet], about: list[tuple[str, str]],
                   footer: str = "") -> Path:
    """Write the workbook: the 说明 sheet first, then each sheet with its header frozen.

    Every sheet prints landscape on A4, one page wide, with the header row repeated on each
    page and a footer naming ``footer`` (district and period) and the page number.

    Parameters
    ----------
    path : Path
        Target ``.xlsx`` file (overwritten).
    sheets : list of Sheet
        Data sheets in order.
    about : list of (str, str)
        Rows of the 说明 sheet (item, text).
    footer : str
        What the printed footer names on the left, e.g. ``区县 990101 · 2026-10``.
    """
    workbook = xlsxwriter.Workbook(str(path))
    header = workbook.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "valign": "top"})
    editable = workbook.add_format({"bold": True, "bg_color": "#FFF2CC", "border": 1, "valign": "top"})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    plain = workbook.add_format({"valign": "top"})
    fill = workbook.add_format({"bg_color": "#FFFBEA", "valign": "top", "border": 1, "border_color": "#BFBFBF"})
    _print_layout(_write_about(workbook, about, header=header, wrap=wrap), footer=footer)
    for sheet in sheets:
        ws = _write_sheet(workbook, sheet, header=header, editable=editable, wrap=wrap, plain=plain,
                          fill=fill)
        _print_layout(ws, footer=footer)
    workbook.close()
    return path


def _print_layout(ws, *, footer: str) -> None:
    """Clerks print the sheets for home visits (入户核查): make a page readable on paper."""
    ws.set_paper(9)  # A4
    ws.set_landscape()
    ws.fit_to_pages(1, 0)  # one page wide, as many pages tall as needed
    ws.repeat_rows(0)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    ws.hide_gridlines(0)  # gridlines on paper too: the rows are hard to follow without them
    # & starts a header/footer code: a literal one is written &&
    ws.set_footer(f"&L{footer.replace('&', '&&')}&C&A&R第 &P 页，共 &N 页")


def _write_about(workbook: xlsxwriter.Workbook, about: list[tuple[str, str]], *, header, wrap):
    ws = workbook.add_worksheet(SHEET_ABOUT)
    ws.write_row(0, 0, ["项目", "内容"], header)
    for r, (item, text) in enumerate(about, start=1):
        ws.write_string(r, 0, item)
        ws.write_string(r, 1, text, wrap)
    ws.set_column(0, 0, 14)
    ws.set_column(1, 1, 100)
    ws.freeze_panes(1, 0)
    return ws


def _write_sheet(workbook: xlsxwriter.Workbook, sheet: Sheet, *, header, editable, wrap, plain, fill):
    ws = workbook.add_worksheet(sheet.name)
    frame = sheet.frame
    n = frame.height
    wrapped: set[int] = set()
    for c, (name, width) in enumerate(zip(frame.columns, column_widths(frame), strict=True)):
        is_edit = name in sheet.editable
        ws.write_string(0, c, name, editable if is_edit else header)
        if width > _WRAP_WIDTH:
            wrapped.add(c)
        ws.set_column(c, c, max(width, 12) if is_edit else min(width, _WRAP_WIDTH),
                      wrap if c in wrapped else plain)
    fill_in = {c for c, name in enumerate(frame.columns) if name in sheet.editable}
    numbers = {c for c, name in enumerate(frame.columns) if name in sheet.numbers}
    widths = {c: min(w, _WRAP_WIDTH) for c, w in enumerate(column_widths(frame)) if c in wrapped}
    for r, row in enumerate(frame.iter_rows(), start=1):
        lines = max((_lines(row[c], widths[c]) for c in wrapped), default=1)
        if lines > 1:
            # spreadsheet programs do not grow a row for wrapped text written by a program
            # (LibreOffice keeps the default height): give it the height its text needs
            ws.set_row(r, _LINE_HEIGHT * lines)
        for c, value in enumerate(row):
            if value is None:
                if c in fill_in:
                    ws.write_blank(r, c, None, fill)
                continue
            if isinstance(value, str) and c in numbers and _is_number(value):
                ws.write_number(r, c, float(value))
            elif isinstance(value, str):
                # write_string: an ID or 记录号 must stay text, never become a rounded number; a
                # cell's own format is what spreadsheet programs apply, so wrap is set per cell
                ws.write_string(r, c, value, wrap if c in wrapped else plain)
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
    # the header row, and the columns up to the row's key (户编号, 记录号), stay in view
    key = FROZEN_COLUMNS.get(sheet.name)
    ws.freeze_panes(1, frame.columns.index(key) + 1 if key in frame.columns else 0)
    ws.autofilter(0, 0, max(n, 1), frame.width - 1)
    unprinted = UNPRINTED_COLUMNS.get(sheet.name, ())
    printed = [c for c in frame.columns if c not in unprinted]
    if printed != list(frame.columns[:len(printed)]):
        raise ValueError(f"{sheet.name}: unprinted columns must come last")
    ws.print_area(0, 0, max(n, 1), len(printed) - 1)
    return ws


def _lines(value: object, width: int) -> int:
    """Lines a text takes wrapped in a column ``width`` characters wide (CJK counts 2)."""
    if not isinstance(value, str) or not value:
        return 1
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)
    # wrapping breaks at words and punctuation, so a line holds a little less than the width
    return max(1, math.ceil(used / max(width - 1, 1)))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
