"""Disk layer: files written whole or not at all, and folders only staff can enter.

Two habits every writer of hedui follows:

- a file a person opens (a workbook, the HTML report, the warehouse) is written to a temporary
  name in its own directory and renamed over the final name, so a killed writer never leaves a
  truncated file behind the name someone will open (:func:`atomic_write_path`);
- a folder holding identities (the warehouse's cache and run scratch) is mode 0700 whatever the
  umask, so the files polars and DuckDB create inside it with default modes are unreachable to
  other local accounts (:func:`private_dir`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: the mode of a folder holding identities (staff's own account only)
PRIVATE_DIR = 0o700
#: the mode of a file holding identities
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and set it to 0700, whatever the umask.

    An existing folder is tightened too: the cache of an older release was created 0755.
    Missing parents are created 0700 as well (they are hedui's own folders, e.g. ``.cache``).
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for folder in [*missing, path]:
        os.chmod(folder, PRIVATE_DIR)
    return path


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's entry to disk (a rename is durable once its dir is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_temporaries(final: Path) -> None:
    """Temporary files of ``final`` left by writers that were killed (their pid is gone)."""
    for stale in final.parent.glob(f".{final.name}.*.tmp*"):
        try:
            pid = int(stale.name[len(final.name) + 2:].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not pid_alive(pid):
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_write_path(final: Path | str, *, mode: int = 0o666) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` when the block succeeds.

    Write the whole file to the yielded path (any writer that takes a file name: xlsxwriter,
    ``Path.write_text``, polars). When the ``with`` block ends without an exception the file is
    flushed to disk and renamed over ``final`` in one step: a reader sees the previous file or
    the new one, never a part. On an exception the temporary file is removed and ``final`` is
    left as it was; a writer killed outright leaves only a hidden ``.<name>.<pid>-….tmp<suffix>``
    file, removed by the next write of the same name.

    Parameters
    ----------
    final
        The file to (re)place.
    mode
        Permission bits the file is created with, before the umask: the default lets the umask
        decide as for any new file; pass ``0o600`` for a file holding identities.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temporaries(final)
    # the suffix is kept so that writers which look at it (xlsxwriter) see the final one
    tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{final.suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.close(fd)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(final.parent)
