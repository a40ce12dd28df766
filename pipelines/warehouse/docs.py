"""``docs/tables.md``: the warehouse's table list, generated from the table registry.

The whole file is generated; edit :mod:`pipelines.warehouse.tables` and run
``python -m pipelines.warehouse.tables --write-docs``. ``tests/test_warehouse_tables.py`` fails
while the file and the registry disagree.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.warehouse.tables import PARTITIONED_PREFIXES, TABLES, Table

#: the generated file, from the repository root
DOCS = Path(__file__).resolve().parents[2] / "docs" / "tables.md"

_ANALYST = {
    "pseudonymised": "分析库：假名化（个人编号、户编号换成密钥假名） / analyst file: pseudonymised",
    "copied": "分析库：原样复制（不含身份信息） / analyst file: copied (no identity)",
    "staff": "仅工作人员 / staff only",
}

_LAYERS = ", ".join(f"`{p}<source>`" for p in PARTITIONED_PREFIXES)
_HEAD = f"""# 仓库表清单 / Warehouse tables

<!-- 本文件由 python -m pipelines.warehouse.tables --write-docs 生成，请勿手改。
     Generated from pipelines/warehouse/tables.py; do not edit by hand. -->

One DuckDB file (`warehouse/hedui.duckdb`) holds these tables; the DDL, the pandera schemas of the
published frames (`schemas/published.py`) and this list are generated from one registry,
`pipelines/warehouse/tables.py`. Per-period tables are views over one parquet file per period
(`pipelines/partitions.py`). The raw and staging layers ({_LAYERS}) are per-period
too; their columns are the source registry's (`pipelines/sources.py`). The partition book
(`_hedui_partitions`, `_hedui_retired_partitions`) belongs to `pipelines/partitions.py`. Periods are `YYYY-MM` text; money is yuan, DECIMAL(18,2).
"""


def _table(t: Table) -> str:
    facts = [f"一行 / row: {t.zh} / {t.en}"]
    if t.key:
        facts.append("键 / key: " + ", ".join(f"`{k}`" for k in t.key))
    facts.append("按月分区 / per period: " + ("是，每月一个 parquet 文件 / yes" if t.partitioned
                                             else "否，仓库文件内的普通表 / no"))
    facts.append(_ANALYST[t.analyst])
    if t.frame is not None:
        facts.append(f"产生该表的阶段写前 {t.frame} 列，其余列由工作人员决定和复核队列补充 / the "
                     f"producing stage writes the first {t.frame} columns; decisions and the review "
                     "queue fill the others")
    lines = [f"## `{t.name}`", "", *[f"- {f}" for f in facts], "",
             "| 列 / column | 类型 / type | 可空 / null | 含义 | meaning |",
             "|---|---|---|---|---|"]
    for c in t.columns:
        null = ("是" if c.nullable else "否") + ("（主键）" if c.primary_key else "")
        if c.sql_check:
            null += f"；`{c.sql_check}`"
        lines.append(f"| `{c.name}` | `{c.type}` | {null} | {c.zh} | {c.en} |")
    return "\n".join(lines)


def render() -> str:
    """The text ``docs/tables.md`` should hold."""
    return _HEAD + "\n" + "\n\n".join(_table(t) for t in TABLES.values()) + "\n"


def is_current(path: Path = DOCS) -> bool:
    """Whether ``path`` holds exactly what :func:`render` gives."""
    return path.exists() and path.read_text(encoding="utf-8") == render()


def write(path: Path = DOCS) -> bool:
    """Write the table list to ``path``; returns whether the file changed."""
    if is_current(path):
        return False
    path.write_text(render(), encoding="utf-8")
    return True
