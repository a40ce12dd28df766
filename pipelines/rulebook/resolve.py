"""Rules layer: the rulebook resolved as of a day, and the version that names it.

:meth:`Rulebook.at` resolves every value in force on a day into a frozen :class:`Rules`, whose
``version`` is a short hash of those resolved values (recorded on every assessment and flag).
Re-running an old month resolves the old values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipelines.rulebook.parameter import (
    DIBAO_STANDARD,
    TEKUN_RATIO,
    TEKUN_STANDARD,
    Parameter,
    RulebookError,
)
from pipelines.rulebook.screening import ALL_PROGRAMMES, Screening, load_screening


@dataclass(frozen=True)
class Rules:
    """The rulebook resolved on one day: frozen values and the version that names them.

    Attributes
    ----------
    day : date
        The day the values are in force (the end of the period assessed).
    version : str
        12 hex characters of the SHA-256 of the resolved values.
    values : Mapping[str, Decimal]
        Global parameters in force, by name.
    standards : Mapping[tuple[str, str], Decimal]
        S by ``(district_code, urban_rural)``.
    tekun_standards : Mapping[tuple[str, str], Decimal]
        T by ``(district_code, urban_rural)``: the T table where in force, else
        ``tekun_standard_ratio`` x S rounded half up to the yuan.
    tekun_from_table : frozenset[tuple[str, str]]
        The ``(district_code, urban_rural)`` whose T comes from the T table (the others, if any,
        were derived from S).
    """

    day: date
    version: str
    values: Mapping[str, Decimal]
    standards: Mapping[tuple[str, str], Decimal]
    tekun_standards: Mapping[tuple[str, str], Decimal]
    tekun_from_table: frozenset[tuple[str, str]] = frozenset()
    references: Mapping[str, str] = field(default_factory=dict)
    #: ``kind: words`` parameters in force, by name
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: flag -> the programmes it screens in force (None: every programme), from flags.yaml
    programmes: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)

    def words_of(self, name: str) -> tuple[str, ...]:
        """A ``kind: words`` parameter in force, by name.

        Raises
        ------
        RulebookError
            Naming the parameter when no value is in force.
        """
        try:
            return self.words[name]
        except KeyError:
            raise RulebookError(f"parameter {name!r} has no value in force on {self.day}") from None

    def value(self, name: str, district_code: str | None = None,
              urban_rural: str | None = None) -> Decimal:
        """A parameter in force, looked up by name (and district and 城乡类别 for S and T).

        Parameters
        ----------
        name : str
            The parameter's file stem, e.g. ``income_window_months`` or ``dibao_standard``.
        district_code, urban_rural : str, optional
            Required for the parameters that vary by them (``dibao_standard``,
            ``tekun_standard``; T is the derived 1.3 x S where no T table value is in force).

        Raises
        ------
        RulebookError
            Naming the parameter (and district) when no value is in force.
        """
        if name in (DIBAO_STANDARD, TEKUN_STANDARD):
            table = self.standards if name == DIBAO_STANDARD else self.tekun_standards
            found = table.get((district_code or "", urban_rural or ""))
            if found is None:
                raise RulebookError(f"parameter {name!r} has no value in force on {self.day} "
                                    f"for district {district_code} {urban_rural}")
            return found
        try:
            return self.values[name]
        except KeyError:
            raise RulebookError(f"parameter {name!r} has no value in force on {self.day}") from None

    def standard(self, district_code: str, urban_rural: str) -> Decimal | None:
        """S for a district and 城乡类别, or None when the rulebook has none."""
        return self.standards.get((district_code, urban_rural))

    def tekun_standard(self, district_code: str, urban_rural: str) -> Decimal | None:
        """T for a district and 城乡类别, or None when the rulebook has none."""
        return self.tekun_standards.get((district_code, urban_rural))

    @property
    def districts(self) -> frozenset[str]:
        """Districts that have a standard S in force."""
        return frozenset(d for d, _ in self.standards)

    def require_districts(self, districts: Iterable[str]) -> None:
        """Raise RulebookError naming every district in ``districts`` without a standard."""
        missing = sorted({d for d in districts if d is not None} - self.districts)
        if missing:
            raise RulebookError(
                f"no 低保标准 ({DIBAO_STANDARD}) in force on {self.day} for district(s) "
                + ", ".join(missing)
            )


@dataclass(frozen=True)
class Rulebook:
    """All parameters of one rulebook folder, unresolved."""

    path: Path
    parameters: Mapping[str, Parameter]
    #: flag -> (dated programmes, version_default) from flags.yaml; the repository's by default
    screening: Mapping[str, Screening] = field(default_factory=lambda: load_screening())

    def at(self, day: date) -> Rules:
        """Resolve every parameter in force on ``day``.

        Parameters
        ----------
        day : date
            Usually the last day of the period assessed.

        Returns
        -------
        Rules
            Frozen values with their version hash.
        """
        values: dict[str, Decimal] = {}
        words: dict[str, tuple[str, ...]] = {}
        unhashed: set[str] = set()
        for name, p in self.parameters.items():
            if not p.varies_by:
                v = p.at(day)
                if v is None:
                    continue
                if p.kind == "words":
                    words[name] = v
                else:
                    values[name] = v
                if p.version_default is not None and v == p.version_default:
                    unhashed.add(name)
        standards = self._table(DIBAO_STANDARD, day)
        tekun = self._table(TEKUN_STANDARD, day) if TEKUN_STANDARD in self.parameters else {}
        from_table = frozenset(tekun)
        ratio = values.get(TEKUN_RATIO)
        if ratio is not None:
            for key, s in standards.items():
                if key not in tekun:
                    tekun[key] = (ratio * s).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        payload: dict[str, dict[str, Any]] = {
            "values": {k: str(v) for k, v in sorted(values.items()) if k not in unhashed},
            "S": {"|".join(k): str(v) for k, v in sorted(standards.items())},
            "T": {"|".join(k): str(v) for k, v in sorted(tekun.items())},
        }
        hashed_words = {k: list(v) for k, v in sorted(words.items()) if k not in unhashed}
        if hashed_words:
            payload["words"] = hashed_words
        programmes = {name: sc.at(day) for name, sc in self.screening.items()}
        hashed_programmes = {k: (list(v) if v is not None else ALL_PROGRAMMES)
                             for k, v in sorted(programmes.items())
                             if not self.screening[k].is_default(v)}
        if hashed_programmes:
            payload["programmes"] = hashed_programmes
        formulas = _formula_versions(day)
        if formulas:
            payload["formulas"] = formulas
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
        return Rules(
            day=day,
            version=digest,
            values=MappingProxyType(values),
            standards=MappingProxyType(standards),
            tekun_standards=MappingProxyType(tekun),
            tekun_from_table=from_table,
            references=MappingProxyType({n: p.reference for n, p in self.parameters.items()}),
            words=MappingProxyType(words),
            programmes=MappingProxyType(programmes),
        )

    def _table(self, name: str, day: date) -> dict[tuple[str, str], Decimal]:
        p = self.parameters[name]
        out: dict[tuple[str, str], Decimal] = {}
        for key in p.series:
            v = p.at(day, key)
            if v is not None:
                out[(key[0], key[1])] = v
        return out


def _formula_versions(day: date) -> dict[str, str]:
    """Flag -> effective date of a dated formula in force on ``day`` that is not the flag's first.

    The formulas are code (pipelines/flags/), the rulebook is data: pipelines.flags reads the
    rulebook when it is imported, so the rulebook reads the flags only here, when resolving.
    """
    from pipelines.flags import formula_versions

    return formula_versions(day)
