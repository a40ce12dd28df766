"""Match layer, review queue: up to three ranked candidates per review record, with reasons.

Matching (``link_folder``) never links on name alone, so a record without a usable ID goes to
review with the best-scoring namesake as its candidate; on a big register a common name has many
namesakes and that candidate is a coin flip. This module changes what the clerk *sees*, never what
is matched: ``status``, ``person_id``, ``household_id``, ``score``, ``method`` and ``match_weight``
are left exactly as matching gave them, and only the candidate columns of ``review`` rows are
re-ranked.

The ranking weight of a (review record, register person) pair is the folder's own
Fellegi-Sunter match weight of that pair (name, ID, birth date and sex read from the record's ID
against the register's 出生日期/性别, district; the fitted model of the folder, ``score``) plus
the weight of *evidence*: a stable identifier of the record (不动产单元号, 坐落, 号牌号码,
统一社会信用代码, 待遇类型 and 发放金额, 扣缴义务人 and a close 收入额, the bank and account type
and a close 余额) seen on a record of the same source that *did* link by ID to that person in any
folder of the run. That weight is a log2 likelihood ratio, ``log2(m / u)`` with ``m`` fixed per
kind (``EVIDENCE_KINDS``) and ``u`` the share of register persons holding the value (the fewer
hold it, the stronger), as Splink's term-frequency adjustment does. When no record of the person
shares the value but one of a member of the person's household does (a co-owned unit, the
family car), a smaller household weight applies. Per record, the strongest agreeing kind counts.

Determinism: the evidence is every ID-linked record of the folders the run loaded, so the ranking
(the order of candidates shown) depends on the run's window as well as on the folder; the same
window always gives the same ranking (every sort ends on ``person_id``). The match decision itself
stays a function of the folder alone (outputs.md, "Deterministic links").

Split by idea: :mod:`~pipelines.match.rank.evidence` (the evidence table and its weights) and
:mod:`~pipelines.match.rank.candidates` (ranking and applying the ranking to ``links``).
"""

from __future__ import annotations

from pipelines.match.rank.candidates import (
    RANK_NAME_CANDIDATES,
    RANKED_SCHEMA,
    TOP_N,
    apply_ranking,
    rank_folder,
    rank_review_candidates,
)
from pipelines.match.rank.evidence import (
    EVIDENCE_KINDS,
    ID_METHODS,
    IMPLIED,
    KEY,
    RARE_VALUE_PERSONS,
    EvidenceKind,
    FolderForRanking,
    evidence_table,
)

__all__ = [
    "EVIDENCE_KINDS",
    "ID_METHODS",
    "IMPLIED",
    "KEY",
    "RANKED_SCHEMA",
    "RANK_NAME_CANDIDATES",
    "RARE_VALUE_PERSONS",
    "TOP_N",
    "EvidenceKind",
    "FolderForRanking",
    "apply_ranking",
    "evidence_table",
    "rank_folder",
    "rank_review_candidates",
]
