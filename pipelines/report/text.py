"""Report layer: the words staff read — masking, display widths and flag explanations.

Everything here is pure: polars expressions for the per-row work (masking, widths) and plain
functions that turn one flag's evidence JSON into a Chinese sentence a clerk can act on.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import polars as pl

from pipelines.flags import REGISTRY
from pipelines.report.layout import FLAG_DECISIONS, FLAG_LABELS, LINK_DECISIONS

#: separators between the parts of a minority name (inputs.md lists these as seen in practice)
_NAME_SEPARATORS = "·.•・．"
#: East Asian wide and full-width ranges: a character from these takes two columns in Excel
_WIDE = (
    r"[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF"
    r"\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]"
)

#: the Chinese words shown for stored decisions (the importer may store the English word)
FLAG_DECISION_WORDS = {v: k for k, v in FLAG_DECISIONS.items() if not k.isascii()}
LINK_DECISION_WORDS = {v: k for k, v in LINK_DECISIONS.items() if not k.isascii()}

#: Chinese names of evidence quantities (the assessments columns and the extras of outputs.md)
QUANTITY_LABELS = {
    "income_per_capita": "家庭月人均收入",
    "assets_per_capita": "家庭人均金融资产",
    "residential_units": "住宅套数",
    "living_members": "在世成员数",
    "members": "户籍成员数",
    "standard": "保障标准",
    "wage_income": "窗口期工资收入（扣除必要就业成本后）",
    "benefit_income": "窗口期养老金/失业金收入",
    "medical_out_of_pocket": "窗口期医疗个人自付",
    "household_income_w": "窗口期家庭收入",
    "avg_last3": "近3个月家庭月均收入",
    "avg_prev3": "前3个月家庭月均收入",
    "assets_lower_bound": "金融资产为下限（部分金融机构未交付）",
    "has_non_residential_unit": "有商业/办公/工业用房",
    "vehicles_counted": "需计入的机动车数",
    "businesses_counted": "需计入的企业数",
}
#: Chinese names of the thresholds pipelines/assess.py writes (others: see _THRESHOLD_WORDS)
THRESHOLD_LABELS = {
    "standard": "低保标准",
    "tekun_standard": "特困人员基本生活标准",
    "assets_limit": "金融资产限额",
    "max_residential_units": "住宅套数上限",
    "business_capital_limit_wan": "注册资本限额",
    "vehicle_exempt_count": "可豁免车辆数",
    "marginal_income_limit": "低保边缘收入标准",
    "marginal_assets_limit": "低保边缘资产限额",
    "income_drop_limit": "收入骤降阈值",
    "medical_min_amount": "医疗支出最低金额",
    "medical_income_share_amount": "家庭收入的规定比例",
}

_COUNT_HINTS = ("units", "members", "count", "vehicle", "months", "number", "deaths", "business")
_MONEY_HINTS = ("amount", "income", "asset", "standard", "limit", "avg", "medical")
_RATIO_HINTS = ("rate", "ratio", "share", "multiplier")


def mask_id(expr: pl.Expr) -> pl.Expr:
    """Mask an ID number in the middle: first 4 and last 4 characters stay.

    An 18-character ID becomes ``1201**********1234``; a value of 8 characters or fewer is
    starred whole. Null or blank gives null.

    Parameters
    ----------
    expr : pl.Expr
        String expression holding ID numbers.
    """
    text = expr.str.strip_chars()
    text = pl.when(text != "").then(text)
    n = text.str.len_chars()
    stars = pl.lit("*").repeat_by(n - 8).list.join("")
    return (
        pl.when(n > 8)
        .then(pl.concat_str([text.str.head(4), stars, text.str.tail(4)]))
        .otherwise(pl.lit("*").repeat_by(n).list.join(""))
    )


def mask_name(expr: pl.Expr) -> pl.Expr:
    """Mask a person's name: the first character (or a minority name's first part) stays.

    ``张三丰`` becomes ``张**``; ``买买提·艾力`` becomes ``买买提·**`` (separators kept, the parts after
    the first starred). Whitespace is dropped; null or blank gives null.

    Parameters
    ----------
    expr : pl.Expr
        String expression holding names.
    """
    text = expr.str.replace_all(r"\s+", "")
    text = pl.when(text != "").then(text)
    sep = f"[{_NAME_SEPARATORS}]"
    head = pl.coalesce(
        text.str.extract(f"^([^{_NAME_SEPARATORS}]+{sep})", 1), text.str.slice(0, 1)
    )
    rest = text.str.slice(head.str.len_chars()).str.replace_all(f"[^{_NAME_SEPARATORS}]", "*")
    return pl.concat_str([head, rest])


def display_width(expr: pl.Expr) -> pl.Expr:
    """Columns a text takes in Excel: a CJK or full-width character counts 2, others 1.

    Parameters
    ----------
    expr : pl.Expr
        Any expression; it is cast to text, null counts 0.
    """
    text = expr.cast(pl.String).fill_null("")
    return text.str.len_chars() + text.str.count_matches(_WIDE)


def format_yuan(value: Any) -> str:
    """``1234.5`` -> ``'1,234.50'``: yuan with thousands separators and two decimals.

    Parameters
    ----------
    value : Any
        A number (int, float, Decimal) or numeric text; None gives ``'未知'``.
    """
    if value is None:
        return "未知"
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return str(value)
    return f"{amount:,.2f}"


def _kind(name: str) -> str:
    low = name.lower()
    if low.endswith("_wan"):
        return "wan"
    if any(h in low for h in _RATIO_HINTS) and "amount" not in low:
        return "plain"
    if any(h in low for h in _COUNT_HINTS) and not any(h in low for h in _MONEY_HINTS):
        return "count"
    return "money"


def format_quantity(name: str, value: Any) -> str:
    """A quantity as a clerk reads it: money in yuan (``1,234.56 元``), counts as integers.

    Parameters
    ----------
    name : str
        The evidence name (``income_per_capita``, ``residential_units``, …); it decides the unit.
    value : Any
        The JSON value.
    """
    if value is None:
        return "未知"
    if isinstance(value, bool):
        return "是" if value else "否"
    if not isinstance(value, (int, float, str, Decimal)):
        return str(value)
    kind = _kind(name)
    if kind == "money":
        return f"{format_yuan(value)} 元"
    if kind == "wan":
        return f"{value} 万元"
    if kind == "count":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,}"
    return str(value)


def _label(name: str) -> str:
    return QUANTITY_LABELS.get(name, name)


def _threshold_value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, dict) else entry


def _threshold_params(entry: Any) -> list[str]:
    if isinstance(entry, dict):
        params = entry.get("parameters") or []
        return [str(p) for p in params] if isinstance(params, list) else [str(params)]
    return []


def _pick(thresholds: dict[str, Any], *hints: str, fallback: bool = False) -> tuple[str, Any] | None:
    """The threshold a sentence names: first by its own name, then by its parameter names.

    With ``fallback`` the first threshold is taken when no hint matches (a flag with one
    threshold whatever the assessment called it).
    """
    for hint in hints:
        for name, entry in thresholds.items():
            if hint in name.lower():
                return name, _threshold_value(entry)
    for hint in hints:
        for name, entry in thresholds.items():
            if any(hint in p.lower() for p in _threshold_params(entry)):
                return name, _threshold_value(entry)
    if fallback and thresholds:
        name = next(iter(thresholds))
        return name, _threshold_value(thresholds[name])
    return None


def _split_assets(thresholds: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(income-side, asset-side) thresholds: asset-side when its name or parameters say asset."""
    income, assets = {}, {}
    for name, entry in thresholds.items():
        words = [name, *_threshold_params(entry)]
        (assets if any("asset" in w.lower() for w in words) else income)[name] = entry
    return income, assets


def _number(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def _standard_label(programme: str | None) -> str:
    return "特困人员基本生活标准" if programme == "特困" else "低保标准"


def income_sentence(q: dict, t: dict, programme: str | None) -> str:
    """INCOME_OVER_STANDARD: income per capita above S (T for 特困)."""
    found = _pick(_split_assets(t)[0], "standard", fallback=True)
    sentence = f"家庭月人均收入 {format_quantity('income_per_capita', q.get('income_per_capita'))}"
    if found is None:
        return sentence + f"，高于{_standard_label(programme)}"
    return sentence + f"，高于{_standard_label(programme)} {format_quantity('standard', found[1])}"


def assets_sentence(q: dict, t: dict, *, word: str = "高于", what: str = "限额") -> str:
    """ASSETS_OVER_LIMIT (and the assets part of ELIGIBLE_NOT_ENROLLED): assets per capita against the limit."""
    found = _pick(_split_assets(t)[1], "asset", fallback=True)
    sentence = f"家庭人均金融资产 {format_quantity('assets_per_capita', q.get('assets_per_capita'))}"
    if q.get("assets_lower_bound") is True:
        sentence += "（部分金融机构未交付，为下限）"
    if found is None:
        return sentence + f"，{word}{what}"
    return sentence + f"，{word}{what} {format_quantity('limit', found[1])}"


def _property_parts(q: dict, t: dict) -> list[str]:
    """The property violations the evidence shows (rules.md: real estate, vehicle, business)."""
    parts = []
    units = _number(q.get("residential_units"))
    cap = _pick(t, "residential", "units")
    cap_value = _number(cap[1]) if cap else None
    # without the cap in the evidence, the default rulebook's one unit is the line
    if units is not None and units > (cap_value if cap_value is not None else 1):
        limit = f"（上限 {format_quantity('units', cap_value)} 套）" if cap_value is not None else ""
        parts.append(f"家庭名下住宅 {format_quantity('units', units)} 套{limit}")
    if q.get("has_non_residential_unit") is True:
        parts.append("家庭名下有商业、办公或工业用房")
    vehicles = _number(q.get("vehicles_counted"))
    exempt = _pick(t, "vehicle")
    exempt_value = (_number(exempt[1]) if exempt else None) or Decimal(0)
    if vehicles is not None and vehicles > exempt_value:
        parts.append(f"家庭有需计入的机动车 {format_quantity('vehicles', vehicles)} 辆"
                     f"（可豁免 {format_quantity('vehicles', exempt_value)} 辆）")
    businesses = _number(q.get("businesses_counted"))
    if businesses is not None and businesses > 0:
        capital = _pick(t, "capital", "business")
        floor = f"注册资本 {capital[1]} 万元及以上的" if capital and capital[1] is not None else ""
        parts.append(f"家庭成员在 {format_quantity('business', businesses)} 家{floor}存续企业任法定代表人或股东")
    return parts


def property_sentence(q: dict, t: dict) -> str:
    """PROPERTY_OVER_LIMIT: the property violations the evidence shows."""
    parts = _property_parts(q, t)
    if not parts:
        return "家庭财产状况不符合条件（住房、车辆或企业登记）"
    return "，".join(parts) + "，财产状况不符合条件"


def marginal_sentence(q: dict, t: dict) -> str:
    """MARGINAL_NO_LONGER: which marginal limit (or property rule) the household is over."""
    parts = []
    income_side, asset_side = _split_assets(t)
    income = _number(q.get("income_per_capita"))
    income_cap = _pick(income_side, "marginal", "income")
    if income is not None and income_cap and _number(income_cap[1]) is not None:
        if income > _number(income_cap[1]):
            parts.append(
                f"家庭月人均收入 {format_quantity('income_per_capita', income)}，"
                f"高于低保边缘收入标准 {format_quantity('standard', income_cap[1])}"
            )
    assets = _number(q.get("assets_per_capita"))
    assets_cap = _pick(asset_side, "marginal", "asset", fallback=True)
    if assets is not None and assets_cap and _number(assets_cap[1]) is not None:
        if assets > _number(assets_cap[1]):
            parts.append(
                f"家庭人均金融资产 {format_quantity('assets_per_capita', assets)}，"
                f"高于低保边缘资产限额 {format_quantity('limit', assets_cap[1])}"
            )
    parts.extend(_property_parts(q, t))
    if not parts:
        parts.append("家庭经济状况不再符合低保边缘条件")
    return "；".join(parts)


def eligible_sentence(q: dict, t: dict) -> str:
    """ELIGIBLE_NOT_ENROLLED: income, assets and property within 低保's limits."""
    standard = _pick(_split_assets(t)[0], "standard", fallback=True)
    text = f"家庭月人均收入 {format_quantity('income_per_capita', q.get('income_per_capita'))}"
    text += f"，不高于低保标准 {format_quantity('standard', standard[1])}" if standard else "，不高于低保标准"
    if "assets_per_capita" in q:
        text += "；" + assets_sentence(q, t, word="不高于")
    return text + "；无不符合条件的财产，可能符合低保条件"


def deceased_sentence(q: dict, records: list) -> str:
    """MEMBER_DECEASED: how many death records, and whether no member is left alive."""
    deaths = [r for r in records if isinstance(r, dict) and r.get("source") == "deaths"]
    text = f"家庭成员有死亡登记记录 {len(deaths)} 条" if deaths else "家庭成员有死亡登记记录"
    living = _number(q.get("living_members"))
    if living is not None and living == 0:
        text += "，户内已无在世成员"
    return text


def drop_sentence(q: dict, t: dict) -> str:
    """INCOME_DROP: the two three-month averages and the line."""
    last = format_quantity("avg_last3", q.get("avg_last3"))
    prev = format_quantity("avg_prev3", q.get("avg_prev3"))
    found = _pick(t, "drop", fallback=True)
    text = f"近3个月家庭月均收入 {last}，前3个月月均 {prev}"
    if found is not None:
        text += f"，低于骤降阈值 {format_quantity('limit', found[1])}"
    return text


def medical_sentence(q: dict, t: dict) -> str:
    """HIGH_MEDICAL_EXPENSE: the out-of-pocket amount and the higher of its two lines."""
    paid = format_quantity("medical_out_of_pocket", q.get("medical_out_of_pocket"))
    # rules.md: the line is max(medical_min_amount, medical_income_share × household income)
    values = [v for v in (_number(_threshold_value(e)) for e in t.values()) if v is not None]
    text = f"窗口期医疗个人自付 {paid}"
    if values:
        text += f"，达到阈值 {format_quantity('limit', max(values))}"
        if len(values) > 1:
            text += "（最低金额与家庭收入规定比例中的较高者）"
    return text


def parse_evidence(evidence: str | None) -> dict:
    """The evidence JSON as a dict with ``quantities``, ``thresholds`` and ``records`` keys.

    Parameters
    ----------
    evidence : str or None
        ``flags.evidence`` text. Null or unreadable JSON gives empty parts, never an error: a
        report must not fail on one odd row.
    """
    try:
        data = json.loads(evidence) if evidence else {}
    except (TypeError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    quantities = data.get("quantities") if isinstance(data.get("quantities"), dict) else {}
    thresholds = data.get("thresholds") if isinstance(data.get("thresholds"), dict) else {}
    records = data.get("records") if isinstance(data.get("records"), list) else []
    return {"quantities": quantities, "thresholds": thresholds, "records": records}


def explain_flag(flag: str, evidence: str | dict | None, *, programme: str | None = None) -> str:
    """One readable Chinese sentence saying why a household was flagged.

    ``家庭月人均收入 1,234.56 元，高于低保标准 1,010.00 元`` for INCOME_OVER_STANDARD, and the like
    for every flag of rules.md, built from the figures in the evidence.

    Parameters
    ----------
    flag : str
        Flag name of rules.md.
    evidence : str, dict or None
        ``flags.evidence`` JSON text, or its :func:`parse_evidence` result.
    programme : str, optional
        The household's 保障类别 (decides whether S or T is named).
    """
    ev = evidence if isinstance(evidence, dict) else parse_evidence(evidence)
    found = REGISTRY.get(flag)
    if found is None:
        return FLAG_LABELS.get(flag, flag)
    if callable(found.sentence):
        # the flag's own file says how its sentence reads (pipelines/flags/<flag>.py)
        return found.sentence({**ev, "evidence": evidence}, sys.modules[__name__], programme)
    return fill_template(found.sentence, ev)


def fill_template(template: str, evidence: dict) -> str:
    """A flag's sentence template filled from its evidence.

    ``{name}`` is a quantity of the evidence, or else a threshold's value, formatted as a clerk
    reads it (:func:`format_quantity`: money in yuan, counts as integers); a name the evidence
    lacks reads 未知.

    Parameters
    ----------
    template : str
        E.g. ``"窗口期医疗个人自付 {medical_out_of_pocket}，达到阈值 {medical_min_amount}"``.
    evidence : dict
        A :func:`parse_evidence` result.
    """
    q, t = evidence["quantities"], evidence["thresholds"]

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        value = q[name] if name in q else _threshold_value(t.get(name))
        return format_quantity(name, value)

    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", one, template)


def describe_quantities(evidence: str | dict | None) -> str:
    """The evidence quantities as ``label：value`` pairs joined by ``；`` (JSON text or parsed)."""
    q = (evidence if isinstance(evidence, dict) else parse_evidence(evidence))["quantities"]
    return "；".join(f"{_label(k)}：{format_quantity(k, v)}" for k, v in q.items())


#: what a threshold is, from words in its name (the assessment names them; the contract does not)
_THRESHOLD_WORDS = (
    ("marginal_asset", "低保边缘资产限额"), ("marginal", "低保边缘收入标准"), ("asset", "金融资产限额"),
    ("residential", "住宅套数上限"), ("unit", "住宅套数上限"), ("vehicle", "车辆豁免数"),
    ("business", "注册资本限额"), ("capital", "注册资本限额"), ("drop", "收入骤降阈值"),
    ("medical", "医疗支出阈值"), ("standard", "保障标准"),
)


def _threshold_label(name: str) -> str:
    if name in THRESHOLD_LABELS:
        return THRESHOLD_LABELS[name]
    low = name.lower()
    for word, label in _THRESHOLD_WORDS:
        if word in low:
            return label
    return name


@lru_cache(maxsize=1)
def _parameter_labels() -> dict[str, str]:
    from pipelines.rulebook import parameter_labels
    return parameter_labels()


def describe_thresholds(evidence: str | dict | None, *, labels: dict[str, str] | None = None) -> str:
    """The evidence thresholds as ``name：value（依据：…）`` joined by ``；`` (JSON text or parsed).

    Parameters
    ----------
    evidence : str, dict or None
        ``flags.evidence``.
    labels : dict, optional
        Parameter name → Chinese label; default the ``label`` of each file in ``rules/parameters``.
        A parameter without a label is shown by its name.
    """
    labels = _parameter_labels() if labels is None else labels
    t = (evidence if isinstance(evidence, dict) else parse_evidence(evidence))["thresholds"]
    parts = []
    for name, entry in t.items():
        params = [labels.get(p, p) for p in _threshold_params(entry)]
        text = f"{_threshold_label(name)}：{format_quantity(name, _threshold_value(entry))}"
        parts.append(text + (f"（依据：{'、'.join(params)}）" if params else ""))
    return "；".join(parts)


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
