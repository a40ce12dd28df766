"""Presentation layer: the run summary as Markdown (Prefect artifact) and as a rich table.

Summaries carry counts, codes and reasons only: never an ID number or a name.
"""

from __future__ import annotations

from collections import defaultdict

from pipelines.deliveries import delivery_warnings


def _flag_table(summary: dict) -> list[tuple[str, str, str, int]]:
    return [(f.get("period", ""), f["district_code"], f["flag"], int(f["len"]))
            for f in summary.get("flags", [])]


def household_counts(summary: dict) -> dict[tuple[str, str], int]:
    """Households flagged per ``(flag, district)``, each household counted once.

    A monthly summary has one row per household, flag and district, so its counts add up. A
    quarterly summary's rows are per month: adding them would count household-months, so its
    ``quarter_summary`` (households flagged in any month of the quarter) is used instead.
    """
    by: dict[tuple[str, str], int] = defaultdict(int)
    if summary.get("quarter_summary") is not None:
        for row in summary["quarter_summary"]:
            by[(row["flag"], row["district_code"])] += int(row["households_flagged"])
        return dict(by)
    for _p, d, f, n in _flag_table(summary):
        by[(f, d)] += n
    return dict(by)


def _sources(by_source: list[dict]) -> str:
    from pipelines.report.layout import SOURCE_LABELS
    return "、".join(f"{SOURCE_LABELS.get(s['source'], s['source'])} {s['rows']}" for s in by_source)


def quarantine_lines(summary: dict) -> list[tuple[str, int, str]]:
    """The summary's quarantine reasons as (kind in Chinese, rows, rows per source) rows.

    ``summary["quarantine_reasons"]`` comes from :func:`pipelines.reasons.count_by_kind`: one
    entry per kind of reason (values left out), each quarantined row counted once.
    """
    return [(r["kind"], int(r["rows"]), _sources(r.get("by_source") or []))
            for r in summary.get("quarantine_reasons") or []]


def summary_markdown(summary: dict) -> str:
    """The run summary as Markdown for a Prefect artifact (keyed per flow and period)."""
    links = summary.get("links", {})
    lines = [
        f"# hedui cross-check {summary.get('period', '')}",
        "",
        f"- districts: {summary.get('districts', 'all')}",
        f"- rulebook version: `{summary.get('rulebook_version', '')}`",
        f"- files: {summary.get('files', 0)} (refused: {summary.get('files_refused', 0)})",
        f"- rows in: {summary.get('rows_in', 0)}; quarantined: {summary.get('rows_quarantined', 0)}; "
        f"re-sent duplicates: {summary.get('rows_duplicate', 0)}",
        f"- links: matched {links.get('matched', 0)}, review {links.get('review', 0)}, "
        f"unmatched {links.get('unmatched', 0)}",
        f"- households assessed: {summary.get('households_assessed', 0)}",
        f"- warehouse: `{summary.get('warehouse', '')}`",
        "",
        "## Flags",
        "",
        "| period | district | flag | households |",
        "|---|---|---|---:|",
    ]
    lines += [f"| {p} | {d} | {f} | {n} |" for p, d, f, n in _flag_table(summary)]
    if summary.get("delivery_changes"):
        lines += ["", "## 交付行数突变", ""] + [f"- {w}" for w in delivery_warnings(summary)]
    if summary.get("quarantine_reasons"):
        lines += ["", "## 隔离原因（按类别，每行计一次）", "", "| 原因 | 行数 | 来源 |", "|---|---:|---|"]
        lines += [f"| {k} | {n} | {src} |" for k, n, src in quarantine_lines(summary)]
    if summary.get("fairness_warnings"):
        lines += ["", "## Fairness warnings", ""] + [f"- {w}" for w in summary["fairness_warnings"]]
    if summary.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


def print_summary(summary: dict, console) -> None:
    """Render the summary on the terminal with rich tables."""
    from rich.markup import escape
    from rich.table import Table

    links = summary.get("links", {})
    overview = Table(title=f"hedui {summary.get('period', '')} — run summary", show_header=False)
    overview.add_column("what")
    overview.add_column("value", justify="right")
    overview.add_row("districts", str(summary.get("districts", "all")))
    overview.add_row("files read", f"{summary.get('files', 0)} ({summary.get('files_refused', 0)} refused)")
    overview.add_row("rows in", str(summary.get("rows_in", 0)))
    overview.add_row("quarantined", str(summary.get("rows_quarantined", 0)))
    overview.add_row("re-sent duplicates", str(summary.get("rows_duplicate", 0)))
    overview.add_row("linked: matched", str(links.get("matched", 0)))
    overview.add_row("linked: review", str(links.get("review", 0)))
    overview.add_row("linked: unmatched", str(links.get("unmatched", 0)))
    overview.add_row("households assessed" if summary.get("quarter_summary") is None
                     else "household-months assessed", str(summary.get("households_assessed", 0)))
    overview.add_row("rulebook version", str(summary.get("rulebook_version", "")))
    console.print(overview)

    by = household_counts(summary)
    districts = {d for _f, d in by}
    if by:
        table = Table(title="flags by kind and district (households"
                      + (", flagged in any month of the quarter)"
                         if summary.get("quarter_summary") is not None else ")"))
        table.add_column("flag")
        for d in sorted(districts):
            table.add_column(d, justify="right")
        for flag in sorted({f for f, _ in by}):
            table.add_row(flag, *[str(by.get((flag, d), 0)) for d in sorted(districts)])
        console.print(table)
    for warning in delivery_warnings(summary):
        console.print(f"[bold red]交付行数突变[/bold red] {escape(warning)}", highlight=False)
    if summary.get("quarantine_reasons"):
        q = Table(title="隔离原因（按类别，每行计一次）")
        q.add_column("原因")
        q.add_column("行数", justify="right")
        q.add_column("来源")
        for kind, n, src in quarantine_lines(summary):
            q.add_row(escape(kind), str(n), escape(src))
        console.print(q)
    from rich.markup import escape

    for warning in summary.get("fairness_warnings", []):
        console.print(f"[bold yellow]warning[/bold yellow] {escape(str(warning))}")
    # every note: a dropped note is a problem nobody hears of (they are counts, not rows)
    for note in summary.get("notes", []):
        console.print(f"[yellow]note[/yellow] {escape(str(note))}")
    console.print(f"warehouse: [bold]{summary.get('warehouse', '')}[/bold]")
