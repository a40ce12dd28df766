#!/usr/bin/env python3
"""Project bootstrap: one entry point for the README's two commands and for CI.

``python3 scripts/dev.py demo`` sets up ``.venv`` from ``requirements.lock`` (pinned, hashed) and
runs the monthly cross-check on ``data/sample/`` followed by the staff reports.
``python3 scripts/dev.py test`` sets up the same environment and runs the test suite.

Only the standard library is used here, so it works on a machine that has nothing but Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def _lock_digest() -> str:
    return hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_env(venv_dir: Path = VENV) -> Path:
    """Create ``venv_dir`` and install exactly the locked packages when the lock file changed.

    Nothing is resolved at install time: ``--no-deps`` installs the lock's pins (every package for
    every supported Python, selected by the lock's environment markers) and no others, so a newer
    release upstream cannot enter the environment. ``pip check`` then proves the set is complete.
    Returns the environment's ``bin`` folder.
    """
    if sys.version_info < (3, 11):
        sys.exit(f"hedui needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    bin_dir = venv_dir / ("Scripts" if os.name == "nt" else "bin")
    stamp = venv_dir / ".hedui-lock.sha256"
    digest = _lock_digest()
    if stamp.exists() and stamp.read_text().strip() == digest and (bin_dir / "hedui").exists():
        return bin_dir
    if not (bin_dir / "python").exists():
        print(f"creating virtual environment in {venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    py = bin_dir / "python"
    quiet = ["--quiet", "--disable-pip-version-check"]
    _run([py, "-m", "pip", "install", *quiet, "--no-deps", "--require-hashes", "-r", LOCK])
    _run([py, "-m", "pip", "install", *quiet, "--no-deps", "--no-build-isolation", "-e", ROOT])
    _run([py, "-m", "pip", "check"])
    stamp.write_text(digest + "\n")
    return bin_dir


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def demo() -> int:
    ensure_env()
    env = _env()
    hedui = BIN / "hedui"
    warehouse = ROOT / "warehouse" / "hedui.duckdb"
    _run([hedui, "monthly", "--incoming", ROOT / "data/sample/incoming", "--period", "2026-10",
          "--warehouse", warehouse], env=env, cwd=ROOT)
    _run([hedui, "report", "--period", "2026-10", "--warehouse", warehouse,
          "--out", ROOT / "reports"], env=env, cwd=ROOT)
    print(f"""
Done. Look at:
  {ROOT / 'reports' / 'hedui-2026-10.html'}            the period's report (opens offline)
  {ROOT / 'reports'}/hedui-2026-10-<区县代码>.xlsx     the district workbooks staff work from
  {warehouse}                                          the DuckDB warehouse (tables: README)
  HEDUI_WAREHOUSE={warehouse} {BIN / 'marimo'} edit notebooks/monthly_overview.py
""", flush=True)
    return 0


def test(extra: list[str]) -> int:
    ensure_env()
    return subprocess.run([str(BIN / "python"), "-m", "pytest", *extra], env=_env(), cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup"}:
        print(__doc__)
        return 2
    if argv[0] == "setup":
        ensure_env()
        return 0
    if argv[0] == "demo":
        return demo()
    return test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
