"""Presentation layer: the run's notes — a stable code and its parameters, worded in Chinese here.

A note is a small JSON-serialisable record, ``{"code": "flagged", "flag": "INCOME_DROP",
"households": 45, "period": "2026-10"}``: the stages that find something (landing, cleaning,
assessing, publishing) build it with :func:`note`, the ``runs`` table keeps it as it is (stable
codes, no wording), and everything people read — the terminal summary, the Prefect artifact, the
policy cases — words it with :func:`word`, the one place a note becomes a sentence.

Every code is declared once in :data:`KINDS` with its wording, the parameters that are counts
(:func:`merge_notes` sums them when an assessment split by district is put back together) and
its section (where the assessment writes it). Notes carry counts, codes, months, file and column
names and delivered category values only: never an ID number or a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: a note: ``{"code": <stable code>, **parameters}``, JSON-serialisable
Note = dict[str, Any]


@dataclass(frozen=True)
class NoteKind:
    """One kind of note: its code, its count parameters, its section and its Chinese wording."""

    code: str
    #: the sentence, from the note's parameters (the period prefix is added by :func:`word`)
    zh: Callable[[Mapping[str, Any]], str]
    #: parameters that count something (summed when partitions merge); the others identify it
    counts: tuple[str, ...] = ()
    #: the order the assessment writes notes in (folder 0, window 1, households 2–5)
    section: int = 0


def _source(name: str) -> str:
    from pipelines.report.layout import SOURCE_LABELS

    return SOURCE_LABELS.get(name, name)


def _flag(code: str) -> str:
    from pipelines.flags import FLAG_LABELS

    label = FLAG_LABELS.get(code)
    return f"“{label}”（{code}）" if label else code


def _column(source: str, column: str) -> str:
    from pipelines.sources import spec

    try:
        return spec(source).column(column).zh
    except KeyError:
        return column


def _enum_outside(n: Mapping[str, Any]) -> str:
    listed = "、".join(f"“{v}”（{k} 行）" for v, k in n["values"])
    more = f"，另有 {n['more']} 个值未列出" if n.get("more") else ""
    return (f"{_source(n['source'])}的“{_column(n['source'], n['column'])}”有不在约定取值内的值："
            f"{listed}{more}")


def _register_disagreement(n: Mapping[str, Any]) -> str:
    labels = {"programme": "保障类别", "district_code": "区县代码", "urban_rural": "城乡类别"}
    detail = "、".join(f"{zh} {n[a]} 户" for a, zh in labels.items() if n.get(a))
    return (f"花名册中有 {n['households']} 户的成员登记的户属性不一致（{detail}），"
            "已统一为户主所在行的登记，没有户主行的取第一行")


def _register_refused(n: Mapping[str, Any]) -> str:
    from pipelines.reasons import reason_zh

    return f"花名册被拒收，该月各部门的记录均未能匹配。拒收原因：{reason_zh(n['reason'])}"


_INCOME = "税务工资薪金或人社养老金/失业金"

KINDS: Mapping[str, NoteKind] = {k.code: k for k in (
    # the folders (pipelines/land.py, pipelines/clean.py, pipelines/run/publish.py)
    NoteKind("folder_absent", lambda n: "月份文件夹不存在，视为该月没有任何交付"),
    NoteKind("register_missing", lambda n: "月份文件夹中没有花名册 register.csv，该月各部门的记录均未能匹配"),
    NoteKind("register_refused", _register_refused),
    NoteKind("publish_memory_retry", lambda n: (
        f"发布在 {n['first']} 内存内未能完成（仓库未改动），已以 {n['second']} 重新发布；"
        "可用 HEDUI_PUBLISH_MEMORY 指定")),
    NoteKind("extra_sheets", lambda n: (
        f"工作簿 {n['file']} 另有 {len(n['sheets'])} 个工作表（{'、'.join(n['sheets'])}）未读取，"
        "只读取了第一个工作表")),
    NoteKind("enum_outside", _enum_outside),
    NoteKind("register_disagreement", _register_disagreement,
             counts=("households", "programme", "district_code", "urban_rural")),
    # the assessment's window (pipelines/assess/outputs.py): the same in every district
    NoteKind("source_absent_window", lambda n: (
        f"{_source(n['source'])}在核定窗口 {n['first']} 至 {n['last']} 的各月都没有交付，"
        "不计入任何金额，记为缺失来源"), section=1),
    NoteKind("income_source_partial", lambda n: (
        f"{_source(n['source'])}在核定窗口的 {n['months']} 个月中只交付了 {n['delivered']} 个月，"
        f"收入合计按 {n['delivered']} 个月平均"), section=1),
    NoteKind("source_partial", lambda n: (
        f"{_source(n['source'])}在核定窗口的 {n['months']} 个月中只交付了 {n['delivered']} 个月，"
        "只计已交付月份的记录"), section=1),
    NoteKind("income_unknown", lambda n: (
        f"没有交付任何收入来源（{_INCOME}），所有家庭的人均收入未知"), section=1),
    NoteKind("snapshot_missing", lambda n: (
        f"{_source(n['source'])}本月没有交付，相关数量未知，依赖它的标记不触发"), section=1),
    NoteKind("snapshot_partial", lambda n: (
        f"{_source(n['source'])}本月只交付了一部分（有文件被拒收），家庭资产只是下限，"
        "“资产不超过限额”一类的条件记为未知"), section=1),
    NoteKind("income_drop_not_computed", lambda n: (
        f"{_flag('INCOME_DROP')}未计算，因为 {n['first']} 至 {n['last']} 中有月份没有交付{_INCOME}"),
        section=1),
    # households (pipelines/assess/outputs.py): counts summed over the districts
    NoteKind("no_living_members", lambda n: (
        f"{n['households']} 户已没有在世成员，只判定{_flag('MEMBER_DECEASED')}"),
        counts=("households",), section=2),
    NoteKind("no_standard", lambda n: (
        f"{n['households']} 户的区县代码/城乡类别没有对应的低保标准，需要标准的标记对这些户不判定"),
        counts=("households",), section=3),
    NoteKind("undecided", lambda n: (
        f"{_flag(n['flag'])}有 {n['households']} 户无法判定，判定所需的某项数据未知"),
        counts=("households",), section=4),
    NoteKind("flagged", lambda n: f"{_flag(n['flag'])}标记 {n['households']} 户",
             counts=("households",), section=5),
)}


def note(code: str, **params: Any) -> Note:
    """A note of kind ``code`` with its parameters (JSON values: str, int, lists of them).

    Raises
    ------
    KeyError
        When ``code`` is not declared in :data:`KINDS` (a note nobody could read).
    """
    if code not in KINDS:
        raise KeyError(f"note code {code!r} has no wording in pipelines/run_notes.py")
    return {"code": code, **params}


def word(n: Mapping[str, Any]) -> str:
    """The note as one Chinese sentence, led by its month when it names one (``2026-10：…``)."""
    sentence = KINDS[n["code"]].zh(n)
    return f"{n['period']}：{sentence}" if n.get("period") else sentence


def with_period(notes: Iterable[Mapping[str, Any]], period: str) -> list[Note]:
    """The notes with their month set (a note that names its month already keeps it)."""
    return [{**n, "period": n.get("period") or period} for n in notes]


def _identity(n: Mapping[str, Any]) -> tuple:
    counts = KINDS[n["code"]].counts
    return tuple(sorted((k, repr(v)) for k, v in n.items() if k not in counts))


def merge_notes(parts: Sequence[Sequence[Mapping[str, Any]]]) -> list[Note]:
    """The notes of an assessment split by district, as the joint assessment writes them.

    Notes with the same code and the same other parameters are one note whose count parameters
    are summed over the partitions (a window note, the same in every partition, has no count and
    is kept once); different notes stay apart. Notes keep their first-seen order within their
    kind's section, and sections (window, households without living members, without a
    standard, undecided flags, flagged) come in the assessment's order, flags within a section
    in registry order — so a run split by district words its notes as the joint run does.
    """
    from pipelines.flags import FLAGS

    merged: dict[tuple, Note] = {}
    for notes in parts:
        for n in notes:
            key = _identity(n)
            if key not in merged:
                merged[key] = dict(n)
                continue
            for c in KINDS[n["code"]].counts:
                merged[key][c] = int(merged[key].get(c, 0)) + int(n.get(c, 0))
    rank = {f: i for i, f in enumerate(FLAGS)}

    def order(n: Note) -> tuple[int, int]:
        return KINDS[n["code"]].section, rank.get(n.get("flag", ""), -1)

    return sorted(merged.values(), key=order)
