"""The ``hedui`` application object, its consoles, options and the one-line failure.

Shared by every command module of :mod:`pipelines.cli`; nothing here imports the pipeline.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from pipelines import __version__

app = typer.Typer(
    name="hedui",
    help="hedui (核对): the monthly household means-testing cross-check. Loads department "
         "extracts, links them to the civil-affairs register, assesses households against the "
         "dated rulebook in rules/ and publishes flags to a DuckDB warehouse. Exit codes: 0 done; "
         "1 a named failure (missing folder or register, district without a standard, warehouse "
         "missing, not writable or held by another process); 2 wrong usage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: rich markup would eat "[default: …]" and print flags as "--x <bool>"
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)
decisions_app = typer.Typer(help="Record clerks' decisions from a district workbook.",
                            no_args_is_help=True, rich_markup_mode=None,
                            context_settings={"max_content_width": 120})
app.add_typer(decisions_app, name="decisions")


def _make_console(*, stderr: bool) -> Console:
    """A console that never hard-wraps when not on a terminal (cron, pipes, Prefect logs).

    On a terminal rich fits the window; elsewhere rich would assume 80 columns and split a
    one-line message in two, so lines are left whole (tables are as wide as their content).
    """
    stream = sys.stderr if stderr else sys.stdout
    on_terminal = hasattr(stream, "isatty") and stream.isatty()
    return Console(stderr=stderr, highlight=False, soft_wrap=True,
                   width=None if on_terminal else 400)


console = _make_console(stderr=False)
err = _make_console(stderr=True)


class Orchestrator(StrEnum):
    """Where ``--orchestrator`` runs the stages: through Prefect, or in this process."""

    prefect = "prefect"
    local = "local"


#: the stages the runner reports (pipelines/run/*.py, pipelines/cluster*.py), as the console names them
STAGE_WORDS = {"land": "落地", "match": "匹配", "reuse": "复用缓存", "folder": "落地匹配",
               "rank": "复核候选排序", "assess": "核定", "publish": "发布", "prefect": "Prefect 启动"}
#: the counts the runner reports with a finished stage
INFO_WORDS = {"files": "文件", "rows_in": "读入行", "rows_quarantined": "隔离行", "records": "记录",
              "matched": "已匹配", "review": "待复核", "unmatched": "未匹配",
              "households": "户", "flags": "标记"}


def stage_line(stage: str, label: str, took: float, detail: str = "") -> str:
    """One console line for a finished stage: ``✓ 落地 2026-10   0.4 s  文件 9，读入行 4811``.

    The first column is padded by display width (a Chinese character takes two columns).
    """
    from rich.cells import cell_len

    head = f"{STAGE_WORDS.get(stage, stage)} {label}".rstrip()
    pad = " " * max(0, 18 - cell_len(head))
    return f"[green]✓[/green] {escape(head)}{pad} {took:6.1f} 秒  {escape(detail)}".rstrip()


class _StageProgress:
    """Prints one line per finished stage with its duration and counts (no identities)."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.started: dict[tuple[str, str], float] = {}

    def __call__(self, stage: str, event: str, info: dict) -> None:
        key = (stage, str(info.get("period", "")))
        if event == "start":
            self.started[key] = time.perf_counter()
            return
        took = time.perf_counter() - self.started.pop(key, time.perf_counter())
        detail = "，".join(f"{INFO_WORDS.get(k, k)} {v}" for k, v in info.items()
                          if k not in {"period", "warehouse"})
        self.out.print(stage_line(stage, str(info.get("period", "")), took, detail))


@contextmanager
def _progress():
    from pipelines import runner

    runner.set_reporter(_StageProgress(console))
    try:
        yield
    finally:
        runner.set_reporter(None)


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]hedui：{escape(message)}[/bold red]")
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"hedui {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", help="Print hedui's version and exit.", callback=_version,
        is_eager=True)] = False,
) -> None:
    # typer prints this docstring in ``hedui --help``: its text is kept as is
    """hedui (核对): the monthly household means-testing cross-check."""  # noqa: D403


IncomingOpt = Annotated[Path, typer.Option(
    "--incoming", metavar="DIR", help="Folder of month folders (YYYY-MM/).", file_okay=False)]
WarehouseOpt = Annotated[Path | None, typer.Option(
    "--warehouse", metavar="FILE", dir_okay=False,
    help="DuckDB warehouse file (default: warehouse/hedui.duckdb under the current folder).")]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Re-land and re-match every folder even when its files, the code, the "
                       "matching parameters and the staff decisions are unchanged since the last run.")]
RekeyOpt = Annotated[bool, typer.Option(
    "--rekey", help="Publish even though the warehouse's pseudonyms were made with a key that is "
                    "lost or different: every person_key and household_key changes.")]
RulesOpt = Annotated[Path | None, typer.Option(
    "--rules", help="Rulebook folder (a rules/ folder with parameters/, or a parameters folder) "
                    "[default: the project's rules/].", file_okay=False)]
DaskOpt = Annotated[str | None, typer.Option(
    "--dask", metavar="ADDRESS|local:N",
    help="Run the folders (land, clean, match) and the districts (assess) on a Dask cluster: "
         "tcp://host:port of a running `dask scheduler`, or local:N to start N local worker "
         "processes for this run. Workers need the installed package and must see --incoming and "
         "the scratch folder ($HEDUI_SCRATCH, default .work/ beside the warehouse) at the same "
         "paths. Publishing stays in this process; the warehouse is the same as without --dask.")]
OrchestratorOpt = Annotated[Orchestrator, typer.Option(
    "--orchestrator", help="prefect: run as Prefect flows (ephemeral local server unless "
                           "PREFECT_API_URL is set); local: same stages, no Prefect.")]


