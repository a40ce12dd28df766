"""Sample layer: the defects the generator plants, their rates, and each source's layout.

:class:`CorruptionRates` says how often each kind is planted; the kind lists name every defect a
row's ``corruptions`` can record (the committed sample's tests check each one appears).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class CorruptionRates:
    """Share of a file's rows that get each planted kind (see data/sample/README.md).

    Rows of one (source, month) get at most one ID kind, one name kind and one row problem.
    ``minimum`` plants each applicable kind at least that many times in every (source, month)
    with at least ``minimum_rows`` rows, so that a small city still shows every kind.
    """

    id_fullwidth: float = 0.01
    id_separators: float = 0.01
    id_lower_x: float = 0.3  # of the IDs that end in X
    id_legacy15: float = 0.006
    id_wrong_digit: float = 0.008
    id_swap: float = 0.008
    id_blank: float = 0.004
    name_spaces: float = 0.01
    name_fullwidth: float = 0.006
    name_traditional: float = 0.01
    name_homophone: float = 0.008
    name_separator: float = 0.5  # of the minority names
    name_truncation: float = 0.004
    amount_format: float = 0.25  # spread over the non-default amount formats
    amount_blank: float = 0.004
    amount_negative: float = 0.004
    date_format: float = 0.25  # spread over the non-ISO month/date formats
    decimal_unit: float = 0.2
    enum_spaces: float = 0.01
    bad_amount_text: float = 0.001
    bad_amount_exp: float = 0.001
    amount_too_large: float = 0.001
    amount_three_decimals: float = 0.001
    period_after_folder: float = 0.001
    period_blank: float = 0.001
    record_no_blank: float = 0.0005
    duplicate_resent: float = 0.004
    duplicate_conflict: float = 0.002
    outsider_namesake: float = 0.01
    outsider_near_id: float = 0.005
    minimum: int = 1
    minimum_rows: int = 40

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("minimum", "minimum_rows"):
                if not isinstance(v, int) or v < 0:
                    raise ValueError(f"CorruptionRates.{f.name} must be a non-negative integer, got {v!r}")
            elif not (0.0 <= float(v) <= 1.0):
                raise ValueError(f"CorruptionRates.{f.name} must be a share between 0 and 1, got {v!r}")


#: source -> (digit code of its record numbers, money columns, the month/date column a rule needs)
LAYOUT: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "tax_wages": ("1", ("amount_fen",), "income_month"),
    "pension": ("2", ("amount_fen",), "income_month"),
    "real_estate": ("3", (), None),
    "vehicles": ("4", (), None),
    "business": ("5", (), None),
    "bank": ("8", ("balance_fen",), None),
    "medical": ("6", ("total_fen", "self_paid_fen"), "settled_on"),
    "deaths": ("7", (), "died_on"),
}
OPTIONAL_DATES = {"real_estate": "registered_on", "vehicles": "first_registered_on", "bank": "queried_on"}
ENUMS = {"pension": "benefit_type", "real_estate": "usage", "vehicles": "vehicle_status",
         "business": "role", "bank": "account_type"}
AMOUNT_FORMATS = ("amount_short", "amount_thousands", "amount_yuan_suffix", "amount_currency", "amount_fullwidth")
MONTH_FORMATS = ("month_slash", "month_compact", "month_chinese")
DATE_FORMATS = ("date_slash", "date_compact", "date_chinese")
ID_KINDS = ("id_fullwidth", "id_separators", "id_lower_x", "id_legacy15", "id_wrong_digit", "id_swap", "id_blank")
NAME_KINDS = ("name_spaces", "name_fullwidth", "name_traditional", "name_homophone", "name_separator",
              "name_truncation")
_AMOUNT_PROBLEMS = ["bad_amount_text", "bad_amount_exp", "amount_too_large", "amount_three_decimals", "amount_blank"]
