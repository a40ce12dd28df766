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
from pipelines.cli.zh import ZhCommand


@app.command(cls=ZhCommand)
def monthly(
    incoming: IncomingOpt,
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM",
                                        help="核对的月份，格式 YYYY-MM。")],
    district: Annotated[list[str] | None, typer.Option(
        "--district", metavar="CODE",
        help="只核定并标记这个区县代码（可重复给出）；不给时核定全部区县。")] = None,
    warehouse: WarehouseOpt = None,
    orchestrator: OrchestratorOpt = Orchestrator.prefect,
    no_cache: NoCacheOpt = False,
    rekey: RekeyOpt = False,
    rules: RulesOpt = None,
    dask: DaskOpt = None,
) -> None:
    """每月核对：读入核对窗口内各月的文件夹，匹配，核定 --period 这个月并标记。"""  # noqa: D400 - ends with 。
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


@app.command(cls=ZhCommand)
def quarterly(
    incoming: IncomingOpt,
    quarter: Annotated[str, typer.Option("--quarter", metavar="YYYYQn",
                                         help="季度，格式 YYYYQn（如 2026Q3）。")],
    warehouse: WarehouseOpt = None,
    orchestrator: OrchestratorOpt = Orchestrator.prefect,
    no_cache: NoCacheOpt = False,
    rekey: RekeyOpt = False,
    rules: RulesOpt = None,
    dask: DaskOpt = None,
) -> None:
    """季度全市筛查：核对 --quarter 季度的每个月、每个区县，并生成 quarter_summary。"""  # noqa: D400 - ends with 。
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


@app.command(cls=ZhCommand)
def report(
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM",
                                        help="要出报告的月份，格式 YYYY-MM。")],
    district: Annotated[list[str] | None, typer.Option(
        "--district", metavar="CODE",
        help="只为这个区县代码生成复核工作簿（可重复给出）；不给时为该月核定过的每个区县生成，"
             "另加全市工作簿。")] = None,
    warehouse: WarehouseOpt = None,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="输出文件夹，默认为 reports/。",
                                      show_default=False, file_okay=False)] = Path("reports"),
    full_identity: Annotated[bool, typer.Option(
        "--full-identity", help="在工作簿中显示完整姓名和证件号（默认打码）。")] = False,
) -> None:
    """生成各区县的复核工作簿（XLSX）和本月的网页报告。"""  # noqa: D400 - ends with 。
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


@app.command(cls=ZhCommand)
def sample(
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="输出文件夹（在其中写入 incoming/ 和 truth/）。")],
    households: Annotated[int, typer.Option("--households", metavar="N", min=1, help="户数。")] = 500,
    months: Annotated[str, typer.Option("--months", metavar="FIRST..LAST",
                                        help="月份范围 FIRST..LAST：首月..末月，如 2026-05..2026-10。")] = "2026-05..2026-10",
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="随机种子：种子相同，生成的文件逐字节相同。")] = 2026,
    districts: Annotated[int | None, typer.Option(
        "--districts", metavar="N",
        help="生成有 N 个区县（990101 …）的示例省份，逐个区县写出（内存只需容纳一个区县），规则目录"
             "写在 DIR/rules，供 hedui monthly --rules 使用。不给时生成三个区县的示例城市。")] = None,
    persons: Annotated[int | None, typer.Option(
        "--persons", metavar="N",
        help="约 N 人：把 --households 设为 N / 2.15（生成器的平均每户人数）。")] = None,
) -> None:
    """生成带已知答案的虚构示例城市（给 --districts 时为示例省份）。"""  # noqa: D400 - ends with 。
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


@app.command(cls=ZhCommand)
def serve(
    incoming: IncomingOpt,
    warehouse: WarehouseOpt = None,
    monthly_cron: Annotated[str, typer.Option(
        "--monthly-cron", metavar="CRON",
        help="高级：月度部署的定时表达式(cron)，按 Asia/Shanghai 时区，用于试验定时计划，如 '* * * * *'。")] = "0 2 5 * *",
    quarterly_cron: Annotated[str, typer.Option(
        "--quarterly-cron", metavar="CRON",
        help="高级：季度部署的定时表达式(cron)，按 Asia/Shanghai 时区。")] = "0 3 10 1,4,7,10 *",
) -> None:
    """注册定时部署并持续运行，直到收到 SIGTERM 或按 Ctrl-C。

    hedui-scheduled-monthly/hedui-monthly 在每月 5 日 02:00 核对上个月；
    hedui-scheduled-quarterly/hedui-quarterly 在 1、4、7、10 月的 10 日 03:00 核对刚结束的季度
    （Asia/Shanghai 时区）。两者都可在 Prefect 界面中填写月份(period)参数（如 2026-10）或
    季度(quarter)参数（如 2026Q3），重新运行指定的月份或季度。

    定时运行需要一个常驻的 Prefect 服务器：运行 hedui serve 之前先启动它，并把环境变量
    PREFECT_API_URL 设为它的地址（如 http://HOST:4200/api）。未设置 PREFECT_API_URL 时 serve
    拒绝启动并提示启动服务器的命令（临时服务器会随本进程一起消失）。运行失败会在仓库的
    运行记录表(runs)中留下一行状态为失败(failed)的记录。
    SIGTERM（或 Ctrl-C）停止服务并暂停两个定时计划。
    """  # noqa: D400 - the summary is a Chinese sentence, ending with 。
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

