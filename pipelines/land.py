"""Raw layer: read one delivered file, whatever its encoding or format, as text columns.

A CSV is UTF-8 (with or without BOM) or GB18030/GBK; the header decides, since every required
column name is Chinese and a Chinese GB18030 header is practically never valid UTF-8 (while
gb18030 decodes almost any byte string, so it is only tried when UTF-8 fails). A file whose
body decodes cleanly, holds no control bytes and whose records all have the header's field count
takes the fast path (polars, every column String, no inference); any other file takes the exact
path (Python ``csv``), where a record that does not decode, holds control bytes or has the wrong
number of fields is marked on its own and the rest loads. XLSX: the first sheet, first row the
header (fastexcel).

A file is refused as binary only when it looks like one as a whole: a known binary signature
(PNG, ZIP/XLSX, PDF, …), control bytes in its header line, or a share of control bytes in its
first 64 KiB that no text delivery has. One garbled record (``0xFF 0xFE NUL …``) in a text file
is that record's problem, not the file's (inputs.md, "Order of the row checks", 1).

Outputs of :func:`land_file` keep every delivered row: required columns under their Chinese
names, ``extra`` (JSON text of extra columns, or null), ``file``, ``row_number``, ``sha256``,
plus two private columns the clean stage consumes: ``_problem`` (structural reason, or null)
and ``_id_excel_number`` (an XLSX cell held the ID as a number).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import fastexcel
import polars as pl

from pipelines import csvread
from pipelines.run_notes import Note, note
from pipelines.sources import Source

CHUNK = 16 * 1024 * 1024
BOM = codecs.BOM_UTF8
_MAGIC = (b"\x89PNG", b"PK\x03\x04", b"%PDF", b"GIF8", b"\xff\xd8\xff", b"\xd0\xcf\x11\xe0")
_SNIFF = 8192
#: how much of a CSV's start is looked at to tell a binary file from text with a bad record
_BINARY_SNIFF = 64 * 1024
#: C0 control bytes and DEL, except tab, line feed and carriage return. No byte of a UTF-8 or
#: GB18030 multi-byte character falls in this set, so it is found in the raw bytes.
_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
#: a text delivery has none; random or compressed bytes have about 12 %, executables more
_BINARY_CONTROL_SHARE = 0.10

PROBLEM = "_problem"
EXCEL_ID = "_id_excel_number"


@dataclass
class LandedFile:
    """One delivered file read as text.

    ``frame`` is None exactly when the file is refused (``refused`` then says why, naming the
    file). ``rows_in`` counts the data records read (0 when nothing decodes).
    """

    file: str
    source: str
    sha256: str | None
    rows_in: int = 0
    frame: pl.DataFrame | None = None
    refused: str | None = None
    encoding: str | None = None
    notes: list[Note] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks.

    A run hashes each delivered file twice (the folder-cache key, then landing); the digest is
    remembered per (path, size, modification time), so the second call does not re-read it.
    """
    st = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4096)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:  # noqa: ARG001 - cache key
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def land_file(path: Path, *, spec: Source) -> LandedFile:
    """Read one delivered file of a known source as text columns.

    Parameters
    ----------
    path
        The delivered ``.csv`` or ``.xlsx`` file.
    spec
        The source it belongs to (from :func:`pipelines.sources.spec`).

    Returns
    -------
    LandedFile
        The raw frame (see module docstring) or the reason the whole file is refused.
    """
    if path.suffix.lower() == ".xlsx":
        landed = LandedFile(file=path.name, source=spec.name, sha256=sha256_of(path))
        if path.stat().st_size == 0:
            landed.refused = f"{path.name} is empty (0 bytes)"
            return landed
        return _land_xlsx(path, spec, landed)
    data = path.read_bytes()
    landed = LandedFile(file=path.name, source=spec.name, sha256=hashlib.sha256(data).hexdigest())
    if not data:
        landed.refused = f"{path.name} is empty (0 bytes)"
        return landed
    return _land_csv(data, path.name, spec, landed)


# ----------------------------------------------------------------------------------------- CSV


def _is_binary(head: bytes) -> bool:
    """Whether a file starting with ``head`` is binary rather than text with bad records.

    Looks at the whole header line and at the share of control bytes, never at one byte: a
    record holding ``0xFF 0xFE NUL`` is quarantined on its own by the exact path.
    """
    if head.startswith(_MAGIC):
        return True
    header_line = head.split(b"\n", 1)[0]
    if _CONTROL.search(header_line):
        return True
    return len(_CONTROL.findall(head)) > _BINARY_CONTROL_SHARE * len(head)


def _header_names(fields: list[str]) -> list[str]:
    """Header cells trimmed; a repeated or blank name made unique so every column is kept."""
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(fields):
        name = raw.strip().lstrip("\ufeff").strip() or f"column_{i + 1}"
        base, k = name, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def _missing(names: list[str], spec: Source) -> list[str]:
    return [c for c in spec.required if c not in names]


def _count_records(lines: list[bytes]) -> int:
    return sum(1 for line in lines if line.strip())


def _land_csv(data: bytes, name: str, spec: Source, landed: LandedFile) -> LandedFile:
    """Land a CSV held in memory: the file is read once and decoded once."""
    if _is_binary(data[:_BINARY_SNIFF]):
        landed.refused = f"{name} is not a text file (binary content)"
        return landed
    cut = data.find(b"\n") + 1 or len(data)
    first = data[:cut]
    header_bytes = first[len(BOM):] if first.startswith(BOM) else first
    header_bytes = header_bytes.rstrip(b"\r\n")
    encoding = None
    for candidate in ("utf-8", "gb18030"):
        try:
            header_text = header_bytes.decode(candidate)
        except UnicodeDecodeError:
            continue
        encoding = candidate
        break
    if encoding is None:
        landed.refused = f"{name}: the header cannot be decoded as UTF-8 or GB18030"
        return landed
    landed.encoding = "UTF-8 with BOM" if first.startswith(BOM) else encoding.upper()
    names = _header_names(next(csv.reader([header_text]), []))
    missing = _missing(names, spec)
    if missing:
        landed.rows_in = _count_records(data[cut:].split(b"\n"))
        landed.refused = f"{name} lacks required column {', '.join(missing)}"
        return landed

    frame = None
    # control bytes (the line reader's separator among them) need the exact path
    if not csvread.has_control(data):
        body: bytes | None = data
        if encoding == "gb18030":
            try:
                body = data.decode(encoding).encode("utf-8")
            except UnicodeDecodeError:
                body = None
        # a UTF-8 body is validated by polars itself: a bad byte makes read_body return None
        if body is not None:
            frame = csvread.read_body(body, names, PROBLEM)
    if frame is None:
        frame = _slow(data, names, encoding)
    landed.rows_in = frame.height
    landed.frame = _shape(frame, names, spec, name, landed.sha256)
    return landed


def _slow(raw: bytes, names: list[str], encoding: str) -> pl.DataFrame:
    """Exact parse: one record at a time, so a bad record is marked and the rest loads."""
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    physical = raw.split(b"\n")[1:]
    width = len(names)
    rows: list[list[str | None]] = []
    problems: list[str | None] = []

    def flush(block: list[str]) -> None:
        for fields in csv.reader(block):
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            cells: list[str] | list[str | None] = fields
            if len(fields) != width:
                problems.append(f"record has {len(fields)} fields, the header has {width}")
                cells = (fields + [None] * width)[:width]
            else:
                problems.append(None)
            rows.append([None if v is None or v == "" else v for v in cells])

    block: list[str] = []
    for line in physical:
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError:
            flush(block)
            block = []
            rows.append([None] * width)
            problems.append(f"record bytes do not decode as {encoding.upper()} (the file's encoding)")
            continue
        text = text.rstrip("\r")
        if _CONTROL_TEXT.search(text):
            # NUL and other control bytes are binary garbage inside this record, not text
            flush(block)
            block = []
            rows.append([None] * width)
            problems.append("record holds control bytes (binary data), not text")
            continue
        block.append(text + "\n")
    flush(block)
    frame = pl.DataFrame(rows, schema={n: pl.String for n in names}, orient="row")
    return frame.with_columns(pl.Series(PROBLEM, problems, dtype=pl.String))


def _shape(frame: pl.DataFrame, names: list[str], spec: Source, file: str, sha: str | None,
           excel_id: pl.Series | None = None) -> pl.DataFrame:
    """Required columns, ``extra`` JSON, file/row_number/sha256 and the private columns."""
    extras = [n for n in names if n not in spec.required]
    extra = (
        pl.when(pl.any_horizontal([pl.col(c).is_not_null() for c in extras]))
        .then(pl.struct(extras).struct.json_encode())
        if extras else pl.lit(None, pl.String)
    )
    out = frame.select(
        *[pl.col(c) for c in spec.required],
        extra.alias("extra"),
        pl.lit(file).alias("file"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row_number"),
        pl.lit(sha, pl.String).alias("sha256"),
        pl.col(PROBLEM),
    )
    flag = excel_id if excel_id is not None else pl.Series(EXCEL_ID, [False] * out.height, pl.Boolean)
    return out.with_columns(flag.alias(EXCEL_ID))


# ---------------------------------------------------------------------------------------- XLSX

_DATETIME_CELL = r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00(?:\.0+)?$"


def _land_xlsx(path: Path, spec: Source, landed: LandedFile) -> LandedFile:
    try:
        reader = fastexcel.read_excel(path)
        sheet_names = reader.sheet_names
    except Exception:  # fastexcel raises several unrelated types for a broken workbook
        with path.open("rb") as fh:
            head = fh.read(_SNIFF)
        kind = "not a readable XLSX workbook" + (" (binary content)" if _is_binary(head) else "")
        landed.refused = f"{path.name} is {kind}"
        return landed
    landed.encoding = "XLSX"
    if not sheet_names:
        landed.refused = f"{path.name}: the workbook has no sheet"
        return landed
    if len(sheet_names) > 1:
        landed.notes.append(note("extra_sheets", file=path.name, sheets=list(sheet_names[1:])))
    text = reader.load_sheet(0, dtypes="string", schema_sample_rows=None).to_polars()
    if text.width == 0:
        landed.refused = f"{path.name}: the first sheet ({sheet_names[0]}) is empty"
        return landed
    names = _header_names([c if not c.startswith("__UNNAMED__") else "" for c in text.columns])
    text.columns = names
    missing = _missing(names, spec)
    nonempty = pl.any_horizontal([pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "")
                                  for c in names])
    keep = text.select(nonempty.alias("keep")).to_series()
    if missing:
        landed.rows_in = int(keep.sum())
        landed.refused = f"{path.name} lacks required column {', '.join(missing)}"
        return landed
    id_col = next(c.zh for c in spec.columns if c.kind == "id")
    # a cell Excel holds as a number reads as a boolean; a text cell does not
    kinds = reader.load_sheet(0, dtypes={names.index(id_col): "boolean"},
                              use_columns=[names.index(id_col)],
                              schema_sample_rows=None).to_polars()
    excel_id = kinds.to_series(0).is_not_null().alias(EXCEL_ID).filter(keep)
    text = text.filter(keep).with_columns(
        [pl.col(c).str.replace(_DATETIME_CELL, "$1") for c in names]
    ).with_columns(pl.lit(None, pl.String).alias(PROBLEM))
    landed.rows_in = text.height
    landed.frame = _shape(text, names, spec, path.name, landed.sha256, excel_id)
    return landed

