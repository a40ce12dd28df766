"""One run note of every kind (pipelines/run_notes.py), with parameters as the stages write them."""

from __future__ import annotations

#: one note of every kind, with parameters as the stages write them
EXAMPLES = {
    "folder_absent": {"period": "2026-07"},
    "register_missing": {"period": "2026-08"},
    "register_refused": {"period": "2026-08", "file": "register.csv", "reason_code": "file_binary",
                         "reason": "register.csv is not a text file (binary content)"},
    "publish_memory_retry": {"first": "1.5GB", "second": "14745MiB"},
    "extra_sheets": {"file": "bank_boc.xlsx", "sheets": ["说明", "汇总"]},
    "enum_outside": {"source": "pension", "column": "benefit_type",
                     "values": [["遗属补助", 2], ["其他", 1]], "more": 3},
    "register_disagreement": {"households": 2, "programme": 2, "district_code": 1, "urban_rural": 0},
    "source_absent_window": {"source": "bank", "first": "2026-05", "last": "2026-10"},
    "income_source_partial": {"source": "tax_wages", "delivered": 4, "months": 6},
    "source_partial": {"source": "medical", "delivered": 4, "months": 6},
    "income_unknown": {},
    "snapshot_missing": {"source": "bank"},
    "snapshot_partial": {"source": "bank"},
    "income_drop_not_computed": {"first": "2026-08", "last": "2026-10"},
    "no_living_members": {"households": 2},
    "no_standard": {"households": 1},
    "undecided": {"flag": "ELIGIBLE_NOT_ENROLLED", "households": 1},
    "flagged": {"flag": "INCOME_DROP", "households": 45},
}
