"""Normalisation layer: person names -> ``name_norm`` and surname-aware ``name_pinyin``.

Names are folded once per *distinct* name and per *distinct* character (OpenCC t2s and
pypinyin are Python libraries), then joined back: the cost follows the number of different
names, not the number of rows.
"""

from __future__ import annotations

from functools import lru_cache

import opencc
import polars as pl
from pypinyin import Style, lazy_pinyin

#: Separators seen between the parts of minority names (after NFKC), unified to ``·``.
SEPARATORS = "·.•・‧∙⋅᛫•⸱﹒｡。"
_SEP_RE = "[" + "".join("\\" + c if c in ".^-[]\\" else c for c in SEPARATORS) + "]+"

#: Surname readings pypinyin does not give for a character in first position.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan", "曾": "zeng", "区": "ou", "仇": "qiu", "解": "xie", "查": "zha",
    "朴": "piao", "盖": "ge", "乐": "yue", "覃": "qin", "缪": "miao", "翟": "zhai",
    "秘": "bi", "种": "chong", "员": "yun", "召": "shao", "繁": "po", "尉": "wei",
    "长": "chang", "万": "wan", "黑": "he", "冼": "xian", "隗": "wei",
}

#: Two-character surnames and their readings.
COMPOUND_SURNAMES: dict[str, tuple[str, str]] = {
    "欧阳": ("ou", "yang"), "司马": ("si", "ma"), "尉迟": ("yu", "chi"), "上官": ("shang", "guan"),
    "诸葛": ("zhu", "ge"), "东方": ("dong", "fang"), "皇甫": ("huang", "fu"), "令狐": ("ling", "hu"),
    "长孙": ("zhang", "sun"), "慕容": ("mu", "rong"), "宇文": ("yu", "wen"), "澹台": ("tan", "tai"),
    "公孙": ("gong", "sun"), "夏侯": ("xia", "hou"), "万俟": ("mo", "qi"), "单于": ("chan", "yu"),
    "司徒": ("si", "tu"), "司空": ("si", "kong"), "轩辕": ("xuan", "yuan"), "端木": ("duan", "mu"),
    "呼延": ("hu", "yan"), "闻人": ("wen", "ren"), "南宫": ("nan", "gong"), "百里": ("bai", "li"),
    "东郭": ("dong", "guo"), "西门": ("xi", "men"), "钟离": ("zhong", "li"), "宗政": ("zong", "zheng"),
    "濮阳": ("pu", "yang"), "太史": ("tai", "shi"), "申屠": ("shen", "tu"), "公冶": ("gong", "ye"),
    "赫连": ("he", "lian"), "拓跋": ("tuo", "ba"),
}

_T2S = opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def to_simplified(ch: str) -> str:
    """One character folded traditional -> simplified (OpenCC t2s data)."""
    return _T2S.convert(ch)


@lru_cache(maxsize=65536)
def char_pinyin(ch: str) -> str | None:
    """Tone-less pinyin of one Han character (its most common reading); None otherwise."""
    if not ("\u3400" <= ch <= "\u9fff" or "\U00020000" <= ch <= "\U0003134f"):
        return None
    return lazy_pinyin(ch, style=Style.NORMAL)[0]


def base_expr(raw: pl.Expr) -> pl.Expr:
    """NFKC, whitespace removed, separators unified to ``·``; null when nothing is left.

    Parameters
    ----------
    raw
        String expression of names as delivered.

    Returns
    -------
    pl.Expr
        String expression (not yet folded to simplified characters).
    """
    text = (
        raw.str.normalize("NFKC")
        .str.replace_all(r"\s+", "")
        .str.replace_all(_SEP_RE, "·")
        .str.strip_chars("·")
    )
    return pl.when(text.str.len_chars() > 0).then(text)


def fold_names(names: pl.Series) -> pl.DataFrame:
    """Fold distinct names: ``name_base -> name_norm, name_pinyin``.

    Parameters
    ----------
    names
        String series of base-normalised names (see :func:`base_expr`), duplicates allowed.

    Returns
    -------
    pl.DataFrame
        One row per distinct non-null input: ``name_base, name_norm, name_pinyin``.
    """
    uniq = (
        pl.DataFrame({"name_base": names.cast(pl.String)})
        .drop_nulls()
        .unique(maintain_order=True)
        .with_row_index("nid")
    )
    if uniq.height == 0:
        return pl.DataFrame(schema={"name_base": pl.String, "name_norm": pl.String,
                                    "name_pinyin": pl.String})
    chars = (
        uniq.with_columns(ch=pl.col("name_base").str.split(""))
        .explode("ch")
        .with_columns(pos=pl.int_range(pl.len()).over("nid"))
    )
    distinct = chars.select(pl.col("ch").unique()).to_series().to_list()
    simp = {c: to_simplified(c) for c in distinct}
    chars = chars.with_columns(
        simp=pl.col("ch").replace_strict(simp, return_dtype=pl.String)
    )
    folded = (
        chars.sort("nid", "pos")
        .group_by("nid", maintain_order=True)
        .agg(pl.col("simp").str.join(""))
        .rename({"simp": "name_norm"})
    )
    chars = chars.join(folded, on="nid", how="left")
    sdistinct = chars.select(pl.col("simp").unique()).to_series().to_list()
    reading = {c: char_pinyin(c) for c in sdistinct}
    prefix = pl.col("name_norm").str.slice(0, 2)
    compound_first = {k: v[0] for k, v in COMPOUND_SURNAMES.items()}
    compound_second = {k: v[1] for k, v in COMPOUND_SURNAMES.items()}
    is_compound = prefix.is_in(list(COMPOUND_SURNAMES))
    syllable = (
        pl.when(is_compound & (pl.col("pos") == 0))
        .then(prefix.replace_strict(compound_first, default=None, return_dtype=pl.String))
        .when(is_compound & (pl.col("pos") == 1))
        .then(prefix.replace_strict(compound_second, default=None, return_dtype=pl.String))
        .when((pl.col("pos") == 0) & pl.col("simp").is_in(list(SURNAME_READINGS)))
        .then(pl.col("simp").replace_strict(SURNAME_READINGS, default=None, return_dtype=pl.String))
        .otherwise(pl.col("simp").replace_strict(reading, return_dtype=pl.String))
    )
    pinyin = (
        chars.with_columns(syl=syllable)
        .sort("nid", "pos")
        .group_by("nid", maintain_order=True)
        .agg(pl.col("syl").drop_nulls().str.join(" "))
        .rename({"syl": "name_pinyin"})
    )
    return (
        uniq.join(folded, on="nid", how="left")
        .join(pinyin, on="nid", how="left")
        .with_columns(pl.when(pl.col("name_pinyin") != "").then(pl.col("name_pinyin")))
        .sort("nid")
        .select("name_base", "name_norm", "name_pinyin")
    )


def add_name_columns(frame: pl.DataFrame, *, raw: str = "name_raw") -> pl.DataFrame:
    """Add ``name_norm`` and ``name_pinyin`` computed from the ``raw`` column.

    Parameters
    ----------
    frame
        Frame with a String column ``raw`` (names as delivered).
    raw
        Name of that column.

    Returns
    -------
    pl.DataFrame
        ``frame`` with the two columns added (row order kept).
    """
    # every step works on the distinct delivered names, joined back once
    distinct = frame.select(pl.col(raw).unique()).with_columns(base_expr(pl.col(raw)).alias("_name_base"))
    table = distinct.join(fold_names(distinct.get_column("_name_base")), left_on="_name_base",
                          right_on="name_base", how="left").drop("_name_base")
    return frame.join(table, on=raw, how="left", nulls_equal=True, maintain_order="left")


def normalize_name(name: str | None) -> tuple[str | None, str | None]:
    """``(name_norm, name_pinyin)`` of one name: the same rules as :func:`add_name_columns`."""
    out = add_name_columns(pl.DataFrame({"name_raw": [name]}, schema={"name_raw": pl.String}))
    return out.item(0, "name_norm"), out.item(0, "name_pinyin")
