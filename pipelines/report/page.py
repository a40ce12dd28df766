"""Report layer: the pieces every HTML page of the reports is built from.

The font stack, a chart rendered to inline SVG, a frame as an HTML table and a titled section.
The period's report (``html``), its fairness section (``fairness``) and the what-if report
(``whatif_html``) all use them; keeping them here lets the fairness section be imported by the
report page without the two importing each other.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # altair and vl-convert load in ~1 s: only when a report is rendered
    import altair as alt

_FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
_VEGA_FONT = "Noto Sans CJK SC"


def _svg(chart: alt.TopLevelMixin) -> str:
    import vl_convert
    spec = chart.configure(font=_VEGA_FONT).configure_view(stroke=None).to_json()
    return vl_convert.vegalite_to_svg(spec)


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if v is None else escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, svg: str | None, note: str = "") -> str:
    body = f'<div class="chart">{svg}</div>' if svg else '<p class="empty">本期无数据。</p>'
    return f"<section><h2>{escape(title)}</h2>{body}{note}</section>"
