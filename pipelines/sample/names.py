"""Sample layer: Chinese and minority names with realistic frequencies, and their look-alikes.

Surnames follow the published frequency order (王, 李, 张 … about 30 % of people carry one of the
first five); given names are drawn from a Zipf-weighted pool so that namesakes such as 张伟 are
common, as they are in real rosters. Homophones and traditional forms are derived from the
character pool once, never per person.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import opencc
from pypinyin import Style, lazy_pinyin

#: (surname, share in %) — national frequency order, shares rounded.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1), ("黄", 2.2),
    ("赵", 2.2), ("吴", 2.0), ("周", 1.9), ("徐", 1.5), ("孙", 1.5), ("马", 1.4), ("朱", 1.3),
    ("胡", 1.3), ("郭", 1.1), ("何", 1.1), ("高", 1.0), ("林", 1.0), ("罗", 0.9), ("郑", 0.9),
    ("梁", 0.8), ("谢", 0.7), ("宋", 0.6), ("唐", 0.6), ("许", 0.6), ("韩", 0.5), ("冯", 0.5),
    ("邓", 0.5), ("曹", 0.5), ("彭", 0.5), ("曾", 0.5), ("肖", 0.5), ("田", 0.4), ("董", 0.4),
    ("袁", 0.4), ("潘", 0.4), ("于", 0.4), ("蒋", 0.4), ("蔡", 0.4), ("余", 0.4), ("杜", 0.4),
    ("叶", 0.4), ("程", 0.3), ("苏", 0.3), ("魏", 0.3), ("吕", 0.3), ("丁", 0.3), ("任", 0.3),
    ("沈", 0.3), ("姚", 0.3), ("卢", 0.3), ("姜", 0.3), ("崔", 0.3), ("钟", 0.3), ("谭", 0.3),
    ("陆", 0.3), ("汪", 0.3), ("范", 0.3), ("金", 0.3), ("石", 0.3), ("廖", 0.3), ("贾", 0.3),
    ("夏", 0.3), ("韦", 0.3), ("付", 0.3), ("方", 0.3), ("白", 0.3), ("邹", 0.2), ("孟", 0.2),
    ("熊", 0.2), ("秦", 0.2), ("邱", 0.2), ("江", 0.2), ("尹", 0.2), ("薛", 0.2), ("段", 0.2),
    ("雷", 0.2), ("侯", 0.2), ("龙", 0.2), ("史", 0.2), ("陶", 0.2), ("黎", 0.2), ("贺", 0.2),
    ("顾", 0.2), ("毛", 0.2), ("郝", 0.2), ("龚", 0.2), ("邵", 0.2), ("万", 0.2), ("钱", 0.2),
    ("严", 0.2), ("覃", 0.2), ("武", 0.2), ("戴", 0.2), ("莫", 0.2), ("孔", 0.2), ("单", 0.1),
    ("欧阳", 0.05), ("司马", 0.02), ("诸葛", 0.02), ("上官", 0.02),
)

#: Given names, most frequent first (Zipf weights), per sex.
GIVEN_MALE = (
    "伟 强 磊 军 勇 杰 涛 斌 超 明 刚 平 辉 鹏 华 飞 鑫 波 宇 浩 凯 健 俊 帆 建华 建国 志强 永刚 "
    "海涛 文博 子豪 浩然 宇轩 国庆 德明 春生 晓东 建军 志明 家豪 国强 振华 立新 红军 卫东 金龙 "
    "志刚 光明 世杰 天宇 俊杰 博文 明轩 一鸣 思远 嘉伟 子轩 晨阳"
).split()
GIVEN_FEMALE = (
    "芳 娜 敏 静 丽 艳 娟 霞 燕 玲 婷 雪 慧 颖 琳 桂英 秀英 玉兰 秀兰 淑珍 红梅 丽华 欣怡 梓涵 "
    "雨桐 秀珍 春梅 海燕 丽娟 晓红 美玲 玉珍 桂兰 凤英 金凤 素芬 雅琴 佳怡 思琪 诗涵 紫萱 一诺 "
    "欣然 晓燕 月娥 翠花 巧云 丹丹"
).split()

#: Uyghur-style names are given name · father's name (买买提·艾力).
MINORITY_FIRST = "买买提 阿不都 艾尔肯 吐尔逊 努尔 艾买提 阿依古丽 热依拉 古丽 迪丽 帕提古丽 阿力木".split()
MINORITY_SECOND = "艾力 热合曼 努尔 吐尔逊 卡德尔 阿不都拉 买买提 艾买提 肉孜 玉素甫 哈斯木 托合提".split()

#: Extra characters that homophone typing lands on (same pinyin as pool characters).
_HOMOPHONE_POOL = (
    "玮炜韦维薇为卫蔚威唯惟纬巍 墙蔷羌 垒蕾 君钧均峻骏 洁捷婕 韬滔 彬滨宾 朝潮巢 铭鸣名茗 "
    "钢纲港 萍苹坪 晖徽 朋蓬 骅桦 菲非斐 欣馨新 博柏 雨语羽玉 昊皓豪 楷铠 建剑键 峻 芬纷 "
    "那 民闽 晶菁 莉俐立力 彦雁 鹃 侠 琳林淋 亭庭廷 学 惠辉 英莹瑛 兰岚澜 珍祯 梅玫 华 "
    "红宏鸿虹 东冬 国 庆 明 春 德 志 金 光 世 天 文 子 家 思 嘉 晨辰 轩萱宣"
)

SEPARATORS = (".", "•", "・", "．", "")


def _weights(n: int, s: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def draw_names(rng: np.random.Generator, sex_male: np.ndarray, minority: np.ndarray) -> np.ndarray:
    """A name per person: surname by national frequency, given name Zipf-weighted by sex.

    ``minority`` people get a two-part name joined by ``·``.
    """
    n = len(sex_male)
    sur, share = zip(*SURNAMES, strict=True)
    p = np.array(share) / sum(share)
    surname = np.array(sur, dtype=object)[rng.choice(len(sur), size=n, p=p)]
    gm = np.array(GIVEN_MALE, dtype=object)[rng.choice(len(GIVEN_MALE), size=n, p=_weights(len(GIVEN_MALE)))]
    gf = np.array(GIVEN_FEMALE, dtype=object)[rng.choice(len(GIVEN_FEMALE), size=n, p=_weights(len(GIVEN_FEMALE)))]
    names = surname + np.where(sex_male, gm, gf)
    m1 = np.array(MINORITY_FIRST, dtype=object)[rng.integers(0, len(MINORITY_FIRST), size=n)]
    m2 = np.array(MINORITY_SECOND, dtype=object)[rng.integers(0, len(MINORITY_SECOND), size=n)]
    return np.where(minority, m1 + "·" + m2, names).astype(str)


def _reading(ch: str) -> str:
    return lazy_pinyin(ch, style=Style.NORMAL)[0]


@lru_cache(maxsize=1)
def homophones() -> dict[str, str]:
    """Given-name character -> another character with the same (toneless) default pinyin."""
    chars = sorted(set("".join(GIVEN_MALE + GIVEN_FEMALE)) | set(_HOMOPHONE_POOL.replace(" ", "")))
    by_sound: dict[str, list[str]] = {}
    for ch in chars:
        by_sound.setdefault(_reading(ch), []).append(ch)
    out: dict[str, str] = {}
    for ch in sorted(set("".join(GIVEN_MALE + GIVEN_FEMALE))):
        others = sorted((o for o in by_sound[_reading(ch)] if o != ch),
                        key=lambda o: (_HOMOPHONE_POOL.find(o) < 0, _HOMOPHONE_POOL.find(o)))
        if others:
            out[ch] = others[0]
    return out


@lru_cache(maxsize=1)
def traditional() -> dict[str, str]:
    """Simplified character -> its traditional form, for every pool character that has one."""
    conv = opencc.OpenCC("s2t")
    chars = set("".join(s for s, _ in SURNAMES)) | set("".join(GIVEN_MALE + GIVEN_FEMALE))
    out = {}
    for ch in sorted(chars):
        t = conv.convert(ch)
        if t != ch and len(t) == 1:
            out[ch] = t
    return out
