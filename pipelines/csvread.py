"""Raw layer, CSV fast path: parse a decoded CSV body held in memory, in one polars read.

:mod:`pipelines.land` reads a delivered file once (bytes), decodes it once to UTF-8 and hands
the bytes here. Whether every record has the header's field count is decided on the bytes
themselves (numpy), so the common file — no blank lines, no quoted line breaks, every line the
right width — is parsed by one ``polars.read_csv`` and nothing else. Any other file goes through the line-level
check of the earlier fast path (one polars read of the lines, quoted commas discounted); a file
that fails it returns None and takes the exact path (Python ``csv``) in :mod:`pipelines.land`.

The three ways return the same frame for the same file: the byte check only ever chooses between
paths, and the parse itself is the same ``read_csv`` call.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_LINE_SEP = "\x1f"
_NEWLINE, _COMMA, _QUOTE = 0x0A, 0x2C, 0x22


def has_control(data: bytes) -> bool:
    """Whether ``data`` holds a C0 control byte other than tab, LF and CR, or DEL.

    No byte of a UTF-8 or GB18030 multi-byte character is below 0x20 or equal to 0x7F, so the
    test works on undecoded bytes. One numpy pass; tab, LF and CR are counted with ``bytes.count``.
    """
    below = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) < 0x20))
    allowed = data.count(b"\t") + data.count(b"\n") + data.count(b"\r")
    return below != allowed or b"\x7f" in data


def _uniform_width(data: bytes, width: int) -> int | None:
    """Number of data lines when every line has ``width - 1`` field separators, else None.

    A separator is a comma outside quotes. Only decided when every line (the header too) holds
    an even number of quotes, so no quoted field spans lines: then a comma is inside quotes
    exactly when an odd number of quotes precede it (the same pairing as the line check's
    ``"[^"]*"``). A trailing line end does not start a line; a blank line has no separator,
    so a file holding one returns None.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == _NEWLINE)
    if ends.size == 0:
        return None
    # line k (k = 1 … after the header) runs from ends[k-1] + 1 to ends[k] or to the end of data
    stops = ends[1:] if ends[-1] == len(data) - 1 else np.append(ends[1:], len(data))
    bounds = np.concatenate(([ends[0]], stops))
    commas = np.flatnonzero(arr == _COMMA)
    per_line = np.diff(np.searchsorted(commas, bounds))
    quotes = np.flatnonzero(arr == _QUOTE)
    if quotes.size:
        before = np.searchsorted(quotes, np.concatenate(([0], bounds)))
        if bool((np.diff(before) % 2).any()):
            return None
        # quotes pair up within their line: discount the commas between each pair, per line
        opening, closing = quotes[0::2], quotes[1::2]
        inside = np.searchsorted(commas, closing) - np.searchsorted(commas, opening)
        line = np.searchsorted(bounds, opening)  # 0 is the header, k the k-th data line
        data_line = line > 0
        per_line = per_line - np.bincount(line[data_line] - 1, weights=inside[data_line],
                                          minlength=per_line.size).astype(per_line.dtype)
    if per_line.size == 0 or not bool((per_line == width - 1).all()):
        return None
    return int(per_line.size)


def read_body(data: bytes, names: list[str], problem: str) -> pl.DataFrame | None:
    """Parse a whole UTF-8 CSV (header line included) into String columns named ``names``.

    Parameters
    ----------
    data
        The file's bytes as UTF-8 (a UTF-8 BOM may lead), free of control bytes.
    names
        The header's column names (already made unique), in file order.
    problem
        Name of the structural-problem column to add (all null here).

    Returns
    -------
    pl.DataFrame or None
        One row per record (blank lines dropped), every column String, empty fields null; None
        when some record needs the exact path (wrong field count, an odd quote, bytes that are
        not UTF-8).
    """
    width = len(names)
    lines = _uniform_width(data, width)
    if lines is not None:
        frame = _read(data)
        if frame is not None and frame.height == lines and frame.width == width:
            frame.columns = names
            return frame.with_columns(pl.lit(None, pl.String).alias(problem))
    return _read_checked(data, names, problem)


def _read(data: bytes) -> pl.DataFrame | None:
    try:
        return pl.read_csv(data, has_header=True, infer_schema=False, low_memory=False)
    except pl.exceptions.PolarsError:
        # invalid UTF-8 or a record polars cannot split: the exact path decides
        return None


def _read_checked(data: bytes, names: list[str], problem: str) -> pl.DataFrame | None:
    """The line-level check: quoted fields, blank lines; None when a record is malformed."""
    try:
        lines = pl.read_csv(data, has_header=False, separator=_LINE_SEP, quote_char=None,
                            new_columns=["line"], infer_schema=False, low_memory=False)
    except pl.exceptions.PolarsError:
        return None
    line = pl.col("line")
    lines = lines.slice(1).with_columns(
        _quotes=line.str.count_matches('"', literal=True).fill_null(0),
        _commas=line.str.count_matches(",", literal=True).fill_null(0),
        _record=line.str.contains(r"\S").fill_null(False),
    )
    width = len(names)
    checks = lines.select(
        odd_quotes=(pl.col("_quotes") % 2 == 1).any(),
        bad_plain=(pl.col("_record") & (pl.col("_quotes") == 0) & (pl.col("_commas") + 1 != width)).any(),
    )
    if checks.item(0, "odd_quotes") or checks.item(0, "bad_plain"):
        return None
    # only lines with quotes need their quoted commas discounted
    quoted = lines.filter(pl.col("_quotes") > 0).select(
        (line.str.replace_all(r'"[^"]*"', "").str.count_matches(",", literal=True) + 1 != width).any()
    ).item()
    if quoted:
        return None
    frame = _read(data)
    if frame is None or frame.height != lines.height or frame.width != width:
        return None
    frame.columns = names
    return frame.filter(lines.get_column("_record")).with_columns(pl.lit(None, pl.String).alias(problem))
