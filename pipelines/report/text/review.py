"""Report layer: the words of staff decisions and of the matcher's comparisons and review reasons."""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.report.layout import FLAG_DECISIONS, LINK_DECISIONS

#: the Chinese words shown for stored decisions (the importer may store the English word)
FLAG_DECISION_WORDS = {v: k for k, v in FLAG_DECISIONS.items() if not k.isascii()}
LINK_DECISION_WORDS = {v: k for k, v in LINK_DECISIONS.items() if not k.isascii()}


#: comparison levels of the matcher, as a clerk reads them (unknown levels are shown as stored)
COMPARISON_FIELDS = {
    "block": "候选查找方式", "name": "姓名", "id": "证件号", "birth": "出生日期", "sex": "性别",
    "district": "区县", "address": "地址", "name_jw": "姓名拼音相似度", "candidates": "候选人数",
}
#: how the matcher found the candidate (blocking rules of pipelines/match/blocking.py)
BLOCKS = {
    "id_exact": "证件号相同", "id_neighbour": "证件号相差一位或相邻两位颠倒", "name": "姓名相同",
    "name_birth": "姓名和出生日期相同", "pinyin": "姓名拼音相同",
    "name_no_register_id": "姓名相同（花名册上无可用证件号）",
    "pinyin_no_register_id": "姓名拼音相同（花名册上无可用证件号）", "confirmed": "经办人已确认",
}
COMPARISON_LEVELS = {
    "exact": "一致", "equal": "一致", "folded": "规范化（繁简、空格、分隔符）后一致",
    "pinyin_same": "拼音相同", "truncation": "疑似截断", "jw_high": "拼音高度相似",
    "jw_mid": "拼音较相似", "converted_15": "15位旧号转换后一致",
    "one_substitution": "一位数字不同", "transposition": "相邻两位颠倒",
    "other": "不同", "different": "不一致", "unknown": "一方缺失", "none": "一方无可用证件号",
}
#: why a record waits in review (links.method of rules/matching.yaml), as a clerk reads it
REVIEW_METHODS = {
    "low_score": "证件号和姓名一致，但出生日期、性别或区县等不符，匹配概率低于自动匹配阈值",
    "id_name_mismatch": "证件号与候选人一致，但姓名不同或只是读音相近",
    "ambiguous": "有两名登记人员的证件号和姓名都相符且得分接近，系统列出得分较高者",
    "name_only": "记录没有可用的证件号（或候选人在花名册上没有可用证件号），仅姓名相同，不自动关联",
}


def describe_comparison(comparison: str | None) -> str:
    """The matcher's comparison vector in Chinese: ``姓名：拼音相同；证件号：一位数字不同``.

    Parameters
    ----------
    comparison : str or None
        ``links.comparison`` JSON text (field → level).
    """
    try:
        levels = json.loads(comparison) if comparison else {}
    except (TypeError, ValueError):
        return str(comparison)
    if not isinstance(levels, dict):
        return str(comparison)
    return "；".join(
        f"{COMPARISON_FIELDS.get(k, k)}：{_level(k, v)}" for k, v in levels.items() if v is not None
    )


def _level(field: str, value: Any) -> str:
    if field == "block":
        return BLOCKS.get(str(value), str(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return COMPARISON_LEVELS.get(str(value), str(value))


#: the matcher's reason words (pipelines/match/decide.py) as a clerk reads them
_ID_STATES = {
    "blank": "为空", "malformed": "格式不正确", "stored as a number by Excel": "被 Excel 存成了数字",
    "fails its check digit": "校验位不正确", "valid": "有效", "a legacy 15-digit one": "是15位旧号",
    "unusable": "不可用",
}
_ID_AGREEMENT = {
    "the ID equals the candidate's": "证件号与候选人相同",
    "the ID equals the candidate's once converted from 15 digits": "证件号由15位旧号转换后与候选人相同",
    "the ID is one wrong digit from the candidate's": "证件号与候选人相差一位数字",
    "the ID is one swap of neighbouring digits from the candidate's": "证件号与候选人相比相邻两位颠倒",
    "the ID agrees with the candidate's": "证件号与候选人相符",
}
_DETAILS = {"birth date": "出生日期", "sex": "性别", "district": "区县", "the other details": "其他信息"}
_MANY = r"(?: \((?P<n>\d+) register persons are candidates\))?"
_NOT_ON_REGISTER = "the record's ID is valid but not on the register, so it belongs to someone else"


def _details(text: str) -> str:
    return "、".join(_DETAILS.get(w, w) for w in text.split(", "))


def _many(m: re.Match[str]) -> str:
    return f"（共 {m['n']} 名登记人员为候选）" if m["n"] else ""


_REVIEW_REASONS: tuple[tuple[re.Pattern[str], Any], ...] = tuple((re.compile(p), f) for p, f in (
    (r"two register persons agree on ID and name with close match weights \((?P<a>\S+) and (?P<b>\S+)\); "
     r"the best is named: check which one the record belongs to",
     lambda m: f"两名登记人员的证件号和姓名都与记录相符，匹配权重接近（{m['a']} 和 {m['b']}），"
               "列出的是较高者：请核实记录属于哪一位"),
    (r"ID and name agree but (?P<d>.+) disagree: match probability (?P<p>\S+) is below the auto-match "
     r"threshold (?P<t>\S+)",
     lambda m: f"证件号和姓名一致，但{_details(m['d'])}不一致：匹配概率 {m['p']} 低于自动匹配阈值 {m['t']}"),
    (r"(?P<id>the ID [^,]+?) but the record or the register has no name",
     lambda m: f"{_ID_AGREEMENT.get(m['id'], m['id'])}，但记录或花名册缺少姓名"),
    (r"(?P<id>the ID [^,]+?) but the name only sounds similar \(pinyin similarity (?P<s>\S+)\)",
     lambda m: f"{_ID_AGREEMENT.get(m['id'], m['id'])}，但姓名只是读音相近（拼音相似度 {m['s']}）"),
    (r"(?P<id>the ID [^,]+?) but the name is plainly different",
     lambda m: f"{_ID_AGREEMENT.get(m['id'], m['id'])}，但姓名明显不同"),
    (r"the record's ID is valid but not on the register; a register person with the same name has no "
     rf"usable ID there; never linked on name alone{_MANY}",
     lambda m: "记录的证件号有效但不在花名册上；花名册上的同名人员没有可用证件号；仅凭姓名不自动关联" + _many(m)),
    (rf"the record's ID is (?P<s>.+?); a register person has the same name(?P<b> and birth date)?; "
     rf"never linked on name alone{_MANY}",
     lambda m: f"记录的证件号{_ID_STATES.get(m['s'], m['s'])}；花名册上有姓名"
               + ("和出生日期" if m["b"] else "") + "相同的人员；仅凭姓名不自动关联" + _many(m)),
    (re.escape(_NOT_ON_REGISTER) + r"; a namesake without a usable register ID has another birth date",
     lambda m: "记录的证件号有效但不在花名册上，属于他人；花名册上没有可用证件号的同名人员出生日期不同"),
    (re.escape(_NOT_ON_REGISTER) + r"; a namesake without a usable register ID scored only (?P<p>\S+)",
     lambda m: f"记录的证件号有效但不在花名册上，属于他人；花名册上没有可用证件号的同名人员匹配概率仅 {m['p']}"),
    (re.escape(_NOT_ON_REGISTER), lambda m: "记录的证件号有效但不在花名册上，属于他人"),
    (r"a register person shares the name, but (?P<d>.+) disagree \(probability (?P<p>\S+) is below the "
     r"review threshold (?P<t>\S+)\)",
     lambda m: f"花名册上有同名人员，但{_details(m['d'])}不一致（匹配概率 {m['p']} 低于复核阈值 {m['t']}）"),
    (r"no register person shares the record's ID or name \(the ID is (?P<s>.+)\)",
     lambda m: f"花名册上没有与记录证件号或姓名相同的人员（记录的证件号{_ID_STATES.get(m['s'], m['s'])}）"),
    (r"staff rejected every candidate for this identity", lambda m: "经办人已否定此身份的所有候选人"),
    (r"the folder has no usable register\.csv, so its records cannot be matched",
     lambda m: "该月没有可用的花名册（register.csv），记录无法匹配"),
))


def review_reason_zh(reason: str | None) -> str | None:
    """``links.reason`` (the matcher's English, kept as stored) as a Chinese sentence.

    Every wording of :mod:`pipelines.match.decide` has a pattern here; a reason no pattern knows
    gives None, so that no English reaches a clerk (the method and comparison still explain it).
    """
    if not reason:
        return None
    for pattern, sentence in _REVIEW_REASONS:
        m = pattern.fullmatch(reason.strip())
        if m:
            return sentence(m)
    return None
