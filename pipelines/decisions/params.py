"""Decisions layer: the re-raise parameters of ``rules/decisions.yaml``.

What "materially changed" means for a dismissed flag is data, not code: the relative change, the
quantities compared and the sources whose new records re-raise. This module reads and checks them;
:mod:`pipelines.decisions.carry` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from pipelines.flags import data_dependent_flags
from pipelines.sources import EXTRACT_SOURCES

DEFAULT_PARAMS_PATH = Path(__file__).resolve().parents[2] / "rules" / "decisions.yaml"


def load_decision_params(path: Path | None = None, *, on: date | None = None) -> dict:
    """Read the re-raise parameters from ``rules/decisions.yaml``, resolved on a day.

    Parameters
    ----------
    path : Path, optional
        The YAML file; ``rules/decisions.yaml`` of this repository by default.
    on : date, optional
        The day its dated values are resolved on (:mod:`pipelines.dated`; a run of P passes the
        last day of P through :mod:`pipelines.plan`); today when None.

    Returns
    -------
    dict
        ``reraise_relative_change`` (float in (0, 1)), ``compared_quantities`` (list of str),
        ``data_dependent_threshold_flags`` (the flags whose file in pipelines/flags/ says
        ``reraise="data_dependent"``), ``new_record_sources`` (list of source names).

    Raises
    ------
    ValueError
        Naming the file and the entry when an entry is missing, lacks its value, description or
        source, or holds a value of the wrong kind.
    """
    from pipelines.dated import resolve_file

    path = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    doc = resolve_file(path, on).tree
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path}: expected a mapping of parameters")
    out: dict = {}
    if "data_dependent_threshold_flags" in doc:
        raise ValueError(f"{path}: data_dependent_threshold_flags is no longer read here: each "
                         "flag's file in pipelines/flags/ says its re-raise class (reraise=...)")
    for name in ("reraise_relative_change", "compared_quantities", "new_record_sources"):
        entry = doc.get(name)
        if not isinstance(entry, Mapping) or "value" not in entry:
            raise ValueError(f"{path}: parameter {name} is missing or has no value")
        for meta in ("description", "source"):
            if not str(entry.get(meta) or "").strip():
                raise ValueError(f"{path}: parameter {name} has no {meta}")
        out[name] = entry["value"]
    rel = out["reraise_relative_change"]
    if isinstance(rel, bool) or not isinstance(rel, int | float) or not 0 < rel < 1:
        raise ValueError(f"{path}: reraise_relative_change must be a number between 0 and 1")
    out["reraise_relative_change"] = float(rel)
    for name in ("compared_quantities", "new_record_sources"):
        value = out[name]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: {name} must be a list of names")
    # the re-raise class is the flag's own (its threshold formula), not a separate list
    out["data_dependent_threshold_flags"] = list(data_dependent_flags())
    unknown_sources = set(out["new_record_sources"]) - set(EXTRACT_SOURCES)
    if unknown_sources:
        raise ValueError(f"{path}: new_record_sources names unknown sources "
                         f"{sorted(unknown_sources)}")
    return out
