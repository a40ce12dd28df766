"""What-if layer, outputs: the ``--json`` comparison, the workbook and the HTML page.

The JSON is the contract's (outputs.md): ``{"period", "rulebook_version_before",
"rulebook_version_after", "changed": [{"household_id", "district_code", "flags_before",
"flags_after", "benefit_before", "benefit_after"}]}``, one entry per household whose flags or
benefit differ, flags as lists of rules.md names, benefits in yuan (null when unknown).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.rulebook import DIBAO_STANDARD, TEKUN_STANDARD
from pipelines.whatif import WhatifResult, changed_entries

_BEIJING = timezone(timedelta(hours=8), "北京时间")


def comparison_json(result: WhatifResult) -> dict:
    """The ``--json`` document."""
    return {
        "period": result.period,
        "rulebook_version_before": result.version_before,
        "rulebook_version_after": result.version_after,
        "changed": changed_entries(result),
    }


def write_json(path: Path, result: WhatifResult) -> Path:
    """Write :func:`comparison_json` to ``path`` (UTF-8, Chinese kept readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(comparison_json(result), ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
    return path


def parameter_changes(result: WhatifResult) -> list[dict]:
    """Each parameter value in force at the end of P that the proposal changes."""
    from pipelines.periods import month_end

    day = month_end(result.period)
    before = result.proposal.adopted.at(day)
    after = result.proposal.rulebook.at(day)
    units = {n: p.unit for n, p in result.proposal.rulebook.parameters.items()}
    out = []
    for name in sorted(set(before.values) | set(after.values)):
        b, a = before.values.get(name), after.values.get(name)
        if b != a:
            out.append({"parameter": name, "scope": "全市", "before": _text(b), "after": _text(a),
                        "unit": units.get(name, "")})
    for name in sorted(set(before.words) | set(after.words)):  # kind: words parameters
        wb, wa = before.words.get(name), after.words.get(name)
        if wb != wa:
            out.append({"parameter": name, "scope": "全市",
                        "before": "、".join(wb) if wb else _text(wb),
                        "after": "、".join(wa) if wa else _text(wa), "unit": units.get(name, "")})
    for name, tb, ta in ((DIBAO_STANDARD, before.standards, after.standards),
                         (TEKUN_STANDARD, before.tekun_standards, after.tekun_standards)):
        for key in sorted(set(tb) | set(ta)):
            if key[0] not in result.districts or tb.get(key) == ta.get(key):
                continue
            out.append({"parameter": name, "scope": f"{key[0]} {key[1]}",
                        "before": _text(tb.get(key)), "after": _text(ta.get(key)),
                        "unit": units.get(name, units.get(DIBAO_STANDARD, ""))})
    return out


def _text(value: object) -> str:
    return "（无）" if value is None else str(value)


def _now() -> str:
    return datetime.now(_BEIJING).strftime("%Y-%m-%d %H:%M（北京时间）")


def about_rows(result: WhatifResult, generated_at: str) -> list[tuple[str, str]]:
    """Rows of the workbook's 说明 sheet."""
    from pipelines.report.whatif_workbook import COSTING

    p = result.proposal
    return [
        ("期间", result.period),
        ("区县", "、".join(result.districts)),
        ("生成时间", generated_at),
        ("提案", f"{p.folder}（整套规则，{len(p.files)} 个参数文件）" if set(p.files) >= {
            f"{n}.yaml" for n in p.adopted.parameters} else
         f"{p.folder}（参数文件：{'、'.join(p.files) or '无'}；未提供的参数沿用现行规则）"),
        ("规则版本", f"调整前 {result.version_before}（已发布结果）；调整后 {result.version_after}（提案）"),
        ("内容", ("「分区县汇总」按区县和保障类别统计新增符合条件、不再符合条件、进入渐退、标记变化的户数和"
                "人数，以及每月保障金的变化；「受影响家庭」逐户列出状态、标记和保障金的变化及起作用的参数；"
                "「参数变化」列出提案在本期改变的参数值。")),
        ("计算口径", COSTING),
        ("说明", "；".join(result.notes)),
        ("提示", "本测算只读取仓库中已存储的清洗记录和匹配结果，不写入仓库，不改变已发布的核查结果。"),
    ]


def write_outputs(result: WhatifResult, out: Path) -> list[Path]:
    """Write the workbook and the HTML page into ``out``; returns their paths."""
    from pipelines.report.whatif_html import render_whatif_html
    from pipelines.report.whatif_workbook import write_whatif_workbook

    out.mkdir(parents=True, exist_ok=True)
    generated = _now()
    changes = parameter_changes(result)
    stem = f"whatif-{result.period}"
    if len(result.districts) == 1:
        stem += f"-{result.districts[0]}"
    workbook = write_whatif_workbook(out / f"{stem}.xlsx", about=about_rows(result, generated),
                                     summary=result.comparison.summary,
                                     changed=result.comparison.changed, changes=changes)
    html = out / f"{stem}.html"
    html.write_text(render_whatif_html(
        period=result.period, districts=result.districts, version_before=result.version_before,
        version_after=result.version_after, proposal=str(result.proposal.folder),
        generated_at=generated, summary=result.comparison.summary, changes=changes,
        notes=result.notes), encoding="utf-8")
    return [workbook, html]
