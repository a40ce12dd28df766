"""Report layer: the words staff read — masking, display widths and flag explanations.

Everything here is pure: polars expressions for the per-row work (masking, widths) and plain
functions that turn one flag's evidence JSON into a Chinese sentence a clerk can act on.

Split by idea: ``masking`` (names, ID numbers, widths), ``figures`` (labels and how a value is
written), ``sentences`` (why a household was flagged; a flag's file is handed this package to
build its sentence) and ``review`` (decision words, comparisons and review reasons).
"""

from __future__ import annotations

from pipelines.report.text.figures import (
    QUANTITY_LABELS,
    THRESHOLD_LABELS,
    format_quantity,
    format_yuan,
)
from pipelines.report.text.masking import display_width, mask_id, mask_name
from pipelines.report.text.review import (
    BLOCKS,
    COMPARISON_FIELDS,
    COMPARISON_LEVELS,
    FLAG_DECISION_WORDS,
    LINK_DECISION_WORDS,
    REVIEW_METHODS,
    describe_comparison,
    review_reason_zh,
)
from pipelines.report.text.sentences import (
    assets_sentence,
    deceased_sentence,
    describe_quantities,
    describe_thresholds,
    drop_sentence,
    eligible_sentence,
    explain_flag,
    fill_template,
    income_sentence,
    marginal_sentence,
    medical_sentence,
    parse_evidence,
    property_sentence,
)

__all__ = [
    "BLOCKS",
    "COMPARISON_FIELDS",
    "COMPARISON_LEVELS",
    "FLAG_DECISION_WORDS",
    "LINK_DECISION_WORDS",
    "QUANTITY_LABELS",
    "REVIEW_METHODS",
    "THRESHOLD_LABELS",
    "assets_sentence",
    "deceased_sentence",
    "describe_comparison",
    "describe_quantities",
    "describe_thresholds",
    "display_width",
    "drop_sentence",
    "eligible_sentence",
    "explain_flag",
    "fill_template",
    "format_quantity",
    "format_yuan",
    "income_sentence",
    "marginal_sentence",
    "mask_id",
    "mask_name",
    "medical_sentence",
    "parse_evidence",
    "property_sentence",
    "review_reason_zh",
]
