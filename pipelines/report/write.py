"""Report layer: writing the district review workbooks and the period's HTML report.

:func:`write_reports` is what ``hedui report`` calls. It opens the warehouse read-only, writes one
Excel workbook per district for the clerks (``hedui-<period>-<district>.xlsx``), a city-level
workbook with the quarantined rows when no district was named (``hedui-<period>-all.xlsx``) and
one self-contained HTML report (``hedui-<period>.html``). Workbooks with names and ID numbers in
full (``full_identity``) are named ``hedui-<period>-<district>-实名.xlsx``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from pipelines.fsio import atomic_write_path
from pipelines.periods import month_end, parse_period
from pipelines.report import data as wh
from pipelines.report.data import ReportError
from pipelines.report.html import ReportData, render_html
from pipelines.report.layout import (
    FLAG_DECISION_COLUMNS,
    REVIEW_DECISION_COLUMNS,
    SHEET_FLAGS,
    SHEET_NOTICES,
    SHEET_QUARANTINE,
    SHEET_REVIEW,
)
from pipelines.report.workbook import (
    FLAG_CHOICES,
    FLAG_DECISION_COLUMN,
    LINK_CHOICES,
    REVIEW_DECISION_COLUMN,
    Sheet,
    flag_sheet,
    quarantine_sheet,
    review_sheet,
    write_workbook,
)
from pipelines.rulebook import RulebookError, Rules, load_rulebook

log = logging.getLogger(__name__)

#: the name part of the city-level workbook
CITY = "all"
#: added to the name of a workbook that shows names and ID numbers in full
FULL_IDENTITY_SUFFIX = "-实名"
#: China has no daylight saving: Beijing time is UTC+8 all year
_BEIJING = timezone(timedelta(hours=8), "北京时间")


def write_reports(
    warehouse: Path,
    *,
    period: str,
    districts: list[str] | None = None,
    out: Path,
    full_identity: bool = False,
) -> list[Path]:
    """Write the period's district workbooks and HTML report; return their paths.

    Parameters
    ----------
    warehouse : Path
        The published DuckDB file; opened read-only.
    period : str
        ``YYYY-MM``.
    districts : list of str, optional
        区县代码 to report on. None (or empty): every district assessed for the period, plus the
        city-level workbook ``hedui-<period>-all.xlsx`` that also lists the quarantined rows.
    out : Path
        Directory for the files (created when missing; files of the same name are replaced).
    full_identity : bool
        Show names and ID numbers in full in the workbooks (default: masked in the middle).
        The HTML report never shows them.

    Returns
    -------
    list of Path
        The workbooks in district order (the city workbook last), then the HTML report.

    Raises
    ------
    ReportError
        The warehouse is missing or lacks a table, nothing was assessed for the period, or a
        named district was not assessed for it.
    ValueError
        ``period`` is not ``YYYY-MM``.
    """
    # both read the layout (and fairness the publish layer): import when used, not at load
    from pipelines.notice import district_notices
    from pipelines.report.fairness import fairness_rows

    parse_period(period)
    city = not districts
    con = wh.open_warehouse(Path(warehouse))
    try:
        assessed = wh.districts_of(con, period=period)
        scope = sorted(set(districts)) if districts else assessed
        unknown = [d for d in scope if d not in assessed]
        if unknown:
            raise ReportError(
                f"district(s) {', '.join(unknown)} have no assessments for {period} in {warehouse}"
            )
        flags = wh.flagged_households(con, period=period, districts=scope)
        review = wh.review_records(con, period=period)
        quarantine = wh.quarantined_rows(con, period=period)
        versions = wh.rulebook_versions(con, period=period, districts=scope)
        notices = district_notices(con, period=period, districts=scope)
        summary = ReportData(
            period=period,
            districts=scope,
            generated_at=_now(),
            rulebook_versions=versions,
            flag_counts=wh.flag_counts(con, districts=scope),
            household_counts=wh.household_counts(con, period=period, districts=scope),
            match_rates=wh.match_rates(con, period=period),
            quarantine=quarantine,
            review_count=review.height,
            lookback=wh.lookback(period),
            analyst_db=f"{Path(warehouse).stem}-analyst.duckdb",
            fairness=fairness_rows(con, period=period),
            delivery_changes=wh.delivery_changes(con, period=period),
        )
    finally:
        con.close()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # a workbook with names and IDs in full is named apart, so it never replaces (or is sent
    # out as) the masked one
    suffix = FULL_IDENTITY_SUFFIX if full_identity else ""
    flag_rows = flag_sheet(flags, full_identity=full_identity, rules=_rules_in_force(period))
    review_rows = review_sheet(review, full_identity=full_identity)
    paths = []
    for district in scope:
        paths.append(_workbook(
            out / f"hedui-{period}-{district}{suffix}.xlsx", period=period, scope=f"区县 {district}",
            flags=flags.filter(pl.col("district_code") == district),
            flag_rows=flag_rows.filter(pl.col("区县代码") == district),
            review_rows=review_rows.filter(review["district_code"] == district),
            quarantine=None, summary=summary, full_identity=full_identity,
            notices=notices.filter(pl.col("district_code") == district),
        ))
    if city:
        paths.append(_workbook(
            out / f"hedui-{period}-{CITY}{suffix}.xlsx", period=period, scope="全市（所有区县）", flags=flags,
            flag_rows=flag_rows, review_rows=review_rows, quarantine=quarantine, summary=summary,
            full_identity=full_identity,
        ))
    html = out / f"hedui-{period}.html"
    page = render_html(summary)
    with atomic_write_path(html) as tmp:  # a killed report never leaves a half page behind
        tmp.write_text(page, encoding="utf-8")
    paths.append(html)
    log.info("report for %s: %d workbook(s) and the HTML report in %s", period, len(paths) - 1, out)
    return paths


def _rules_in_force(period: str) -> Rules | None:
    """The repository's rulebook resolved on the last day of ``period`` (None when it cannot be).

    The sheet words a flag by these rules only where its recorded version is theirs, as the
    notice does (pipelines/notice/context.py).
    """
    try:
        return load_rulebook().at(month_end(period))
    except RulebookError:
        return None


def _now() -> str:
    return datetime.now(_BEIJING).strftime("%Y-%m-%d %H:%M（北京时间）")


def _about(*, period: str, scope: str, summary: ReportData, full_identity: bool,
           quarantine_note: str, flags: pl.DataFrame, review: int) -> list[tuple[str, str]]:
    months = wh.lookback(period)
    pending = flags.filter(pl.col("decision").is_null()).height
    return [
        ("期间", period),
        ("范围", scope),
        ("生成时间", summary.generated_at),
        ("规则版本", "、".join(summary.rulebook_versions) or "未知"),
        ("内容", f"「核查标记」{flags.height} 行（其中 {pending} 行尚无适用的处理结论）：本期被标记的家庭，"
               "每户每类标记一行，附原因、计算值、阈值和既往处理。"
               f"「待复核匹配」{review} 行：{months[0]} 至 {months[-1]} 交付、系统无法确定归属的记录及其候选人。"),
        ("隔离记录", quarantine_note),
        ("如何填写", "在「核查标记」的「处理结果」列从下拉框选择 属实、排除 或 转交，在「处理说明」写明依据，"
                 "在「经办人」填写经办人；在「待复核匹配」的「核对结论」列选择 确认（记录属于候选人）或 否定"
                 "（不属于），同样填写处理说明和经办人。只填黄色表头的列，不要改动其他列、不要增删行或工作表。"),
        ("如何导入", "填好并保存后，由管理员执行：hedui decisions import 本文件路径。"
                 "有任何一行无效时整个文件不导入，并指出行号，改正后重新导入即可。"),
        ("个人信息", "本工作簿含完整姓名和证件号，请严格按规定保管，不得外传。" if full_identity
         else "姓名和证件号已部分遮蔽（如 张*、1201**********1234），核实时请在业务系统中按户编号查询。"),
        ("提示", "标记是核查线索，不是处理决定；请入户或调取原始资料核实后再作结论。"),
    ]


def _workbook(path: Path, *, period: str, scope: str, flags: pl.DataFrame, flag_rows: pl.DataFrame,
              review_rows: pl.DataFrame, quarantine: pl.DataFrame | None, summary: ReportData,
              full_identity: bool, notices: pl.DataFrame | None = None) -> Path:
    """One workbook: a district's (quarantine None) or the city's (with the 隔离记录 sheet)."""
    months = wh.lookback(period)
    suffix = FULL_IDENTITY_SUFFIX if full_identity else ""
    if quarantine is None:
        note = (f"隔离记录属于整批交付，不分区县，不在本工作簿中；"
                f"见全市汇总工作簿 hedui-{period}-{CITY}{suffix}.xlsx 的「{SHEET_QUARANTINE}」表。")
    else:
        note = (f"本工作簿的「{SHEET_QUARANTINE}」表列出 {months[0]} 至 {months[-1]} 各月交付中被拒收的行和文件"
                f"（{quarantine.height} 行），请联系对应部门更正后重新交付。")
    about = _about(period=period, scope=scope, summary=summary, full_identity=full_identity,
                   quarantine_note=note, flags=flags, review=review_rows.height)
    sheets = [
        Sheet(SHEET_FLAGS, flag_rows, choices={FLAG_DECISION_COLUMN: FLAG_CHOICES},
              editable=FLAG_DECISION_COLUMNS),
        Sheet(SHEET_REVIEW, review_rows, choices={REVIEW_DECISION_COLUMN: LINK_CHOICES},
              editable=REVIEW_DECISION_COLUMNS, numbers=("匹配得分",)),
    ]
    if quarantine is not None:
        sheets.append(Sheet(SHEET_QUARANTINE, quarantine_sheet(quarantine)))
    if notices is not None:
        # one notice per flagged household, to print and hand over (always masked)
        about.append((SHEET_NOTICES, (
            f"「{SHEET_NOTICES}」表为本区县每个被标记家庭生成一份核对告知书（{notices.height} 份），"
            "写明依据的部门记录、月份、金额和规则，以及家庭如何提出异议；可打印后送达家庭。"
            "告知书供送达家庭：姓名只显示首字、证件号只显示前后4位，不受 --full-identity 影响。")))
        sheets.append(Sheet(SHEET_NOTICES, notices.select(
            pl.col("household_id").alias("户编号"), pl.col("text").alias("告知书"))))
    # written under a temporary name and renamed: a clerk never opens a truncated workbook
    with atomic_write_path(path) as tmp:
        write_workbook(tmp, sheets=sheets, about=about, footer=f"{scope} · {period}")
    return path
