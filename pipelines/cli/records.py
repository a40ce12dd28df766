"""The commands about one household or a proposal: ``notice``, ``whatif``, ``decisions import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.app import WarehouseOpt, _fail, app, console, decisions_app, err
from pipelines.cli.checks import check_warehouse_readable, check_warehouse_writable
from pipelines.cli.zh import ZhCommand


@app.command(cls=ZhCommand)
def notice(
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM", help="核对的月份，格式 YYYY-MM。")],
    household: Annotated[str, typer.Option("--household", metavar="户编号", help="该户的户编号。")],
    warehouse: WarehouseOpt = None,
) -> None:
    """打印 --period 月份一户被标记家庭的核对告知书（通俗中文）。"""  # noqa: D400 - ends with 。
    from pipelines import warehouse as wh
    from pipelines.notice import NoticeError, notice_command

    try:
        text = notice_command(wh.resolve(warehouse), period=period, household_id=household)
    except NoticeError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc), code=2)
    typer.echo(text, nl=False)


@app.command(cls=ZhCommand)
def whatif(
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM", help="要预演的月份，格式 YYYY-MM。")],
    rules: Annotated[Path, typer.Option(
        "--rules", metavar="DIR", help="拟议的规则：一个完整的规则目录，或只含改动的参数文件"
                                      "（叠加在现行的 rules/ 之上）。", file_okay=False)],
    district: Annotated[list[str] | None, typer.Option(
        "--district", metavar="CODE",
        help="只比较这个区县代码（可重复给出）；不给时比较全部区县。")] = None,
    warehouse: WarehouseOpt = None,
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="输出文件夹，默认为 reports/。",
                                      show_default=False, file_okay=False)] = Path("reports"),
    json_file: Annotated[Path | None, typer.Option(
        "--json", metavar="FILE", help="另把比较结果以机器可读的格式写入这个文件（如 whatif.json）。", dir_okay=False)] = None,
) -> None:
    # typer prints this docstring in ``hedui whatif --help`` and its first line in ``hedui --help``
    """政策预演：用拟议的规则核定 --period 月份。

    用仓库中已存的、已匹配的记录，按 --rules 给出的拟议规则重新核定，并与已发布的结果比较；写出一个
    工作簿和一个网页，从不改动仓库。
    """  # noqa: D400 - the summary is a Chinese sentence, ending with 。
    from pipelines.whatif.command import run_command

    run_command(period=period, rules=rules, districts=district or None, warehouse=warehouse,
                out=out, json_file=json_file, console=console, err=err)


@decisions_app.command("import", cls=ZhCommand)
def decisions_import(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="区县复核工作簿，或只含其处理结果各列的 CSV 文件。",
                                         exists=True, dir_okay=False)],
    warehouse: WarehouseOpt = None,
) -> None:
    """记录经办人填写的处理结果；文件中只要有一行无效，整个文件都不收。"""  # noqa: D400 - ends with 。
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
    console.print(f"{escape(file.name)}：读入 {result.rows_read} 行处理结果，新记录 {result.recorded} 条"
                  f"（标记处理 {result.flag_decisions} 条，匹配核对 {result.link_decisions} 条），"
                  f"{result.already_recorded} 条此前已记录。仓库：{escape(str(target))}")


