"""Command layer: ``hedui``, the command verification staff and the scheduler run.

Exit codes: 0 success (bad rows and files are quarantined, not failures); 1 a failure the
contract names (missing folder or register, district without a standard, warehouse missing, not
writable or held by another process, an invalid decisions file, an output folder that cannot be
written); 2 wrong usage (a malformed period or quarter, an unknown district code, a bad option).

Everything that can be checked without running is checked before Prefect starts, so a named
failure takes well under a second and prints one Chinese line, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

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


class Orchestrator(str, Enum):
    prefect = "prefect"
    local = "local"


def _quiet_prefect(level: str = "WARNING") -> None:
    """Offline, quiet Prefect defaults; explicit environment settings win.

    Must run before anything imports prefect: its settings are read on import.
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not os.environ.get("PREFECT_API_URL"):
        # the ephemeral server is a child process that writes to our stderr; stopped as the
        # command exits, it logs tracebacks about events it could not flush (of a server that
        # is going away): nothing the operator can act on
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")


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
        detail = ", ".join(f"{k} {v}" for k, v in info.items() if k not in {"period", "warehouse"})
        label = f"{stage:<8} {info.get('period', '')}".rstrip()
        self.out.print(f"[green]✓[/green] {label:<18} {took:6.1f} s  {escape(detail)}")


@contextmanager
def _progress():
    from pipelines import runner

    runner.set_reporter(_StageProgress(console))
    try:
        yield
    finally:
        runner.set_reporter(None)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]hedui：{escape(message)}[/bold red]")
    raise typer.Exit(code)


# ---------------------------------------------------------------------------------------------
# checks that need no run: done before Prefect starts, so they fail in well under a second

_PERIOD_SHAPE = re.compile(r"^(\d{4})-(\d{2})$")
_DISTRICT_SHAPE = re.compile(r"^\d{6}$")


def check_period(text: str) -> str:
    """``text`` stripped when it is a month ``YYYY-MM``; else exit 2 saying what is wrong."""
    value = text.strip()
    m = _PERIOD_SHAPE.match(value)
    if not m:
        _fail(f"--period {text!r} 不是 YYYY-MM 格式的月份（例如 2026-10）", code=2)
    if not 1 <= int(m.group(2)) <= 12:
        _fail(f"--period {value}：月份 {m.group(2)} 超出范围，应为 01–12", code=2)
    return value


def check_quarter(text: str) -> str:
    """``text`` as ``YYYYQn`` (upper case); else exit 2 saying what is wrong."""
    from pipelines.periods import quarter_months

    value = text.strip().upper()
    try:
        quarter_months(value)
    except ValueError:
        m = re.match(r"^\d{4}Q(\d+)$", value)
        if m:
            _fail(f"--quarter {value}：季度 {m.group(1)} 超出范围，应为 1–4", code=2)
        _fail(f"--quarter {text!r} 不是 YYYYQn 格式的季度（例如 2026Q3）", code=2)
    return value


def _register_file(folder: Path) -> Path | None:
    from pipelines.sources import source_of

    found = sorted(p for p in folder.iterdir() if p.is_file() and source_of(p) == "register")
    return found[0] if found else None


def check_incoming(incoming: Path, months: Sequence[str]) -> None:
    """The --incoming folder and the folders (and register) of the months being checked exist.

    Exit 1 naming what is missing: the contract's failures, found before anything is loaded.
    """
    if not incoming.is_dir():
        what = "不是文件夹" if incoming.exists() else "不存在"
        _fail(f"--incoming {incoming} {what}：请给出存放各月文件夹（YYYY-MM/）的目录")
    for m in months:
        folder = incoming / m
        if not folder.is_dir():
            _fail(f"缺少所查月份的文件夹 {folder}：{m} 的数据尚未交付，本次不运行，仓库未改动")
        if _register_file(folder) is None:
            _fail(f"{folder} 中没有 register.csv（户籍/低保登记册）：无法核对 {m}，仓库未改动")


def _writable_dir(folder: Path) -> str | None:
    """None when a file can be created in ``folder`` (or its nearest existing ancestor)."""
    probe_dir = folder
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        return f"{probe_dir} 不是文件夹"
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".hedui-probe-"):
            pass
    except OSError as exc:
        return f"{probe_dir} 不可写（{exc.strerror or exc}）"
    return None


def check_warehouse_writable(target: Path) -> None:
    """The warehouse can be written: its folder is writable and no process holds the file.

    Exit 1 naming the folder, or the process that holds the file read-write and what to do.
    """
    from pipelines import warehouse as wh

    problem = _writable_dir(target.parent)
    if problem:
        _fail(f"无法写入仓库：{problem}。请用 --warehouse 指定可写的位置，或请管理员开放写权限")
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        _fail(f"无法写入仓库：没有读写 {target} 的权限")
    try:
        wh.check_not_locked(target)
    except wh.WarehouseError as exc:
        _fail(str(exc))


def check_warehouse_readable(target: Path) -> None:
    """The warehouse exists and no process holds it read-write; else exit 1 saying so."""
    from pipelines import warehouse as wh

    if not target.is_file():
        _fail(f"仓库文件 {target} 不存在：请先运行 hedui monthly，或用 --warehouse 指定仓库文件")
    try:
        wh.check_not_locked(target)
    except wh.WarehouseError as exc:
        _fail(str(exc))


def _register_districts(register: Path) -> set[str]:
    from pipelines.land import land_file
    from pipelines.sources import spec

    landed = land_file(register, spec=spec("register"))
    if landed.frame is None or "区县代码" not in landed.frame.columns:
        return set()
    return {d.strip() for d in landed.frame["区县代码"].drop_nulls().to_list() if d.strip()}


def check_districts(districts: Sequence[str], *, incoming: Path, period: str,
                    rules: Path | None = None) -> list[str]:
    """Refuse district codes before anything is loaded.

    A code that is not six digits, or that is neither on P's register nor in the rulebook's
    standards, is a typo: exit 2. A code on P's register without a 低保标准 in force at the end
    of P is the contract's failure "a district in scope without a standard": exit 1, naming it.
    A code with a standard but no household on the register is accepted (nothing to flag).
    """
    from pipelines.periods import month_end
    from pipelines.rulebook import RulebookError, load_rulebook, parameters_folder

    codes = sorted({d.strip() for d in districts})
    bad = [d for d in codes if not _DISTRICT_SHAPE.match(d)]
    if bad:
        _fail(f"--district {', '.join(bad)} 不是 6 位数字的区县代码", code=2)
    try:
        with_standard = load_rulebook(parameters_folder(rules) if rules is not None else None
                                      ).at(month_end(period)).districts
    except RulebookError as exc:
        _fail(f"规则库无法读取：{exc}")
    lacking = [d for d in codes if d not in with_standard]
    if not lacking:
        return codes
    register = _register_file(incoming / period)
    on_register = _register_districts(register) if register is not None else set()
    unknown = [d for d in lacking if d not in on_register]
    if unknown:
        _fail(f"未知的区县代码 {', '.join(unknown)}：{period} 的登记册上没有该区县，规则库中也没有它的"
              f"低保标准。请检查 --district（登记册上的区县：{', '.join(sorted(on_register)) or '无'}）",
              code=2)
    _fail(f"区县 {', '.join(lacking)} 在 {period} 月末没有生效的低保标准（dibao_standard）："
          "请在 rules/parameters/ 中补充后再运行，仓库未改动")
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# running


class _HideNamedFailures(logging.Filter):
    """Drop Prefect's log records about a failure hedui reports itself in one line.

    When a flow fails, Prefect's engine logs the exception with its traceback (flow run and
    task run loggers) before the exception reaches the command; for a failure hedui can name,
    the operator should see hedui's sentence only.
    """

    def __init__(self, kinds: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.kinds = kinds
        self.names = tuple(k.__name__ for k in kinds)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.kinds):
            return False
        if record.levelno >= logging.ERROR:
            text = record.getMessage()
            if any(name in text for name in self.names):
                return False
        return True


def _prefect_handlers() -> set[logging.Handler]:
    names = ["", *(n for n in logging.Logger.manager.loggerDict if n.startswith("prefect"))]
    return {h for n in names for h in getattr(logging.getLogger(n), "handlers", [])}


@contextmanager
def _prefect_failures_hidden(kinds: tuple[type[BaseException], ...]) -> Iterator[None]:
    quiet = _HideNamedFailures(kinds)
    handlers = _prefect_handlers()
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)


def check_dask(value: str | None):
    """``--dask`` parsed (``tcp://host:port`` or ``local:N``); else exit 2 saying what is wrong."""
    if value is None:
        return None
    from pipelines import cluster

    try:
        return cluster.parse_target(value)
    except ValueError as exc:
        _fail(str(exc), code=2)
    raise AssertionError("unreachable")


@contextmanager
def _cluster(dask) -> Iterator[None]:
    """Open the Dask session before anything runs: an unreachable scheduler fails in seconds."""
    if dask is None:
        yield
        return
    from pipelines import cluster

    with _quiet_distributed(), cluster.session(dask) as client:
        console.print(f"Dask {dask}：{cluster.worker_count(client)} 个工作进程")
        yield


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed logs a worker's loss (which it then recovers from) at WARNING: the operator
    sees hedui's own line when a run fails, not the scheduler's chatter."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run(flow_name: str, *, incoming: Path, label: str, districts: list[str] | None,
         target: Path, orchestrator: Orchestrator, use_cache: bool = True,
         rekey: bool = False, rules: Path | None = None, dask=None) -> dict:
    from pipelines import runner
    from pipelines import warehouse as wh
    from pipelines.rulebook import RulebookError, load_rulebook, parameters_folder

    rules_dir = parameters_folder(rules) if rules is not None else None
    console.print(f"hedui {flow_name} {label} → warehouse [bold]{escape(str(target))}[/bold]")
    named = (runner.RunFailed, RulebookError)
    try:
        # a lost or different pseudonym key is refused before Prefect starts or anything loads
        wh.check_pseudonym_key(target, rekey=rekey)
        if rules_dir is not None:
            load_rulebook(rules_dir)  # an invalid --rules is refused, naming file and key
        with _cluster(dask), _progress():
            if orchestrator is Orchestrator.prefect:
                _quiet_prefect()
                from prefect.settings import (
                    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
                    temporary_settings,
                )

                from pipelines import flows

                # the flow records its own failed row in `runs` (same run_id and start time)
                with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
                        _prefect_failures_hidden((*named, wh.WarehouseError)):
                    on = str(dask) if dask is not None else None
                    if flow_name == "monthly":
                        return flows.monthly_flow(incoming=str(incoming), period=label,
                                                  districts=districts, warehouse=str(target),
                                                  use_cache=use_cache, rekey=rekey,
                                                  rules_dir=str(rules_dir) if rules_dir else None,
                                                  dask=on)
                    return flows.quarterly_flow(incoming=str(incoming), quarter=label,
                                                warehouse=str(target), use_cache=use_cache,
                                                rekey=rekey,
                                                rules_dir=str(rules_dir) if rules_dir else None,
                                                dask=on)
            ctx = runner.RunContext.create(flow=flow_name, incoming=incoming, warehouse=target,
                                           use_cache=use_cache, rekey=rekey, rules_dir=rules_dir)
            stages = None
            if dask is not None:
                from pipelines import cluster

                stages = cluster.dask_stages()
            try:
                if flow_name == "monthly":
                    return runner.execute_monthly(ctx, label, districts=districts, stages=stages)
                return runner.execute_quarterly(ctx, label, stages=stages)
            except named as exc:
                runner.record_failure(ctx, period_label=label, districts=districts,
                                      message=str(exc))
                raise
            finally:
                ctx.cleanup()
    except named as exc:
        _fail(f"运行失败，仓库未改动：{exc}")
    except wh.PseudonymKeyError as exc:
        _fail(str(exc))
    except wh.WarehouseError as exc:
        _fail(f"无法写入仓库：{exc}")
    except PermissionError as exc:
        _fail(f"没有权限：{exc.filename or exc}（{exc.strerror}）")
    raise AssertionError("unreachable")


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
    """hedui (核对): the monthly household means-testing cross-check."""


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


@app.command()
def monthly(
    incoming: IncomingOpt,
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM",
                                        help="Month being checked, YYYY-MM.")],
    district: Annotated[list[str] | None, typer.Option(
        "--district", metavar="CODE",
        help="区县代码 to assess and flag (repeatable); all districts when omitted.")] = None,
    warehouse: WarehouseOpt = None,
    orchestrator: OrchestratorOpt = Orchestrator.prefect,
    no_cache: NoCacheOpt = False,
    rekey: RekeyOpt = False,
    rules: RulesOpt = None,
    dask: DaskOpt = None,
) -> None:
    """Monthly cross-check: load the window's folders, link, assess and flag PERIOD."""
    from pipelines.summary import print_summary

    on = check_dask(dask)
    period = check_period(period)
    check_incoming(incoming, [period])
    districts = (check_districts(district, incoming=incoming, period=period, rules=rules)
                 if district else None)
    # imports duckdb: after the checks that need none
    from pipelines import warehouse as wh

    target = wh.resolve(warehouse)
    check_warehouse_writable(target)
    summary = _run("monthly", incoming=incoming, label=period, districts=districts,
                   target=target, orchestrator=orchestrator, use_cache=not no_cache, rekey=rekey,
                   rules=rules, dask=on)
    print_summary(summary, console)
    console.print(f"next: [bold]hedui report --period {period}"
                  + (escape(f" --warehouse {warehouse}") if warehouse else "") + "[/bold]")


@app.command()
def quarterly(
    incoming: IncomingOpt,
    quarter: Annotated[str, typer.Option("--quarter", metavar="YYYYQn",
                                         help="Quarter, YYYYQn (e.g. 2026Q3).")],
    warehouse: WarehouseOpt = None,
    orchestrator: OrchestratorOpt = Orchestrator.prefect,
    no_cache: NoCacheOpt = False,
    rekey: RekeyOpt = False,
    rules: RulesOpt = None,
    dask: DaskOpt = None,
) -> None:
    """Quarterly city-wide screening: every month of QUARTER, every district, plus quarter_summary."""
    from pipelines.periods import quarter_months
    from pipelines.summary import print_summary

    on = check_dask(dask)
    quarter = check_quarter(quarter)
    check_incoming(incoming, quarter_months(quarter))
    from pipelines import warehouse as wh

    target = wh.resolve(warehouse)
    check_warehouse_writable(target)
    summary = _run("quarterly", incoming=incoming, label=quarter, districts=None,
                   target=target, orchestrator=orchestrator, use_cache=not no_cache, rekey=rekey,
                   rules=rules, dask=on)
    print_summary(summary, console)
    from rich.table import Table

    table = Table(title=f"quarter_summary {quarter}")
    for col in ("district", "flag", "flagged", "new"):
        table.add_column(col, justify="right" if col in {"flagged", "new"} else "left")
    for row in summary.get("quarter_summary", []):
        new = row["households_new"]
        table.add_row(row["district_code"], row["flag"], str(row["households_flagged"]),
                      "—" if new is None else str(new))
    console.print(table)


@app.command()
def report(
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM",
                                        help="Month to report, YYYY-MM.")],
    district: Annotated[list[str] | None, typer.Option(
        "--district", metavar="CODE",
        help="区县代码 to write a workbook for (repeatable); every district assessed for the "
             "period, plus the city workbook, when omitted.")] = None,
    warehouse: WarehouseOpt = None,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Output folder.",
                                      file_okay=False)] = Path("reports"),
    full_identity: Annotated[bool, typer.Option(
        "--full-identity", help="Show full names and ID numbers in the workbooks (masked by default).")] = False,
) -> None:
    """District review workbooks (Excel) and the period's HTML report."""
    from pipelines import warehouse as wh

    period = check_period(period)
    target = wh.resolve(warehouse)
    check_warehouse_readable(target)
    problem = _writable_dir(out)
    if problem:
        _fail(f"无法写入报告：{problem}。请用 --out 指定可写的文件夹")
    # imported after the checks: the report stack (altair, xlsxwriter) takes seconds to load
    from pipelines.report import ReportError, write_reports

    try:
        paths = write_reports(target, period=period, districts=district or None,
                              out=out, full_identity=full_identity)
    except ReportError as exc:
        _fail(f"无法生成报告：{exc}")
    except wh.WarehouseError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"无法写入报告文件：{exc.filename or out}（{exc.strerror or exc}）")
    except Exception as exc:
        if type(exc).__name__ != "FileCreateError":
            raise
        _fail(f"无法写入报告文件：{exc}。请用 --out 指定可写的文件夹")
    for p in paths:
        console.print(escape(str(p)))


@app.command()
def notice(
    period: Annotated[str, typer.Option("--period", help="Month checked, YYYY-MM.")],
    household: Annotated[str, typer.Option("--household", help="The household's 户编号.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Print the plain-Chinese notice (核对告知书) for one flagged household of PERIOD."""
    from pipelines import warehouse as wh
    from pipelines.notice import NoticeError, notice_command

    try:
        text = notice_command(wh.resolve(warehouse), period=period, household_id=household)
    except NoticeError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc), code=2)
    typer.echo(text, nl=False)


@app.command()
def whatif(
    period: Annotated[str, typer.Option("--period", help="Month to preview, YYYY-MM.")],
    rules: Annotated[Path, typer.Option(
        "--rules", help="The proposed rulebook: a whole rules folder, or only the parameter files "
                        "it changes (overlaid on the adopted rules/).", file_okay=False)],
    district: Annotated[list[str] | None, typer.Option(
        "--district", metavar="CODE",
        help="区县代码 to compare (repeatable); all districts when omitted.")] = None,
    warehouse: WarehouseOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.", file_okay=False)] = Path("reports"),
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="Also write the comparison as JSON to this file.", dir_okay=False)] = None,
) -> None:
    """Reform preview: assess PERIOD under a proposed rulebook from the stored, linked records and
    compare with the published results (writes a workbook and an HTML page; never the warehouse)."""
    from pipelines.whatif.command import run_command

    run_command(period=period, rules=rules, districts=district or None, warehouse=warehouse,
                out=out, json_file=json_file, console=console, err=err)


@decisions_app.command("import")
def decisions_import(
    file: Annotated[Path, typer.Argument(help="A district workbook, or a CSV of its decision columns.",
                                         exists=True, dir_okay=False)],
    warehouse: WarehouseOpt = None,
) -> None:
    """Record the decisions clerks entered; a file with any invalid row is refused whole."""
    from pipelines import warehouse as wh
    from pipelines.decisions import DecisionImportError, import_decisions

    target = wh.resolve(warehouse)
    check_warehouse_readable(target)
    check_warehouse_writable(target)
    try:
        with wh.publishing(target) as con:
            result = import_decisions(file, con)
    except DecisionImportError as exc:
        # the error names the file, says nothing was recorded and lists every bad row: once
        err.print(escape(str(exc)), style="bold red")
        raise typer.Exit(1) from None
    except wh.WarehouseError as exc:
        _fail(f"无法写入仓库：{exc}")
    console.print(f"{escape(file.name)}: {result.rows_read} decision row(s) read; {result.recorded} "
                  f"recorded ({result.flag_decisions} flag, {result.link_decisions} link); "
                  f"{result.already_recorded} were already recorded. Warehouse: {escape(str(target))}")


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="Output folder (incoming/ and truth/ are written in it).")],
    households: Annotated[int, typer.Option("--households", min=1, help="Number of households.")] = 500,
    months: Annotated[str, typer.Option("--months", metavar="FIRST..LAST",
                                        help="Months, FIRST..LAST (YYYY-MM..YYYY-MM).")] = "2026-05..2026-10",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 2026,
) -> None:
    """Generate a synthetic city with planted truth (for demos, tests and benchmarks)."""
    from pipelines.sample import generate_city, parse_months

    try:
        month_list = parse_months(months)
    except ValueError as exc:
        _fail(str(exc), code=2)
    started = time.perf_counter()
    manifest = generate_city(out, households=households, months=month_list, seed=seed)
    console.print(f"wrote a city of {households} households × {len(month_list)} months to "
                  f"{escape(str(out))} in {time.perf_counter() - started:.1f} s")
    for k, v in manifest.items():
        if isinstance(v, int | float | str):
            console.print(escape(f"  {k}: {v}"))


@app.command()
def serve(
    incoming: IncomingOpt,
    warehouse: WarehouseOpt = None,
    monthly_cron: Annotated[str, typer.Option(
        "--monthly-cron", metavar="CRON",
        help="Advanced: cron (Asia/Shanghai) of the monthly deployment, for trying a schedule, "
             "e.g. '* * * * *'.")] = "0 2 5 * *",
    quarterly_cron: Annotated[str, typer.Option(
        "--quarterly-cron", metavar="CRON",
        help="Advanced: cron (Asia/Shanghai) of the quarterly deployment.")] = "0 3 10 1,4,7,10 *",
) -> None:
    """Register the scheduled deployments and serve them until SIGTERM or Ctrl-C.

    hedui-scheduled-monthly/hedui-monthly runs on the 5th at 02:00 for the previous month;
    hedui-scheduled-quarterly/hedui-quarterly on the 10th of January, April, July and October at
    03:00 for the quarter just ended (Asia/Shanghai). Both take an optional period (YYYY-MM) or
    quarter (YYYYQn) parameter to re-run a chosen month or quarter from the Prefect UI.

    Scheduled runs need a Prefect server that stays up: start one (prefect server start) and
    export PREFECT_API_URL=http://HOST:4200/api before hedui serve. Without PREFECT_API_URL,
    serve refuses to start (an ephemeral server would vanish with this process). A failed run
    leaves a 'failed' row in the warehouse's runs table. SIGTERM (or Ctrl-C) stops serving and
    pauses both schedules.
    """
    # a service: its log says when runs start and end and that SIGTERM paused the schedules
    _quiet_prefect(level="INFO")
    from pipelines import warehouse as wh
    from pipelines.schedule import serve as serve_deployments
    from pipelines.schedule import validate_cron

    try:
        monthly_cron = validate_cron(monthly_cron)
        quarterly_cron = validate_cron(quarterly_cron)
    except ValueError as exc:
        _fail(str(exc), code=2)
    if not incoming.is_dir():
        _fail(f"--incoming {incoming} 不存在或不是文件夹")
    target = wh.resolve(warehouse)
    check_warehouse_writable(target)
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        _fail("未设置 PREFECT_API_URL：定时运行需要一个常驻的 Prefect 服务器。请先运行 "
              "prefect server start，再 export PREFECT_API_URL=http://127.0.0.1:4200/api", code=2)
    console.print(f"hedui serve: deployments on {escape(str(api))}: hedui-scheduled-monthly/"
                  f"hedui-monthly ({monthly_cron}), hedui-scheduled-quarterly/hedui-quarterly "
                  f"({quarterly_cron}), Asia/Shanghai; warehouse {escape(str(target))}. "
                  "SIGTERM or Ctrl-C stops serving and pauses both schedules.")
    serve_deployments(incoming=str(incoming.resolve()), warehouse=str(target),
                      monthly_cron=monthly_cron, quarterly_cron=quarterly_cron,
                      on_started=lambda: console.print("hedui serve: serving; waiting for "
                                                       "scheduled runs"))
    console.print("hedui serve: stopped; both schedules are paused")


if __name__ == "__main__":  # pragma: no cover
    app()
