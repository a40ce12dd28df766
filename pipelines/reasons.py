"""Clean layer: quarantine reasons — one registry of kinds, a stable code and a Chinese sentence.

The loaders (``pipelines/land.py``, ``pipelines/normalize/values.py``, ``pipelines/clean.py``)
word each problem in English as they find it; ``quarantine.reason`` keeps that text (it names the
column and the value) and ``quarantine.reason_code`` holds the stable codes, one per problem,
joined by ``;``. Everything people read — the 隔离记录 sheet, the HTML report, the run summary —
shows the Chinese sentence of :func:`reason_zh` (``余额 “2e14” 不是有效金额``), and groups rows by
kind with :func:`reason_kind_zh`: the sentence with its values left out.

Every wording the loaders produce has an entry in :data:`KINDS` (``tests/test_reasons.py`` walks
the loaders to check it); a text no entry matches keeps the code ``other`` and is shown as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

#: the code of a reason no kind matches (shown as written)
OTHER = "other"
#: template fields that name what kind of problem it is (kept in the kind); all others are values
_KIND_FIELDS = frozenset({"column", "columns"})
_ELIDED = "…"


@dataclass(frozen=True)
class ReasonKind:
    """One kind of quarantine reason: its code, the loaders' English wording and the Chinese."""

    code: str
    #: full-match regex of the English text; its named groups fill ``zh``
    english: re.Pattern[str]
    zh: str

    def sentence(self, match: re.Match[str], *, elide: bool = False) -> str:
        """The Chinese sentence; with ``elide`` every value but the column names becomes …."""
        fields = {k: (v if (k in _KIND_FIELDS or not elide) else _ELIDED)
                  for k, v in match.groupdict(default="").items()}
        return self.zh.format(**fields)


def _kind(code: str, english: str, zh: str) -> ReasonKind:
    return ReasonKind(code, re.compile(english), zh)


_COL = r"(?P<column>\S+)"
_VAL = r"'(?P<value>.*)'"
_FILE = r"(?P<file>.+?)"

KINDS: tuple[ReasonKind, ...] = (
    # pipelines/normalize/values.py — one value of a row
    _kind("amount_invalid", rf"{_COL} {_VAL} is not an amount", "{column} “{value}” 不是有效金额"),
    _kind("amount_decimals", rf"{_COL} {_VAL} has more than two decimals",
          "{column} “{value}” 的小数超过两位"),
    _kind("amount_too_large", rf"{_COL} {_VAL} is above (?P<limit>[\d,]+) yuan",
          "{column} “{value}” 超过 {limit} 元"),
    _kind("month_invalid", rf"{_COL} {_VAL} is not a month", "{column} “{value}” 不是有效月份"),
    _kind("month_after_delivery", rf"{_COL} {_VAL} is after the delivery month (?P<month>\S+)",
          "{column} “{value}” 晚于交付月份 {month}"),
    _kind("date_invalid", rf"{_COL} {_VAL} is not a date", "{column} “{value}” 不是有效日期"),
    _kind("date_after_delivery",
          rf"{_COL} {_VAL} is after the end of the delivery month \((?P<day>[^)]*)\)",
          "{column} “{value}” 晚于交付月份的最后一天（{day}）"),
    _kind("number_invalid", rf"{_COL} {_VAL} is not a number", "{column} “{value}” 不是有效数字"),
    _kind("blank", rf"{_COL} is blank", "{column} 为空"),
    # pipelines/clean.py — repeats of a key
    _kind("record_no_conflict", r"记录号 (?P<value>.*) repeats with different values \(conflict\)",
          "记录号 {value} 重复出现且内容不同（冲突）"),
    _kind("person_id_repeated", r"个人编号 (?P<value>.*) repeats \((?P<rows>\d+) rows\)",
          "个人编号 {value} 在花名册中重复出现（{rows} 行）"),
    # pipelines/land.py — the structure of a row
    _kind("field_count", r"record has (?P<fields>\d+) fields, the header has (?P<width>\d+)",
          "该行有 {fields} 个字段，表头有 {width} 个"),
    _kind("undecodable_row", r"record bytes do not decode as (?P<encoding>.+) \(the file's encoding\)",
          "该行的字节无法按文件的编码（{encoding}）解码"),
    _kind("control_bytes", r"record holds control bytes \(binary data\), not text",
          "该行含有控制字符（二进制数据），不是文本"),
    # pipelines/land.py and pipelines/clean.py — a file refused whole
    _kind("file_empty", rf"{_FILE} is empty \(0 bytes\)", "文件 {file} 是空文件（0 字节）"),
    _kind("file_binary", rf"{_FILE} is not a text file \(binary content\)",
          "文件 {file} 不是文本文件（二进制内容）"),
    _kind("header_undecodable", rf"{_FILE}: the header cannot be decoded as UTF-8 or GB18030",
          "文件 {file} 的表头无法按 UTF-8 或 GB18030 解码"),
    _kind("missing_columns", rf"{_FILE} lacks required column (?P<columns>.+)",
          "文件 {file} 缺少必需列 {columns}"),
    _kind("xlsx_unreadable", rf"{_FILE} is not a readable XLSX workbook(?P<binary> \(binary content\))?",
          "文件 {file} 不是可读取的 XLSX 工作簿"),
    _kind("workbook_no_sheet", rf"{_FILE}: the workbook has no sheet", "工作簿 {file} 没有工作表"),
    _kind("sheet_empty", rf"{_FILE}: the first sheet \((?P<sheet>.*)\) is empty",
          "工作簿 {file} 的第一个工作表（{sheet}）是空的"),
    _kind("unknown_file", rf"{_FILE} is not a delivery this office knows \(.*\)",
          "文件 {file} 不是约定的交付文件（应为 register、来源名称或 bank_*，格式为 .csv 或 .xlsx）"),
)


def _parts(text: str) -> list[tuple[ReasonKind | None, re.Match[str] | None, str]]:
    """Split a row's reasons (joined by ``; ``) and match each to its kind.

    A piece no kind matches is joined to the next one before giving up, so that a value holding
    ``; `` does not split its reason in two.
    """
    pieces = text.split("; ")
    out: list[tuple[ReasonKind | None, re.Match[str] | None, str]] = []
    i = 0
    while i < len(pieces):
        found = None
        for j in range(i, len(pieces)):
            candidate = "; ".join(pieces[i:j + 1])
            for kind in KINDS:
                m = kind.english.fullmatch(candidate)
                if m:
                    found = (kind, m, candidate, j)
                    break
            if found:
                break
        if found is None:
            out.append((None, None, pieces[i]))
            i += 1
        else:
            kind, m, candidate, j = found
            out.append((kind, m, candidate))
            i = j + 1
    return out


def reason_code(text: str | None) -> str | None:
    """The stable codes of a reason text, one per problem, joined by ``;`` (None for None).

    Examples
    --------
    >>> reason_code("余额 '2e14' is not an amount; 记录号 is blank")
    'amount_invalid;blank'
    """
    if text is None:
        return None
    return ";".join(k.code if k else OTHER for k, _m, _t in _parts(text))


def reason_zh(text: str | None) -> str | None:
    """The reason in Chinese, each problem a sentence, joined by ``；`` (None for None)."""
    if text is None:
        return None
    return "；".join(k.sentence(m) if k and m else t for k, m, t in _parts(text))


def reason_kind_zh(text: str | None) -> str:
    """The reason's kind in Chinese: the sentences with values left out (``余额 “…” 不是有效金额``).

    A text no kind matches is shown with its quoted values and digit runs left out, so that no
    ID number or amount reaches an aggregate.
    """
    if text is None:
        return "（未说明）"
    return "；".join(
        k.sentence(m, elide=True) if k and m
        else re.sub(r"[0-9０-９]{3,}[0-9Xx]*", _ELIDED, re.sub(r"'[^']*'", f"'{_ELIDED}'", t))
        for k, m, t in _parts(text))


def with_reason_code(quarantine: pl.DataFrame) -> pl.DataFrame:
    """``quarantine`` with ``reason_code`` computed from ``reason`` (one lookup per distinct text)."""
    return _mapped(quarantine, reason_code, "reason_code")


def with_reason_zh(quarantine: pl.DataFrame) -> pl.DataFrame:
    """``quarantine`` with ``reason_zh`` and ``reason_kind`` (Chinese) from ``reason``."""
    return _mapped(_mapped(quarantine, reason_zh, "reason_zh"), reason_kind_zh, "reason_kind")


def _mapped(frame: pl.DataFrame, fn, alias: str) -> pl.DataFrame:
    # quarantine frames are small and their texts repeat: map each distinct text once
    distinct = frame.select(pl.col("reason").unique())
    table = distinct.with_columns(
        pl.Series(alias, [fn(t) for t in distinct["reason"].to_list()], dtype=pl.String))
    return frame.join(table, on="reason", how="left", nulls_equal=True, maintain_order="left")


def count_by_kind(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Quarantined rows per kind of reason, each row counted once, with counts per source.

    A row with several problems counts once, under the kinds of all its problems together, so
    that ``rows`` sums to the number of quarantined rows.

    Parameters
    ----------
    quarantine : pl.DataFrame
        Rows with ``source`` and ``reason``.

    Returns
    -------
    pl.DataFrame
        ``kind`` (Chinese, values left out), ``code``, ``rows`` and ``by_source`` (a list of
        ``{source, rows}``, most rows first), most frequent kind first.
    """
    if quarantine.is_empty():
        return pl.DataFrame(schema={"kind": pl.String, "code": pl.String, "rows": pl.Int64,
                                    "by_source": pl.List(pl.Struct({"source": pl.String,
                                                                    "rows": pl.Int64}))})
    kinds = _mapped(_mapped(quarantine.select("source", "reason"), reason_kind_zh, "kind"),
                    reason_code, "code").with_columns(pl.col("code").fill_null(OTHER))
    per_source = (kinds.group_by("kind", "code", "source").agg(pl.len().cast(pl.Int64).alias("rows"))
                  .sort(["rows", "source"], descending=[True, False]))
    return (per_source.group_by("kind", "code", maintain_order=True)
            .agg(pl.col("rows").sum().alias("rows"),
                 pl.struct("source", "rows").alias("by_source"))
            .sort(["rows", "kind"], descending=[True, False]))
