"""Sample layer: the synthetic city's households, people and monthly register snapshots.

People keep their 个人编号 and households their 户编号 for the whole run. Month to month a few
people die (and leave the register one or two months later, or stay on it), a few leave, and a
few move to another household. Everything is drawn with numpy from one generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.periods import month_end, month_start
from pipelines.sample.districts import CITY, District
from pipelines.sample.ids import build_ids, legacy15, to_text
from pipelines.sample.names import draw_names

DISTRICTS = np.array([int(d.code) for d in CITY])
STREETS = {int(d.code): d.streets for d in CITY}
PROGRAMMES = np.array(["低保", "特困", "低保边缘", "支出型困难", "监测对象"])
RELATIONS = np.array(["户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他"])
GRADES = np.array(["", "一级", "二级", "三级", "四级"])


@dataclass(frozen=True)
class Population:
    """The city: its households, persons and register membership.

    ``households`` (one row per household), ``persons`` (one row per person, with true ID,
    register ID and dynamics) and ``membership`` (one row per person and month on the register:
    ``period, person_id, household_id, relation``).
    """

    households: pl.DataFrame
    persons: pl.DataFrame
    membership: pl.DataFrame


def _pick(rng: np.random.Generator, values: np.ndarray, p: list[float], size: int) -> np.ndarray:
    return values[rng.choice(len(values), size=size, p=np.asarray(p) / sum(p))]


def build_population(rng: np.random.Generator, households: int, months: list[str], *,
                     districts: Sequence[District] = CITY, first_person: int = 1) -> Population:
    """Draw the households and people of a city and their register membership per month.

    Parameters
    ----------
    rng : numpy.random.Generator
        The city's generator (all randomness comes from it).
    households : int
        Number of households at the first month.
    months : list of str
        Consecutive ``YYYY-MM`` periods.
    districts : sequence of District, optional
        The districts households are drawn over (by weight); the sample city's three by default.
    first_person : int, optional
        Number of the first 个人编号 (``R000000001`` by default): a province generated district by
        district numbers its people on, so that 个人编号 stays unique.
    """
    H = households
    n_months = len(months)
    codes = np.array([int(d.code) for d in districts])
    district = _pick(rng, codes, [d.weight for d in districts], H)
    at = np.searchsorted(codes, district)
    p_urban = np.array([d.p_urban for d in districts])[at]
    urban = np.where(rng.random(H) < p_urban, "城市", "农村")
    programme = _pick(rng, PROGRAMMES, [0.42, 0.12, 0.2, 0.1, 0.16], H)
    size = rng.choice(np.arange(1, 7), size=H, p=[0.36, 0.22, 0.18, 0.13, 0.07, 0.04])
    size = np.where(programme == "特困", np.where(rng.random(H) < 0.9, 1, 2), size)
    street_idx = rng.integers(0, 4, size=H)
    street_table = np.array([d.streets for d in districts])
    street = street_table[at, street_idx]
    minority_hh = rng.random(H) < np.array([d.p_minority for d in districts])[at]
    hh_id = np.char.add(np.char.add("H", district.astype(str)), np.char.zfill(np.arange(1, H + 1).astype(str), 6))
    phone_num = np.char.add("13", np.char.zfill(rng.integers(0, 10**9, size=H).astype(str), 9))
    hh = pl.DataFrame({
        "household_id": hh_id,
        "district_code": district.astype(str),
        "urban_rural": urban,
        "programme": programme,
        "street": street,
        "address": np.char.add(np.char.add(street, np.char.add("幸福路", (street_idx * 37 + np.arange(H) % 300 + 1).astype(str))), "号"),
        "phone": np.where(rng.random(H) < 0.45, "", phone_num),
        "size": size,
    })

    # people: one row per member, position 0 is the 户主
    owner = np.repeat(np.arange(H), size)
    starts = np.repeat(np.cumsum(size) - size, size)
    pos = np.arange(len(owner)) - starts
    N = len(owner)
    head_age = np.where(programme == "特困", rng.integers(58, 92, size=H), rng.integers(24, 86, size=H))[owner]
    rel_1 = _pick(rng, RELATIONS[[1, 2, 3, 5]], [0.7, 0.18, 0.06, 0.06], N)
    rel_k = _pick(rng, RELATIONS[[2, 3, 4, 5, 6]], [0.62, 0.12, 0.14, 0.06, 0.06], N)
    relation = np.where(pos == 0, "户主", np.where(pos == 1, rel_1, rel_k))
    offset = np.select(
        [relation == "户主", relation == "配偶", relation == "子女", relation == "父母",
         relation == "孙子女", relation == "兄弟姐妹"],
        [0, rng.integers(-5, 6, N), -rng.integers(20, 36, N), rng.integers(20, 32, N),
         -rng.integers(42, 60, N), rng.integers(-8, 9, N)],
        rng.integers(-30, 31, N),
    )
    age = np.clip(head_age + offset, 0, 100)
    age = np.where(age <= 0, rng.integers(0, 6, N), age)
    head_male = (rng.random(H) < 0.55)[owner]
    male = np.where(relation == "户主", head_male,
                    np.where(relation == "配偶", ~head_male, rng.random(N) < 0.5))
    ref = np.datetime64(month_start(months[0]).isoformat(), "D")
    birth = ref - (age * 365.25).astype(np.int64) - rng.integers(1, 365, N)
    p_dis = np.where(programme[owner] == "特困", 0.25, 0.1)
    grade = np.where(rng.random(N) < p_dis, _pick(rng, GRADES[1:], [0.25, 0.25, 0.25, 0.25], N), "")
    ill = np.where(rng.random(N) < np.where(programme[owner] == "特困", 0.15, 0.05), "是", "否")
    names = draw_names(rng, male, minority_hh[owner])
    # namesakes are the rule in real rosters: make sure the classic ones occur several times
    adult_male = np.flatnonzero(male & (age >= 20) & ~minority_hh[owner])
    adult_female = np.flatnonzero(~male & (age >= 20) & ~minority_hh[owner])
    names[adult_male[: min(3, len(adult_male))]] = "张伟"
    names[adult_female[: min(2, len(adult_female))]] = "王芳"

    digits = _unique_ids(rng, district[owner], birth, male)
    true_id = to_text(digits)
    born_1900s = (birth >= np.datetime64("1900-01-01")) & (birth < np.datetime64("2000-01-01"))
    u = rng.random(N)
    reg_kind = np.where(u < 0.006, "blank", np.where((u < 0.014) & born_1900s, "legacy15", "id18"))
    if N >= 20:  # every kind at least twice, so that matching meets them in any city
        for kind, pool in (("legacy15", np.flatnonzero(born_1900s)), ("blank", np.arange(N))):
            have = int((reg_kind == kind).sum())
            free = pool[reg_kind[pool] == "id18"]
            reg_kind[free[: max(0, 2 - have)]] = kind
    reg_id = np.where(reg_kind == "id18", true_id, np.where(reg_kind == "legacy15", legacy15(digits), ""))

    # dynamics over the months
    hazard = np.select([age >= 75, age >= 60], [0.012, 0.004], 0.0008)
    dies = rng.random((N, n_months)) < hazard[:, None]
    death_idx = np.where(dies.any(axis=1), dies.argmax(axis=1), n_months)
    stay = rng.choice(np.array([1, 2, 10**6]), size=N, p=[0.4, 0.35, 0.25])
    leave_idx = np.where(death_idx < n_months, death_idx + stay, n_months)
    leaves = (rng.random((N, n_months)) < 0.006) & (pos != 0)[:, None]
    leave_other = np.where(leaves.any(axis=1), leaves.argmax(axis=1), n_months)
    leave_idx = np.minimum(leave_idx, np.where(leave_other == 0, n_months, leave_other))
    moves = (rng.random((N, n_months)) < 0.006) & (pos != 0)[:, None]
    move_idx = np.where(moves.any(axis=1), moves.argmax(axis=1), n_months)
    move_idx = np.where(move_idx == 0, n_months, move_idx)
    target = rng.integers(0, H, N)
    move_idx = np.where(target == owner, n_months, move_idx)
    month_len = np.array([month_end(m).day for m in months])
    death_day = (rng.random(N) * month_len[np.minimum(death_idx, n_months - 1)]).astype(np.int64) + 1
    report_idx = np.where(rng.random(N) < 0.2, death_idx + 1, death_idx)

    persons = pl.DataFrame({
        "person_id": np.char.add("R", np.char.zfill(np.arange(first_person, first_person + N).astype(str), 9)),
        "household_id": hh_id[owner],
        "position": pos,
        "relation": relation,
        "true_id": true_id,
        "register_id": reg_id,
        "register_id_kind": reg_kind,
        "name": names,
        "sex": np.where(male, "男", "女"),
        "birth_on": birth,
        "age": age,
        "disability_grade": grade,
        "serious_illness": ill,
        "death_idx": death_idx,
        "death_day": death_day,
        "death_report_idx": report_idx,
        "leave_idx": leave_idx,
        "move_idx": move_idx,
        "move_household_id": hh_id[target],
    })
    idx = pl.DataFrame({"month_idx": np.arange(n_months), "period": months})
    membership = (
        persons.select("person_id", "household_id", "relation", "leave_idx", "move_idx", "move_household_id")
        .join(idx, how="cross")
        .filter(pl.col("month_idx") < pl.col("leave_idx"))
        .with_columns(
            moved=pl.col("month_idx") >= pl.col("move_idx"),
        )
        .select(
            "period", "month_idx", "person_id",
            pl.when("moved").then("move_household_id").otherwise("household_id").alias("household_id"),
            pl.when("moved").then(pl.lit("其他")).otherwise("relation").alias("relation"),
        )
        .sort("month_idx", "household_id", "person_id")
    )
    return Population(hh, persons, membership)


def _unique_ids(rng: np.random.Generator, district: np.ndarray, birth: np.ndarray,
                male: np.ndarray) -> np.ndarray:
    """Valid IDs, no two alike: the sequence is redrawn for the few that collide."""
    n = len(district)
    seq = rng.integers(0, 500, n) * 2 + male.astype(np.int64)
    digits = build_ids(district, birth, seq)
    while True:
        text = to_text(digits)
        _, first = np.unique(text, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if not len(dup):
            return digits
        seq[dup] = rng.integers(0, 500, len(dup)) * 2 + male[dup].astype(np.int64)
        digits[dup] = build_ids(district[dup], birth[dup], seq[dup])
