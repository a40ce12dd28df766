"""Sample layer: a synthetic city (register + department extracts) with its planted truth.

``generate_city`` writes ``incoming/YYYY-MM/`` folders that follow inputs.md — dirty the way real
deliveries are, at configurable :class:`CorruptionRates` — and ``truth/`` files that say what a
correct pipeline must make of every row, household and flag. See data/sample/README.md.
"""

from pipelines.sample.city import generate_city, parse_months
from pipelines.sample.corrupt import CorruptionRates

__all__ = ["CorruptionRates", "generate_city", "parse_months"]
