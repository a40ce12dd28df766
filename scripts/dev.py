#!/usr/bin/env python3
"""Project bootstrap: one entry point for the README's two commands and for CI.

``python3 scripts/dev.py demo`` sets up ``.venv`` from ``requirements.lock`` (pinned, hashed) and
runs the monthly cross-check on ``data/sample/`` followed by the staff reports.
``python3 scripts/dev.py test`` sets up the same environment and runs the test suite (extra
arguments go to pytest, e.g. ``-m "not slow"``).
``python3.12 scripts/dev.py smoke --venv DIR`` builds an environment from the lock in ``DIR`` with
that Python and runs ``hedui --help``, one monthly run on ``data/sample/`` and the lock's own test;
``.ci/run`` calls it once for every supported Python the machine has.

Only the standard library is used here, so it works on a machine that has nothing but Python
(3.11, 3.12 or 3.13: the versions ``requirements.lock`` is compiled for).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")

# The Pythons the lock is compiled for and CI proves (the one place this list lives: the lock
# test, .ci/run and the version check below read it). Adding one means recompiling the lock
# (README, Development) and a green `.ci/run` on a machine that has it.
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")


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
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if running not in SUPPORTED_PYTHONS:
        # a newer Python may need packages (or wheels) the lock does not carry: say so up front
        # instead of failing half-way through the install with a hash or marker error
        sys.exit(f"hedui supports Python {', '.join(SUPPORTED_PYTHONS)} (the versions requirements.lock "
                 f"is compiled for); this is {sys.version.split()[0]}")
    bin_dir = venv_dir / ("Scripts" if os.name == "nt" else "bin")
    stamp = venv_dir / ".hedui-lock.sha256"
    digest = _lock_digest()
    if stamp.exists() and stamp.read_text().strip() == digest and (bin_dir / "hedui").exists():
        return bin_dir
    if not (bin_dir / "python").exists():
        print(f"正在创建虚拟环境：{venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    py = bin_dir / "python"
    quiet = ["--quiet", "--disable-pip-version-check"]
    _run([py, "-m", "pip", "install", *quiet, "--no-deps", "--require-hashes", "-r", LOCK])
    _run([py, "-m", "pip", "install", *quiet, "--no-deps", "--no-build-isolation", "-e", ROOT])
    _run([py, "-m", "pip", "check"])
    stamp.write_text(digest + "\n")
    return bin_dir


def _env(bin_dir: Path = BIN) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def demo() -> int:
    """Set up the environment, run the monthly cross-check on data/sample/ and write the reports."""
    ensure_env()
    env = _env()
    hedui = BIN / "hedui"
    warehouse = ROOT / "warehouse" / "hedui.duckdb"
    _run([hedui, "monthly", "--incoming", ROOT / "data/sample/incoming", "--period", "2026-10",
          "--warehouse", warehouse], env=env, cwd=ROOT)
    _run([hedui, "report", "--period", "2026-10", "--warehouse", warehouse,
          "--out", ROOT / "reports"], env=env, cwd=ROOT)
    print(f"""
完成。请查看：
  {ROOT / 'reports' / 'hedui-2026-10.html'}            本月网页报告（可离线打开）
  {ROOT / 'reports'}/hedui-2026-10-<区县代码>.xlsx     各区县的复核工作簿
  {warehouse}                                          DuckDB 仓库（各表见 README）
  HEDUI_WAREHOUSE={warehouse} {BIN / 'marimo'} run notebooks/monthly_overview.py   （分析人员：只读 hedui-analyst.duckdb）
""", flush=True)
    return 0


def test(extra: list[str]) -> int:
    """Set up the environment and run the test suite; ``extra`` goes to pytest."""
    ensure_env()
    return subprocess.run([str(BIN / "python"), "-m", "pytest", *extra], check=False, env=_env(),
                          cwd=ROOT).returncode


def smoke(venv_dir: Path) -> int:
    """Build ``venv_dir`` from the lock with this Python and prove it runs hedui.

    Runs ``hedui --help``, one ``hedui monthly --orchestrator local`` on ``data/sample/`` into a
    throw-away warehouse, and ``tests/test_lock.py`` (which reads the installed packages'
    metadata, so packages only this Python needs are checked here). Prints one line per step and
    ``smoke 3.X: ok in N s`` at the end.

    Parameters
    ----------
    venv_dir
        Where the environment is built; reused when the lock has not changed since.

    Returns
    -------
    int
        0 when every step succeeded, else the failing step's exit code.
    """
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    started = time.monotonic()
    bin_dir = ensure_env(venv_dir)
    print(f"smoke {version}: environment ready in {time.monotonic() - started:.0f} s", flush=True)
    env = _env(bin_dir)
    hedui = bin_dir / "hedui"
    with tempfile.TemporaryDirectory(prefix=f"hedui-smoke-{version}-") as tmp:
        steps = [
            ("hedui --help", [hedui, "--help"]),
            ("hedui monthly", [hedui, "monthly", "--orchestrator", "local",
                               "--incoming", ROOT / "data/sample/incoming", "--period", "2026-10",
                               "--warehouse", Path(tmp) / "hedui.duckdb"]),
            ("lock test", [bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           ROOT / "tests" / "test_lock.py"]),
        ]
        for name, cmd in steps:
            t0 = time.monotonic()
            done = subprocess.run([str(c) for c in cmd], check=False, env=env, cwd=ROOT,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                sys.stdout.write(done.stdout[-4000:])
                sys.stderr.write(done.stderr[-4000:])
                print(f"smoke {version}: FAILED at {name} (exit {done.returncode})", flush=True)
                return done.returncode
            print(f"smoke {version}: {name} ok in {time.monotonic() - t0:.0f} s", flush=True)
    print(f"smoke {version}: ok in {time.monotonic() - started:.0f} s", flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Run the command ``argv`` names (demo, test, setup, smoke); the process's exit code."""
    if not argv or argv[0] not in {"demo", "test", "setup", "smoke"}:
        print(__doc__)
        return 2
    if argv[0] == "smoke":
        if len(argv) != 3 or argv[1] != "--venv":
            print("usage: python3.X scripts/dev.py smoke --venv DIR", file=sys.stderr)
            return 2
        return smoke(Path(argv[2]).resolve())
    if argv[0] == "setup":
        ensure_env()
        return 0
    if argv[0] == "demo":
        return demo()
    return test(argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as failed:
        # the failing command has printed its own reason; name it instead of a traceback
        print(f"失败（退出码 {failed.returncode}）：{' '.join(map(str, failed.cmd))}", file=sys.stderr)
        sys.exit(failed.returncode or 1)
