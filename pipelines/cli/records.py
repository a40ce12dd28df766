"""The commands about one household or a proposal: ``notice``, ``whatif``, ``decisions import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.app import WarehouseOpt, _fail, app, console, decisions_app, err
from pipelines.cli.checks import check_warehouse_readable, check_warehouse_writable


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
    # typer prints this docstring in ``hedui whatif --help`` and ``hedui --help``: its text is kept as is
    """Reform preview: assess PERIOD under a proposed rulebook from the stored, linked records and
    compare with the published results (writes a workbook and an HTML page; never the warehouse)."""  # noqa: D205, D209
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
    console.print(f"{escape(file.name)}：读入 {result.rows_read} 行处理结果，新记录 {result.recorded} 条"
                  f"（标记处理 {result.flag_decisions} 条，匹配核对 {result.link_decisions} 条），"
                  f"{result.already_recorded} 条此前已记录。仓库：{escape(str(target))}")


