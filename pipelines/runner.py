"""Orchestration layer: the stages of a run, each reading and writing parquet in a scratch folder.

Each stage function takes and returns small references (paths, counts), never big frames, so
the same functions serve as Prefect tasks (``pipelines.flows``), Dask tasks
(``pipelines.cluster``) and a plain sequential run (``orchestrator="local"``, used by tests and
benchmarks). Only :func:`stage_publish` touches the warehouse, and it does so through
:func:`pipelines.warehouse.publishing` (atomic).

The code lives in :mod:`pipelines.run`, one module per idea; this module is the stable public
face that the CLI, the flows, the cluster and the tests import. A run's period, rules, window
and parameters are decided once, in its plan (:mod:`pipelines.plan`).
"""

from __future__ import annotations

from pipelines.periods import Period
from pipelines.plan import PlanError, RunPlan, windows
from pipelines.rulebook import Rules
from pipelines.run.assessing import _facts, deliveries_frame, stage_assess
from pipelines.run.context import (
    AssessRef,
    FileStillBeingWritten,
    FolderRef,
    PartitionFailed,
    ProgressFn,
    RunContext,
    RunFailed,
    _assert_folder_settled,
    _remove_dead_scratch,
    _report,
    as_dict,
    code_version,
    scratch_root,
    set_reporter,
)
from pipelines.run.execute import (
    Stages,
    _precheck,
    _require_register,
    execute_monthly,
    execute_quarterly,
    quarter_summary_frame,
)
from pipelines.run.folders import (
    _folder_records,
    _link_overrides,
    _load_and_match,
    stage_land_clean,
    stage_match,
)
from pipelines.run.publish import (
    build_summary,
    input_entries,
    record_failure,
    stage_publish,
)

__all__ = [
    "AssessRef",
    "FileStillBeingWritten",
    "FolderRef",
    "PartitionFailed",
    "PlanError",
    "ProgressFn",
    "RunContext",
    "RunFailed",
    "RunPlan",
    "Stages",
    # private helpers other modules of the package reach for
    "_assert_folder_settled",
    "_facts",
    "_folder_records",
    "_link_overrides",
    "_load_and_match",
    "_precheck",
    "_remove_dead_scratch",
    "_report",
    "_require_register",
    "as_dict",
    "build_summary",
    "code_version",
    "deliveries_frame",
    "execute_monthly",
    "execute_quarterly",
    "input_entries",
    "months_to_load",
    "quarter_summary_frame",
    "record_failure",
    "scratch_root",
    "set_reporter",
    "stage_assess",
    "stage_land_clean",
    "stage_match",
    "stage_publish",
]


def months_to_load(period: str, rules: Rules) -> list[str]:
    """The delivery folders a run of ``period`` reads under ``rules`` (resolved at its end).

    They are the income window W and the INCOME_DROP months (``income_drop_months``), oldest
    first.
    """
    return [p.label for p in windows(Period.parse(period), rules).folders]
