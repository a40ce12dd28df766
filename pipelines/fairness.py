"""Publish layer: who the matching fails — the per-run ``fairness`` table.

Matching errors do not fall evenly: names with minority separators, traditional characters or
rare surnames, legacy 15-digit IDs and some districts fail more often. Each run therefore
publishes, for its period P, the review and unmatched shares of P's delivery folder by group,
with the counts behind each share and the change from the folder of the month before.

Grain: one row per ``(period, grouping, group_name, source)``.

Records counted
    Every row of ``links`` whose delivery folder is P (``links.period = P``): every distinct
    extract record the folder delivered, whatever its status. Quarantined rows and re-sent
    copies are not records (they never reach ``links``). ``matched``, ``review`` and
    ``unmatched`` count the records of each ``links.status``; ``review_share = review /
    records`` and ``unmatched_share = unmatched / records``.

``source``
    The record's source (``tax_wages`` … ``deaths``; every ``bank_*`` file is ``bank``), or
    ``all`` for the records of every source together.

Groupings and their groups (each record is in exactly one group of each grouping):

``city``
    ``all``: every record (the reference the warnings compare with). Only ``source = 'all'``.
``source``
    The source itself (``group_name = source``), one row per source.
``name_kind`` — from the name as delivered (``stg_<source>.name_raw``/``name_norm``), the first
    that applies:

    - ``minority_separator``: the name has a separator between its parts (``·``, ``.``, ``•``,
      ``・``, ``．`` and the look-alikes of ``pipelines.normalize.names.SEPARATORS``), i.e.
      ``name_norm`` contains ``·``. A minority name delivered without its separator is not
      recognisable as one and falls under its length;
    - ``traditional``: a character of the delivered name changes when folded to simplified
      (OpenCC t2s);
    - ``rare_surname``: the surname (the first two characters when they are a two-character
      surname of ``pipelines.normalize.names.COMPOUND_SURNAMES``, else the first) is not one of
      the 100 most common surnames listed in ``rules/fairness.yaml``;
    - ``chars_1``, ``chars_2``, ``chars_3``, ``chars_4plus``: by the number of characters of
      ``name_norm`` (whitespace removed, folded);
    - ``blank``: no name.
``id_state`` — from the ID as delivered (``stg_<source>.id_raw``, ``id_norm``, ``id_status``):

    - ``valid``: an 18-digit ID with a correct check digit, delivered exactly so;
    - ``reformatted``: valid once full-width digits, separators, spaces or a lower-case ``x``
      were repaired (``id_raw`` differs from ``id_norm``);
    - ``legacy_15``: a legacy 15-digit ID converted to 18 digits (``id_status = converted_15``);
    - ``bad_checksum``: 18 characters whose check digit fails (one typo or swap, at best);
    - ``blank``: no ID;
    - ``unusable``: malformed, or stored by Excel as a number (``malformed``, ``excel_number``).
``district`` — the 区县代码 of the household the record was attributed to on the folder's own
    register: the matched person's household for ``matched``, the first candidate's household for
    ``review``, and ``none`` for ``unmatched`` (no household) or a folder without a register. The
    ID's first six digits are a place of birth, not of residence, so they are not used.

Change from last month
    ``prev_records``, ``prev_review_share``, ``prev_unmatched_share`` are the same group's figures
    for the folder of P-1 (every run loads it: the window is at least six months), computed the
    same way from the warehouse; null when that folder is absent or the group had no record in
    it. ``review_share_change`` and ``unmatched_share_change`` are P minus P-1.

The table holds no identity (codes and counts only), so the analyst database copies it as is.
:func:`fairness_warnings` gives the run summary's warnings: a group (``source = 'all'``) with at
least ``warn_min_records`` records whose review or unmatched share is more than ``warn_ratio``
times the city's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import polars as pl
import yaml

from pipelines.normalize.names import COMPOUND_SURNAMES, to_simplified
from pipelines.periods import Period, add_months
from pipelines.report.layout import SOURCE_LABELS
from pipelines.sources import EXTRACT_SOURCES
from pipelines.warehouse.connection import table_names

SETTINGS = Path(__file__).resolve().parent.parent / "rules" / "fairness.yaml"

GROUPINGS = ("city", "source", "name_kind", "id_state", "district")
NAME_KINDS = ("minority_separator", "traditional", "rare_surname", "chars_1", "chars_2", "chars_3",
              "chars_4plus", "blank")
ID_STATES = ("valid", "reformatted", "legacy_15", "bad_checksum", "blank", "unusable")
ALL = "all"
NO_DISTRICT = "none"

#: Chinese labels for reports and summaries (codes stay English in the warehouse)
GROUPING_LABELS = {"city": "全市", "source": "数据来源", "name_kind": "姓名类型",
                   "id_state": "证件号状态", "district": "区县"}
GROUP_LABELS = {
    "all": "全部", "none": "无归属（未匹配）",
    "minority_separator": "含分隔符的少数民族姓名", "traditional": "含繁体字", "rare_surname": "少见姓氏",
    "chars_1": "单字姓名", "chars_2": "两字姓名", "chars_3": "三字姓名", "chars_4plus": "四字及以上姓名",
    "blank": "空白",
    "valid": "18位有效", "reformatted": "格式修复后有效", "legacy_15": "15位旧号", "bad_checksum": "校验位错误",
    "unusable": "无法使用",
    **{s: SOURCE_LABELS[s] for s in EXTRACT_SOURCES},
}

COLUMNS = ("period", "grouping", "group_name", "source", "records", "matched", "review", "unmatched",
           "review_share", "unmatched_share", "prev_records", "prev_review_share",
           "prev_unmatched_share", "review_share_change", "unmatched_share_change")

@dataclass(frozen=True)
class FairnessSettings:
    """``rules/fairness.yaml``."""

    warn_ratio: float
    warn_min_records: int
    common_surnames: frozenset[str]


@lru_cache(maxsize=4)
def load_settings(path: Path = SETTINGS) -> FairnessSettings:
    """Read the fairness settings (warning ratio, minimum group size, common surnames)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return FairnessSettings(
        warn_ratio=float(raw.get("warn_ratio", 2)),
        warn_min_records=int(raw.get("warn_min_records", 30)),
        common_surnames=frozenset(str(s) for s in raw.get("common_surnames") or ()),
    )


# ---------------------------------------------------------------------------------------------
# per-record groups (pure)


def _has_traditional(name: str | None) -> bool:
    if not name:
        return False
    return any(to_simplified(ch) != ch for ch in name if "\u3400" <= ch <= "\u9fff")


def _surname(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def name_kind(name_raw: str | None, name_norm: str | None, *, common_surnames: frozenset[str]) -> str:
    """The ``name_kind`` group of one delivered name (see the module docstring)."""
    if not name_norm:
        return "blank"
    if "·" in name_norm:
        return "minority_separator"
    if _has_traditional(name_raw):
        return "traditional"
    if _surname(name_norm) not in common_surnames:
        return "rare_surname"
    n = len(name_norm)
    return "chars_1" if n == 1 else "chars_2" if n == 2 else "chars_3" if n == 3 else "chars_4plus"


def add_groups(records: pl.DataFrame, *, settings: FairnessSettings | None = None) -> pl.DataFrame:
    """Add ``name_kind``, ``id_state`` and ``district`` to per-record rows.

    Parameters
    ----------
    records : pl.DataFrame
        ``source, period, record_no, status, name_raw, name_norm, id_raw, id_norm, id_status,
        district_code`` (the district of the household the record was attributed to, or null).
    settings : FairnessSettings, optional
        Default ``rules/fairness.yaml``.
    """
    settings = settings or load_settings()
    names = records.select("name_raw", "name_norm").unique()
    kinds = names.with_columns(pl.Series(
        "name_kind",
        [name_kind(r, n, common_surnames=settings.common_surnames)
         for r, n in names.select("name_raw", "name_norm").iter_rows()],
        dtype=pl.String))
    status = pl.col("id_status")
    id_state = (
        pl.when(status == "valid").then(
            pl.when(pl.col("id_raw") == pl.col("id_norm")).then(pl.lit("valid"))
            .otherwise(pl.lit("reformatted")))
        .when(status == "converted_15").then(pl.lit("legacy_15"))
        .when(status == "bad_checksum").then(pl.lit("bad_checksum"))
        .when(status.is_null() | (status == "blank")).then(pl.lit("blank"))
        .otherwise(pl.lit("unusable"))
    )
    return (records.join(kinds, on=["name_raw", "name_norm"], how="left", nulls_equal=True,
                         maintain_order="left")
            .with_columns(id_state.alias("id_state"),
                          pl.when(pl.col("status") == "unmatched").then(pl.lit(NO_DISTRICT))
                          .otherwise(pl.col("district_code").fill_null(NO_DISTRICT))
                          .alias("district")))


def _counts(records: pl.DataFrame) -> pl.DataFrame:
    """Counts per (grouping, group_name, source) for one folder's grouped records."""
    status = pl.col("status")
    aggs = [pl.len().cast(pl.Int64).alias("records"),
            (status == "matched").sum().cast(pl.Int64).alias("matched"),
            (status == "review").sum().cast(pl.Int64).alias("review"),
            (status == "unmatched").sum().cast(pl.Int64).alias("unmatched")]
    parts = [records.group_by().agg(aggs).with_columns(
        pl.lit("city").alias("grouping"), pl.lit(ALL).alias("group_name"), pl.lit(ALL).alias("source"))]
    parts.append(records.group_by("source").agg(aggs).with_columns(
        pl.lit("source").alias("grouping"), pl.col("source").alias("group_name")))
    for grouping, column in (("name_kind", "name_kind"), ("id_state", "id_state"),
                             ("district", "district")):
        by_source = records.group_by(column, "source").agg(aggs)
        every = records.group_by(column).agg(aggs).with_columns(pl.lit(ALL).alias("source"))
        parts.append(pl.concat([by_source, every], how="diagonal").rename({column: "group_name"})
                     .with_columns(pl.lit(grouping).alias("grouping")))
    frame = pl.concat(parts, how="diagonal").filter(pl.col("records") > 0)
    return frame.with_columns(
        (pl.col("review") / pl.col("records")).alias("review_share"),
        (pl.col("unmatched") / pl.col("records")).alias("unmatched_share"),
    )


def fairness_table(current: pl.DataFrame, *, period: str, previous: pl.DataFrame | None = None,
                   settings: FairnessSettings | None = None) -> pl.DataFrame:
    """The ``fairness`` rows of ``period`` from per-record rows of its folder (and of P-1's).

    Parameters
    ----------
    current, previous : pl.DataFrame
        Per-record rows as :func:`add_groups` takes them, for the folder of P and of P-1
        (``previous`` None when that folder is absent).
    period : str
        P, written in the ``period`` column.
    """
    now = _counts(add_groups(current, settings=settings))
    keys = ["grouping", "group_name", "source"]
    if previous is not None and previous.height:
        before = _counts(add_groups(previous, settings=settings)).select(
            *keys, pl.col("records").alias("prev_records"),
            pl.col("review_share").alias("prev_review_share"),
            pl.col("unmatched_share").alias("prev_unmatched_share"))
        now = now.join(before, on=keys, how="left", maintain_order="left")
    else:
        now = now.with_columns(pl.lit(None, pl.Int64).alias("prev_records"),
                               pl.lit(None, pl.Float64).alias("prev_review_share"),
                               pl.lit(None, pl.Float64).alias("prev_unmatched_share"))
    order = {g: i for i, g in enumerate(GROUPINGS)}
    return (now.with_columns(
                pl.lit(period).alias("period"),
                (pl.col("review_share") - pl.col("prev_review_share")).alias("review_share_change"),
                (pl.col("unmatched_share") - pl.col("prev_unmatched_share")).alias("unmatched_share_change"))
            .with_columns(pl.col("grouping").replace_strict(order, default=len(order)).alias("_o"),
                          (pl.col("source") != ALL).alias("_s"))
            .sort("_o", "group_name", "_s", "source").select(COLUMNS))


# ---------------------------------------------------------------------------------------------
# reading the warehouse


#: ``rows(table, period) -> SQL`` selecting a per-period table's rows of one period
Rows = Callable[[str, str], str]


def _table_rows(table: str, period: str) -> str:
    return f"SELECT * FROM {table} WHERE period = '{period}'"


def folder_records(con: duckdb.DuckDBPyConnection, folder: str, *,
                   rows: Rows | None = None) -> pl.DataFrame:
    """Per-record rows of one delivery folder, as :func:`add_groups` takes them.

    One row per ``links`` row of the folder, with the delivered name and ID of its clean row and
    the district of the household it was attributed to on the folder's register. ``rows`` reads
    a table's rows of the folder (a publish reads a month it does not write from its published
    file: ``pipelines.warehouse.publish.period_rows``); default: the table itself.
    """
    Period.parse(folder)  # a month label, never text spliced into the SQL below
    rows = rows or _table_rows
    tables = table_names(con)
    stg = [s for s in EXTRACT_SOURCES if f"stg_{s}" in tables]
    if not stg or "links" not in tables:
        return pl.DataFrame()
    union = " UNION ALL ".join(
        f"SELECT '{s}' AS source, period, record_no, name_raw, name_norm, id_raw, id_norm, id_status "
        f"FROM ({rows(f'stg_{s}', folder)})" for s in stg)
    households = (f"SELECT DISTINCT household_id, district_code FROM ({rows('stg_register', folder)})"
                  if "stg_register" in tables else
                  "SELECT NULL::VARCHAR AS household_id, NULL::VARCHAR AS district_code WHERE false")
    return con.sql(f"""
        WITH recs AS ({union}), hh AS ({households}), l AS ({rows('links', folder)})
        SELECT l.source, l.period, l.record_no, l.status, r.name_raw, r.name_norm, r.id_raw,
               r.id_norm, r.id_status,
               CASE l.status WHEN 'matched' THEN hm.district_code
                             WHEN 'review' THEN hc.district_code END AS district_code
        FROM l
        LEFT JOIN recs r ON r.source = l.source AND r.record_no = l.record_no
        LEFT JOIN hh hm ON hm.household_id = l.household_id
        LEFT JOIN hh hc ON hc.household_id = l.candidate_household_id
        WHERE l.period = $f
        ORDER BY l.source, l.record_no""", params={"f": folder}).pl()


def compute_fairness(con: duckdb.DuckDBPyConnection, period: str, *,
                     settings: FairnessSettings | None = None,
                     rows: Rows | None = None) -> pl.DataFrame:
    """The ``fairness`` rows of ``period`` from the warehouse's links and clean layer.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse (the publishing connection, after the run's links are written).
    period : str
        P: its folder's records, compared with the folder of P-1.
    """
    current = folder_records(con, period, rows=rows)
    if current.height == 0:
        return pl.DataFrame(schema={c: pl.String for c in COLUMNS[:4]}).with_columns(
            *[pl.lit(None, pl.Int64).alias(c) for c in ("records", "matched", "review", "unmatched")],
            *[pl.lit(None, pl.Float64).alias(c) for c in ("review_share", "unmatched_share")],
            pl.lit(None, pl.Int64).alias("prev_records"),
            *[pl.lit(None, pl.Float64).alias(c) for c in COLUMNS[12:]]).select(COLUMNS)
    previous = folder_records(con, add_months(period, -1), rows=rows)
    return fairness_table(current, period=period, previous=previous if previous.height else None,
                          settings=settings)


def publish_fairness(con: duckdb.DuckDBPyConnection, periods: Sequence[str], *,
                     rows: Rows | None = None) -> pl.DataFrame:
    """Replace the ``fairness`` rows of ``periods`` and return them (all periods together).

    The table itself is created with the other published tables (``pipelines.warehouse``).
    """
    frames = [compute_fairness(con, p, rows=rows) for p in periods]
    con.execute("DELETE FROM fairness WHERE list_contains(?, period)", [list(periods)])
    table = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    if table.height:
        con.register("_hedui_fairness", table)
        con.execute("INSERT INTO fairness BY NAME SELECT * FROM _hedui_fairness")
        con.unregister("_hedui_fairness")
    return table


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def fairness_warnings(table: pl.DataFrame, *, settings: FairnessSettings | None = None) -> list[str]:
    """Summary lines for groups whose review or unmatched share exceeds ``warn_ratio`` × the city's.

    Only ``source = 'all'`` rows of the groupings name_kind, id_state, district and source with at
    least ``warn_min_records`` records are considered; no identities, codes and counts only.
    """
    settings = settings or load_settings()
    out: list[str] = []
    if table.height == 0:
        return out
    for period in table["period"].unique(maintain_order=True).to_list():
        rows = table.filter(pl.col("period") == period)
        city = rows.filter(pl.col("grouping") == "city")
        if city.height == 0:
            continue
        c = city.row(0, named=True)
        # district 'none' holds exactly the unmatched records: its share says nothing
        candidates = rows.filter((pl.col("grouping") != "city")
                                 & ~((pl.col("grouping") == "district") & (pl.col("group_name") == NO_DISTRICT))
                                 & ((pl.col("source") == ALL) | (pl.col("grouping") == "source"))
                                 & (pl.col("records") >= settings.warn_min_records))
        for r in candidates.iter_rows(named=True):
            for what, share, label in (("review", "review_share", "待复核"),
                                       ("unmatched", "unmatched_share", "未匹配")):
                if c[share] is not None and r[share] > settings.warn_ratio * c[share] and r[what] > 0:
                    out.append(
                        f"{period} 公平性提示：{GROUPING_LABELS[r['grouping']]}「"
                        f"{GROUP_LABELS.get(r['group_name'], r['group_name'])}」({r['group_name']}) 的{label}比例 "
                        f"{_pct(r[share])}（{r[what]}/{r['records']}）超过全市 {_pct(c[share])} 的 "
                        f"{settings.warn_ratio:g} 倍")
    return out
