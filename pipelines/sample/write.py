"""Sample layer: write delivered files (CSV in a chosen encoding, XLSX) byte-for-byte reproducibly."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import xlsxwriter

ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
#: fixed document properties: the same seed gives the same bytes
_CREATED = datetime(2026, 1, 1, 0, 0, 0)


def write_csv(df: pl.DataFrame, path: Path, *, encoding: str) -> None:
    """All-text frame -> CSV (header line, quoted only where needed) in ``encoding``."""
    text = df.write_csv(null_value="", quote_style="necessary", line_terminator="\n")
    path.write_bytes(text.encode(encoding))


def write_xlsx(df: pl.DataFrame, path: Path, *, numeric: dict[str, list[object]] | None = None) -> None:
    """Frame -> first sheet of an XLSX; text stays text (IDs are never numbers).

    ``numeric`` maps a column to replacement cell values (int/float/date/None) written as numbers
    or dates, as some institutions' exports do.
    """
    numeric = numeric or {}
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": False, "strings_to_numbers": False})
    wb.set_properties({"created": _CREATED, "author": "hedui sample"})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Sheet1")
    for j, col in enumerate(df.columns):
        ws.write_string(0, j, col)
        values = numeric.get(col)
        if values is None:
            for i, v in enumerate(df[col].to_list(), start=1):
                if v:
                    ws.write_string(i, j, v)
            continue
        for i, v in enumerate(values, start=1):
            if v is None or v == "":
                continue
            if isinstance(v, date):
                ws.write_datetime(i, j, datetime(v.year, v.month, v.day), date_fmt)
            elif isinstance(v, (int, float, np.integer, np.floating)):
                ws.write_number(i, j, v)
            else:
                ws.write_string(i, j, str(v))
    wb.close()
