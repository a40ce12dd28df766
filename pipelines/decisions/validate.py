"""Decisions layer: checking decision rows against the warehouse before anything is written.

Every row of a file is checked (decision words, clerk, period, the flag or the record in review
it names); any problem refuses the whole file. The checks return the rows with the warehouse
facts the import stores (the flag's evidence, the record's identity) joined on.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.decisions.table import table_exists
from pipelines.report.layout import (
    FLAG_DECISIONS,
    FLAG_LABELS,
    LINK_DECISIONS,
    SOURCE_LABELS,
)
from pipelines.sources import EXTRACT_SOURCES

#: links.status as the import's messages name it
_STATUS_WORDS = {"matched": "已匹配", "review": "待复核", "unmatched": "未匹配"}

_FLAG_WORDS = "属实、排除或转交"
_LINK_WORDS = "确认或否定"
_SOURCE_CODE = {**{label: code for code, label in SOURCE_LABELS.items()},
                **{code: code for code in EXTRACT_SOURCES}}
_FLAG_CODE = {**{label: code for code, label in FLAG_LABELS.items()},
              **{code: code for code in FLAG_LABELS}}


def _normalise(rows: pl.DataFrame) -> pl.DataFrame:
    """Decision words, source labels, flag labels and periods mapped to their codes."""
    word = pl.col("decision").str.to_lowercase()
    period = pl.col("period").str.replace(r"^(\d{4})-(\d{2})-\d{2}(?:[ T].*)?$", "$1-$2")
    return rows.with_columns(
        pl.when(pl.col("kind") == "flag")
        .then(word.replace_strict(FLAG_DECISIONS, default=None))
        .otherwise(word.replace_strict(LINK_DECISIONS, default=None)).alias("decision_code"),
        pl.col("source").replace_strict(_SOURCE_CODE, default=None).alias("source_code"),
        pl.col("flag").replace_strict(_FLAG_CODE, default=None).alias("flag_code"),
        pl.when(period.str.contains(r"^\d{4}-(0[1-9]|1[0-2])$")).then(period)
        .alias("period_code"),
    )


def _warehouse_periods(con: duckdb.DuckDBPyConnection) -> set[str]:
    parts = [f"SELECT DISTINCT period FROM {t}" for t in ("flags", "links", "assessments")
             if table_exists(con, t)]
    if not parts:
        return set()
    return {r[0] for r in con.sql(" UNION ".join(parts)).fetchall() if r[0] is not None}


def _flags_of(con: duckdb.DuckDBPyConnection, periods: list[str]) -> pl.DataFrame:
    schema = {"period": pl.String(), "household_id": pl.String(), "flag": pl.String(),
              "evidence": pl.String()}
    if not periods or not table_exists(con, "flags"):
        return pl.DataFrame(schema=schema)
    return con.sql(
        "SELECT period, household_id, flag, CAST(evidence AS VARCHAR) AS evidence FROM flags "
        "WHERE period IN (SELECT unnest(?::VARCHAR[]))", params=[periods],
    ).pl().cast(schema)


def _ranked_candidates_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The select list of the 2nd and 3rd ranked candidates (null on a warehouse without them)."""
    cols = ("candidate_person_id_2", "candidate_household_id_2", "candidate_person_id_3",
            "candidate_household_id_3")
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'links'").fetchall()}
    return "".join(f"{c}, " if c in have else f"NULL::VARCHAR AS {c}, " for c in cols)


def _links_of(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> pl.DataFrame:
    """``links`` rows and the stg identity of the (source, period, record_no) keys asked."""
    schema = {"source_code": pl.String(), "period_code": pl.String(), "record_no": pl.String(),
              "link_status": pl.String(), "link_person_id": pl.String(),
              "link_method": pl.String(), "candidate_person_id": pl.String(),
              "candidate_household_id": pl.String(), "candidate_person_id_2": pl.String(),
              "candidate_household_id_2": pl.String(), "candidate_person_id_3": pl.String(),
              "candidate_household_id_3": pl.String(), "link_evidence": pl.String(),
              "in_stg": pl.Boolean(), "id_norm": pl.String(), "name_norm": pl.String()}
    if keys.is_empty() or not table_exists(con, "links"):
        return pl.DataFrame(schema=schema)
    frames = []
    for (source, period), group in keys.group_by(["source_code", "period_code"],
                                                  maintain_order=True):
        record_nos = group.get_column("record_no").unique().to_list()
        links = con.sql(
            "SELECT record_no, status AS link_status, person_id AS link_person_id, "
            "method AS link_method, candidate_person_id, "
            "coalesce(candidate_household_id, household_id) AS candidate_household_id, "
            f"{_ranked_candidates_sql(con)}"
            "json_object('score', score, 'status', status, 'method', method, "
            "'reason', reason, 'comparison', comparison) AS link_evidence "
            "FROM links WHERE source = ? AND period = ? "
            "AND record_no IN (SELECT unnest(?::VARCHAR[]))",
            params=[source, period, record_nos],
        ).pl()
        stg_table = f"stg_{source}"
        if table_exists(con, stg_table):
            # (source, period, record_no) is the key of a clean record; keeping one row per key
            # guards the join against a staging table that repeats one
            stg = (con.sql(
                f"SELECT DISTINCT record_no, id_norm, name_norm, true AS in_stg FROM {stg_table} "
                "WHERE period = ? AND record_no IN (SELECT unnest(?::VARCHAR[]))",
                params=[period, record_nos],
            ).pl().sort(["record_no", "id_norm", "name_norm"], nulls_last=True)
                .unique(subset="record_no", keep="first", maintain_order=True))
        else:
            stg = pl.DataFrame(schema={"record_no": pl.String(), "id_norm": pl.String(),
                                       "name_norm": pl.String(), "in_stg": pl.Boolean()})
        frames.append(
            links.cast({c: pl.String for c in links.columns})
            .join(stg.cast({"record_no": pl.String, "id_norm": pl.String,
                            "name_norm": pl.String}), on="record_no", how="left")
            .with_columns(pl.lit(source).alias("source_code"), pl.lit(period).alias("period_code"))
        )
    return pl.concat(frames, how="diagonal").select(list(schema)).cast(schema)


def _problems(rows: pl.DataFrame, checks: list[tuple[pl.Expr, pl.Expr]]) -> pl.DataFrame:
    """Every (sheet, row, message) for which a check's condition holds."""
    frames = [
        rows.filter(condition.fill_null(False))
        .select("sheet", "row", message.alias("message"))
        for condition, message in checks
    ]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(
        schema={"sheet": pl.String(), "row": pl.Int64(), "message": pl.String()})


def validate_rows(rows: pl.DataFrame, con: duckdb.DuckDBPyConnection,
              existing: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check every decision row against the warehouse and the decisions already recorded.

    Parameters
    ----------
    rows : pl.DataFrame
        :func:`~pipelines.decisions.read.read_decision_file` output.
    con : duckdb.DuckDBPyConnection
        The warehouse.
    existing : pl.DataFrame
        The decisions already recorded (:func:`~pipelines.decisions.table.existing_decisions`).

    Returns
    -------
    tuple of pl.DataFrame
        The rows with their codes and the warehouse facts joined (flag evidence, link status,
        candidates, stg identity), and the problems as ``sheet, row, message`` (empty when the
        file can be imported).
    """
    rows = _normalise(rows).with_row_index("_i")
    known_periods = _warehouse_periods(con)
    periods = sorted(set(rows.get_column("period_code").drop_nulls().to_list()) & known_periods)

    flags = _flags_of(con, periods)
    flag_households = flags.select("period", "household_id").unique().with_columns(
        pl.lit(True).alias("_household_flagged"))
    flagged = flags.rename({"evidence": "flag_evidence"}).with_columns(
        pl.lit(True).alias("_flag_exists"))
    rows = (rows
            .join(flag_households, left_on=["period_code", "household_id"],
                  right_on=["period", "household_id"], how="left", maintain_order="left")
            .join(flagged, left_on=["period_code", "household_id", "flag_code"],
                  right_on=["period", "household_id", "flag"], how="left", maintain_order="left"))

    link_keys = rows.filter((pl.col("kind") == "link") & pl.col("source_code").is_not_null()
                            & pl.col("period_code").is_in(periods)
                            & pl.col("record_no").is_not_null()
                            ).select("source_code", "period_code", "record_no").unique(
        maintain_order=True)
    links = _links_of(con, link_keys)
    rows = rows.join(links, on=["source_code", "period_code", "record_no"], how="left",
                     maintain_order="left")
    # a candidate left blank is the one under review
    rows = rows.with_columns(
        pl.coalesce("person_id", "candidate_person_id").alias("person_code"))
    # issue 19: a clerk may confirm the second or third ranked candidate instead of the first
    code = pl.col("person_code")
    rows = rows.with_columns(
        candidate_household_id=pl.when(code == pl.col("candidate_person_id_2"))
        .then(pl.col("candidate_household_id_2"))
        .when(code == pl.col("candidate_person_id_3")).then(pl.col("candidate_household_id_3"))
        .otherwise(pl.col("candidate_household_id")),
        candidate_person_id=pl.when((code == pl.col("candidate_person_id_2")).fill_null(False)
                                    | (code == pl.col("candidate_person_id_3")).fill_null(False))
        .then(code).otherwise(pl.col("candidate_person_id")))
    already = (existing.filter(pl.col("kind") == "link")
               .select(pl.col("source").alias("source_code"),
                       pl.col("period").alias("period_code"), "record_no",
                       pl.col("person_id").alias("person_code"))
               .unique().with_columns(pl.lit(True).alias("_decided_before")))
    rows = rows.join(already, on=["source_code", "period_code", "record_no", "person_code"],
                     how="left", maintain_order="left")

    # a flag decision already recorded word for word imports again (and is skipped) even when a
    # later run of its period no longer raises the flag
    recorded_flags = (existing.filter(pl.col("kind") == "flag")
                      .select(pl.col("period").alias("period_code"), "household_id",
                              pl.col("flag").alias("flag_code"),
                              pl.col("decision").alias("decision_code"), "reason", "decided_by")
                      .unique().with_columns(pl.lit(True).alias("_recorded_before")))
    rows = rows.join(recorded_flags, on=["period_code", "household_id", "flag_code",
                                         "decision_code", "reason", "decided_by"],
                     how="left", nulls_equal=True, maintain_order="left")

    is_flag = pl.col("kind") == "flag"
    is_link = pl.col("kind") == "link"
    period_ok = pl.col("period_code").is_in(periods)
    word_col = pl.when(is_flag).then(pl.lit("处理结果")).otherwise(pl.lit("核对结论"))
    words = pl.when(is_flag).then(pl.lit(_FLAG_WORDS)).otherwise(pl.lit(_LINK_WORDS))
    # a record in review for this candidate, or one already decided for this candidate (a file
    # imports again after a later run re-linked its records with the decision)
    acceptable = (((pl.col("link_status") == "review")
                   & (pl.col("candidate_person_id") == pl.col("person_code")))
                  | pl.col("_decided_before")).fill_null(False)
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (pl.col("decision").is_null(),
         pl.format("填写了处理说明或经办人，但{}为空", word_col)),
        (pl.col("decision").is_not_null() & pl.col("decision_code").is_null(),
         pl.format("{} “{}” 不是可选的结论；请从下拉框选择 {}", word_col, pl.col("decision"), words)),
        (pl.col("decided_by").is_null(), pl.lit("经办人为空")),
        ((pl.col("decision_code") == "dismissed") & pl.col("reason").is_null(),
         pl.lit("选择“排除”时须在处理说明中写明理由")),
        (pl.col("period").is_null(), pl.lit("期间为空")),
        (pl.col("period").is_not_null() & pl.col("period_code").is_null(),
         pl.format("期间 “{}” 不是 YYYY-MM 格式的月份", pl.col("period"))),
        (pl.col("period_code").is_not_null() & ~period_ok,
         pl.format("期间 {} 在数据仓库中没有核对结果", pl.col("period_code"))),
        # flags sheet
        (is_flag & pl.col("household_id").is_null(), pl.lit("户编号为空")),
        (is_flag & pl.col("flag").is_null(), pl.lit("标记代码为空")),
        (is_flag & pl.col("flag").is_not_null() & pl.col("flag_code").is_null(),
         pl.format("标记代码 “{}” 不是规则中的标记", pl.col("flag"))),
        (is_flag & period_ok & pl.col("household_id").is_not_null()
         & pl.col("_household_flagged").is_null() & pl.col("_recorded_before").is_null(),
         pl.format("户编号 {} 在 {} 没有任何标记：不是本期被标记的家庭",
                   pl.col("household_id"), pl.col("period_code"))),
        (is_flag & period_ok & pl.col("_household_flagged") & pl.col("flag_code").is_not_null()
         & pl.col("_flag_exists").is_null() & pl.col("_recorded_before").is_null(),
         pl.format("户编号 {} 在 {} 没有标记 {}", pl.col("household_id"),
                   pl.col("period_code"), pl.col("flag_code"))),
        # review sheet
        (is_link & pl.col("source").is_null(), pl.lit("来源为空")),
        (is_link & pl.col("source").is_not_null() & pl.col("source_code").is_null(),
         pl.format("来源 “{}” 不是约定的数据来源", pl.col("source"))),
        (is_link & pl.col("record_no").is_null(), pl.lit("记录号为空")),
        (is_link & period_ok & pl.col("source_code").is_not_null()
         & pl.col("record_no").is_not_null() & pl.col("link_status").is_null(),
         pl.format("{} {} 交付中没有记录号 {}", pl.col("period_code"),
                   pl.col("source_code").replace_strict(SOURCE_LABELS, default=pl.col("source_code")),
                   pl.col("record_no"))),
        (is_link & pl.col("link_status").is_not_null() & ~acceptable
         & (pl.col("link_status") != "review"),
         pl.format("{} {} 的记录号 {} 不在待复核状态（当前：{}）", pl.col("period_code"),
                   pl.col("source_code").replace_strict(SOURCE_LABELS, default=pl.col("source_code")),
                   pl.col("record_no"),
                   pl.col("link_status").replace_strict(_STATUS_WORDS, default=pl.col("link_status")))),
        (is_link & (pl.col("link_status") == "review") & ~acceptable,
         pl.lit("候选个人编号不是该记录待复核的候选人")),
        (is_link & pl.col("link_status").is_not_null() & pl.col("in_stg").is_null(),
         pl.format("记录号 {} 不在 {} 的清洗数据中", pl.col("record_no"),
                   pl.col("source_code").replace_strict(SOURCE_LABELS, default=pl.col("source_code")))),
    ]
    problems = _problems(rows, checks)

    # two otherwise valid rows of the file deciding the same thing differently
    key = pl.when(is_flag).then(pl.concat_str("period_code", "household_id", "flag_code",
                                              separator="\x1f")) \
        .otherwise(pl.concat_str("source_code", "period_code", "record_no", separator="\x1f"))
    clean = rows.join(problems.select("sheet", "row").unique(), on=["sheet", "row"], how="anti",
                      maintain_order="left")
    keyed = clean.with_columns(key.alias("_key"),
                              pl.concat_str(pl.col("decision_code").fill_null(""),
                                            pl.col("reason").fill_null(""),
                                            pl.col("decided_by").fill_null(""),
                                            pl.col("person_code").fill_null(""),
                                            separator="\x1f").alias("_what"))
    first = (keyed.filter(pl.col("_key").is_not_null())
             .group_by("_key").agg(pl.col("sheet").first().alias("_first_sheet"),
                                   pl.col("row").first().alias("_first_row"),
                                   pl.col("_what").first().alias("_first_what")))
    conflicts = (keyed.join(first, on="_key", how="inner", maintain_order="left")
                 .filter(pl.col("_what") != pl.col("_first_what"))
                 .select("sheet", "row", pl.format("与「{}」第 {} 行对同一{}的结论矛盾",
                                                   pl.col("_first_sheet"), pl.col("_first_row"),
                                                   pl.when(pl.col("kind") == "flag")
                                                   .then(pl.lit("标记"))
                                                   .otherwise(pl.lit("记录")))
                         .alias("message")))
    problems = pl.concat([problems, conflicts], how="vertical")
    return rows, problems
