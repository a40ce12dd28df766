"""Rules layer: one parameter of the rulebook — its file's fields and its dated values.

The names the formulas read (the standards S and T, the ratio that derives T), the parameters
every rulebook must define, and :class:`Parameter`: a file of ``rules/parameters`` as loaded,
its dated values keyed by (district, 城乡类别) when it varies by them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

#: the default rulebook folder, found relative to the package (repo root / rules / parameters)
DEFAULT_PARAMETERS = Path(__file__).resolve().parents[2] / "rules" / "parameters"

#: the standard S (低保标准) and the 特困 standard T, and the ratio that derives T from S
DIBAO_STANDARD = "dibao_standard"
TEKUN_STANDARD = "tekun_standard"
TEKUN_RATIO = "tekun_standard_ratio"

#: parameters every rulebook must define (the formulas in pipelines/assess.py read them)
REQUIRED_PARAMETERS = (
    DIBAO_STANDARD,
    "income_window_months",
    "employment_cost_deduction_rate",
    "max_residential_units",
    "business_capital_limit_wan",
    "assets_limit_months",
    "marginal_multiplier",
    "marginal_assets_limit_months",
    "income_drop_ratio",
    "medical_min_amount",
    "medical_income_share",
    "vehicle_exempt_count",
    "income_drop_months",
    "income_drop_recent_months",
    "vehicle_exempt_types",
    "vehicle_counted_statuses",
    "severe_disability_grades",
    "business_roles",
    "business_counted_statuses",
)

_VARIES = ("district_code", "urban_rural")
_KEYS = {"label", "description", "unit", "reference", "values", "varies_by", "kind",
         "version_default"}
_KINDS = ("number", "words")

#: a dated value: a number, or (``kind: words``) a tuple of words; None ends the parameter
Value = Decimal | tuple[str, ...] | None


class RulebookError(ValueError):
    """The rulebook is invalid, or lacks a value the assessment needs (message says which)."""


@dataclass(frozen=True)
class Parameter:
    """One parameter file: its metadata and its dated values.

    ``series`` maps a key to the dated values in force from each date (``None`` ends the
    parameter). The key is ``()`` for a global parameter and ``(district_code, urban_rural)``
    for one that varies by both.
    """

    name: str
    description: str
    unit: str
    reference: str
    varies_by: tuple[str, ...]
    series: Mapping[tuple[str, ...], tuple[tuple[date, Value], ...]]
    #: the Chinese name staff read (reports show it instead of the file stem)
    label: str = ""
    #: ``number`` or ``words``
    kind: str = "number"
    #: the value left out of the version hash (see the module docstring); None: always hashed
    version_default: Value = None

    def at(self, day: date, key: tuple[str, ...] = ()) -> Any:
        """The value in force on ``day`` for ``key``; None when none is (or it was ended)."""
        value: Value = None
        for start, v in self.series.get(key, ()):
            if start > day:
                break
            value = v
        return value
