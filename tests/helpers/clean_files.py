"""Test support for the clean layer: delivered CSV files written from readable literal rows.

Shared by tests/test_clean.py and tests/test_clean_reasons.py.
"""

from __future__ import annotations

from pathlib import Path

PERIOD = "2026-10"
ID_A = "11010519491231002X"
REGISTER_HEADER = ["户编号", "个人编号", "身份证号", "姓名", "性别", "出生日期", "与户主关系", "区县代码",
                   "街道乡镇", "城乡类别", "保障类别", "残疾等级", "重病", "地址", "联系电话"]
REGISTER_ROW = ["H1", "P1", ID_A, "陈丽华", "女", "1949-12-31", "户主", "110105", "某街道", "城市", "低保",
                "", "否", "某路1号", ""]
TAX = ["记录号", "纳税人识别号", "纳税人姓名", "所得期间", "收入额", "扣缴义务人名称"]


def write(folder: Path, name: str, header: list[str], rows: list[list[str]], *,
          encoding: str = "utf-8") -> None:
    def cell(v: str) -> str:
        return f'"{v}"' if "," in v else v
    lines = [",".join(cell(v) for v in r) for r in [header, *rows]]
    (folder / name).write_bytes(("\n".join(lines) + "\n").encode(encoding))


def tax_row(rec: str, amount: str = "1234.5", month: str = "2026-10", name: str = "陈丽华",
            id_: str = ID_A) -> list[str]:
    return [rec, id_, name, month, amount, "某某公司"]
