"""Report layer: the sentence that says why a household was flagged, and its evidence in words.

Each flag's file (``pipelines/flags/``) names its sentence: a template over the evidence's
quantities and thresholds, or one of the ``*_sentence`` functions here for the flags whose
sentence depends on which figures the evidence has.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from pipelines.flags import REGISTRY
from pipelines.flags.income_drop import split as drop_split
from pipelines.report.layout import FLAG_LABELS
from pipelines.report.text.figures import (
    DEFAULT_DROP_SPLIT,
    THRESHOLD_LABELS,
    _label,
    _number,
    _pick,
    _split_assets,
    _threshold_params,
    _threshold_value,
    format_quantity,
)

if TYPE_CHECKING:
    from pipelines.rulebook import Rules


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
    income_limit = _number(income_cap[1]) if income_cap else None
    if income is not None and income_cap and income_limit is not None:
        if income > income_limit:
            parts.append(
                f"家庭月人均收入 {format_quantity('income_per_capita', income)}，"
                f"高于低保边缘收入标准 {format_quantity('standard', income_cap[1])}"
            )
    assets = _number(q.get("assets_per_capita"))
    assets_cap = _pick(asset_side, "marginal", "asset", fallback=True)
    assets_limit = _number(assets_cap[1]) if assets_cap else None
    if assets is not None and assets_cap and assets_limit is not None:
        if assets > assets_limit:
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


def drop_sentence(q: dict, t: dict, split: tuple[int, int] | None = None) -> str:
    """INCOME_DROP: the recent and the earlier months' averages and the line.

    Parameters
    ----------
    q, t : dict
        The evidence's quantities and thresholds.
    split : (int, int), optional
        (recent, earlier) months in force for the flag's period (default 3 and 3, the split of
        the default ``income_drop_months`` 6 and ``income_drop_recent_months`` 3).
    """
    recent, earlier = split or DEFAULT_DROP_SPLIT
    last = format_quantity("avg_last3", q.get("avg_last3"))
    prev = format_quantity("avg_prev3", q.get("avg_prev3"))
    found = _pick(t, "drop", fallback=True)
    text = f"近{recent}个月家庭月均收入 {last}，前{earlier}个月月均 {prev}"
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


def explain_flag(flag: str, evidence: str | dict | None, *, programme: str | None = None,
                 rules: Rules | None = None) -> str:
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
    rules : Rules, optional
        The rulebook in force for the flag's period, when known to be the one the flag was
        assessed under; a flag's sentence may read it (INCOME_DROP: the months it compares).
        Without it a sentence reads as under the default parameters.
    """
    ev = evidence if isinstance(evidence, dict) else parse_evidence(evidence)
    found = REGISTRY.get(flag)
    if found is None:
        return FLAG_LABELS.get(flag, flag)
    if callable(found.sentence):
        # the flag's own file says how its sentence reads (pipelines/flags/<flag>.py); it is
        # handed the whole text package (its sentence functions and figure formatting)
        return found.sentence({**ev, "evidence": evidence, "rules": rules}, sys.modules[__package__],
                              programme)
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


def describe_quantities(evidence: str | dict | None, *, rules: Rules | None = None) -> str:
    """The evidence quantities as ``label：value`` pairs joined by ``；`` (JSON text or parsed).

    ``rules``, when given, are the rules in force for the flag's period: INCOME_DROP's averages
    are then named by the months in force (default 近3个月 and 前3个月).
    """
    q = (evidence if isinstance(evidence, dict) else parse_evidence(evidence))["quantities"]
    split = drop_split(rules) if rules is not None and "avg_last3" in q else None
    return "；".join(f"{_label(k, split)}：{format_quantity(k, v)}" for k, v in q.items())


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
