"""Command layer for ``hedui whatif``: runs the preview and prints what it found (no identities).

Exit codes as every hedui command: 0 done; 1 a failure the program can name (invalid proposal,
no published result for P, warehouse unreadable); 2 wrong usage.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def run_command(*, period: str, rules: Path, districts: list[str] | None, warehouse: Path | None,
                out: Path, json_file: Path | None, console: Console, err: Console) -> None:
    """Run ``hedui whatif`` and print its summary; raises :class:`typer.Exit` on failure."""
    from pipelines import warehouse as wh
    from pipelines.periods import parse_period
    from pipelines.whatif import ProposalError, WhatifInputError, run_whatif
    from pipelines.whatif.outputs import write_json, write_outputs

    def fail(message: str, code: int) -> None:
        err.print(f"[bold red]hedui: {message}[/bold red]")
        raise typer.Exit(code)

    try:
        parse_period(period)
    except ValueError as exc:
        fail(f"--period {period!r} 不是 YYYY-MM 格式的月份（{exc}）", 2)
    target = wh.resolve(warehouse)
    console.print(f"hedui whatif {period}：提案 [bold]{rules}[/bold]，仓库 {target}（只读）")
    try:
        result = run_whatif(warehouse=target, period=period, rules=rules, districts=districts)
    except ProposalError as exc:
        fail(str(exc), 1)
    except WhatifInputError as exc:
        fail(str(exc), 1)
    paths = write_outputs(result, out)
    if json_file is not None:
        paths.append(write_json(json_file, result))
    _print(result, console)
    for p in paths:
        console.print(str(p))


def _print(result, console: Console) -> None:
    from pipelines.whatif.compare import TRANSITIONS

    s = result.comparison.summary
    table = Table(title=f"{result.period} 政策调整测算（规则 {result.version_before} → "
                        f"{result.version_after}）")
    table.add_column("区县")
    table.add_column("保障类别")
    for label in TRANSITIONS.values():
        table.add_column(f"{label}（户/人）", justify="right")
    table.add_column("月保障金差额（元）", justify="right")
    for r in s.iter_rows(named=True):
        cells = [f"{r[f'{k}_households']}/{r[f'{k}_persons']}" for k in TRANSITIONS]
        table.add_row(r["district_code"], r["programme"], *cells, f"{r['benefit_diff_fen'] / 100:,.2f}")
    console.print(table)
    total = int(s["benefit_diff_fen"].sum()) if s.height else 0
    console.print(f"受影响家庭 {result.comparison.changed.height} 户；每月保障金合计变化 "
                  f"{total / 100:,.2f} 元；耗时 {result.timings.get('total', 0):.1f} 秒")
    for note in result.notes:
        console.print(f"说明：{note}")
