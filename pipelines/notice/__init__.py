"""Report layer: the notice a flagged household can read (核对告知书).

Matching programmes must tell a person what was found and let them contest it before anything
happens. :func:`household_notice` builds that text for one household and period from the
warehouse alone:

- the flags of the period and their evidence (``flags.evidence``: quantities, thresholds with the
  parameters behind them, and the ``{source, period, record_no}`` of every contributing record);
- for each record, the clean row of its source (``stg_<source>``: the month, the amount and what
  the record is) and the family member it was linked to (``links.person_id`` on P's register),
  shown by relation and masked name;
- the rule: the flag's Chinese name, each threshold's value, the parameters behind it with the
  value and effective date in force at the end of P (``rules/parameters``), and the rulebook
  version stamped on the flag;
- what rests on less than a certain link: records linked by a staff confirmation of a review
  record or through a repaired ID (``link_method``), the household's records still waiting in
  review (not counted), and sources that were not delivered (``assessments.missing_sources``,
  ``assets_lower_bound``).

The words are templates in ``rules/notices/`` (Jinja2, one per flag, the shared pieces in
``_parts.md.j2``, the frame ``notice.md.j2`` and the vocabulary ``notice.yaml``); this package
reads and formats values (amounts, months, dates, units) and leaves the sentences to them. The notice
never carries another person's ID number or name: records are described by the member they were
linked to, review records only by department and month, and the household's own names and IDs
are masked with the report package's masking functions.

The package is split by idea: ``vocabulary`` (the templates and words of ``rules/notices/``),
``format`` (months, dates, amounts), ``fetch`` (reading the warehouse), ``context`` (the values
the templates print) and ``render`` (one notice, a district's notices, ``hedui notice``).
"""

from __future__ import annotations

from pipelines.notice.context import notice_context
from pipelines.notice.format import date_text, month_text
from pipelines.notice.render import (
    district_notices,
    household_notice,
    notice_command,
    render_notice,
)
from pipelines.notice.vocabulary import (
    FRAME_TEMPLATE,
    NOTICE_DIR,
    VOCABULARY,
    NoticeError,
    NoticeVocabulary,
    load_vocabulary,
)

__all__ = [
    "FRAME_TEMPLATE",
    "NOTICE_DIR",
    "VOCABULARY",
    "NoticeError",
    "NoticeVocabulary",
    "date_text",
    "district_notices",
    "household_notice",
    "load_vocabulary",
    "month_text",
    "notice_command",
    "notice_context",
    "render_notice",
]
