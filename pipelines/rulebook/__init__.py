"""Rules layer: the dated rulebook (rules/parameters/*.yaml) resolved as of a day.

Every number the assessment uses is a parameter file here, OpenFisca style: one YAML file per
parameter with its ``label`` (the Chinese name staff read), ``description``, ``unit``,
``reference`` (the policy document) and ``values``
keyed by effective date, ascending; a ``null`` value ends the parameter. A parameter that varies
by district and 城乡类别 says so with ``varies_by: [district_code, urban_rural]`` and nests its
dated values under ``区县代码`` then ``城乡类别``.

A parameter whose values are words rather than numbers (the vehicle types exempt, the 残疾等级
counted as severe, the 登记状态 counted) says ``kind: words``; each dated value is then a list of
the words as the source writes them. A parameter written down after versions were already
recorded may carry ``version_default``: the value the rules implied before; while the value in
force equals it the parameter is left out of the version hash, so the same rules keep the version
recorded before (any other value changes it).

:func:`load_rulebook` reads and validates the folder; :meth:`Rulebook.at` resolves every value in
force on a day into a frozen :class:`Rules`, whose ``version`` is a short hash of those resolved
values (recorded on every assessment and flag). Re-running an old month resolves the old values.

The package is split by idea: ``parameter`` (one parameter file and the names the formulas
read), ``values`` (dated values), ``screening`` (which programmes each flag screens),
``resolve`` (:class:`Rulebook` and the resolved :class:`Rules` with their version) and ``load``
(reading and validating a folder).
"""

from __future__ import annotations

from pipelines.rulebook.load import load_rulebook, parameter_labels, parameters_folder
from pipelines.rulebook.parameter import (
    DEFAULT_PARAMETERS,
    DIBAO_STANDARD,
    REQUIRED_PARAMETERS,
    TEKUN_RATIO,
    TEKUN_STANDARD,
    Parameter,
    RulebookError,
    Value,
)
from pipelines.rulebook.resolve import Rulebook, Rules
from pipelines.rulebook.screening import (
    ALL_PROGRAMMES,
    DEFAULT_FLAGS_FILE,
    Screening,
    flags_file_for,
    load_screening,
)
from pipelines.rulebook.values import parse_dated

__all__ = [
    "ALL_PROGRAMMES",
    "DEFAULT_FLAGS_FILE",
    "DEFAULT_PARAMETERS",
    "DIBAO_STANDARD",
    "REQUIRED_PARAMETERS",
    "TEKUN_RATIO",
    "TEKUN_STANDARD",
    "Parameter",
    "Rulebook",
    "RulebookError",
    "Rules",
    "Screening",
    "Value",
    "flags_file_for",
    "load_rulebook",
    "load_screening",
    "parameter_labels",
    "parameters_folder",
    "parse_dated",
]
