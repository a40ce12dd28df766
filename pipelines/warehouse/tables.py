"""The table registry: every table of the warehouse file, declared once.

Each :class:`Table` names its columns (DuckDB type, nullability, meaning in Chinese and English),
its key, whether it is a big per-period table stored as parquet files (:mod:`pipelines.partitions`)
and what the analyst database makes of it (:mod:`pipelines.analyst`). From it are generated:

- the ``CREATE TABLE`` statements and :func:`pipelines.warehouse.ddl.ensure_schema`;
- the pandera schemas of the frames the stages publish (:mod:`pipelines.warehouse.validation`,
  used by ``schemas/published.py``);
- the table list of ``docs/tables.md``: ``python -m pipelines.warehouse.tables --write-docs``
  rewrites it, ``--check-docs`` exits 1 when it is out of date.

The raw and staging layers (``raw_<source>``, ``stg_<source>``) are not declared here: their
columns are the source registry's (:mod:`pipelines.sources`); only their prefixes are, as
per-period families (:data:`PARTITIONED_PREFIXES`).

Column order is the published order: a column a later release added is declared after the
others with ``migrate=True`` (older warehouses gain it with ``ALTER TABLE … ADD COLUMN``), so a
new warehouse and a migrated one have the same layout.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

#: what the analyst database makes of a table: keyed pseudonyms instead of identities, a copy
#: of a table without identities, or nothing (the table stays with staff)
Analyst = Literal["pseudonymised", "copied", "staff"]
#: value checks of the published frames, by name (pandera checks in
#: :mod:`pipelines.warehouse.validation`): a ``YYYY-MM`` period, ≥ 0, ≥ 1, > 0, a version text
Check = Literal["period", "nonnegative", "at_least_one", "positive", "version"]

#: prefixes of the raw and staging layers: per-period families, like the partitioned tables
PARTITIONED_PREFIXES = ("raw_", "stg_")


@dataclass(frozen=True)
class Column:
    """One column of a warehouse table.

    Attributes
    ----------
    name, type
        The column's name and DuckDB type, exactly as the ``CREATE TABLE`` writes them.
    zh, en
        What the column holds, in Chinese and in English (the docs' table list).
    nullable
        Whether the table accepts nulls (``NOT NULL`` otherwise).
    check
        A value check of the published frame (see :data:`Check`).
    frame_nullable
        Whether the stage's frame may hold nulls, when it is stricter than the table (the table
        keeps the nullability it was published with).
    primary_key
        The column is the table's ``PRIMARY KEY``.
    sql_check
        A ``CHECK`` constraint of the table, as SQL over the column.
    migrate
        Added after the first release: older warehouses gain it when a run opens them.
    """

    name: str
    type: str
    zh: str
    en: str
    nullable: bool = True
    check: Check | None = None
    frame_nullable: bool | None = None
    primary_key: bool = False
    sql_check: str | None = None
    migrate: bool = False

    def ddl(self) -> str:
        """The column's definition in a ``CREATE TABLE``."""
        out = f"{self.name} {self.type}"
        if not self.nullable:
            out += " NOT NULL"
        if self.primary_key:
            out += " PRIMARY KEY"
        if self.sql_check:
            out += f" CHECK ({self.sql_check})"
        return out


@dataclass(frozen=True)
class Table:
    """One table of the warehouse file.

    Attributes
    ----------
    name, zh, en
        The table's name and what one row is, in Chinese and English.
    columns
        Its columns, in published order.
    key
        The columns that identify a row (unique in the published frames).
    partitioned
        A big per-period table: one parquet file per ``period`` behind a view.
    analyst
        What the analyst database makes of it (see :data:`Analyst`).
    frame
        How many leading columns the producing stage's frame has (the rest are added later, by
        staff decisions or the review queue); None: all of them.
    """

    name: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    partitioned: bool = False
    analyst: Analyst = "staff"
    frame: int | None = None

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")

    @property
    def frame_columns(self) -> tuple[Column, ...]:
        """The columns of the frame the producing stage writes."""
        return self.columns if self.frame is None else self.columns[:self.frame]


def _c(name: str, type_: str, zh: str, en: str, **kw: object) -> Column:
    return Column(name, type_, zh, en, **kw)  # type: ignore[arg-type]


V, M = "VARCHAR", "DECIMAL(18,2)"
_PERIOD = _c("period", V, "交付文件夹月份（YYYY-MM）", "delivery folder's month (YYYY-MM)",
             nullable=False, check="period")
_ASSESSED = _c("period", V, "评估月份（YYYY-MM）", "assessed month (YYYY-MM)",
               nullable=False, check="period")
_VERSION = _c("rulebook_version", V, "所用规则版本（参数值的哈希）", "version of the rulebook applied",
              nullable=False, check="version")

TABLES: dict[str, Table] = {t.name: t for t in (
    Table("links", "每条比对记录一行", "one row per distinct extract record", (
        _c("source", V, "数据来源名", "source name", nullable=False),
        _PERIOD,
        _c("record_no", V, "记录号（原样，去空格）", "the row's 记录号 as delivered, trimmed",
           nullable=False),
        _c("person_id", V, "匹配到的个人编号（仅 matched）", "matched 个人编号 (matched only)"),
        _c("household_id", V, "匹配到的户编号（仅 matched）", "matched 户编号 (matched only)"),
        _c("score", "DOUBLE", "匹配概率（0–1）", "match probability (0-1)"),
        _c("status", V, "matched / review / unmatched", "matched, review or unmatched",
           nullable=False),
        _c("method", V, "匹配方法（见 rules/matching.yaml）", "matching method",
           nullable=False),
        _c("match_weight", "DOUBLE", "匹配权重", "Fellegi-Sunter match weight"),
        _c("candidate_person_id", V, "首选候选人个人编号", "best candidate's 个人编号"),
        _c("candidate_household_id", V, "首选候选人户编号", "best candidate's 户编号"),
        _c("reason", V, "待复核或未匹配的原因", "why review or unmatched"),
        _c("comparison", "JSON", "各字段比较级别", "comparison level per field"),
        _c("candidate_person_id_2", V, "第二候选人个人编号", "second candidate's 个人编号",
           migrate=True),
        _c("candidate_household_id_2", V, "第二候选人户编号", "second candidate's 户编号",
           migrate=True),
        _c("candidate_person_id_3", V, "第三候选人个人编号", "third candidate's 个人编号",
           migrate=True),
        _c("candidate_household_id_3", V, "第三候选人户编号", "third candidate's 户编号",
           migrate=True),
        _c("candidate_reasons", "JSON", "各候选人的理由", "each candidate's reasons", migrate=True),
        _c("comparison_weights", "STRUCT(prior DOUBLE, name DOUBLE, id DOUBLE, birth DOUBLE, "
           "sex DOUBLE, district DOUBLE)", "各比较项的权重", "weight of each comparison",
           migrate=True),
    ), key=("source", "period", "record_no"), partitioned=True, analyst="pseudonymised"),
    Table("review_queue", "每个评估月份的复核队列，每条待复核记录一行",
          "one row per review record in the review queue of an assessed month", (
        _ASSESSED,
        _c("source", V, "数据来源名", "source name", nullable=False),
        _c("record_period", V, "记录所在交付文件夹月份", "the record's delivery folder",
           nullable=False, check="period"),
        _c("record_no", V, "记录号", "记录号", nullable=False),
        _c("review_pending", "BOOLEAN", "复核结果会改变某户的标记", "its review could change a flag",
           nullable=False),
        _c("queue_rank", "BIGINT", "复核队列中的位置", "place in the review queue",
           nullable=False),
    ), key=("period", "source", "record_period", "record_no"), partitioned=True),
    Table("match_models", "每个文件夹、字段、级别一行", "one row per folder, field and level", (
        _PERIOD,
        _c("field", V, "比较字段", "compared field", nullable=False),
        _c("level", V, "比较级别", "comparison level", nullable=False),
        _c("m", "DOUBLE", "同一人时出现该级别的概率", "m probability", nullable=False),
        _c("u", "DOUBLE", "不同人时出现该级别的概率", "u probability", nullable=False),
        _c("weight", "DOUBLE", "该级别的权重", "level weight", nullable=False),
        _c("prior_match_proportion", "DOUBLE", "先验匹配比例", "prior match proportion",
           nullable=False),
        _c("prior_weight", "DOUBLE", "先验权重", "prior weight", nullable=False),
        _c("em_iterations", "BIGINT", "EM 迭代次数", "EM iterations", nullable=False),
        _c("params_version", V, "匹配参数版本", "matching parameters version"),
    ), key=("period", "field", "level"), analyst="copied"),
    Table("review_pending_records", "可能改变某户标记的待复核记录", "review record that could "
          "change a household's flags", (
        _c("assessed_period", V, "评估月份", "assessed month", nullable=False, check="period"),
        _c("district_code", V, "区县代码", "district code"),
        _c("household_id", V, "户编号", "户编号", nullable=False),
        _c("source", V, "数据来源名", "source name", nullable=False),
        _c("period", V, "记录所在交付文件夹月份", "the record's delivery folder",
           nullable=False, check="period"),
        _c("record_no", V, "记录号", "记录号", nullable=False),
    ), key=("assessed_period", "household_id", "source", "period", "record_no"),
        analyst="pseudonymised"),
    Table("quarantine", "每个被拒收的输入行或文件一行", "one row per input row or file refused", (
        _c("source", V, "数据来源名", "source name", nullable=False),
        _PERIOD,
        _c("file", V, "文件名", "file name", nullable=False),
        _c("row_number", "BIGINT", "数据行号（从 1 起，不含表头；整文件拒收时为空）",
           "1-based data row (null: whole file refused)"),
        _c("record_no", V, "记录号", "the row's 记录号"),
        _c("reason", V, "拒收原因（中文说明见 reasons.reason_zh）",
           "why refused, as the loaders word it", nullable=False),
        _c("reason_code", V, "拒收原因代码（pipelines/reasons.py）", "reason code", migrate=True),
    ), partitioned=True, analyst="pseudonymised"),
    Table("assessments", "每户每月一行", "one row per household and period", (
        _ASSESSED,
        _c("household_id", V, "户编号", "户编号", nullable=False),
        _c("district_code", V, "区县代码", "district code"),
        _c("urban_rural", V, "城乡", "urban or rural"),
        _c("programme", V, "保障类别（原样）", "programme (保障类别) as delivered"),
        _c("members", "INTEGER", "户内人数", "members", check="at_least_one", frame_nullable=False),
        _c("living_members", "INTEGER", "在世人数", "living members", check="nonnegative",
           frame_nullable=False),
        _c("income_per_capita", M, "人均月收入（元）", "income per capita (yuan)"),
        _c("assets_per_capita", M, "人均资产（元）", "assets per capita (yuan)"),
        _c("residential_units", "INTEGER", "住房套数", "residential units", check="nonnegative"),
        _c("standard", M, "所用收入标准 S（特困为 T，元）", "income threshold applied (S, or T)",
           check="positive"),
        _c("wage_income", M, "工资收入（元）", "wage income (yuan)"),
        _c("benefit_income", M, "养老金等收入（元）", "benefit income (yuan)"),
        _c("medical_out_of_pocket", M, "医疗自付（元）", "medical out of pocket (yuan)"),
        _c("household_income_w", M, "窗口期家庭收入（元）", "household income over the window"),
        _c("missing_sources", V, "缺失的数据来源（逗号分隔）", "sources missing, comma-separated"),
        _VERSION,
    ), key=("period", "household_id"), partitioned=True, analyst="pseudonymised"),
    Table("flags", "每户每月每个标记一行", "one row per household, period and flag", (
        _ASSESSED,
        _c("household_id", V, "户编号", "户编号", nullable=False),
        _c("district_code", V, "区县代码", "district code"),
        _c("flag", V, "标记名（rules.md）", "flag name (rules.md)", nullable=False),
        _c("evidence", "JSON", "证据：quantities、thresholds、records", "evidence JSON",
           nullable=False),
        _VERSION,
        _c("decision", V, "工作人员的决定", "staff decision"),
        _c("decision_reason", V, "决定理由", "reason given"),
        _c("decided_by", V, "决定人", "who decided"),
        _c("decided_at", "TIMESTAMPTZ", "决定时间", "when decided"),
        _c("re_raised", "BOOLEAN", "已驳回的标记因新证据重新提出", "dismissed flag raised again"),
        _c("pending_review", "BOOLEAN", "复核结果可能改变该标记", "a review could change it",
           migrate=True),
        _c("pending_records", "JSON", "相关待复核记录", "the review records concerned",
           migrate=True),
    ), key=("period", "household_id", "flag"), partitioned=True, analyst="pseudonymised", frame=6),
    Table("runs", "每次运行一行（只追加）", "one row per run (append-only)", (
        _c("run_id", V, "运行编号", "run id", nullable=False),
        _c("flow", V, "monthly / quarterly / …", "flow name", nullable=False),
        _c("period", V, "月份或季度", "period or quarter", nullable=False),
        _c("districts", V, "区县范围", "districts in scope"),
        _c("status", V, "运行结果", "run status", nullable=False),
        _c("started_at", "TIMESTAMPTZ", "开始时间", "started at", nullable=False),
        _c("finished_at", "TIMESTAMPTZ", "结束时间", "finished at", nullable=False),
        _c("rulebook_version", V, "规则版本", "rulebook version"),
        _c("code_version", V, "程序版本", "code version"),
        _c("inputs", "JSON", "每个输入文件的校验和与行数", "per input file: checksum, row counts"),
        _c("summary", "JSON", "运行摘要", "run summary"),
        _c("message", V, "失败信息", "failure message"),
    ), key=("run_id",), analyst="copied"),
    Table("loaded_folders", "每个已载入的交付文件夹一行", "one row per delivery folder loaded", (
        _c("period", V, "交付文件夹月份", "delivery folder's month", primary_key=True),
        _c("cache_key", V, "文件夹缓存键", "folder cache key"),
        _c("loaded_at", "TIMESTAMPTZ", "载入时间", "loaded at", nullable=False),
    ), key=("period",)),
    Table("quarter_summary", "每季度、区县、标记一行", "one row per quarter, district and flag", (
        _c("quarter", V, "季度（2026Q3）", "quarter (2026Q3)", nullable=False),
        _c("district_code", V, "区县代码", "district code", nullable=False),
        _c("flag", V, "标记名", "flag name", nullable=False),
        _c("households_flagged", "BIGINT", "季度内任一月被标记的户数",
           "households flagged in any month", nullable=False),
        _c("households_new", "BIGINT", "本季度首次被标记的户数", "households flagged first"),
    ), key=("quarter", "district_code", "flag"), analyst="copied"),
    Table("fairness", "每月、分组、组、来源一行", "one row per period, grouping, group and source", (
        _PERIOD,
        _c("grouping", V, "分组方式", "grouping", nullable=False),
        _c("group_name", V, "组", "group", nullable=False),
        _c("source", V, "数据来源名或 all", "source name or all", nullable=False),
        _c("records", "BIGINT", "记录数", "records", nullable=False),
        _c("matched", "BIGINT", "匹配数", "matched", nullable=False),
        _c("review", "BIGINT", "待复核数", "review", nullable=False),
        _c("unmatched", "BIGINT", "未匹配数", "unmatched", nullable=False),
        _c("review_share", "DOUBLE", "待复核比例", "review share"),
        _c("unmatched_share", "DOUBLE", "未匹配比例", "unmatched share"),
        _c("prev_records", "BIGINT", "上月记录数", "previous month's records"),
        _c("prev_review_share", "DOUBLE", "上月待复核比例", "previous review share"),
        _c("prev_unmatched_share", "DOUBLE", "上月未匹配比例", "previous unmatched share"),
        _c("review_share_change", "DOUBLE", "待复核比例变化", "review share change"),
        _c("unmatched_share_change", "DOUBLE", "未匹配比例变化", "unmatched share change"),
    ), key=("period", "grouping", "group_name", "source"), analyst="copied"),
    Table("decisions", "每条工作人员决定一行（只追加）", "one row per staff decision (append-only)", (
        _c("decision_id", "BIGINT", "决定编号", "decision id", nullable=False,
           primary_key=True),
        _c("kind", V, "link 或 flag", "link or flag", nullable=False,
           sql_check="kind IN ('link', 'flag')"),
        _c("period", V, "月份", "period", nullable=False),
        _c("household_id", V, "户编号", "户编号"),
        _c("flag", V, "标记名", "flag name"),
        _c("source", V, "数据来源名", "source name"),
        _c("record_no", V, "记录号", "记录号"),
        _c("id_norm", V, "规范化证件号", "normalised ID number"),
        _c("name_norm", V, "规范化姓名", "normalised name"),
        _c("person_id", V, "个人编号", "个人编号"),
        _c("decision", V, "决定", "decision", nullable=False,
           sql_check="decision IN ('confirmed', 'rejected', 'verified', 'dismissed', 'referred')"),
        _c("reason", V, "理由", "reason"),
        _c("decided_by", V, "决定人", "who decided", nullable=False),
        _c("decided_at", "TIMESTAMPTZ", "决定时间", "when decided", nullable=False),
        _c("imported_at", "TIMESTAMPTZ", "导入时间", "when imported", nullable=False),
        _c("import_file", V, "导入文件", "imported file", nullable=False),
        _c("import_sha256", V, "导入文件校验和", "imported file's SHA-256", nullable=False),
        _c("evidence", V, "决定时的证据（JSON 文本）", "evidence at the decision (JSON text)"),
    ), key=("decision_id",)),
    Table("pseudonym_state", "一行：假名密钥的校验值", "one row: the pseudonym key's check value", (
        _c("key_check", V, "密钥校验值（不是密钥）", "check value of the key (never the key)",
           nullable=False),
        _c("analyst_published_at", "TIMESTAMPTZ", "分析库发布时间", "analyst file published at",
           nullable=False),
    )),
)}

#: the big per-period tables, stored as one parquet file per period (see pipelines/partitions.py);
#: every other table is an ordinary table of the (small) warehouse file
PARTITIONED_TABLES = frozenset(t.name for t in TABLES.values() if t.partitioned)


def is_partitioned(table: str) -> bool:
    """Whether a warehouse table is stored one parquet file per period."""
    return table in PARTITIONED_TABLES or table.startswith(PARTITIONED_PREFIXES)


def check_analyst_tables(selects: dict[str, str], requires: dict[str, tuple[str, ...]]) -> None:
    """Check the analyst registry against this one; raise ValueError naming the difference.

    Every table this registry gives the analysts has an analyst table of its name; every other
    analyst table reads only the staging layer; a pseudonymised table joins the key maps and a
    copied one does not.

    Parameters
    ----------
    selects
        ``analyst table -> its select`` (:data:`pipelines.analyst.TABLES`).
    requires
        ``analyst table -> warehouse tables it requires``.
    """
    given = {t.name for t in TABLES.values() if t.analyst != "staff"}
    problems = [f"{name}: declared for analysts, missing from the analyst registry"
                for name in sorted(given - set(selects))]
    for name, select in sorted(selects.items()):
        keyed = "_person_keys" in select or "_household_keys" in select
        table = TABLES.get(name)
        if table is None:
            if not requires.get(name) or not all(r.startswith(PARTITIONED_PREFIXES)
                                                  for r in requires[name]):
                problems.append(f"{name}: not a warehouse table and not read from staging")
        elif table.analyst == "staff":
            problems.append(f"{name}: a staff-only table in the analyst registry")
        elif keyed != (table.analyst == "pseudonymised"):
            problems.append(f"{name}: declared {table.analyst}, its select "
                            + ("joins" if keyed else "does not join") + " the key maps")
    if problems:
        raise ValueError("analyst registry disagrees with pipelines/warehouse/tables.py: "
                         + "; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    """``--write-docs`` rewrites docs/tables.md's table list; ``--check-docs`` checks it."""
    from pipelines.warehouse import docs

    args = sys.argv[1:] if argv is None else argv
    if args == ["--write-docs"]:
        changed = docs.write(docs.DOCS)
        print(f"{docs.DOCS} {'已更新' if changed else '已是最新'}")
        return 0
    if args == ["--check-docs"]:
        if docs.is_current(docs.DOCS):
            return 0
        print(f"{docs.DOCS} 的表清单已过期：请运行 python -m pipelines.warehouse.tables --write-docs",
              file=sys.stderr)
        return 1
    print("用法：python -m pipelines.warehouse.tables --write-docs | --check-docs", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
