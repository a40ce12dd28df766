"""The run commands: ``monthly``, ``quarterly``, ``report``, ``sample`` and ``serve``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.app import (
    DaskOpt,
    IncomingOpt,
    NoCacheOpt,
    Orchestrator,
    OrchestratorOpt,
    RekeyOpt,
    RulesOpt,
    WarehouseOpt,
    _fail,
    app,
    console,
)
from pipelines.cli.checks import (
    _writable_dir,
    check_dask,
    check_districts,
    check_incoming,
    check_period,
    check_quarter,
    check_warehouse_readable,
    check_warehouse_writable,
)
from pipelines.cli.run import _quiet_prefect, _run


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
    console.print(f"下一步：[bold]hedui report --period {period}"
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
    from pipelines.summary import print_quarter_summary, print_summary

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
    print_quarter_summary(summary, console)


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




#: the generator's manifest keys printed by ``hedui sample``
_MANIFEST_WORDS = {"households": "户数", "persons": "人数", "seed": "随机种子", "files": "文件数",
                   "records": "记录数", "bytes": "字节数", "districts": "区县数",
                   "largest_district_persons": "最大区县人数", "rules": "规则目录"}


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="Output folder (incoming/ and truth/ are written in it).")],
    households: Annotated[int, typer.Option("--households", min=1, help="Number of households.")] = 500,
    months: Annotated[str, typer.Option("--months", metavar="FIRST..LAST",
                                        help="Months, FIRST..LAST (YYYY-MM..YYYY-MM).")] = "2026-05..2026-10",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 2026,
    districts: Annotated[int | None, typer.Option(
        "--districts", metavar="N",
        help="Generate a province of N districts (990101 …), written district by district (memory "
             "bounded by one district), with its rulebook in DIR/rules for hedui monthly --rules. "
             "Without it: the three-district sample city.")] = None,
    persons: Annotated[int | None, typer.Option(
        "--persons", metavar="N",
        help="About N persons: sets --households to N / 2.15 (the generator's mean household size).")] = None,
) -> None:
    """Generate a synthetic city (or, with --districts, a province) with planted truth."""
    from pipelines.sample import generate_city, parse_months
    from pipelines.sample.districts import MAX_DISTRICTS, MIN_HOUSEHOLDS, PERSONS_PER_HOUSEHOLD

    try:
        month_list = parse_months(months)
    except ValueError as exc:
        _fail(str(exc), code=2)
    if persons is not None:
        if persons < 1:
            _fail(f"--persons {persons} 无效：人数至少为 1", code=2)
        households = max(1, round(persons / PERSONS_PER_HOUSEHOLD))
    if districts is not None and not 1 <= districts <= MAX_DISTRICTS:
        _fail(f"--districts {districts} 无效：区县数须在 1 到 {MAX_DISTRICTS} 之间"
              f"（6 位区县代码 99CCDD 中市、县两段各 01–99）", code=2)
    if districts is not None and households < MIN_HOUSEHOLDS * districts:
        _fail(f"--households {households} 不够 {districts} 个区县：每个区县至少 {MIN_HOUSEHOLDS} 户"
              f"（至少 {MIN_HOUSEHOLDS * districts} 户）", code=2)
    started = time.perf_counter()
    if districts is None:
        manifest = generate_city(out, households=households, months=month_list, seed=seed)
        what = "示例城市"
    else:
        from pipelines.sample.province import generate_province

        manifest = generate_province(out, districts=districts, households=households, months=month_list,
                                     seed=seed)
        what = f"示例省份（{districts} 个区县）"
    console.print(f"已生成{what}：{households} 户 × {len(month_list)} 个月，写入 "
                  f"{escape(str(out))}，用时 {time.perf_counter() - started:.1f} 秒")
    for k, v in manifest.items():
        if isinstance(v, int | float | str):
            console.print(escape(f"  {_MANIFEST_WORDS.get(k, k)}：{v}"))


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
    console.print(f"hedui serve：在 {escape(str(api))} 上注册定时部署 hedui-scheduled-monthly/"
                  f"hedui-monthly（{monthly_cron}）和 hedui-scheduled-quarterly/hedui-quarterly"
                  f"（{quarterly_cron}），时区 Asia/Shanghai；仓库 {escape(str(target))}。"
                  "SIGTERM 或 Ctrl-C 停止服务并暂停两个定时计划。")
    serve_deployments(incoming=str(incoming.resolve()), warehouse=str(target),
                      monthly_cron=monthly_cron, quarterly_cron=quarterly_cron,
                      on_started=lambda: console.print("hedui serve：服务中，等待定时运行"))
    console.print("hedui serve：已停止，两个定时计划均已暂停")

