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
from pipelines.cli.zh import ZhGroup

app = typer.Typer(
    name="hedui",
    cls=ZhGroup,
    help="hedui（核对）：每月的居民家庭经济状况核对。读入各部门报送的数据，与民政花名册匹配，按 rules/ "
         "中按日期生效的规则逐户核定，并把标记发布到 DuckDB 仓库。\n\n"
         "退出码：0 完成；1 已指明原因的失败（文件夹或花名册缺失、区县没有标准、仓库缺失、不可写或被其他"
         "进程占用）；2 用法错误（月份或季度格式不对、区县代码不存在、选项有误）。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help (ZhGroup, ZhCommand): rich markup would eat "[默认：…]" and print flags as "--x <bool>"
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)
decisions_app = typer.Typer(cls=ZhGroup, help="记录经办人在区县复核工作簿中填写的处理结果。",
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
        "--version", help="显示 hedui 的版本号并退出。", callback=_version,
        is_eager=True)] = False,
) -> None:
    # ``hedui --help`` prints the app's help= above, not this docstring
    """hedui（核对）：每月的居民家庭经济状况核对。"""  # noqa: D400 - a Chinese sentence ends with 。


IncomingOpt = Annotated[Path, typer.Option(
    "--incoming", metavar="DIR", help="存放各月文件夹（YYYY-MM/）的文件夹。", file_okay=False)]
WarehouseOpt = Annotated[Path | None, typer.Option(
    "--warehouse", metavar="FILE", dir_okay=False,
    help="DuckDB 仓库文件（默认：当前文件夹下的 warehouse/hedui.duckdb）。")]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="不用缓存：即使自上次运行以来文件、程序、匹配参数和经办人处理结果都没有变，"
                       "也重新读入并匹配每个文件夹。")]
RekeyOpt = Annotated[bool, typer.Option(
    "--rekey", help="仓库中的假名是用已丢失或不同的密钥生成的，仍然发布：所有 person_key 和 "
                    "household_key 都会改变。")]
RulesOpt = Annotated[Path | None, typer.Option(
    "--rules", metavar="DIR", help="规则目录（含 parameters/ 的 rules/ 文件夹，或一个参数文件夹）；"
                                  "默认用项目自带的 rules/。", file_okay=False)]
DaskOpt = Annotated[str | None, typer.Option(
    "--dask", metavar="ADDRESS|local:N",
    help="在 Dask 集群上处理各文件夹（落地、清洗、匹配）和各区县（核定）：填已运行的 Dask 调度器的地址 "
         "tcp://host:port，或 local:N 为本次运行启动 N 个本机工作进程。工作进程需装有本程序，"
         "并能以相同路径访问 --incoming 和临时文件夹（$HEDUI_SCRATCH，默认为仓库旁的 .work/）。"
         "发布仍在本进程中进行；仓库结果与不用 --dask 时相同。")]
OrchestratorOpt = Annotated[Orchestrator, typer.Option(
    "--orchestrator", help="运行方式。prefect：作为 Prefect 流程运行（未设置 PREFECT_API_URL 时"
                           "临时启动本机服务器）；local：相同的步骤，不用 Prefect。")]


