"""requirements.lock against pyproject.toml, and against what every supported Python needs.

The install performs no dependency resolution (``pip install --no-deps --require-hashes`` then
``pip check``), so the lock alone decides what is installed. Two ways it can go wrong:

- the lock and ``pyproject.toml`` disagree (a dependency added to one and not the other, or a pin
  outside the declared range): :func:`pyproject_problems`;
- a supported Python needs a package that the lock lacks, or carries only under a marker false
  for that Python (the lock compiled for 3.11 only had no ``whenever``, which Prefect needs on
  3.13): :func:`closure_problems` walks the ``Requires-Dist`` metadata from hedui's direct
  dependencies, evaluating markers for each supported Python.

The walk reads metadata of installed distributions, so a package that only another Python needs
(``whenever`` on 3.13, seen from 3.11) cannot be followed further here; ``.ci/run`` runs this file
in the environment of every supported Python (``scripts/dev.py smoke``), where it is installed.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"


def _supported_pythons() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("hedui_dev_script", ROOT / "scripts" / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SUPPORTED_PYTHONS


SUPPORTED_PYTHONS = _supported_pythons()
RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"


@dataclass(frozen=True)
class Pin:
    """One line of the lock: ``name==version ; marker`` with its hashes and ``# via`` parents."""

    name: str
    version: Version
    marker: Marker | None
    hashes: int
    via: frozenset[str]


def parse_lock(text: str) -> dict[str, list[Pin]]:
    """The pins of a ``uv pip compile --generate-hashes`` lock, by canonical name.

    A universal lock may pin one name twice under disjoint markers, hence a list per name.
    ``via`` holds the parents uv recorded; hedui itself appears as ``hedui (pyproject.toml)``.
    """
    pins: dict[str, list[Pin]] = {}
    current: dict | None = None
    in_via_block = False

    def close():
        if current is not None:
            pin = Pin(current["name"], current["version"], current["marker"], current["hashes"],
                      frozenset(current["via"]))
            pins.setdefault(pin.name, []).append(pin)

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not raw[0].isspace() and not line.startswith("#"):
            close()
            body = line.removesuffix("\\").strip()
            requirement, _, marker = body.partition(";")
            name, sep, version = requirement.strip().partition("==")
            if not sep:
                raise ValueError(f"lock line is not pinned with ==: {line}")
            current = {"name": canonicalize_name(name.strip()), "version": Version(version.strip()),
                       "marker": Marker(marker.strip()) if marker.strip() else None,
                       "hashes": 0, "via": set()}
            in_via_block = False
            continue
        if current is None:
            continue  # the header comments
        if line.startswith("--hash="):
            current["hashes"] += 1
        elif line == "# via":
            in_via_block = True
        elif line.startswith("# via "):
            current["via"].add(line.removeprefix("# via ").strip())
            in_via_block = False
        elif in_via_block and line.startswith("#   "):
            current["via"].add(line.removeprefix("#   ").strip())
    close()
    return pins


def pyproject_requirements(text: str, extras: Iterable[str] = ("dev",)) -> tuple[str, list[Requirement]]:
    """The project's name and its direct requirements: ``project.dependencies`` plus ``extras``."""
    project = tomllib.loads(text)["project"]
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in extras:
        reqs += [Requirement(r) for r in project.get("optional-dependencies", {}).get(extra, [])]
    return project["name"], reqs


def pyproject_problems(lock: dict[str, list[Pin]], project: str, direct: list[Requirement]) -> list[str]:
    """Where the lock and pyproject.toml disagree; an empty list when they agree.

    Every direct requirement is pinned within its specifier, every pin has a hash, and the pins
    the lock records as ``via <project> (pyproject.toml)`` are exactly pyproject's direct set.
    """
    problems = []
    origin = f"{project} (pyproject.toml)"
    declared = {canonicalize_name(r.name) for r in direct}
    for req in direct:
        name = canonicalize_name(req.name)
        if name not in lock:
            problems.append(f"pyproject.toml requires {req} but the lock has no {name}")
            continue
        for pin in lock[name]:
            if not req.specifier.contains(pin.version, prereleases=True):
                problems.append(f"pyproject.toml requires {req} but the lock pins {name}=={pin.version}")
    recorded = {name for name, pins in lock.items() if any(origin in p.via for p in pins)}
    for name in sorted(recorded - declared):
        problems.append(f"the lock records {name} as a direct dependency of {project}, "
                        "but pyproject.toml no longer declares it")
    for name in sorted((declared & set(lock)) - recorded):
        problems.append(f"pyproject.toml declares {name} but the lock does not record it as "
                        f"{project}'s (the lock was not regenerated)")
    for name, pins in sorted(lock.items()):
        problems += [f"the lock pins {name}=={p.version} without a hash" for p in pins if not p.hashes]
    return problems


def marker_environment(python: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The marker environment of this platform, as Python ``python`` ("3.12") would see it.

    The running interpreter keeps its own full version; another minor version is taken at its
    first release (``3.12.0``).
    """
    env = dict(base if base is not None else default_environment())
    if env.get("python_version") != python:
        env["python_version"] = python
        env["python_full_version"] = f"{python}.0"
    return env


@dataclass
class Walk:
    """What :func:`closure_problems` found for one Python."""

    problems: list[str]
    needed: set[str]
    unread: set[str]  # needed, but their metadata is not available here, so not followed


Requires = Callable[[str, Version], "Iterable[str] | None"]


@cache
def _parsed(text: str) -> tuple[Requirement, Requirement]:
    """A Requires-Dist string, and the same requirement without its marker (already evaluated)."""
    req = Requirement(text)
    return req, Requirement(str(req).split(";")[0])


def walk_lock(lock: dict[str, list[Pin]], direct: list[Requirement], requires: Requires,
              env: dict[str, str], label: str) -> Walk:
    """Follow every requirement from ``direct`` through the lock under one marker environment.

    ``requires(name, version)`` returns the ``Requires-Dist`` strings of that distribution, or
    None when its metadata is not available. A requirement is satisfied when exactly one pin of
    its name has a marker true in ``env`` and that pin's version is in the requirement's range;
    requested extras are followed (``httpx[http2]`` needs ``h2``).
    """
    walk = Walk([], set(), set())
    seen: set[tuple[str, frozenset[str]]] = set()
    queue: list[tuple[str, Requirement]] = [("pyproject.toml", r) for r in direct]
    while queue:
        parent, req = queue.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        name = canonicalize_name(req.name)
        pins = lock.get(name, [])
        active = [p for p in pins if p.marker is None or p.marker.evaluate(env)]
        if not pins:
            walk.problems.append(f"{label}: {parent} requires {req} but the lock has no {name}")
            continue
        if not active:
            markers = "; ".join(f"{p.name}=={p.version} ; {p.marker}" for p in pins)
            walk.problems.append(f"{label}: {parent} requires {req} but the lock pins {name} only "
                                 f"under a marker false here ({markers})")
            continue
        if len(active) > 1:
            walk.problems.append(f"{label}: the lock pins {name} more than once here: "
                                 + ", ".join(str(p.version) for p in active))
            continue
        pin = active[0]
        if not req.specifier.contains(pin.version, prereleases=True):
            walk.problems.append(f"{label}: {parent} requires {req} but the lock pins {name}=={pin.version}")
        walk.needed.add(name)
        key = (name, frozenset(canonicalize_name(e) for e in req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist_requires = requires(name, pin.version)
        if dist_requires is None:
            walk.unread.add(name)
            continue
        wanted = {""} | set(key[1])
        for text in dist_requires:
            sub, unconditional = _parsed(text)
            if sub.marker is None or any(sub.marker.evaluate({**env, "extra": e}) for e in wanted):
                queue.append((f"{name}=={pin.version}", unconditional))
    return walk


def closure_problems(lock: dict[str, list[Pin]], direct: list[Requirement], requires: Requires,
                     pythons: Iterable[str], base_env: dict[str, str] | None = None) -> list[str]:
    """Every requirement a supported Python would need that the lock does not satisfy.

    Also names pins that are active for a Python but that nothing needs there, when the walk for
    that Python could read every needed package's metadata (else the list is not complete).
    """
    problems = []
    for python in pythons:
        env = marker_environment(python, base_env)
        walk = walk_lock(lock, direct, requires, env, f"Python {python}")
        problems += walk.problems
        if not walk.unread:
            for name, pins in sorted(lock.items()):
                if name not in walk.needed and any(p.marker is None or p.marker.evaluate(env) for p in pins):
                    problems.append(f"Python {python}: the lock pins {name} but nothing requires it")
    return problems


@lru_cache(maxsize=1)
def installed_distributions() -> dict[str, metadata.Distribution]:
    """Every distribution on this interpreter's path, by canonical name (first one wins, as in import)."""
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist)
    return found


@cache
def installed_requires(name: str, version: Version) -> tuple[str, ...] | None:
    """``Requires-Dist`` of the installed ``name`` when it is installed at ``version``."""
    dist = installed_distributions().get(name)
    if dist is None or Version(dist.version) != version:
        return None
    return tuple(dist.requires or ())


# ---- the real lock -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    lock = parse_lock(LOCK.read_text(encoding="utf-8"))
    project, direct = pyproject_requirements(PYPROJECT.read_text(encoding="utf-8"))
    return lock, project, direct


def test_the_lock_agrees_with_pyproject(real):
    lock, project, direct = real
    assert len(direct) > 20 and len(lock) > 100  # the parsers read the real files
    assert pyproject_problems(lock, project, direct) == []


def test_the_lock_is_universal_for_the_supported_pythons():
    header = LOCK.read_text(encoding="utf-8").splitlines()[:3]
    command = " ".join(header)
    assert "--universal" in command and "--generate-hashes" in command and "--extra dev" in command
    assert f"--python-version {SUPPORTED_PYTHONS[0]}" in command
    requires_python = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet

    assert all(SpecifierSet(requires_python).contains(f"{p}.0") for p in SUPPORTED_PYTHONS)


def test_every_supported_python_finds_what_it_needs_in_the_lock(real):
    lock, _project, direct = real
    assert RUNNING in SUPPORTED_PYTHONS, f"Python {RUNNING} is not one scripts/dev.py supports"
    assert closure_problems(lock, direct, installed_requires, SUPPORTED_PYTHONS) == []
    # on the running Python every needed package is installed, so the walk there is complete
    walk = walk_lock(lock, direct, installed_requires, marker_environment(RUNNING), RUNNING)
    assert walk.unread == set(), f"installed packages differ from the lock: {sorted(walk.unread)}"


def test_this_environment_holds_exactly_the_locked_versions(real):
    lock, _project, _direct = real
    env = marker_environment(RUNNING)
    wrong = []
    for name, pins in lock.items():
        for pin in pins:
            if pin.marker is not None and not pin.marker.evaluate(env):
                continue
            dist = installed_distributions().get(name)
            have = dist.version if dist is not None else None
            if have is None or Version(have) != pin.version:
                wrong.append(f"{name}: locked {pin.version}, installed {have}")
    assert wrong == []


# ---- the checker on small literal files: it fails when it should ----------------------------

PYPROJECT_TEXT = """
[project]
name = "demo"
dependencies = ["prefect==3.8.8", "httpx[http2]>=0.27"]
[project.optional-dependencies]
dev = ["pytest>=9"]
"""

LOCK_TEXT = """\
# This file was autogenerated by uv via the following command:
#    uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 -o requirements.lock
h2==4.3.0 \\
    --hash=sha256:aa
    # via httpx
httpx==0.28.1 \\
    --hash=sha256:bb \\
    --hash=sha256:cc
    # via
    #   demo (pyproject.toml)
    #   prefect
pendulum==3.1.0 ; python_full_version < '3.13' \\
    --hash=sha256:dd
    # via prefect
prefect==3.8.8 \\
    --hash=sha256:ee
    # via demo (pyproject.toml)
pytest==9.0.1 \\
    --hash=sha256:ff
    # via demo (pyproject.toml)
whenever==0.10.5 ; python_full_version >= '3.13' \\
    --hash=sha256:00
    # via prefect
"""

METADATA = {
    "prefect": ["httpx[http2]!=0.23.2,>=0.23", "pendulum<4,>=3.0.0; python_version < '3.13'",
                "whenever<0.11.0,>=0.7.3; python_version >= '3.13'"],
    "httpx": ["h2<5,>=3; extra == 'http2'", "socksio==1.*; extra == 'socks'"],
    "h2": [], "pendulum": [], "whenever": [], "pytest": [],
}
BASE_ENV = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.7"}


def _meta(overrides=None):
    table = {**METADATA, **(overrides or {})}
    return lambda name, version: table.get(name)


def _check(lock_text=LOCK_TEXT, pyproject_text=PYPROJECT_TEXT, meta=None):
    lock = parse_lock(lock_text)
    project, direct = pyproject_requirements(pyproject_text)
    return (pyproject_problems(lock, project, direct)
            + closure_problems(lock, direct, meta or _meta(), ("3.11", "3.12", "3.13"), BASE_ENV))


def test_a_consistent_lock_passes():
    lock = parse_lock(LOCK_TEXT)
    assert lock["httpx"][0].via == {"demo (pyproject.toml)", "prefect"}
    assert lock["httpx"][0].hashes == 2
    assert str(lock["whenever"][0].marker) == 'python_full_version >= "3.13"'
    assert _check() == []


def test_a_package_missing_from_the_lock_fails():
    without_h2 = LOCK_TEXT.replace("h2==4.3.0 \\\n    --hash=sha256:aa\n    # via httpx\n", "")
    problems = _check(without_h2)
    # reached only through httpx's http2 extra, and needed on every Python
    assert problems == [f"Python {v}: httpx==0.28.1 requires h2<5,>=3 but the lock has no h2"
                        for v in ("3.11", "3.12", "3.13")]
    # without the extra nothing needs h2, so its absence is fine
    no_extra = PYPROJECT_TEXT.replace("httpx[http2]>=0.27", "httpx>=0.27")
    assert _check(without_h2, no_extra, _meta({"prefect": ["httpx>=0.23", *METADATA["prefect"][1:]]})) == []


def test_a_missing_marker_branch_fails_for_that_python_only():
    # the 3.11-only lock of issue 13: no whenever at all
    no_whenever = LOCK_TEXT.split("whenever==")[0]
    problems = _check(no_whenever)
    assert problems == ["Python 3.13: prefect==3.8.8 requires whenever<0.11.0,>=0.7.3 but the lock has no whenever"]
    # whenever present, but only under a marker that 3.13 does not meet
    wrong_marker = LOCK_TEXT.replace("whenever==0.10.5 ; python_full_version >= '3.13'",
                                     "whenever==0.10.5 ; python_full_version >= '3.14'")
    problems = _check(wrong_marker)
    assert len(problems) == 1 and problems[0].startswith("Python 3.13: prefect==3.8.8 requires whenever")
    assert "marker false here" in problems[0]


def test_a_version_outside_a_requirement_fails():
    old_h2 = LOCK_TEXT.replace("h2==4.3.0", "h2==2.6.0")
    problems = _check(old_h2)
    assert len(problems) == 3 and all("requires h2<5,>=3 but the lock pins h2==2.6.0" in p for p in problems)
    # and a pin outside pyproject's own range
    old_httpx = LOCK_TEXT.replace("httpx==0.28.1", "httpx==0.26.0")
    assert "pyproject.toml requires httpx[http2]>=0.27 but the lock pins httpx==0.26.0" in _check(old_httpx)


def test_pyproject_and_lock_direct_sets_must_match():
    added = PYPROJECT_TEXT.replace('"pytest>=9"', '"pytest>=9", "ruff>=0.15"')
    assert "pyproject.toml requires ruff>=0.15 but the lock has no ruff" in _check(pyproject_text=added)
    # the lock still records a dependency that pyproject dropped
    dropped = PYPROJECT_TEXT.replace('dev = ["pytest>=9"]', "dev = []")
    problems = _check(pyproject_text=dropped)
    assert ("the lock records pytest as a direct dependency of demo, but pyproject.toml no longer "
            "declares it") in problems
    # pyproject declares a package the lock holds only as someone else's dependency
    promoted = PYPROJECT_TEXT.replace('"pytest>=9"', '"pytest>=9", "h2>=4"')
    assert ("pyproject.toml declares h2 but the lock does not record it as demo's (the lock was "
            "not regenerated)") in _check(pyproject_text=promoted)


def test_a_pin_nothing_needs_and_a_pin_without_hash_fail():
    extra = LOCK_TEXT + "six==1.17.0 \\\n    --hash=sha256:11\n    # via nothing\n"
    assert sorted(p for p in _check(extra) if "six" in p) == [
        f"Python {v}: the lock pins six but nothing requires it" for v in ("3.11", "3.12", "3.13")]
    unhashed = LOCK_TEXT.replace("pytest==9.0.1 \\\n    --hash=sha256:ff\n", "pytest==9.0.1\n")
    assert "the lock pins pytest==9.0.1 without a hash" in _check(unhashed)


def test_unreadable_metadata_is_reported_not_passed():
    lock = parse_lock(LOCK_TEXT)
    _project, direct = pyproject_requirements(PYPROJECT_TEXT)
    meta = _meta({"whenever": None})
    walk = walk_lock(lock, direct, meta, marker_environment("3.13", BASE_ENV), "3.13")
    assert walk.problems == [] and walk.unread == {"whenever"}
    # with part of the graph unread, "nothing requires it" is not claimed for that Python
    extra = LOCK_TEXT + "six==1.17.0 \\\n    --hash=sha256:11\n    # via whenever\n"
    problems = closure_problems(parse_lock(extra), direct, meta, ("3.13",), BASE_ENV)
    assert problems == []
