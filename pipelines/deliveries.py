"""Clean layer: month-on-month change of each source's delivery, for the run summary and report.

A snapshot source whose delivery collapses (a header-only ``vehicles.csv`` where last month had
thousands of rows) is valid by the contract, but it silently changes every flag that depends on
the source. :func:`delivery_changes` compares the rows of each extract source that entered
matching in a month folder with the previous month's folder and lists those that changed by more
than the rulebook's ``delivery_change_share``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipelines import periods as pp

#: the parameters (rules/parameters/delivery_change_share.yaml, delivery_change_min_rows.yaml)
PARAMETER = "delivery_change_share"
MIN_ROWS = "delivery_change_min_rows"


def _usable_rows(entries: Sequence[Mapping]) -> dict[tuple[str, str], int]:
    rows: dict[tuple[str, str], int] = {}
    for e in entries:
        if e.get("role") != "extract":
            continue
        key = (str(e["period"]), str(e["source"]))
        rows[key] = rows.get(key, 0) + int(e.get("rows_linked") or 0)
    return rows


def delivery_changes(entries: Sequence[Mapping], *, periods: Sequence[str], rulebook) -> list[dict]:
    """Sources whose usable rows changed by more than the set share from the previous folder.

    Parameters
    ----------
    entries : sequence of mapping
        ``runs.inputs`` entries (:func:`pipelines.runner.input_entries`): ``period``, ``role``,
        ``source``, ``rows_linked`` per delivered file.
    periods : sequence of str
        The months to check, each against the month before it. A month is checked only when both
        folders were delivered (have at least one file); a source absent from a delivered folder
        counts 0 rows. A source with no rows the month before is not compared, nor one whose
        larger month has fewer rows than ``delivery_change_min_rows``.
    rulebook : pipelines.rulebook.Rulebook
        Gives ``delivery_change_share`` and ``delivery_change_min_rows`` in force at the end of
        each month (no share: no check; no minimum: every source is compared).

    Returns
    -------
    list of dict
        ``source, period, previous_period, rows, previous_rows, change`` (signed share) and
        ``threshold``, one per source and month over the threshold, in period and source order.
    """
    rows = _usable_rows(entries)
    delivered = {str(e["period"]) for e in entries}
    out: list[dict] = []
    for period in periods:
        previous = pp.add_months(period, -1)
        if period not in delivered or previous not in delivered:
            continue
        if PARAMETER not in rulebook.parameters:
            continue
        day = pp.month_end(period)
        value = rulebook.parameters[PARAMETER].at(day)
        if value is None:
            continue
        share = float(value)
        least = rulebook.parameters[MIN_ROWS].at(day) if MIN_ROWS in rulebook.parameters else None
        least = int(least) if least is not None else 0
        sources = sorted({s for (p, s) in rows if p in (period, previous)})
        for source in sources:
            before, now = rows.get((previous, source), 0), rows.get((period, source), 0)
            if before == 0 or max(before, now) < least:
                continue
            change = (now - before) / before
            if abs(change) > share:
                out.append({"source": source, "period": period, "previous_period": previous,
                            "rows": now, "previous_rows": before, "change": round(change, 4),
                            "threshold": share})
    return out


def delivery_warnings(summary: dict) -> list[str]:
    """One Chinese sentence per source whose delivered rows changed beyond the set share."""
    # imported here: the report package imports this module
    from pipelines.report.layout import SOURCE_LABELS

    out = []
    for c in summary.get("delivery_changes") or []:
        label = SOURCE_LABELS.get(c["source"], c["source"])
        out.append(f"{label}：{c['period']} 交付可用 {c['rows']:,} 行，{c['previous_period']} 为 "
                   f"{c['previous_rows']:,} 行（{c['change']:+.0%}），变化超过交付行数变化提示线 "
                   f"{c['threshold']:.0%}；依赖该来源的标记会随之变化，请向提供部门核实是否漏交或错交")
    return out
