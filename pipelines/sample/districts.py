"""Sample layer: the districts of a synthetic city or province, their standards and their rules folder.

The city of data/sample has three districts (990101–990103) whose 低保标准 and 特困标准 are the
repository's rulebook. A province has many more: :func:`province_districts` makes ``n`` of them
with codes ``99CCDD`` (city CC, county DD, both 01–99; the first three are the city's), each with
its own urban/rural standards derived from its code alone, so the same ``n`` always gives the same
districts. :func:`write_rules` writes the rulebook that knows them: a copy of rules/parameters with
the extra districts' dated values added to ``dibao_standard.yaml`` and ``tekun_standard.yaml``.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.rulebook.parameter import DEFAULT_PARAMETERS

#: day the standards were raised in the sample rulebook (the dated values' second key)
RAISED_ON = "2026-07-01"
#: two-digit city and county parts of a ``99CCDD`` code: 99 × 99 districts at most
MAX_DISTRICTS = 99 * 99
#: persons per household the generator draws on average (measured: 0.2M persons in 93,023 households)
PERSONS_PER_HOUSEHOLD = 2.15
#: households every district gets at least: below this a district may lack a kind of holding
#: altogether, which the generator's vectorised steps do not draw for
MIN_HOUSEHOLDS = 20
_STREET_WORDS = ("东城", "西城", "南湖", "北关", "城关", "河口", "青石", "桃园", "山前", "柳林", "白沙", "新兴",
                 "永安", "太平", "长乐", "兴隆", "清泉", "杏花", "石桥", "龙泉", "红旗", "前进", "和平", "康宁")
_STREET_KINDS = ("街道", "镇", "乡", "街道")


@dataclass(frozen=True)
class District:
    """One district of the synthetic population.

    ``weight`` is its share of households (relative), ``p_urban`` the share of its households that
    are 城市, ``p_minority`` the share with a minority (·) name; ``streets`` its four 街道乡镇;
    ``standards`` maps 城市/农村 to ``(S before RAISED_ON, S from it, T from it)`` in yuan.
    """

    code: str
    weight: float
    p_urban: float
    p_minority: float
    streets: tuple[str, str, str, str]
    standards: dict[str, tuple[int, int, int]]


#: the three districts of the sample city (data/sample); their values are the repository's rulebook
CITY: tuple[District, ...] = (
    District("990101", 0.3, 0.85, 0.015, ("东城街道", "西城街道", "南湖街道", "北关街道"),
             {"城市": (980, 1010, 1313), "农村": (980, 1010, 1313)}),
    District("990102", 0.35, 0.6, 0.015, ("城关镇", "河口镇", "青石街道", "桃园乡"),
             {"城市": (840, 869, 1217), "农村": (640, 667, 934)}),
    District("990103", 0.35, 0.35, 0.08, ("山前乡", "柳林镇", "白沙乡", "新兴街道"),
             {"城市": (620, 642, 835), "农村": (300, 325, 423)}),
)


def district_code(k: int) -> str:
    """The ``k``-th (0-based) district code of a province (990101, 990102, …, 990199, 990201, …)."""
    if not 0 <= k < MAX_DISTRICTS:
        raise ValueError(f"district index {k} is outside 0..{MAX_DISTRICTS - 1}")
    return f"99{k // 99 + 1:02d}{k % 99 + 1:02d}"


def _generated(code: str) -> District:
    """A district other than the city's three, drawn from its code alone (the seed plays no part)."""
    rng = np.random.default_rng(zlib.crc32(code.encode()))
    s_urban = int(rng.integers(60, 101)) * 10  # 600–1000 yuan, whole tens as notices publish them
    s_rural = int(round(s_urban * float(rng.uniform(0.45, 1.0)) / 10)) * 10
    raise_pct = float(rng.uniform(0.02, 0.06))
    standards = {}
    for ur, s_old in (("城市", s_urban), ("农村", s_rural)):
        s_new = int(round(s_old * (1 + raise_pct)))
        standards[ur] = (s_old, s_new, (s_new * 13 + 5) // 10 + int(rng.integers(0, 20)))
    words = rng.choice(len(_STREET_WORDS), 4, replace=False)
    streets = tuple(f"{_STREET_WORDS[w]}{_STREET_KINDS[i]}" for i, w in enumerate(words))
    return District(code, float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.3, 0.9)),
                    float(rng.choice([0.015, 0.015, 0.08])), streets, standards)  # type: ignore[arg-type]


def province_districts(n: int) -> tuple[District, ...]:
    """The first ``n`` districts of a province (the city's three first), deterministic in ``n``.

    Raises ValueError when ``n`` is below 1 or above :data:`MAX_DISTRICTS`.
    """
    if not 1 <= n <= MAX_DISTRICTS:
        raise ValueError(f"districts must be between 1 and {MAX_DISTRICTS}, got {n}")
    return tuple(CITY[k] if k < len(CITY) else _generated(district_code(k)) for k in range(n))


def standards_table(districts: Sequence[District]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """``(district_code, 城乡类别) -> (S before, S from RAISED_ON, T from RAISED_ON)`` in yuan."""
    return {(d.code, ur): v for d in districts for ur, v in d.standards.items()}


def split_households(households: int, districts: Sequence[District]) -> list[int]:
    """Households per district: :data:`MIN_HOUSEHOLDS` each, the rest by weight (largest remainder)."""
    floor = MIN_HOUSEHOLDS * len(districts)
    if households < floor:
        raise ValueError(f"households ({households}) must be at least {MIN_HOUSEHOLDS} per district ({floor})")
    w = np.array([d.weight for d in districts])
    share = (households - floor) * w / w.sum()
    base = np.floor(share).astype(np.int64)
    rest = households - floor - int(base.sum())
    base[np.argsort(-(share - base), kind="stable")[:rest]] += 1
    return [int(b) + MIN_HOUSEHOLDS for b in base]


def _yaml_entries(districts: Sequence[District], column: int) -> str:
    """YAML lines of ``values:`` for the districts not in the repository's rulebook."""
    lines = []
    for d in districts:
        if d.code in {c.code for c in CITY}:
            continue
        lines.append(f'  "{d.code}":')
        for ur, (s_old, s_new, t_new) in d.standards.items():
            lines.append(f"    {ur}:")
            if column == 0:
                lines += [f"      0001-01-01: {s_old}", f"      {RAISED_ON}: {s_new}"]
            else:
                lines.append(f"      {RAISED_ON}: {t_new}")
    return "".join(line + "\n" for line in lines)


def write_rules(districts: Sequence[District], dest: Path, *, source: Path = DEFAULT_PARAMETERS) -> Path:
    """Write ``dest/parameters``: rules/parameters plus the standards of every extra district.

    Every file is copied byte for byte; ``dibao_standard.yaml`` and ``tekun_standard.yaml`` gain the
    extra districts' entries at the end of their ``values:`` table (which ends both files). Returns
    the parameters folder, usable as ``hedui monthly --rules dest``.
    """
    target = Path(dest) / "parameters"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for name, column in (("dibao_standard.yaml", 0), ("tekun_standard.yaml", 1)):
        text = (source / name).read_text(encoding="utf-8")
        if not text.rstrip().splitlines()[-1].startswith("      "):
            raise RuntimeError(f"{name} no longer ends with its values table; cannot add districts")
        (target / name).write_text(text.rstrip("\n") + "\n" + _yaml_entries(districts, column), encoding="utf-8")
    return target
