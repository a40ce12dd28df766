"""Source registry: the delivered files of inputs.md, their required columns and clean names.

This is the one place that knows the Chinese column names of each department's extract and the
English snake_case names the clean layer uses for them. Every stage imports from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

#: How a column is parsed from text into the clean layer.
#: text      trimmed text (NFKC for enumerations, see ``enum``)
#: id        resident ID number -> id_raw / id_norm / id18 / id_status / id_birth_on / id_sex
#: name      person name -> name_raw / name_norm / name_pinyin
#: money     yuan -> integer 分 (Int64), blank -> 0, quarantined when unparseable
#: month     a month (所得期间, 发放年月) -> 'YYYY-MM' text, quarantined when blank/unparseable
#: date_req  a date a rule needs (结算日期, 死亡日期) -> Date, quarantined when blank/unparseable
#: date_opt  a date no rule uses -> Date, null when blank or unparseable
#: decimal   a decimal quantity (建筑面积 m², 注册资本 万元) -> Float64, unit suffix accepted
KINDS = ("text", "id", "name", "money", "month", "date_req", "date_opt", "decimal")


@dataclass(frozen=True)
class Column:
    """One delivered column: its Chinese header, the English name it loads as, and its kind."""

    zh: str
    en: str
    kind: str = "text"
    enum: tuple[str, ...] = ()
    #: accepted unit suffixes for ``decimal`` columns
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """One department's extract: its name, the delivering department, its kind and its columns."""

    name: str
    department: str
    #: income: rows of the month; snapshot: state at month end; event: events reported that month
    kind: str
    columns: tuple[Column, ...] = field(default_factory=tuple)

    @property
    def required(self) -> tuple[str, ...]:
        """The Chinese headers a delivered file must carry, in the contract's order."""
        return tuple(c.zh for c in self.columns)

    def column(self, en: str) -> Column:
        """The column loaded as ``en``; KeyError when the source has none."""
        for c in self.columns:
            if c.en == en:
                return c
        raise KeyError(en)


RECORD_NO = Column("记录号", "record_no")

SOURCES: dict[str, Source] = {
    "tax_wages": Source("tax_wages", "税务局", "income", (
        RECORD_NO,
        Column("纳税人识别号", "id_raw", "id"),
        Column("纳税人姓名", "name_raw", "name"),
        Column("所得期间", "income_month", "month"),
        Column("收入额", "amount_fen", "money"),
        Column("扣缴义务人名称", "withholder"),
    )),
    "pension": Source("pension", "人社局", "income", (
        RECORD_NO,
        Column("证件号码", "id_raw", "id"),
        Column("姓名", "name_raw", "name"),
        Column("发放年月", "income_month", "month"),
        Column("发放金额", "amount_fen", "money"),
        Column("待遇类型", "benefit_type", "text", ("基本养老金", "城乡居民养老金", "失业保险金")),
    )),
    "real_estate": Source("real_estate", "不动产登记中心", "snapshot", (
        RECORD_NO,
        Column("权利人证件号", "id_raw", "id"),
        Column("权利人名称", "name_raw", "name"),
        Column("不动产单元号", "unit_no"),
        Column("坐落", "location"),
        Column("建筑面积", "area_m2", "decimal", units=("平方米", "㎡")),
        Column("规划用途", "usage", "text", ("住宅", "商业", "办公", "工业", "车位")),
        Column("登记时间", "registered_on", "date_opt"),
        Column("共有方式", "co_ownership"),
    )),
    "vehicles": Source("vehicles", "公安交管", "snapshot", (
        RECORD_NO,
        Column("身份证明号码", "id_raw", "id"),
        Column("所有人", "name_raw", "name"),
        Column("号牌号码", "plate_no"),
        Column("车辆类型", "vehicle_type", "text",
               ("小型轿车", "小型普通客车", "轻型货车", "普通二轮摩托车", "残疾人专用车")),
        Column("初次登记日期", "first_registered_on", "date_opt"),
        Column("状态", "vehicle_status", "text", ("正常", "注销", "报废", "查封")),
    )),
    "business": Source("business", "市场监管局", "snapshot", (
        RECORD_NO,
        Column("证件号码", "id_raw", "id"),
        Column("姓名", "name_raw", "name"),
        Column("统一社会信用代码", "credit_code"),
        Column("企业名称", "company_name"),
        Column("身份", "role", "text", ("法定代表人", "股东", "个体工商户经营者")),
        Column("注册资本", "capital_wan", "decimal", units=("万元", "万")),
        Column("登记状态", "registration_status", "text", ("存续", "注销", "吊销")),
    )),
    "bank": Source("bank", "金融机构", "snapshot", (
        RECORD_NO,
        Column("金融机构", "institution"),
        Column("客户证件号码", "id_raw", "id"),
        Column("客户姓名", "name_raw", "name"),
        Column("账户类型", "account_type", "text",
               ("活期存款", "定期存款", "理财产品", "基金", "证券", "保险")),
        Column("余额", "balance_fen", "money"),
        Column("查询日期", "queried_on", "date_opt"),
    )),
    "medical": Source("medical", "医保局", "income", (
        RECORD_NO,
        Column("身份证号", "id_raw", "id"),
        Column("姓名", "name_raw", "name"),
        Column("结算日期", "settled_on", "date_req"),
        Column("医疗总费用", "total_fen", "money"),
        Column("个人自付金额", "self_paid_fen", "money"),
    )),
    "deaths": Source("deaths", "公安/殡葬", "event", (
        RECORD_NO,
        Column("身份证号码", "id_raw", "id"),
        Column("姓名", "name_raw", "name"),
        Column("死亡日期", "died_on", "date_req"),
        Column("数据来源", "data_source"),
    )),
}

#: The civil-affairs roster: validated like an extract (source ``register``), but it has no 记录号.
REGISTER = Source("register", "民政", "register", (
    Column("户编号", "household_id"),
    Column("个人编号", "person_id"),
    Column("身份证号", "id_raw", "id"),
    Column("姓名", "name_raw", "name"),
    Column("性别", "sex", "text", ("男", "女")),
    Column("出生日期", "birth_on", "date_opt"),
    Column("与户主关系", "relation", "text", ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")),
    Column("区县代码", "district_code"),
    Column("街道乡镇", "street"),
    Column("城乡类别", "urban_rural", "text", ("城市", "农村")),
    Column("保障类别", "programme", "text", ("低保", "特困", "低保边缘", "支出型困难", "监测对象")),
    Column("残疾等级", "disability_grade", "text", ("一级", "二级", "三级", "四级")),
    Column("重病", "serious_illness", "text", ("是", "否")),
    Column("地址", "address"),
    Column("联系电话", "phone"),
))

EXTRACT_SOURCES: tuple[str, ...] = tuple(SOURCES)
INCOME_SOURCES: tuple[str, ...] = ("tax_wages", "pension")
SNAPSHOT_SOURCES: tuple[str, ...] = ("real_estate", "vehicles", "business", "bank")
SUFFIXES = (".csv", ".xlsx")

_BANK = re.compile(r"^bank_.+$")


def source_of(path: Path | str) -> str | None:
    """The source a delivered file belongs to, from its name stem (case-insensitive).

    ``Tax_Wages.CSV`` is ``tax_wages``; ``bank_`` followed by anything is ``bank``;
    ``register.csv`` is ``register``. Any other name, or a suffix other than .csv/.xlsx, is None:
    an unknown file is reported, never guessed.
    """
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        return None
    stem = p.stem.lower()
    if stem == "register":
        return "register"
    if stem in SOURCES and stem != "bank":
        return stem
    if _BANK.match(stem):
        return "bank"
    return None


def spec(source: str) -> Source:
    """The :class:`Source` for a source name, the register included."""
    return REGISTER if source == "register" else SOURCES[source]
