"""The district workbook printed in a real spreadsheet program (issue 14, item 16).

Clerks print the 核查标记 sheet for home visits (入户核查). The sample's 990101 workbook is
converted to PDF by LibreOffice Calc and the PDF is read back with poppler: every page landscape,
every column of a sheet on one page, the header row and a footer with district, period and page
on each page, and far fewer pages than the 25 portrait pages the unformatted workbook gave.

Needs ``soffice`` (libreoffice-calc-nogui) and ``pdfinfo``/``pdftotext`` (poppler-utils). In CI
(``CI`` set) their absence fails the test; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from pipelines.report import write_reports
from pipelines.report.layout import (
    FLAG_COLUMNS,
    REVIEW_COLUMNS,
    SHEET_FLAGS,
    UNPRINTED_COLUMNS,
)

from conftest import SAMPLE_PERIOD

TOOLS = ("soffice", "pdfinfo", "pdftotext")
DISTRICT = "990101"


def _require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return
    message = (f"{', '.join(missing)} not installed (apt-get install -y --no-install-recommends "
               "libreoffice-calc-nogui poppler-utils)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def printed(sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require_tools()
    out = tmp_path_factory.mktemp("print")
    workbook = write_reports(sample_warehouse, period=SAMPLE_PERIOD, districts=[DISTRICT], out=out)[0]
    profile = tmp_path_factory.mktemp("lo-profile")
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(out), str(workbook)],
        check=True, capture_output=True, timeout=300)
    pdf = workbook.with_suffix(".pdf")
    assert pdf.is_file()
    return pdf


def _pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    return [p for p in text.split("\f") if p.strip()]


@pytest.mark.slow
def test_every_page_is_landscape_a4(printed: Path) -> None:
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "1000", str(printed)], check=True,
                          capture_output=True, text=True).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert sizes
    for width, height in sizes:
        assert float(width) > float(height)
        assert abs(float(width) - 841.9) < 2 and abs(float(height) - 595.3) < 2  # A4


@pytest.mark.slow
def test_each_page_repeats_the_header_keeps_all_columns_and_has_the_footer(printed: Path) -> None:
    pages = _pages(printed)
    # the unformatted workbook printed as 25 portrait pages with its columns split; the 告知书
    # sheet (one notice per flagged household, to hand over) is counted apart: it is meant to run
    # to a page or so per household (it is the workbook's last sheet)
    first_notice = next((i for i, p in enumerate(pages) if "家庭经济状况核对告知书" in p), None)
    assert first_notice is not None, "the 告知书 sheet printed nothing"
    assert 3 <= first_notice < 25
    flag_printed = [c for c in FLAG_COLUMNS if c not in UNPRINTED_COLUMNS[SHEET_FLAGS]]
    sheets_seen = set()
    for number, page in enumerate(pages, start=1):
        assert f"区县 {DISTRICT} · {SAMPLE_PERIOD}" in page, number
        assert f"第 {number} 页，共 {len(pages)} 页" in page, number
        if "户主证件号" in page:  # a 核查标记 page: first and last printed columns both on it
            sheets_seen.add("flags")
            assert "户编号" in page and flag_printed[-1] in page, number
            assert "标记代码" not in page, number
        elif "候选户编号" in page:
            sheets_seen.add("review")
            assert REVIEW_COLUMNS[0] in page and REVIEW_COLUMNS[-1] in page, number
    assert sheets_seen == {"flags", "review"}


@pytest.mark.slow
def test_long_texts_wrap_instead_of_being_cut(printed: Path) -> None:
    """Every flag's 原因说明 is printed whole (unwrapped, long sentences were cut at the cell edge)."""
    import openpyxl

    ws = openpyxl.load_workbook(printed.with_suffix(".xlsx"))[SHEET_FLAGS]
    header = [c.value for c in ws[1]]
    column = header.index("原因说明")
    sentences = [row[column] for row in ws.iter_rows(min_row=2, values_only=True) if row[column]]
    assert len(sentences) > 20
    printed_column = _column_text(printed, "原因说明", "计算值")
    cut = [s for s in sentences if re.sub(r"\s+", "", s) not in printed_column]
    assert cut == []


def _column_text(pdf: Path, header: str, next_header: str) -> str:
    """The words printed between two column headers, page by page, top to bottom (no spaces)."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    word = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>')
    out = []
    for page in html.split("<page ")[1:]:
        words = [(float(x), float(y), float(y2), unescape(t)) for x, y, y2, t in word.findall(page)]
        starts = {t: (x, y2) for x, _y, y2, t in words if t in (header, next_header)}
        if header not in starts or next_header not in starts:
            continue
        (x0, top), (x1, _) = starts[header], starts[next_header]
        cell = sorted((round(y, 1), x, t) for x, y, _y2, t in words if x0 - 1 <= x < x1 - 1 and y > top)
        out.append("".join(t for _y, _x, t in cell))
    return "".join(out)
