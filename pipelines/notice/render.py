"""Report layer: rendering notices, for one household, a district's workbook or ``hedui notice``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import jinja2
import polars as pl

from pipelines.notice.context import notice_context
from pipelines.notice.fetch import _prefetch, _Prefetched
from pipelines.notice.vocabulary import (
    FRAME_TEMPLATE,
    NOTICE_DIR,
    NoticeError,
    _environment,
)
from pipelines.periods import parse_period
from pipelines.rulebook import Rulebook


def render_notice(context: dict, *, folder: Path | None = None) -> str:
    """Render the frame template with one flag template per flag.

    Raises
    ------
    NoticeError
        A flag has no template, or a template uses a value the context does not have.
    """
    env = _environment((folder or NOTICE_DIR).resolve())
    sections = []
    try:
        for f in context["flags"]:
            try:
                template = env.get_template(f"{f['flag']}.md.j2")
            except jinja2.TemplateNotFound as exc:
                raise NoticeError(f"标记 {f['flag']} 没有告知书模板（rules/notices/{f['flag']}.md.j2）") from exc
            sections.append(template.render(f=f).strip())
        text = env.get_template(FRAME_TEMPLATE).render(sections=sections, **context)
    except jinja2.UndefinedError as exc:
        raise NoticeError(f"告知书模板引用了不存在的数值：{exc}") from exc
    return text.strip() + "\n"


def household_notice(con: duckdb.DuckDBPyConnection, *, period: str, household_id: str,
                     rulebook: Rulebook | None = None, folder: Path | None = None,
                     prefetched: _Prefetched | None = None) -> str:
    """The notice for one flagged household of ``period`` (plain Chinese text).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection to the warehouse.
    period : str
        ``YYYY-MM``.
    household_id : str
        The register's 户编号.
    rulebook, folder, prefetched
        As for :func:`notice_context`.

    Raises
    ------
    NoticeError
        See :func:`notice_context` and :func:`render_notice`.
    """
    return render_notice(notice_context(con, period=period, household_id=household_id,
                                        rulebook=rulebook, folder=folder, prefetched=prefetched),
                         folder=folder)


def district_notices(con: duckdb.DuckDBPyConnection, *, period: str, districts: Sequence[str]
                     ) -> pl.DataFrame:
    """One notice per flagged household of the districts: ``district_code, household_id, text``.

    A household whose notice cannot be written (e.g. a flag without template) gets the reason
    instead, so that the district's workbook is still written.

    Everything is read once for all households (a few queries), then each notice is rendered.
    """
    parse_period(period)
    data = _prefetch(con, period=period, districts=districts)
    rows = []
    for h in sorted(data.flags, key=lambda h: (data.assessments[h].get("district_code") or "", h)):
        try:
            text = household_notice(con, period=period, household_id=h, prefetched=data)
        except NoticeError as exc:
            # one household's unusable evidence must not cost the district its whole workbook
            text = f"本户告知书无法自动生成：{exc}。请根据「核查标记」表人工出具告知书。"
        rows.append({"district_code": data.assessments[h].get("district_code"), "household_id": h,
                     "text": text})
    return pl.DataFrame(rows, schema={"district_code": pl.String, "household_id": pl.String,
                                      "text": pl.String})


def notice_command(warehouse: Path, *, period: str, household_id: str) -> str:
    """What ``hedui notice`` prints: the notice, read from the published warehouse.

    Raises
    ------
    NoticeError
        No warehouse at the path, or no notice can be written (message says why).
    ValueError
        ``period`` is not ``YYYY-MM``.
    """
    try:
        parse_period(period)
    except ValueError as exc:
        raise ValueError(f"核对月份 {period!r} 格式不对，应为 YYYY-MM（例如 2026-10）") from exc
    if not Path(warehouse).exists():
        raise NoticeError(f"没有找到数据库 {warehouse}：请先运行 hedui monthly，或用 --warehouse 指定")
    from pipelines.warehouse import WarehouseError, connect_readonly

    try:
        con = connect_readonly(warehouse)  # names the process holding a lock, in Chinese
    except WarehouseError as exc:
        raise NoticeError(str(exc)) from None
    try:
        return household_notice(con, period=period, household_id=household_id)
    finally:
        con.close()
