"""What-if layer, inputs: the stored clean records, links and published results of a period.

``hedui whatif`` starts from what the monthly run already stored (no re-landing, no re-linking):
P's register (``stg_register``), the matched clean records of the folders of P's window
(``stg_<source>`` joined to ``links`` with status ``matched``, as :func:`pipelines.runner._facts`
builds them from the run's parquet), which sources each folder delivered (``runs.inputs`` of the
latest successful run that loaded the folder, as :func:`pipelines.runner.deliveries_frame`
counts them), and the published ``assessments`` and ``flags`` of P.

The warehouse is opened read-only and never written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipelines import warehouse as wh

# fact_columns is the assessment's own statement of the columns it reads of each source
from pipelines.assess import ASSESSMENT_COLUMNS, fact_columns
from pipelines.gradual_exit import HISTORY_COLUMNS, empty_history
from pipelines.periods import parse_period
from pipelines.sources import EXTRACT_SOURCES

#: the register columns the assessment reads (pipelines.assess._register_in_scope)
_REGISTER_COLUMNS = ("household_id", "person_id", "district_code", "urban_rural", "programme",
                     "disability_grade", "serious_illness")


class WhatifInputError(RuntimeError):
    """The warehouse cannot answer the question (message in Chinese, names what is missing)."""


@dataclass(frozen=True)
class Published:
    """P's published results in the districts in scope."""

    assessments: pl.DataFrame
    flags: pl.DataFrame  # period, household_id, district_code, flag, evidence, rulebook_version
    districts: list[str]


@dataclass(frozen=True)
class StoredInputs:
    """What :func:`pipelines.assess.assess_period` needs, read back from the warehouse."""

    register: pl.DataFrame
    facts: dict[str, pl.DataFrame]
    deliveries: pl.DataFrame
    history: pl.DataFrame
    months_held: list[str]
    months_missing: list[str]


def _quote_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def published_districts(con: duckdb.DuckDBPyConnection, period: str) -> list[str]:
    """The districts with published assessments of P; WhatifInputError when there are none."""
    parse_period(period)
    if not wh.table_exists(con, "assessments"):
        raise WhatifInputError("仓库中没有核定结果（assessments 表不存在）：请先运行 hedui monthly")
    held = [r[0] for r in con.sql(
        f"SELECT DISTINCT district_code FROM assessments WHERE period = '{period}' "
        "AND district_code IS NOT NULL ORDER BY 1").fetchall()]
    if not held:
        raise WhatifInputError(f"仓库中没有 {period} 的核定结果：请先运行 hedui monthly --period {period}")
    return held


def read_published(con: duckdb.DuckDBPyConnection, period: str,
                   districts: Sequence[str] | None) -> Published:
    """P's published assessments and flags (all published districts when none are named).

    Raises
    ------
    WhatifInputError
        When P has no published assessment, or a district named has none.
    """
    held = published_districts(con, period)
    if districts:
        lacking = sorted(set(districts) - set(held))
        if lacking:
            raise WhatifInputError(f"仓库中没有区县 {'、'.join(lacking)} 在 {period} 的核定结果"
                                   f"（已发布的区县：{'、'.join(held)}）")
        scope = sorted(set(districts))
    else:
        scope = held
    where = f"period = '{period}' AND district_code IN ({_quote_list(scope)})"
    assessments = con.sql(f"SELECT {', '.join(ASSESSMENT_COLUMNS)} FROM assessments "
                          f"WHERE {where} ORDER BY household_id").pl()
    flags = con.sql("SELECT period, household_id, district_code, flag, evidence::VARCHAR AS evidence, "
                    f"rulebook_version FROM flags WHERE {where} ORDER BY household_id, flag").pl()
    return Published(assessments=assessments, flags=flags, districts=scope)


def _deliveries(con: duckdb.DuckDBPyConnection, months: Sequence[str]) -> tuple[pl.DataFrame, set[str]]:
    """Per folder month, the accepted/refused files of each source; and the months whose register loaded.

    The files of a month are those of the latest run that loaded it.
    """
    wanted = set(months)
    taken: dict[str, list[dict]] = {}
    rows = con.sql("SELECT inputs::VARCHAR FROM runs WHERE status = 'succeeded' AND inputs IS NOT NULL "
                   "ORDER BY finished_at DESC").fetchall()
    for (inputs,) in rows:
        entries = json.loads(inputs) if inputs else []
        per: dict[str, list[dict]] = {}
        for e in entries:
            m = e.get("period")
            if m in wanted and m not in taken:
                per.setdefault(m, []).append(e)
        taken.update(per)
        if len(taken) == len(wanted):
            break
    register_ok = {m for m, es in taken.items()
                   if any(e.get("role") == "register" and e.get("accepted") for e in es)}
    out = []
    for m in sorted(register_ok):
        for e in taken[m]:
            if e.get("role") == "extract":
                out.append({"period": m, "source": e["source"], "accepted": bool(e.get("accepted"))})
    schema = {"period": pl.String, "source": pl.String, "files_accepted": pl.Int64,
              "files_refused": pl.Int64}
    if not out:
        return pl.DataFrame(schema=schema), register_ok
    frame = (pl.DataFrame(out).group_by("period", "source")
             .agg(pl.col("accepted").sum().cast(pl.Int64).alias("files_accepted"),
                  (~pl.col("accepted")).sum().cast(pl.Int64).alias("files_refused"))
             .sort("period", "source"))
    return frame, register_ok


def read_inputs(con: duckdb.DuckDBPyConnection, period: str, months: Sequence[str]) -> StoredInputs:
    """P's register, the matched facts of ``months`` and their deliveries, and earlier assessments.

    Raises
    ------
    WhatifInputError
        When the warehouse holds no register of P.
    """
    parse_period(period)
    for m in months:
        parse_period(m)
    if not wh.table_exists(con, "stg_register"):
        raise WhatifInputError("仓库中没有清洗后的花名册（stg_register）：请先运行 hedui monthly")
    have = {r[0] for r in con.sql("DESCRIBE stg_register").fetchall()}
    reg_cols = ", ".join(c for c in _REGISTER_COLUMNS if c in have)
    register = con.sql(f"SELECT {reg_cols} FROM stg_register WHERE period = '{period}'").pl()
    if register.height == 0:
        raise WhatifInputError(f"仓库中没有 {period} 的花名册：请先运行 hedui monthly --period {period}")
    deliveries, register_ok = _deliveries(con, months)
    loaded = [m for m in months if m in register_ok]
    facts: dict[str, pl.DataFrame] = {}
    if loaded:
        in_months = _quote_list(loaded)
        for source in EXTRACT_SOURCES:
            if not wh.table_exists(con, f"stg_{source}"):
                continue
            have = {r[0] for r in con.sql(f"DESCRIBE stg_{source}").fetchall()}
            # only what the assessment reads: never names or ID numbers
            wanted = fact_columns(source)
            cols = ", ".join(f"s.{c}" for c in wanted if c in have)
            frame = con.sql(f"""
                SELECT {cols}, l.person_id, l.method AS link_method
                FROM stg_{source} s
                JOIN links l ON l.source = s.source AND l.period = s.period
                            AND l.record_no = s.record_no
                WHERE l.status = 'matched' AND l.source = '{source}'
                  AND s.period IN ({in_months}) AND l.period IN ({in_months})""").pl()
            if frame.height:
                facts[source] = frame
    history = empty_history()
    cols = ", ".join(HISTORY_COLUMNS)
    earlier = con.sql(f"SELECT {cols} FROM assessments WHERE period < '{period}'").pl()
    if earlier.height:
        history = pl.concat([history, earlier.cast(history.schema)], how="vertical")
    return StoredInputs(register=register, facts=facts, deliveries=deliveries, history=history,
                        months_held=loaded, months_missing=[m for m in months if m not in register_ok])


def open_readonly(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection, or WhatifInputError in Chinese when there is none to open."""
    if not Path(warehouse).exists():
        raise WhatifInputError(f"找不到仓库文件 {warehouse}：请先运行 hedui monthly")
    from pipelines.warehouse import WarehouseError, connect_readonly

    try:
        con = connect_readonly(warehouse)  # names the process holding a lock, in Chinese
    except WarehouseError as exc:
        raise WhatifInputError(str(exc)) from None
    con.execute("SET enable_progress_bar = false")  # the command prints its own summary
    return con
