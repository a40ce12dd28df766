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


def _districts(summary: dict) -> str:
    d = summary.get("districts", "all")
    return "全部" if d in ("all", None) else "、".join(d) if isinstance(d, list) else str(d)


def _flag_label(code: str) -> str:
    from pipelines.flags import FLAG_LABELS

    return FLAG_LABELS.get(code, code)


def _notes(summary: dict) -> list[str]:
    from pipelines.run_notes import word

    return [word(n) for n in summary.get("notes") or []]


def summary_markdown(summary: dict) -> str:
    """The run summary as Markdown for a Prefect artifact (keyed per flow and period), in Chinese."""
    links = summary.get("links", {})
    lines = [
        f"# hedui 核对 {summary.get('period', '')}",
        "",
        f"- 区县：{_districts(summary)}",
        f"- 规则版本：`{summary.get('rulebook_version', '')}`",
        f"- 文件：{summary.get('files', 0)} 个（拒收 {summary.get('files_refused', 0)} 个）",
        f"- 读入 {summary.get('rows_in', 0)} 行；隔离 {summary.get('rows_quarantined', 0)} 行；"
        f"重复报送 {summary.get('rows_duplicate', 0)} 行",
        f"- 记录匹配：已匹配 {links.get('matched', 0)}，待复核 {links.get('review', 0)}，"
        f"未匹配 {links.get('unmatched', 0)}",
        f"- {_assessed_label(summary)}：{summary.get('households_assessed', 0)}",
        f"- 仓库：`{summary.get('warehouse', '')}`",
        "",
        "## 核查标记",
        "",
        "| 期间 | 区县 | 标记 | 代码 | 户数 |",
        "|---|---|---|---|---:|",
    ]
    lines += [f"| {p} | {d} | {_flag_label(f)} | {f} | {n} |" for p, d, f, n in _flag_table(summary)]
    if summary.get("delivery_changes"):
        lines += ["", "## 交付行数突变", ""] + [f"- {w}" for w in delivery_warnings(summary)]
    if summary.get("quarantine_reasons"):
        lines += ["", "## 隔离原因（按类别，每行计一次）", "", "| 原因 | 行数 | 来源 |", "|---|---:|---|"]
        lines += [f"| {k} | {n} | {src} |" for k, n, src in quarantine_lines(summary)]
    if summary.get("fairness_warnings"):
        lines += ["", "## 公平性提示", ""] + [f"- {w}" for w in summary["fairness_warnings"]]
    if summary.get("notes"):
        lines += ["", "## 运行说明", ""] + [f"- {n}" for n in _notes(summary)]
    return "\n".join(lines) + "\n"


def _assessed_label(summary: dict) -> str:
    # a quarterly summary counts each household once per month it was assessed in
    return "核定户数" if summary.get("quarter_summary") is None else "核定户月数（每户每月计一次）"


def print_summary(summary: dict, console) -> None:
    """Render the summary on the terminal with rich tables, in Chinese (flag codes beside labels)."""
    from rich.markup import escape
    from rich.table import Table

    links = summary.get("links", {})
    overview = Table(title=f"hedui {summary.get('period', '')} 运行摘要", show_header=False)
    overview.add_column("项目")
    overview.add_column("数值", justify="right")
    overview.add_row("区县", escape(_districts(summary)))
    overview.add_row("读入文件", f"{summary.get('files', 0)}（拒收 {summary.get('files_refused', 0)}）")
    overview.add_row("读入行数", str(summary.get("rows_in", 0)))
    overview.add_row("隔离行数", str(summary.get("rows_quarantined", 0)))
    overview.add_row("重复报送行数", str(summary.get("rows_duplicate", 0)))
    overview.add_row("记录匹配：已匹配", str(links.get("matched", 0)))
    overview.add_row("记录匹配：待复核", str(links.get("review", 0)))
    overview.add_row("记录匹配：未匹配", str(links.get("unmatched", 0)))
    overview.add_row(_assessed_label(summary), str(summary.get("households_assessed", 0)))
    overview.add_row("规则版本", escape(str(summary.get("rulebook_version", ""))))
    console.print(overview)

    by = household_counts(summary)
    districts = {d for _f, d in by}
    if by:
        table = Table(title="各类标记户数（按区县"
                      + ("；季度内任一月被标记即计一户）" if summary.get("quarter_summary") is not None
                         else "）"))
        table.add_column("标记")
        table.add_column("代码")
        for d in sorted(districts):
            table.add_column(d, justify="right")
        from pipelines.flags import FLAGS

        rank = {f: i for i, f in enumerate(FLAGS)}  # registry order, as the reports list flags
        for flag in sorted({f for f, _ in by}, key=lambda f: (rank.get(f, len(rank)), f)):
            table.add_row(_flag_label(flag), flag, *[str(by.get((flag, d), 0)) for d in sorted(districts)])
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
    for warning in summary.get("fairness_warnings", []):
        # each warning names itself (“2026-10 公平性提示：…”)
        console.print(f"[bold yellow]{escape(str(warning))}[/bold yellow]")
    # every note: a dropped note is a problem nobody hears of (they are counts, not rows)
    for line in _notes(summary):
        console.print(f"[yellow]说明[/yellow] {escape(line)}")
    console.print(f"仓库：[bold]{escape(str(summary.get('warehouse', '')))}[/bold]")


def print_quarter_summary(summary: dict, console) -> None:
    """The quarter's ``quarter_summary`` rows: households flagged per district and flag, and new ones."""
    from rich.table import Table

    table = Table(title=f"{summary.get('period', '')} 季度汇总（quarter_summary）")
    for col in ("区县", "标记", "代码", "被标记户数", "其中新标记"):
        table.add_column(col, justify="right" if col in {"被标记户数", "其中新标记"} else "left")
    for row in summary.get("quarter_summary") or []:
        new = row["households_new"]
        table.add_row(row["district_code"], _flag_label(row["flag"]), row["flag"],
                      str(row["households_flagged"]), "—" if new is None else str(new))
    console.print(table)
