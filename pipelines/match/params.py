"""Match layer: the linkage parameters of ``rules/matching.yaml`` as a validated, frozen object."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

from pipelines.dated import DatedFileError, resolve_file

#: Comparison fields and their levels, in the order the scorer codes them. ``unknown`` / ``none``
#: are the "no evidence" levels: weight 0 whatever the file says.
LEVELS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "name": ("exact", "folded", "pinyin_same", "truncation", "jw_high", "jw_mid", "different",
             "unknown"),
    "id": ("equal", "converted_15", "one_substitution", "transposition", "other", "none"),
    "birth": ("equal", "different", "unknown"),
    "sex": ("equal", "different", "unknown"),
    "district": ("equal", "different", "unknown"),
})
NEUTRAL_LEVELS = frozenset({"unknown", "none"})
STATUSES = ("matched", "review", "unmatched")

#: The methods the code emits and the status each implies. The YAML must describe each of them
#: (and no others) with this same status: the contract's guards are code, not an editable value.
METHODS: Mapping[str, str] = MappingProxyType({
    "id_exact": "matched", "id_converted_15": "matched", "id_one_substitution": "matched",
    "id_transposition": "matched", "confirmed": "matched",
    "low_score": "review", "id_name_mismatch": "review", "ambiguous": "review",
    "name_only": "review",
    "valid_id_not_on_register": "unmatched", "rejected": "unmatched", "no_candidate": "unmatched",
    "no_register": "unmatched",
})

_DEFAULT_PATH = Path(__file__).resolve().parents[2] / "rules" / "matching.yaml"


class MatchingParamsError(ValueError):
    """``rules/matching.yaml`` is missing a value or holds an impossible one."""


@dataclass(frozen=True)
class MatchParams:
    """Linkage parameters, as read from ``rules/matching.yaml``.

    Attributes
    ----------
    version : str
        The file's ``version``; recorded with the links it produced.
    seed : int
        Seed of the random non-pair sample that estimates u (links are deterministic).
    u_sample_pairs : int
        Number of random record x register pairs drawn for u.
    m_prior_strength, u_prior_strength : float
        Pseudo-counts shrinking estimated m and u towards the starting values.
    em_max_iterations : int
    em_tolerance : float
    prior_match_proportion : float
        Starting share of candidate pairs that are matches (EM re-estimates it).
    match_threshold : float
        Minimum match probability for an auto-match (on top of the ID and name guards).
    review_threshold : float
        Minimum probability for a name-block candidate of a record carrying an ID to be reviewed.
    ambiguity_margin : float
        Two guard-passing candidates closer than this in match weight (log2) are ambiguous.
    jw_high, jw_mid : float
        Jaro-Winkler cut-offs on pinyin.
    truncation_min_chars : int
        Shortest accepted truncated name.
    max_name_candidates : int
        Most register persons a record's name blocks keep.
    m, u : Mapping[str, Mapping[str, float]]
        Starting m and u per comparison field and level.
    methods : Mapping[str, tuple[str, str]]
        method -> (status, description).
    """

    version: str
    seed: int
    u_sample_pairs: int
    m_prior_strength: float
    u_prior_strength: float
    em_max_iterations: int
    em_tolerance: float
    prior_match_proportion: float
    match_threshold: float
    review_threshold: float
    ambiguity_margin: float
    jw_high: float
    jw_mid: float
    truncation_min_chars: int
    max_name_candidates: int
    m: Mapping[str, Mapping[str, float]]
    u: Mapping[str, Mapping[str, float]]
    methods: Mapping[str, tuple[str, str]]


def _get(tree: Mapping, dotted: str, path: Path):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise MatchingParamsError(f"{path}: missing `{dotted}`")
        node = node[part]
    return node


def _number(tree: Mapping, dotted: str, path: Path, *, lo: float, hi: float) -> float:
    value = _get(tree, dotted, path)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise MatchingParamsError(f"{path}: `{dotted}` must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise MatchingParamsError(f"{path}: `{dotted}` = {value} is outside [{lo}, {hi}]")
    return float(value)


def load_matching_params(path: Path | None = None, *, on: date | None = None) -> MatchParams:
    """Read and validate the linkage parameters in force on a day.

    Parameters
    ----------
    path : Path, optional
        A matching YAML file; default ``rules/matching.yaml`` at the repository root.
    on : date, optional
        The day its dated values are resolved on (:mod:`pipelines.dated`): a run of P passes the
        last day of P (:mod:`pipelines.plan`); today when None.

    Returns
    -------
    MatchParams
        The frozen parameters.

    Raises
    ------
    MatchingParamsError
        When the file is missing, a dated value is malformed or has none in force on ``on``
        (message in Chinese, naming the file and the key), a value is absent or out of range, a
        comparison level is
        missing, the known levels' m or u do not sum to 1, the thresholds are out of order, or
        the method list (or a method's status) differs from what the code emits.
    """
    path = Path(path) if path is not None else _DEFAULT_PATH
    if not path.is_file():
        raise MatchingParamsError(f"matching parameters file {path} does not exist")
    try:
        resolved = resolve_file(path, on)
    except DatedFileError as exc:
        raise MatchingParamsError(str(exc)) from None
    tree = resolved.tree
    if not isinstance(tree, Mapping):
        raise MatchingParamsError(f"{path}: expected a mapping at the top level")

    m: dict[str, dict[str, float]] = {}
    u: dict[str, dict[str, float]] = {}
    for field, levels in LEVELS.items():
        m[field], u[field] = {}, {}
        for level in levels:
            if level in NEUTRAL_LEVELS:
                m[field][level] = u[field][level] = 1.0
                continue
            key = f"comparisons.{field}.{level}"
            m[field][level] = _number(tree, f"{key}.m", path, lo=1e-12, hi=1.0)
            u[field][level] = _number(tree, f"{key}.u", path, lo=1e-12, hi=1.0)
        extra = set(_get(tree, f"comparisons.{field}", path)) - set(levels)
        if extra:
            raise MatchingParamsError(f"{path}: unknown {field} levels {sorted(extra)}")
        for name, table in (("m", m[field]), ("u", u[field])):
            total = sum(v for lv, v in table.items() if lv not in NEUTRAL_LEVELS)
            if abs(total - 1.0) > 0.01:
                raise MatchingParamsError(
                    f"{path}: the {name} values of comparison `{field}` sum to {total:.4f}, not 1")

    methods_tree = _get(tree, "methods", path)
    methods: dict[str, tuple[str, str]] = {}
    for method in METHODS:
        status = _get(tree, f"methods.{method}.status", path)
        description = _get(tree, f"methods.{method}.description", path)
        if status not in STATUSES:
            raise MatchingParamsError(f"{path}: method `{method}` has unknown status {status!r}")
        if status != METHODS[method]:
            raise MatchingParamsError(
                f"{path}: method `{method}` always gives status {METHODS[method]!r}, not {status!r}")
        methods[method] = (status, str(description))
    extra_methods = set(methods_tree) - set(METHODS)
    if extra_methods:
        raise MatchingParamsError(f"{path}: methods the code never emits: {sorted(extra_methods)}")

    match_threshold = _number(tree, "thresholds.match_probability", path, lo=0.5, hi=1.0)
    review_threshold = _number(tree, "thresholds.review_probability", path, lo=0.0, hi=1.0)
    if review_threshold > match_threshold:
        raise MatchingParamsError(
            f"{path}: review_probability {review_threshold} is above match_probability "
            f"{match_threshold}")
    jw_high = _number(tree, "name.jw_high", path, lo=0.0, hi=1.0)
    jw_mid = _number(tree, "name.jw_mid", path, lo=0.0, hi=1.0)
    if jw_mid > jw_high:
        raise MatchingParamsError(f"{path}: name.jw_mid {jw_mid} is above name.jw_high {jw_high}")

    return MatchParams(
        # a dated change in force shows in the version recorded with the links it produced
        version=resolved.version(str(_get(tree, "version", path))),
        seed=int(_number(tree, "seed", path, lo=0, hi=2**63 - 1)),
        u_sample_pairs=int(_number(tree, "u_sample_pairs", path, lo=1, hi=1e9)),
        m_prior_strength=_number(tree, "prior_strength.m", path, lo=0.0, hi=1e9),
        u_prior_strength=_number(tree, "prior_strength.u", path, lo=0.0, hi=1e9),
        em_max_iterations=int(_number(tree, "em.max_iterations", path, lo=0, hi=10_000)),
        em_tolerance=_number(tree, "em.tolerance", path, lo=0.0, hi=1.0),
        prior_match_proportion=_number(tree, "em.prior_match_proportion", path,
                                       lo=1e-9, hi=1 - 1e-9),
        match_threshold=match_threshold,
        review_threshold=review_threshold,
        ambiguity_margin=_number(tree, "thresholds.ambiguity_weight_margin", path, lo=0.0, hi=100),
        jw_high=jw_high,
        jw_mid=jw_mid,
        truncation_min_chars=int(_number(tree, "name.truncation_min_chars", path, lo=1, hi=50)),
        max_name_candidates=int(_number(tree, "blocking.max_name_candidates", path, lo=1, hi=1e6)),
        m=MappingProxyType({k: MappingProxyType(v) for k, v in m.items()}),
        u=MappingProxyType({k: MappingProxyType(v) for k, v in u.items()}),
        methods=MappingProxyType(methods),
    )
