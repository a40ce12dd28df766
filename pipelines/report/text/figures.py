"""Report layer: figures as a clerk reads them — labels, yuan, counts and ratios.

The Chinese names of evidence quantities and thresholds, and how a value is written (money in
yuan with two decimals, counts as integers, ratios as percentages).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

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


#: INCOME_DROP's months (recent, earlier) when no rules are given: the defaults 6 = 3 + 3
DEFAULT_DROP_SPLIT = (3, 3)


def _label(name: str, drop_split: tuple[int, int] | None = None) -> str:
    """A quantity's Chinese name; INCOME_DROP's averages name the months in force (``drop_split``).

    The evidence keeps the stable codes ``avg_last3``/``avg_prev3`` whatever the split; only the
    words follow ``income_drop_recent_months`` and ``income_drop_months``.
    """
    recent, earlier = drop_split or DEFAULT_DROP_SPLIT
    if name == "avg_last3":
        return f"近{recent}个月家庭月均收入"
    if name == "avg_prev3":
        return f"前{earlier}个月家庭月均收入"
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
    income: dict[str, Any] = {}
    assets: dict[str, Any] = {}
    for name, entry in thresholds.items():
        words = [name, *_threshold_params(entry)]
        (assets if any("asset" in w.lower() for w in words) else income)[name] = entry
    return income, assets


def _number(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None
