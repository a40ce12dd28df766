"""Report layer: the notice's templates and vocabulary (``rules/notices/``).

The words of a notice are data: Jinja2 templates (one per flag, the shared pieces, the frame) and
``notice.yaml`` (departments, parameter names, contest days and place). This module finds and
reads them; :mod:`pipelines.notice.render` renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import yaml

from pipelines.sources import EXTRACT_SOURCES

#: the templates and vocabulary of the notice
NOTICE_DIR = Path(__file__).resolve().parents[2] / "rules" / "notices"
FRAME_TEMPLATE = "notice.md.j2"
VOCABULARY = "notice.yaml"

#: link methods that are certain (an exact ID and agreeing name): no remark in the notice
_CERTAIN_METHODS = frozenset({"id_exact"})


class NoticeError(ValueError):
    """No notice can be written (unknown period or household, no flag): the message says why."""


@dataclass(frozen=True)
class NoticeVocabulary:
    """``rules/notices/notice.yaml``: departments, parameter names, contest days and place."""

    contest_days: int
    contest_place: str
    issuer: str
    departments: dict[str, str]
    source_data: dict[str, str]
    parameters: dict[str, str]
    link_methods: dict[str, str]
    missing: dict[str, str]


def load_vocabulary(folder: Path | None = None) -> NoticeVocabulary:
    """Read the notice vocabulary (once per folder); every extract source must have a department.

    Parameters
    ----------
    folder : Path, optional
        The notices folder (default ``rules/notices`` of the repository).

    Raises
    ------
    NoticeError
        The file is missing or lacks a department for a source.
    """
    return _vocabulary((folder or NOTICE_DIR).resolve())


@lru_cache(maxsize=4)
def _vocabulary(folder: Path) -> NoticeVocabulary:
    path = folder / VOCABULARY
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise NoticeError(f"告知书词表 {path} 无法读取：{exc}") from exc
    departments = dict(raw.get("departments") or {})
    lacking = [s for s in EXTRACT_SOURCES if s not in departments]
    if lacking:
        raise NoticeError(f"告知书词表 {path} 缺少以下来源的部门名称：{'、'.join(lacking)}")
    return NoticeVocabulary(
        contest_days=int(raw.get("contest_days", 15)),
        contest_place=str(raw.get("contest_place", "户籍所在街道（乡镇）办事处")),
        issuer=str(raw.get("issuer", "居民家庭经济状况核对中心")),
        departments=departments,
        source_data=dict(raw.get("source_data") or {}),
        parameters=dict(raw.get("parameters") or {}),
        link_methods=dict(raw.get("link_methods") or {}),
        missing=dict(raw.get("missing") or {}),
    )


@lru_cache(maxsize=4)
def _environment(folder: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,  # a missing value fails loudly, never prints blank
        autoescape=False,  # plain text for a terminal, a workbook cell or Markdown
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env
