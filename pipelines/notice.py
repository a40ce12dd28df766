"""Report layer: the notice a flagged household can read (核对告知书).

Matching programmes must tell a person what was found and let them contest it before anything
happens. :func:`household_notice` builds that text for one household and period from the
warehouse alone:

- the flags of the period and their evidence (``flags.evidence``: quantities, thresholds with the
  parameters behind them, and the ``{source, period, record_no}`` of every contributing record);
- for each record, the clean row of its source (``stg_<source>``: the month, the amount and what
  the record is) and the family member it was linked to (``links.person_id`` on P's register),
  shown by relation and masked name;
- the rule: the flag's Chinese name, each threshold's value, the parameters behind it with the
  value and effective date in force at the end of P (``rules/parameters``), and the rulebook
  version stamped on the flag;
- what rests on less than a certain link: records linked by a staff confirmation of a review
  record or through a repaired ID (``link_method``), the household's records still waiting in
  review (not counted), and sources that were not delivered (``assessments.missing_sources``,
  ``assets_lower_bound``).

The words are templates in ``rules/notices/`` (Jinja2, one per flag, the shared pieces in
``_parts.md.j2``, the frame ``notice.md.j2`` and the vocabulary ``notice.yaml``); this module
reads and formats values (amounts, months, dates, units) and leaves the sentences to them. The notice
never carries another person's ID number or name: records are described by the member they were
linked to, review records only by department and month, and the household's own names and IDs
are masked with the report package's masking functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import polars as pl
import yaml

from pipelines.flags import FLAGS
from pipelines.periods import month_end, parse_period, window
from pipelines.report.layout import FLAG_LABELS
from pipelines.report.text import THRESHOLD_LABELS, format_yuan, mask_id, mask_name
from pipelines.rulebook import Rulebook, RulebookError, Rules, load_rulebook
from pipelines.sources import EXTRACT_SOURCES, SNAPSHOT_SOURCES
from pipelines.warehouse.connection import table_names as _tables

#: the templates and vocabulary of the notice
NOTICE_DIR = Path(__file__).resolve().parent.parent / "rules" / "notices"
FRAME_TEMPLATE = "notice.md.j2"
VOCABULARY = "notice.yaml"

#: link methods that are certain (an exact ID and agreeing name): no remark in the notice
_CERTAIN_METHODS = frozenset({"id_exact"})


class NoticeError(ValueError):
    """No notice can be written (unknown period or household, no flag): the message says why."""


@dataclass(frozen=True)
class NoticeVocabulary:
    """``rules/notices/notice.yaml``: departments, parameter names, contest days and place."""

    contest_days: int
    contest_place: str
    issuer: str
    departments: dict[str, str]
    source_data: dict[str, str]
    parameters: dict[str, str]
    link_methods: dict[str, str]
    missing: dict[str, str]


def load_vocabulary(folder: Path | None = None) -> NoticeVocabulary:
    """Read the notice vocabulary (once per folder); every extract source must have a department.

    Parameters
    ----------
    folder : Path, optional
        The notices folder (default ``rules/notices`` of the repository).

    Raises
    ------
    NoticeError
        The file is missing or lacks a department for a source.
    """
    return _vocabulary((folder or NOTICE_DIR).resolve())


@lru_cache(maxsize=4)
def _vocabulary(folder: Path) -> NoticeVocabulary:
    path = folder / VOCABULARY
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise NoticeError(f"告知书词表 {path} 无法读取：{exc}") from exc
    departments = dict(raw.get("departments") or {})
    lacking = [s for s in EXTRACT_SOURCES if s not in departments]
    if lacking:
        raise NoticeError(f"告知书词表 {path} 缺少以下来源的部门名称：{'、'.join(lacking)}")
    return NoticeVocabulary(
        contest_days=int(raw.get("contest_days", 15)),
        contest_place=str(raw.get("contest_place", "户籍所在街道（乡镇）办事处")),
        issuer=str(raw.get("issuer", "居民家庭经济状况核对中心")),
        departments=departments,
        source_data=dict(raw.get("source_data") or {}),
        parameters=dict(raw.get("parameters") or {}),
        link_methods=dict(raw.get("link_methods") or {}),
        missing=dict(raw.get("missing") or {}),
    )


@lru_cache(maxsize=4)
def _environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,  # a missing value fails loudly, never prints blank
        autoescape=False,  # plain text for a terminal, a workbook cell or Markdown
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


# ---------------------------------------------------------------------------------------------
# formatting: months, dates, amounts


def month_text(period: str | None) -> str:
    """``'2026-10'`` -> ``'2026年10月'``; None gives ``'月份不详'``."""
    if not period:
        return "月份不详"
    year, month = parse_period(period[:7])
    return f"{year}年{month}月"


def date_text(day: date | None) -> str:
    """A date as ``2026年7月1日``; None gives ``'日期不详'``."""
    if day is None:
        return "日期不详"
    return f"{day.year}年{day.month}月{day.day}日"


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." in text else f"{int(value):,}"


def _parameter_value_text(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "已停止执行"
    if unit == "ratio":
        return f"{_plain_number(value * 100)}%"
    if unit == "yuan_per_person_month":
        return f"每人每月 {format_yuan(value)} 元"
    if unit == "yuan":
        return f"{format_yuan(value)} 元"
    if unit == "wan_yuan":
        return f"{_plain_number(value)} 万元"
    if unit in {"months", "months_of_standard"}:
        return f"{_plain_number(value)} 个月"
    if unit == "units":
        return f"{_plain_number(value)} 套"
    if unit == "vehicles":
        return f"{_plain_number(value)} 辆"
    return _plain_number(value)


# ---------------------------------------------------------------------------------------------
# reading the warehouse


def _record_rows(con: duckdb.DuckDBPyConnection, keys: Sequence[dict],
                 tables: frozenset[str]) -> dict[tuple, dict]:
    """The clean row and link of each evidence record, by ``(source, period, record_no)``."""
    out: dict[tuple, dict] = {}
    by_source: dict[str, list[str]] = {}
    for k in keys:
        by_source.setdefault(str(k["source"]), []).append(f"{k['period']}|{k['record_no']}")
    for source, wanted in by_source.items():
        table = f"stg_{source}"
        if source not in EXTRACT_SOURCES or table not in tables:
            continue
        frame = con.sql(f"""
            SELECT s.* EXCLUDE (id_raw, id_norm, id18, name_raw, name_norm, name_pinyin),
                   l.person_id AS linked_person_id, l.method AS linked_method
            FROM {table} s
            LEFT JOIN links l ON l.source = $s AND l.period = s.period AND l.record_no = s.record_no
            WHERE list_contains($k, s.period || '|' || s.record_no)""",
                        params={"s": source, "k": wanted}).pl()
        for row in frame.iter_rows(named=True):
            out.setdefault((source, row["period"], row["record_no"]), row)
    return out


@dataclass(frozen=True)
class _Prefetched:
    """What the notices of a set of households need, read in a few queries for all of them."""

    has_results: bool
    assessments: dict[str, dict]
    flags: dict[str, list[tuple[str, dict, str]]]
    members: dict[str, list[dict]]
    pending: dict[str, list[dict]]
    records: dict[tuple, dict]
    rulebook: Rulebook | None
    resolved: Rules | None


def _prefetch(con: duckdb.DuckDBPyConnection, *, period: str, household_id: str | None = None,
              districts: Sequence[str] = (), rulebook: Rulebook | None = None) -> _Prefetched:
    """Read the period's rows for one household, or for every household of ``districts``."""
    tables = _tables(con)
    for table in ("flags", "assessments", "links"):
        if table not in tables:
            raise NoticeError(f"数据库中没有 {table} 表，请先运行 hedui monthly")
    params: dict[str, Any] = {"p": period}
    if household_id is not None:
        chosen, params["h"] = "household_id = $h", household_id
    else:
        chosen, params["d"] = "list_contains($d, district_code)", list(districts)
    scope = f"SELECT household_id FROM assessments WHERE period = $p AND {chosen}"
    has_results = bool(con.execute("SELECT count(*) FROM assessments WHERE period = ?",
                                   [period]).fetchall()[0][0])
    assessments = {r["household_id"]: r for r in con.sql(
        f"""SELECT household_id, district_code, urban_rural, programme, missing_sources
            FROM assessments WHERE period = $p AND {chosen}""", params=params).pl().iter_rows(named=True)}
    order = {f: i for i, f in enumerate(FLAGS)}
    flags: dict[str, list[tuple[str, dict, str]]] = {}
    for h, f, e, v in con.sql(f"""SELECT household_id, flag, evidence, rulebook_version FROM flags
                                 WHERE period = $p AND household_id IN ({scope})""",
                              params=params).fetchall():
        flags.setdefault(h, []).append((f, json.loads(e) if isinstance(e, str) else (e or {}), v))
    for rows in flags.values():
        rows.sort(key=lambda r: order.get(r[0], len(order)))
    members: dict[str, list[dict]] = {}
    if "stg_register" in tables:
        frame = con.sql(f"""
            SELECT household_id, person_id, relation, name_raw,
                   coalesce(id_norm, id_raw) AS id_text, street, row_number
            FROM stg_register WHERE period = $p AND household_id IN ({scope})
            ORDER BY household_id, row_number""", params=params).pl().select(
            "household_id", "person_id",
            pl.col("relation").fill_null("成员"),
            mask_name(pl.col("name_raw")).fill_null("（未登记姓名）").alias("name_masked"),
            mask_id(pl.col("id_text")).fill_null("（未登记证件号）").alias("id_masked"),
            "street")
        for row in frame.iter_rows(named=True):
            members.setdefault(row["household_id"], []).append(row)
    try:
        book = rulebook or load_rulebook()
        resolved: Rules | None = book.at(month_end(period))
    except RulebookError:
        book, resolved = None, None
    months = 6 if resolved is None else max(int(resolved.value("income_window_months")), 6)
    pending: dict[str, list[dict]] = {}
    for h, source, folder, n in con.sql(f"""
            SELECT candidate_household_id, source, period, count(*) FROM links
            WHERE status = 'review' AND list_contains($f, period)
              AND candidate_household_id IN ({scope})
            GROUP BY ALL ORDER BY candidate_household_id, period, source""",
                                        params={**params, "f": window(period, months)}).fetchall():
        pending.setdefault(h, []).append({"source": source, "period": folder, "n": int(n)})
    keys = [k for rows in flags.values() for _, ev, _ in rows for k in (ev.get("records") or [])]
    return _Prefetched(has_results=has_results, assessments=assessments, flags=flags,
                       members=members, pending=pending, records=_record_rows(con, keys, tables),
                       rulebook=book, resolved=resolved)


# ---------------------------------------------------------------------------------------------
# building the template context


@dataclass(frozen=True)
class _RuleInfo:
    rulebook: Rulebook | None
    same_version: bool


def _effective(rulebook: Rulebook, name: str, day: date, key: tuple[str, ...]
               ) -> tuple[Decimal | None, date | None, str]:
    p = rulebook.parameters.get(name)
    if p is None:
        return None, None, ""
    k = key if p.varies_by else ()
    start: date | None = None
    value: Decimal | None = None
    for since, v in p.series.get(k, ()):
        if since > day:
            break
        start, value = since, v
    return value, start, p.unit


def _threshold_entries(thresholds: dict, *, vocab: NoticeVocabulary, rules: _RuleInfo, period: str,
                       district: str | None, urban_rural: str | None, version: str) -> list[dict]:
    day = month_end(period)
    entries = []
    for name, entry in thresholds.items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        params = entry.get("parameters", []) if isinstance(entry, dict) else []
        parts = []
        for pname in params:
            label = vocab.parameters.get(pname, pname)
            if rules.rulebook is not None and rules.same_version:
                v, since, unit = _effective(rules.rulebook, pname, day,
                                            (district or "", urban_rural or ""))
                when = ("自本规则实施起执行" if since is None or since.year <= 1
                        else f"自{date_text(since)}起执行")
                parts.append({"name": label, "value_text": _parameter_value_text(v, unit),
                              "effective_text": when})
            else:
                parts.append({"name": label, "value_text": "",
                              "effective_text": f"取值和生效日期以规则版本 {version} 为准"})
        entries.append({"name": name, "label": THRESHOLD_LABELS.get(name, name),
                        "value_text": _threshold_text(name, value), "parameters": parts})
    return entries


def _threshold_text(name: str, value: Any) -> str:
    n = _number(value)
    if n is None:
        return "不详"
    if name in {"max_residential_units"}:
        return f"{_plain_number(n)} 套"
    if name == "vehicle_exempt_count":
        return f"{_plain_number(n)} 辆"
    if name == "business_capital_limit_wan":
        return f"{_plain_number(n)} 万元"
    return f"{format_yuan(n)} 元"


def _yuan_fen(fen: Any) -> str | None:
    return None if fen is None else format_yuan(Decimal(int(fen)) / 100)


def _record_entry(key: dict, row: dict | None, *, vocab: NoticeVocabulary,
                  members: dict[str, dict]) -> dict:
    """One evidence record as the templates show it: values formatted, words left to them.

    ``month`` is the month the record is about (所得期间/发放年月, the settlement or death date's
    month) or, for a snapshot source, the delivery folder's month (``snapshot`` true). Text
    fields are the clean row's values (None when absent); ``found`` is false when the clean row
    is no longer in the warehouse.
    """
    source = str(key["source"])
    folder = str(key["period"])
    method = key.get("link_method") or (row or {}).get("linked_method")
    member = members.get((row or {}).get("linked_person_id") or "")
    r = row or {}

    def day(name: str) -> str | None:
        return date_text(r[name]) if r.get(name) else None

    def number(name: str) -> str | None:
        return f"{r[name]:g}" if r.get(name) is not None else None

    month = {"tax_wages": r.get("income_month"), "pension": r.get("income_month"),
             "medical": str(r["settled_on"])[:7] if r.get("settled_on") else None,
             "deaths": str(r["died_on"])[:7] if r.get("died_on") else None}.get(source, folder)
    return {
        "source": source,
        "found": row is not None,
        "department": vocab.departments.get(source, source),
        "data": vocab.source_data.get(source, source),
        "record_no": str(key["record_no"]),
        "member": f"{member['relation']} {member['name_masked']}" if member else None,
        "link_note": vocab.link_methods.get(str(method), "") if method not in _CERTAIN_METHODS else "",
        "snapshot": source in SNAPSHOT_SOURCES,
        "month_text": month_text(month if row is not None else folder),
        "amount": _yuan_fen(r.get("amount_fen")), "balance": _yuan_fen(r.get("balance_fen")),
        "self_paid": _yuan_fen(r.get("self_paid_fen")), "total": _yuan_fen(r.get("total_fen")),
        "settled_on": day("settled_on"), "died_on": day("died_on"), "queried_on": day("queried_on"),
        "area": number("area_m2"), "capital": number("capital_wan"),
        **{k: r.get(k) for k in ("withholder", "benefit_type", "institution", "account_type",
                                 "usage", "location", "unit_no", "co_ownership", "vehicle_type",
                                 "plate_no", "vehicle_status", "company_name", "role",
                                 "registration_status")},
    }


def _quantity_text(name: str, value: Any) -> str:
    if value is None:
        return "不详"
    if isinstance(value, bool):
        return "是" if value else "否"
    n = _number(value)
    if n is None:
        return str(value)
    if name in {"living_members", "members", "residential_units", "vehicles_counted",
                "businesses_counted"}:
        return _plain_number(n)
    return format_yuan(n)


def _flag_context(flag: str, evidence: dict, version: str, *, period: str, assessment: dict,
                  rows: dict[tuple, dict], members: dict[str, dict], vocab: NoticeVocabulary,
                  rules: _RuleInfo, window_months: int, deduction: Decimal | None) -> dict:
    quantities = evidence.get("quantities") or {}
    thresholds = evidence.get("thresholds") or {}
    keys = evidence.get("records") or []
    records = [_record_entry(k, rows.get((str(k["source"]), str(k["period"]), str(k["record_no"]))),
                             vocab=vocab, members=members) for k in keys]
    win = window(period, window_months)
    return {
        "flag": flag,
        "label": FLAG_LABELS.get(flag, flag),
        "period_text": month_text(period),
        "window_text": f"{month_text(win[0])}至{month_text(win[-1])}",
        "window_months": window_months,
        "last3_text": f"{month_text(window(period, 3)[0])}至{month_text(period)}",
        "prev3_text": f"{month_text(window(period, 6)[0])}至{month_text(window(period, 6)[2])}",
        "deduction_pct": (f"{_plain_number(deduction * 100)}%" if deduction is not None else "规定比例"),
        "programme": assessment.get("programme") or "",
        "q": {k: _quantity_text(k, v) for k, v in quantities.items()},
        "n": {k: _number(v) for k, v in quantities.items()},
        "flags_q": {k: v for k, v in quantities.items() if isinstance(v, bool)},
        "t": {k: _threshold_text(k, (v.get("value") if isinstance(v, dict) else v))
              for k, v in thresholds.items()},
        "tn": {k: _number(v.get("value") if isinstance(v, dict) else v) for k, v in thresholds.items()},
        "thresholds": _threshold_entries(thresholds, vocab=vocab, rules=rules, period=period,
                                         district=assessment.get("district_code"),
                                         urban_rural=assessment.get("urban_rural"), version=version),
        "records": records,
        "uncertain_links": [r for r in records if r["link_note"]],
        "rulebook_version": version,
        "contest_days": vocab.contest_days,
        "contest_place": vocab.contest_place,
    }


def notice_context(con: duckdb.DuckDBPyConnection, *, period: str, household_id: str,
                   rulebook: Rulebook | None = None, folder: Path | None = None,
                   prefetched: _Prefetched | None = None) -> dict:
    """Everything the notice templates need for one household and period.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection to the warehouse (read-only is enough).
    period : str
        ``YYYY-MM``.
    household_id : str
        The register's 户编号.
    rulebook : Rulebook, optional
        The rulebook for effective dates (default: ``rules/parameters``). When its version at the
        end of P differs from the flag's, the notice names the version instead of dates.
    folder : Path, optional
        The notices folder (default ``rules/notices``).
    prefetched : optional
        The rows of many households read at once (:func:`district_notices`); default: read this
        household's.

    Raises
    ------
    NoticeError
        The period has no results, the household is not assessed in it, or it has no flag.
    """
    parse_period(period)
    household_id = household_id.strip()
    vocab = load_vocabulary(folder)
    data = prefetched or _prefetch(con, period=period, household_id=household_id, rulebook=rulebook)
    if not data.has_results:
        raise NoticeError(f"{period} 没有核对结果：请先运行 hedui monthly --period {period}")
    assessment = data.assessments.get(household_id)
    if assessment is None:
        raise NoticeError(f"户编号 {household_id} 在 {period} 的核对结果中不存在，请核对户编号")
    evidences = data.flags.get(household_id)
    if not evidences:
        raise NoticeError(f"户编号 {household_id} 在 {period} 没有核查标记，无需出具告知书")

    resolved = data.resolved
    versions = {v for _, _, v in evidences}
    rules = _RuleInfo(data.rulebook, resolved is not None and versions == {resolved.version})
    window_months = 6
    deduction: Decimal | None = None
    if resolved is not None and rules.same_version:
        window_months = int(resolved.value("income_window_months"))
        deduction = resolved.value("employment_cost_deduction_rate")

    members = {r["person_id"]: r for r in data.members.get(household_id, [])}
    flag_contexts = [
        _flag_context(f, ev, v, period=period, assessment=assessment, rows=data.records,
                      members=members, vocab=vocab, rules=rules, window_months=window_months,
                      deduction=deduction)
        for f, ev, v in evidences]

    missing = [m for m in (assessment.get("missing_sources") or "").split(",") if m]
    missing_texts = [vocab.missing.get(m) or
                     f"{vocab.departments.get(m, m)}的{vocab.source_data.get(m, '数据')}在核对期内没有交付，"
                     f"相关情况无法核对，未计入" for m in missing]
    if any(fc["flags_q"].get("assets_lower_bound") for fc in flag_contexts) \
            and "bank_partial" not in missing:
        missing_texts.append(vocab.missing.get("bank_partial", "部分银行的数据未能使用"))
    pending = [{"department": vocab.departments.get(p["source"], p["source"]),
                "data": vocab.source_data.get(p["source"], "数据"),
                "month_text": month_text(p["period"]), "n": p["n"]}
               for p in data.pending.get(household_id, [])]
    street = next((r["street"] for r in members.values() if r.get("street")), None)
    head = next((r for r in members.values() if r["relation"] == "户主"),
                next(iter(members.values()), None))
    return {
        "period": period,
        "period_text": month_text(period),
        "household_id": household_id,
        "district_code": assessment.get("district_code") or "",
        "street": street or "",
        "programme": assessment.get("programme") or "",
        "head": head,
        "members": list(members.values()),
        "flags": flag_contexts,
        "missing": missing_texts,
        "pending_review": pending,
        "rulebook_versions": sorted(versions),
        "contest_days": vocab.contest_days,
        "contest_place": vocab.contest_place,
        "issuer": vocab.issuer,
    }


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
