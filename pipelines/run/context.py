"""What every stage of a run shares.

Its context (folders, scratch, run plan), the references handed between stages, progress
reporting and the run's named failures.

Split out of :mod:`pipelines.runner` (which re-exports every public name). Stage functions take
and return small references (paths, counts), never big frames, so the same functions serve as
Prefect tasks (:mod:`pipelines.flows`), Dask tasks (:mod:`pipelines.cluster`) and a plain
sequential run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import __version__
from pipelines.fsio import pid_alive
from pipelines.run_notes import Note

if TYPE_CHECKING:
    from pipelines.plan import MonthPlan, RunPlan


class RunFailed(RuntimeError):
    """A failure the contract names (missing folder or register, district without standard, …)."""


class PartitionFailed(RunFailed):
    """A partition's task failed on a Dask cluster; the message names the partition."""


# ---------------------------------------------------------------------------------------------
# progress reporting: the CLI installs a reporter; stages call it; logs never carry identities


ProgressFn = Callable[[str, str, dict], None]
_reporter: ProgressFn | None = None


def set_reporter(fn: ProgressFn | None) -> None:
    """Install a callback ``fn(stage, event, info)`` for stage start/finish events."""
    global _reporter
    _reporter = fn


def _report(stage: str, event: str, **info: object) -> None:
    if _reporter is not None:
        _reporter(stage, event, dict(info))


# ---------------------------------------------------------------------------------------------
# references handed between stages


def scratch_root(warehouse: Path) -> Path:
    """Where runs keep their parquet between stages: ``$HEDUI_SCRATCH``, else ``.work/`` beside the warehouse.

    On a Dask cluster every worker must see it at the same path (shared storage).
    """
    env = os.environ.get("HEDUI_SCRATCH", "").strip()
    return Path(env).expanduser().resolve() if env else warehouse.parent / ".work"


def _remove_dead_scratch(work: Path) -> None:
    """Delete scratch folders of runs that were killed: they hold cleaned personal data."""
    if not work.is_dir():
        return
    here = socket.gethostname()
    for run_dir in work.iterdir():
        try:
            # shared scratch: a run of another machine is not ours to judge by its pid
            if (run_dir / "host").read_text() != here:
                continue
        except OSError:
            pass
        try:
            pid = int((run_dir / "pid").read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and (pid == os.getpid() or pid_alive(pid)):
            continue
        shutil.rmtree(run_dir, ignore_errors=True)


@dataclass
class RunContext:
    """One run: where it reads and writes, its scratch folder, options and plan."""

    run_id: str
    flow: str
    incoming: Path
    warehouse: Path
    scratch: Path
    started_at: datetime
    rules_dir: Path | None = None
    matching_file: Path | None = None
    use_cache: bool = True
    #: publish even though the warehouse's pseudonyms were made with a lost or different key
    rekey: bool = False
    #: the run's frozen plan (:mod:`pipelines.plan`), set once by ``execute_monthly`` /
    #: ``execute_quarterly`` before any stage runs
    plan: RunPlan | None = None

    @classmethod
    def create(cls, *, flow: str, incoming: Path, warehouse: Path, rules_dir: Path | None = None,
               matching_file: Path | None = None, use_cache: bool = True,
               rekey: bool = False) -> RunContext:
        """A new run: its id, and its private scratch folder (dead runs' scratch is removed first)."""
        from pipelines import warehouse as wh
        from pipelines.fsio import private_dir

        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        work = scratch_root(warehouse)
        _remove_dead_scratch(work)
        # the scratch holds cleaned rows with ID numbers and names: staff's account only
        wh.make_directory(warehouse.parent)
        private_dir(work)
        scratch = private_dir(work / run_id)
        (scratch / "pid").write_text(str(os.getpid()))
        (scratch / "host").write_text(socket.gethostname())
        return cls(run_id=run_id, flow=flow, incoming=incoming, warehouse=warehouse,
                   scratch=scratch, started_at=datetime.now(UTC),
                   rules_dir=rules_dir, matching_file=matching_file, use_cache=use_cache,
                   rekey=rekey)

    def month_plan(self, period: str) -> MonthPlan:
        """The plan of ``period``: the run's own, or (a stage called outside a run) built here."""
        from pipelines.plan import monthly_plan

        if self.plan is not None and self.plan.has_month(period):
            return self.plan.month(period)
        return monthly_plan(period, rules_dir=self.rules_dir,
                            matching_file=self.matching_file).month(period)

    def matching_params(self):
        """The linkage parameters of the run (resolved on the last day of its last month)."""
        from pipelines.match import load_matching_params

        if self.plan is not None:
            return self.plan.matching
        return load_matching_params(self.matching_file)

    def cleanup(self) -> None:
        """Remove the run's scratch folder, and the scratch root when it is left empty."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        try:
            self.scratch.parent.rmdir()
        except OSError:
            pass


@dataclass
class FolderRef:
    """What landing and cleaning one month folder produced (files under ``dir``)."""

    period: str
    dir: Path
    exists: bool
    register_ok: bool = False
    register_problem: str | None = None
    files: list[dict] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: the folder-cache key of this result (None when the cache is off or the folder is absent)
    cache_key: str | None = None
    #: the key of the rows a publish writes for the folder: its cache key and its review
    #: ranking's, which reads the month before too (None: unknown, the folder is re-published)
    publish_key: str | None = None

    def stg(self, source: str) -> Path:
        """The cleaned rows of ``source``."""
        return self.dir / f"stg_{source}.parquet"

    def raw(self, source: str) -> Path:
        """The landed rows of ``source``."""
        return self.dir / f"raw_{source}.parquet"

    @property
    def quarantine(self) -> Path:
        """The folder's quarantined rows."""
        return self.dir / "quarantine.parquet"

    @property
    def links(self) -> Path:
        """The folder's links of records to persons."""
        return self.dir / "links.parquet"


@dataclass
class AssessRef:
    """What assessing one period produced (frames under the run's scratch)."""

    period: str
    assessments: Path
    flags: Path
    rulebook_version: str
    notes: list[Note]
    districts: list[str]
    #: issue 19: review records that can change a household's outcome, and those households
    pending_records: Path | None = None
    uncertain: Path | None = None


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


class FileStillBeingWritten(OSError):
    """A delivered file changed while we looked at it: a retry can help."""


def _assert_folder_settled(folder: Path, *, settle_seconds: float) -> None:
    if settle_seconds <= 0:
        return
    now = time.time()
    for f in folder.iterdir():
        if f.is_file() and now - f.stat().st_mtime < settle_seconds:
            raise FileStillBeingWritten(
                f"{folder.name}/{f.name} was modified {now - f.stat().st_mtime:.1f} s ago; "
                "it may still be being delivered")


def as_dict(ref: FolderRef) -> dict:
    """``ref`` as a plain dict (``dir`` as text)."""
    d = asdict(ref)
    d["dir"] = str(ref.dir)
    return d
