"""Report layer: the reform-preview workbook (``hedui whatif``).

It is written with the monthly workbook's :func:`pipelines.report.workbook.write_workbook` (same
header, widths and 说明 sheet).

Sheets: 说明 (what was compared and how it is costed), 分区县汇总 (per district and 保障类别),
受影响家庭 (one row per household whose status, flags or benefit change, with the parameters
behind the change) and 参数变化 (each changed value, before and after). It carries 户编号 but
no name and no ID number.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.report.layout import FLAG_LABELS
from pipelines.report.workbook import Sheet, write_workbook
from pipelines.whatif.compare import STATUS_LABELS, TRANSITIONS

SHEET_SUMMARY = "分区县汇总"
SHEET_CHANGED = "受影响家庭"
SHEET_PARAMETERS = "参数变化"

COSTING = ("月保障金按户计算：低保家庭（及可能符合低保条件的未纳入家庭，按纳入后应发计）为"
           "（低保标准 S − 家庭月人均收入）× 在世人数，不低于 0；特困人员为基本生活标准 T × 在世人数；"
           "渐退期内的低保家庭按首次超标前一个月的保障金计；不符合条件为 0。金额单位：元。")


def _yuan(column: str) -> pl.Expr:
    return (pl.col(column).cast(pl.Float64) / 100).round(2)


def _flags_text(column: str) -> pl.Expr:
    return pl.col(column).list.eval(pl.element().replace(FLAG_LABELS)).list.join("、")


def summary_sheet(summary: pl.DataFrame) -> pl.DataFrame:
    """The per-district-and-programme table with Chinese headers."""
    cols = [pl.col("district_code").alias("区县代码"), pl.col("programme").alias("保障类别"),
            pl.col("households").alias("户数"), pl.col("persons").alias("在世人数")]
    for key, label in TRANSITIONS.items():
        cols += [pl.col(f"{key}_households").alias(f"{label}（户）"),
                 pl.col(f"{key}_persons").alias(f"{label}（人）")]
    cols += [_yuan("benefit_before_fen").alias("月保障金·调整前（元）"),
             _yuan("benefit_after_fen").alias("月保障金·调整后（元）"),
             _yuan("benefit_diff_fen").alias("月保障金差额（元）")]
    return summary.select(cols)


def changed_sheet(changed: pl.DataFrame) -> pl.DataFrame:
    """One row per affected household, Chinese headers."""
    label = pl.col
    return changed.sort("district_code", "household_id").select(
        label("household_id").alias("户编号"), label("district_code").alias("区县代码"),
        label("urban_rural").alias("城乡类别"), label("programme").alias("保障类别"),
        label("living_members").alias("在世人数"),
        label("status_before").replace(STATUS_LABELS).alias("调整前状态"),
        label("status_after").replace(STATUS_LABELS).alias("调整后状态"),
        _flags_text("flags_before").alias("调整前标记"),
        _flags_text("flags_after").alias("调整后标记"),
        label("income_per_capita_before").cast(pl.Float64).alias("调整前月人均收入（元）"),
        label("income_per_capita_after").cast(pl.Float64).alias("调整后月人均收入（元）"),
        _yuan("benefit_fen_before").alias("调整前月保障金（元）"),
        _yuan("benefit_fen_after").alias("调整后月保障金（元）"),
        _yuan("benefit_diff_fen").alias("差额（元）"),
        label("parameters").alias("起作用的参数"),
    )


def parameters_sheet(changes: list[dict]) -> pl.DataFrame:
    """``[{parameter, scope, before, after}]`` as a sheet."""
    return pl.DataFrame(
        [{"参数": c["parameter"], "适用范围": c["scope"], "现行值": c["before"], "提案值": c["after"],
          "单位": c["unit"]} for c in changes],
        schema={"参数": pl.String, "适用范围": pl.String, "现行值": pl.String, "提案值": pl.String,
                "单位": pl.String})


def write_whatif_workbook(path: Path, *, about: list[tuple[str, str]], summary: pl.DataFrame,
                          changed: pl.DataFrame, changes: list[dict]) -> Path:
    """Write the preview workbook to ``path``.

    Parameters
    ----------
    path : Path
        Target ``.xlsx``.
    about : list of (str, str)
        Rows of the 说明 sheet.
    summary, changed : pl.DataFrame
        :class:`pipelines.whatif.compare.Comparison` ``summary`` and ``changed``.
    changes : list of dict
        The changed parameter values (``parameter, scope, before, after, unit``).
    """
    sheets = [Sheet(SHEET_SUMMARY, summary_sheet(summary)),
              Sheet(SHEET_CHANGED, changed_sheet(changed)),
              Sheet(SHEET_PARAMETERS, parameters_sheet(changes))]
    return write_workbook(path, sheets=sheets, about=about)
