"""Report layer: the template context of one household's notice.

Turns the flags' evidence, the records behind it and the rules in force at the end of the period
into the values the templates print (thresholds with the parameters behind them, records by the
member they were linked to, what rests on less than a certain link).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipelines.flags import income_drop
from pipelines.notice.fetch import _prefetch, _Prefetched
from pipelines.notice.format import (
    _number,
    _parameter_value_text,
    _plain_number,
    date_text,
    month_text,
)
from pipelines.notice.vocabulary import (
    _CERTAIN_METHODS,
    NoticeError,
    NoticeVocabulary,
    load_vocabulary,
)
from pipelines.periods import month_end, parse_period, window
from pipelines.report.layout import FLAG_LABELS
from pipelines.report.text import THRESHOLD_LABELS, format_yuan
from pipelines.rulebook import Rulebook
from pipelines.sources import SNAPSHOT_SOURCES


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
    value: Decimal | tuple[str, ...] | None = None
    for since, v in p.series.get(k, ()):
        if since > day:
            break
        start, value = since, v
    if isinstance(value, tuple):  # a threshold's parameter is a number; a words parameter has no amount
        raise TypeError(f"rulebook parameter {name!r} is a list of words, not an amount")
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
                  rules: _RuleInfo, window_months: int, drop_split: tuple[int, int],
                  deduction: Decimal | None) -> dict:
    quantities = evidence.get("quantities") or {}
    thresholds = evidence.get("thresholds") or {}
    keys = evidence.get("records") or []
    records = [_record_entry(k, rows.get((str(k["source"]), str(k["period"]), str(k["record_no"]))),
                             vocab=vocab, members=members) for k in keys]
    win = window(period, window_months)
    recent, earlier = drop_split
    drop = window(period, recent + earlier)
    return {
        "flag": flag,
        "label": FLAG_LABELS.get(flag, flag),
        "period_text": month_text(period),
        "window_text": f"{month_text(win[0])}至{month_text(win[-1])}",
        "window_months": window_months,
        # INCOME_DROP: the last `recent` months of its window against the `earlier` before them
        "recent_months": recent,
        "earlier_months": earlier,
        "recent_text": f"{month_text(drop[-recent])}至{month_text(period)}",
        "earlier_text": f"{month_text(drop[0])}至{month_text(drop[-recent - 1])}",
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
    # INCOME_DROP's (recent, earlier) months: 3 against 3 unless the flags' rules are known
    drop_split = (3, 3)
    deduction: Decimal | None = None
    if resolved is not None and rules.same_version:
        window_months = int(resolved.value("income_window_months"))
        drop_split = income_drop.split(resolved)
        deduction = resolved.value("employment_cost_deduction_rate")

    members = {r["person_id"]: r for r in data.members.get(household_id, [])}
    flag_contexts = [
        _flag_context(f, ev, v, period=period, assessment=assessment, rows=data.records,
                      members=members, vocab=vocab, rules=rules, window_months=window_months,
                      drop_split=drop_split, deduction=deduction)
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
