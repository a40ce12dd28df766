"""Report layer: the layout of the district review workbook, shared by writer and importer.

``hedui report`` writes these sheets and columns; ``hedui decisions import`` reads the decision
columns back. Keeping both sides on one definition is what lets a clerk's edits round-trip.
"""

from __future__ import annotations

from pipelines.flags import FLAG_LABELS as REGISTRY_LABELS

SHEET_FLAGS = "核查标记"
SHEET_REVIEW = "待复核匹配"
SHEET_QUARANTINE = "隔离记录"
SHEET_ABOUT = "说明"
#: district workbooks only: one 核对告知书 per flagged household (pipelines/notice.py)
SHEET_NOTICES = "告知书"

#: flagged households: one row per (household, flag)
#: (the decision columns come before the long texts, so a clerk sees them beside the household)
#: (标记代码 and 规则版本, for the importer and the record, come last and are not printed)
FLAG_COLUMNS = (
    "期间", "区县代码", "户编号", "保障类别", "街道乡镇", "户主姓名", "户主证件号",
    "标记", "处理结果", "处理说明", "经办人",
    "原因说明", "计算值", "阈值", "既往处理", "标记代码", "规则版本",
)
#: trailing columns left off the printed page (codes a clerk on a home visit does not need)
UNPRINTED_COLUMNS = {SHEET_FLAGS: ("标记代码", "规则版本")}
#: records waiting in review: one row per extract record with status 'review'
REVIEW_COLUMNS = (
    "期间", "来源", "记录号", "记录姓名", "记录证件号", "候选个人编号", "候选户编号",
    "候选姓名", "候选证件号", "匹配得分", "影响认定", "第二候选", "第三候选",
    "核对结论", "处理说明", "经办人",
    "存疑原因", "候选依据",
)
#: quarantined rows and refused files: for reference only (the providing department corrects
#: and re-delivers), so the sheet has no column to fill in
QUARANTINE_COLUMNS = ("期间", "来源", "文件", "行号", "记录号", "原因")
#: columns kept in view when a sheet scrolls right (the key a clerk looks a row up by)
FROZEN_COLUMNS = {SHEET_FLAGS: "户编号", SHEET_REVIEW: "记录号"}

#: the columns a clerk fills in; everything else is written by hedui
FLAG_DECISION_COLUMNS = ("处理结果", "处理说明", "经办人")
REVIEW_DECISION_COLUMNS = ("核对结论", "处理说明", "经办人")

#: decision words a clerk may type (Chinese as shown in the workbook's drop-down, or English)
FLAG_DECISIONS = {"属实": "verified", "排除": "dismissed", "转交": "referred",
                  "verified": "verified", "dismissed": "dismissed", "referred": "referred"}
LINK_DECISIONS = {"确认": "confirmed", "否定": "rejected",
                  "confirmed": "confirmed", "rejected": "rejected"}

#: flag names of rules.md and how the workbook shows them (each flag's file in pipelines/flags/)
FLAG_LABELS = REGISTRY_LABELS

#: source names and how the workbook shows them
SOURCE_LABELS = {
    "register": "民政花名册", "tax_wages": "税务工资薪金", "pension": "人社养老金/失业金",
    "real_estate": "不动产登记", "vehicles": "机动车登记", "business": "市场主体登记",
    "bank": "金融资产", "medical": "医保结算", "deaths": "死亡信息", "unknown": "未知文件",
}
