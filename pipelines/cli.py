"""Command layer: ``hedui``, the command verification staff and the scheduler run.

Exit codes: 0 success (bad rows and files are quarantined, not failures); 1 a failure the
contract names (missing folder or register, district without a standard, warehouse not
writable, an invalid decisions file); 2 wrong usage.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="hedui",
    help="hedui (核对): the monthly household means-testing cross-check. Loads department "
         "extracts, links them to the civil-affairs register, assesses households against the "
         "dated rulebook in rules/ and publishes flags to a DuckDB warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
decisions_app = typer.Typer(help="Record clerks' decisions from a district workbook.",
                            no_args_is_help=True)
app.add_typer(decisions_app, name="decisions")

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Orchestrator(str, Enum):
    prefect = "prefect"
    local = "local"


def _quiet_prefect() -> None:
    """Offline, quiet Prefect defaults; explicit environment settings win."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


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
        self.out.print(f"[green]✓[/green] {label:<18} {took:6.1f} s  {detail}")


@contextmanager
def _progress():
    from pipelines import runner

    runner.set_reporter(_StageProgress(console))
    try:
        yield
    finally:
        runner.set_reporter(None)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]hedui: {message}[/bold red]")
    raise typer.Exit(code)


def _run(flow_name: str, *, incoming: Path, label: str, districts: list[str] | None,
         warehouse: Path | None, orchestrator: Orchestrator, use_cache: bool = True,
         rules: Path | None = None) -> dict:
    from pipelines import runner
    from pipelines import warehouse as wh
    from pipelines.rulebook import RulebookError

    from pipelines.rulebook import parameters_folder

    target = wh.resolve(warehouse)
    rules_dir = parameters_folder(rules) if rules is not None else None
    console.print(f"hedui {flow_name} {label} → warehouse [bold]{target}[/bold]")
    try:
        with _progress():
            if orchestrator is Orchestrator.prefect:
                _quiet_prefect()
                from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

                from pipelines import flows

                with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                    if flow_name == "monthly":
                        return flows.monthly_flow(incoming=str(incoming), period=label,
                                                  districts=districts, warehouse=str(target),
                                                  use_cache=use_cache,
                                                  rules_dir=str(rules_dir) if rules_dir else None)
                    return flows.quarterly_flow(incoming=str(incoming), quarter=label,
                                                warehouse=str(target), use_cache=use_cache,
                                                rules_dir=str(rules_dir) if rules_dir else None)
            ctx = runner.RunContext.create(flow=flow_name, incoming=incoming, warehouse=target,
                                           use_cache=use_cache, rules_dir=rules_dir)
            try:
                if flow_name == "monthly":
                    return runner.execute_monthly(ctx, label, districts=districts)
                return runner.execute_quarterly(ctx, label)
            finally:
                ctx.cleanup()
    except (runner.RunFailed, RulebookError) as exc:
        _record_failure(flow_name, incoming, target, label, districts, str(exc))
        _fail(str(exc))
    except wh.WarehouseError as exc:
        _fail(f"the warehouse cannot be written: {exc}")
    except ValueError as exc:
        _fail(str(exc), code=2)
    raise AssertionError("unreachable")


def _record_failure(flow_name: str, incoming: Path, target: Path, label: str,
                    districts: list[str] | None, message: str) -> None:
    from pipelines import runner

    ctx = runner.RunContext.create(flow=flow_name, incoming=incoming, warehouse=target)
    try:
        runner.record_failure(ctx, period_label=label, districts=districts, message=message)
    finally:
        ctx.cleanup()


IncomingOpt = Annotated[Path, typer.Option("--incoming", help="Folder of month folders (YYYY-MM/).",
                                           file_okay=False)]
WarehouseOpt = Annotated[Path | None, typer.Option(
    "--warehouse", help="DuckDB warehouse file [default: warehouse/hedui.duckdb].", dir_okay=False)]
DistrictOpt = Annotated[list[str] | None, typer.Option(
    "--district", help="区县代码 to assess (repeatable); all districts when omitted.")]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Re-land and re-match every folder even when its files, the code, the "
                       "matching parameters and the staff decisions are unchanged since the last run.")]
RulesOpt = Annotated[Path | None, typer.Option(
    "--rules", help="Rulebook folder (a rules/ folder with parameters/, or a parameters folder) "
                    "[default: the project's rules/].", file_okay=False)]
OrchestratorOpt = Annotated[Orchestrator, typer.Option(
    "--orchestrator", help="prefect: run as Prefect flows (ephemeral local server unless "
                           "PREFECT_API_URL is set); local: same stages, no Prefect.")]


@app.command()
def monthly(
    incoming: IncomingOpt,
    period: Annotated[str, typer.Option("--period", help="Month being checked, YYYY-MM.")],
    district: DistrictOpt = None,
    warehouse: WarehouseOpt = None,
    orchestrator: OrchestratorOpt = Orchestrator.prefect,
    no_cache: NoCacheOpt = False,
    rules: RulesOpt = None,
) -> None:
    """Monthly cross-check: load the window's folders, link, assess and flag PERIOD."""
    from pipelines.periods import parse_period
    from pipelines.summary import print_summary

    try:
        parse_period(period)
    except ValueError as exc:
        _fail(str(exc), code=2)
    summary = _run("monthly", incoming=incoming, label=period, districts=district or None,
                   warehouse=warehouse, orchestrator=orchestrator, use_cache=not no_cache,
                   rules=rules)
    print_summary(summary, console)
    console.print(f"next: [bold]hedui report --period {period}"
                  + (f" --warehouse {warehouse}" if warehouse else "") + "[/bold]")


@app.command()
def quarterly(
    incoming: IncomingOpt,
    quarter: Annotated[str, typer.Option("--quarter", help="Quarter, YYYYQn (e.g. 2026Q3).")],
    warehouse: WarehouseOpt = None,
    orchestrator: OrchestratorOpt = Orchestrator.prefect,
    no_cache: NoCacheOpt = False,
    rules: RulesOpt = None,
) -> None:
    """Quarterly city-wide screening: every month of QUARTER, every district, plus quarter_summary."""
    from pipelines.periods import quarter_months
    from pipelines.summary import print_summary

    try:
        quarter_months(quarter)
    except ValueError as exc:
        _fail(str(exc), code=2)
    summary = _run("quarterly", incoming=incoming, label=quarter.upper(), districts=None,
                   warehouse=warehouse, orchestrator=orchestrator, use_cache=not no_cache,
                   rules=rules)
    print_summary(summary, console)
    from rich.table import Table

    table = Table(title=f"quarter_summary {quarter.upper()}")
    for col in ("district", "flag", "flagged", "new"):
        table.add_column(col, justify="right" if col in {"flagged", "new"} else "left")
    for row in summary.get("quarter_summary", []):
        new = row["households_new"]
        table.add_row(row["district_code"], row["flag"], str(row["households_flagged"]),
                      "—" if new is None else str(new))
    console.print(table)


@app.command()
def report(
    period: Annotated[str, typer.Option("--period", help="Month to report, YYYY-MM.")],
    district: DistrictOpt = None,
    warehouse: WarehouseOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.", file_okay=False)] = Path("reports"),
    full_identity: Annotated[bool, typer.Option(
        "--full-identity", help="Show full names and ID numbers in the workbooks (masked by default).")] = False,
) -> None:
    """District review workbooks (Excel) and the period's HTML report."""
    from pipelines import warehouse as wh
    from pipelines.report import write_reports

    try:
        paths = write_reports(wh.resolve(warehouse), period=period, districts=district or None,
                              out=out, full_identity=full_identity)
    except wh.WarehouseError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(str(exc), code=2)
    for p in paths:
        console.print(str(p))


@app.command()
def whatif(
    period: Annotated[str, typer.Option("--period", help="Month to preview, YYYY-MM.")],
    rules: Annotated[Path, typer.Option(
        "--rules", help="The proposed rulebook: a whole rules folder, or only the parameter files "
                        "it changes (overlaid on the adopted rules/).", file_okay=False)],
    district: DistrictOpt = None,
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
    if not target.exists():
        _fail(f"no warehouse at {target}: run `hedui monthly` first")
    try:
        with wh.publishing(target) as con:
            result = import_decisions(file, con)
            wh.rebuild_analyst_views(con, key=wh.pseudonym_key(target))
    except DecisionImportError as exc:
        _fail(f"{file.name} was not imported; nothing was recorded:\n{exc}")
    except wh.WarehouseError as exc:
        _fail(f"the warehouse cannot be written: {exc}")
    console.print(f"{file.name}: {result.rows_read} decision row(s) read; {result.recorded} recorded "
                  f"({result.flag_decisions} flag, {result.link_decisions} link); "
                  f"{result.already_recorded} were already recorded. Warehouse: {target}")


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", help="Output folder (incoming/ and truth/ are written in it).")],
    households: Annotated[int, typer.Option("--households", min=1, help="Number of households.")] = 500,
    months: Annotated[str, typer.Option("--months", help="Months, FIRST..LAST (YYYY-MM..YYYY-MM).")] = "2026-05..2026-10",
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
    console.print(f"wrote a city of {households} households × {len(month_list)} months to {out} "
                  f"in {time.perf_counter() - started:.1f} s")
    for k, v in manifest.items():
        if isinstance(v, int | float | str):
            console.print(f"  {k}: {v}")


@app.command()
def serve(
    incoming: IncomingOpt,
    warehouse: WarehouseOpt = None,
) -> None:
    """Register the monthly (5th, 02:00) and quarterly (10th of Jan/Apr/Jul/Oct, 03:00)
    deployments, Asia/Shanghai, and serve them until stopped."""
    from pipelines import warehouse as wh
    from pipelines.schedule import serve as serve_deployments

    _quiet_prefect()
    serve_deployments(incoming=str(incoming.resolve()), warehouse=str(wh.resolve(warehouse)))


if __name__ == "__main__":  # pragma: no cover
    app()
