"""Sample layer: the true department records of the synthetic city, month by month, typed.

Each person gets an economic profile (wages, pension, accounts, homes, cars, companies, illness)
aimed at the household's threshold, so that every flag of rules.md happens: incomes straddle the
standard (and its change on 2026-07-01), some households own too much, some lose a job. The
frames returned here are the truth before any corruption: money in integer 分, months as
``YYYY-MM``, dates as ``Date``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import cast

import numpy as np
import polars as pl

from pipelines.periods import add_months, month_end
from pipelines.sample.population import Population

#: (file stem, 金融机构, written as XLSX, 记录号 written as a number) — one file per institution.
BANKS: tuple[tuple[str, str, bool, bool], ...] = (
    ("bank_icbc", "中国工商银行", True, False),
    ("bank_ccb", "中国建设银行", False, False),
    ("bank_abc", "中国农业银行", False, False),
    ("bank_rcc", "农村商业银行", True, True),
)
#: The sample table of rules.md: S before 2026-07-01 and from it, per district and 城乡类别.
STANDARDS = {
    ("990101", "城市"): (980, 1010), ("990101", "农村"): (980, 1010),
    ("990102", "城市"): (840, 869), ("990102", "农村"): (640, 667),
    ("990103", "城市"): (620, 642), ("990103", "农村"): (300, 325),
}
EMPLOYERS = tuple(f"{a}{b}有限公司" for a in ("恒达", "永兴", "华泰", "金石", "宏远", "安康", "顺发", "利民")
                  for b in ("建筑", "物流", "商贸", "食品"))
ACCOUNT_TYPES = np.array(["活期存款", "定期存款", "理财产品", "基金", "证券", "保险"])


def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def person_frame(pop: Population, standards: Mapping[tuple[str, str], tuple] | None = None) -> pl.DataFrame:
    """People joined to their original household's attributes and the first-month standard.

    ``standards`` maps ``(district, 城乡类别)`` to a tuple whose first item is S before the raise
    (a province's :func:`pipelines.sample.districts.standards_table`); :data:`STANDARDS` by default.
    """
    std = pl.DataFrame(
        [(d, u, v[0]) for (d, u), v in (standards or STANDARDS).items()],
        schema=["district_code", "urban_rural", "s0_yuan"], orient="row",
    )
    return (
        pop.persons.join(pop.households, on="household_id", how="left", maintain_order="left")
        .join(std, on=["district_code", "urban_rural"], how="left", maintain_order="left")
    )


def build_facts(rng: np.random.Generator, pop: Population, months: list[str], *,
                standards: Mapping[tuple[str, str], tuple] | None = None) -> dict[str, pl.DataFrame]:
    """True records per source for every month.

    Parameters
    ----------
    rng : numpy.random.Generator
        The city's generator.
    pop : Population
        The city's people and households (``build_population``).
    months : list of str
        Consecutive ``YYYY-MM`` months.
    standards : mapping, optional
        The districts' standards (see :func:`person_frame`); the sample city's by default.

    Returns
    -------
    dict of str to DataFrame
        Source -> records (``bank`` holds all institutions). Every frame has ``period`` (delivery
        folder), ``person_id``, ``id18``, ``name`` and the source's own columns by their English
        clean names, typed (money Int64 分, months ``YYYY-MM``, dates Date); bank rows also carry
        ``file_stem`` and ``institution``.
    """
    p = person_frame(pop, standards)
    n_months = len(months)
    N = p.height
    age = p["age"].to_numpy()
    size = p["size"].to_numpy()
    s0 = p["s0_yuan"].to_numpy().astype(float)
    prog = p["programme"].to_numpy()
    urban = p["urban_rural"].to_numpy() == "城市"
    hh_codes, hh_index = np.unique(p["household_id"].to_numpy(), return_inverse=True)
    H = len(hh_codes)

    # household income target: per-capita income relative to S (T = 1.3 S for 特困)
    u = rng.random(H)
    hh_prog = np.empty(H, dtype=object)
    hh_prog[hh_index] = prog
    ratio = np.select(
        [hh_prog == "低保", hh_prog == "特困", hh_prog == "低保边缘"],
        [np.where(u < 0.55, _u(rng, 0, 0.85, H), np.where(u < 0.8, _u(rng, 0.9, 1.06, H), _u(rng, 1.06, 1.5, H))),
         1.3 * np.where(u < 0.8, _u(rng, 0, 0.9, H), _u(rng, 1.02, 1.4, H)),
         np.where(u < 0.35, _u(rng, 0.5, 1.0, H), np.where(u < 0.7, _u(rng, 1.0, 1.5, H), _u(rng, 1.5, 2.3, H)))],
        np.where(u < 0.3, _u(rng, 0.4, 1.0, H), _u(rng, 1.0, 3.0, H)),
    )
    target = ratio[hh_index] * s0 * size  # household monthly net income, yuan

    earner = (age >= 18) & (age <= 62) & (rng.random(N) < 0.6)
    pensioner = (age >= 60) & (rng.random(N) < 0.85)
    basic = pensioner & urban & (rng.random(N) < 0.6)
    pension = np.where(basic, _u(rng, 1800, 3800, N), np.where(pensioner, _u(rng, 150, 450, N), 0.0))
    hh_pension = np.bincount(hh_index, weights=pension, minlength=H)[hh_index]
    scale = np.where(hh_pension > target, target / np.maximum(hh_pension, 1), 1.0)
    pension = np.where(pensioner, np.round(np.maximum(pension * scale, 100) * 100), 0)  # 分
    n_earners = np.bincount(hh_index, weights=earner, minlength=H)[hh_index]
    wage_net = np.where(earner, np.maximum(target - pension / 100 * (hh_pension > 0), 0) / np.maximum(n_earners, 1), 0)
    wage_gross = wage_net / 0.8

    # job loss: whole households at the start of the last quarter block, and a few individuals
    drop_hh = (rng.random(H) < 0.05)[hh_index]
    loss_idx = np.where(drop_hh & (n_months >= 4), n_months - 3, n_months)
    solo = rng.random(N) < 0.02
    loss_idx = np.where(solo, rng.integers(1, max(2, n_months), N), loss_idx)
    loss_idx = np.where(earner, loss_idx, n_months)
    unemployment = (loss_idx < n_months) & (rng.random(N) < 0.5)
    start_idx = np.where(~earner & (age >= 18) & (age <= 55) & (rng.random(N) < 0.02),
                         rng.integers(1, max(2, n_months), N), n_months)
    start_wage = _u(rng, 1500, 4500, N)

    pid = p["person_id"].to_numpy()
    ids = p["true_id"].to_numpy()
    names = p["name"].to_numpy()
    death_idx = p["death_idx"].to_numpy()
    base = pl.DataFrame({"person_id": pid, "id18": ids, "name": names})
    mi = np.arange(n_months)
    alive_through = death_idx  # paid in the month of death, not after

    # --- tax_wages ---------------------------------------------------------------------------
    grid_n, grid_m = (g.ravel() for g in np.meshgrid(np.arange(N), mi, indexing="ij"))
    working = ((earner[grid_n] & (grid_m < loss_idx[grid_n])) | (grid_m >= start_idx[grid_n])) \
        & (grid_m <= alive_through[grid_n])
    gross = np.where(grid_m >= start_idx[grid_n], start_wage[grid_n], wage_gross[grid_n])
    wn, wm = grid_n[working], grid_m[working]
    amount = np.round(gross[working] * (1 + rng.normal(0, 0.04, len(wn))) * 10) * 10  # multiple of 10 分
    two_jobs = rng.random(len(wn)) < 0.06
    share = np.where(two_jobs, 0.6, 1.0)
    first = np.round(amount * share / 10) * 10
    emp = rng.integers(0, len(EMPLOYERS), N)
    rows_n = np.concatenate([wn, wn[two_jobs]])
    rows_m = np.concatenate([wm, wm[two_jobs]])
    rows_amt = np.concatenate([first, (amount - first)[two_jobs]])
    rows_emp = np.concatenate([emp[wn], (emp[wn][two_jobs] + 1) % len(EMPLOYERS)])
    late = rng.random(len(rows_n)) < 0.03
    tax = pl.DataFrame({
        "n": rows_n, "period": np.array(months)[rows_m],
        "income_month": np.array(months)[rows_m],
        "amount_fen": rows_amt.astype(np.int64), "withholder": np.array(EMPLOYERS)[rows_emp],
        "late": late,
    }).with_columns(
        income_month=pl.when("late")
        .then(pl.col("period").replace_strict(months, [add_months(m, -1) for m in months]))
        .otherwise("income_month"),
    ).drop("late")

    # --- pension -------------------------------------------------------------------------------
    alive = grid_m <= alive_through[grid_n]
    pen_on = pensioner[grid_n] & alive & (pension[grid_n] > 0)
    ue_on = unemployment[grid_n] & (grid_m >= loss_idx[grid_n]) & alive
    ue_amt = np.round(_u(rng, 900, 1500, N) * 100)
    pens = pl.DataFrame({
        "n": np.concatenate([grid_n[pen_on], grid_n[ue_on]]),
        "period": np.array(months)[np.concatenate([grid_m[pen_on], grid_m[ue_on]])],
        "amount_fen": np.concatenate([pension[grid_n[pen_on]], ue_amt[grid_n[ue_on]]]).astype(np.int64),
        "benefit_type": np.concatenate([
            np.where(basic[grid_n[pen_on]], "基本养老金", "城乡居民养老金"),
            np.full(int(ue_on.sum()), "失业保险金")]),
    }).with_columns(income_month=pl.col("period"))

    # --- bank: accounts fixed for the run, balances move a little ----------------------------------
    hu = rng.random(H)
    rich = np.select(
        [np.isin(hh_prog, ["低保", "特困"]), hh_prog == "低保边缘"],
        [np.where(hu < 0.09, _u(rng, 25, 45, H), _u(rng, 0, 14, H)),
         np.where(hu < 0.09, _u(rng, 37, 60, H), np.where(hu < 0.16, _u(rng, 25, 35, H), _u(rng, 0, 20, H)))],
        np.where(hu < 0.12, _u(rng, 25, 60, H), _u(rng, 0, 20, H)),
    )
    hh_assets = rich[hh_index] * s0 * size  # per person's household, yuan
    n_acc = np.where(age >= 18, rng.choice(4, N, p=[0.12, 0.45, 0.3, 0.13]), rng.choice(2, N, p=[0.7, 0.3]))
    acc_owner = np.repeat(np.arange(N), n_acc)
    weight = rng.random(len(acc_owner)) + 0.05
    hh_weight = np.bincount(hh_index[acc_owner], weights=weight, minlength=H)
    acc_base = hh_assets[acc_owner] * weight / hh_weight[hh_index[acc_owner]]
    acc_bank = rng.integers(0, len(BANKS), len(acc_owner))
    acc_type = ACCOUNT_TYPES[rng.choice(len(ACCOUNT_TYPES), len(acc_owner), p=[0.5, 0.25, 0.1, 0.05, 0.04, 0.06])]
    A = len(acc_owner)
    ga, gm = (g.ravel() for g in np.meshgrid(np.arange(A), mi, indexing="ij"))
    bal = np.round(acc_base[ga] * (1 + rng.normal(0, 0.02, len(ga))) * 100)
    query = np.array([month_end(m) for m in months], dtype="datetime64[D]")
    bank = pl.DataFrame({
        "n": acc_owner[ga], "period": np.array(months)[gm],
        "file_stem": np.array([b[0] for b in BANKS])[acc_bank[ga]],
        "institution": np.array([b[1] for b in BANKS])[acc_bank[ga]],
        "account_type": acc_type[ga], "balance_fen": bal.astype(np.int64),
        "queried_on": query[gm],
    })

    # --- real estate, vehicles, business: holdings with a month from which they are registered ----
    head = p["position"].to_numpy() == 0
    adult = age >= 18
    hn = np.flatnonzero(head)  # household holdings are registered to the 户主 ...
    spouse_or_head = np.where(np.roll(adult & ~head, -1) & np.roll(~head, -1), np.arange(N) + 1, np.arange(N))
    r = rng.random((len(hn), 6))
    units = []
    def add_units(owner: np.ndarray, usage: str | np.ndarray, frm: np.ndarray, co: str) -> None:
        units.append(pl.DataFrame({"n": owner, "usage": np.broadcast_to(usage, owner.shape).astype(str),
                                   "from_idx": frm, "co_ownership": np.full(len(owner), co)}))
    main = hn[r[:, 0] < 0.6]
    add_units(main, "住宅", np.zeros(len(main), np.int64), "单独所有")
    second = hn[r[:, 1] < 0.06]
    add_units(second, "住宅", np.where(rng.random(len(second)) < 0.3, rng.integers(0, n_months, len(second)), 0), "单独所有")
    shop = hn[r[:, 2] < 0.03]
    add_units(shop, rng.choice(np.array(["商业", "办公", "工业"]), len(shop)), np.zeros(len(shop), np.int64), "单独所有")
    park = hn[r[:, 3] < 0.06]
    add_units(park, "车位", np.zeros(len(park), np.int64), "单独所有")
    units_df = pl.concat(units).with_row_index("unit")
    co_pick = units_df.filter((pl.col("usage") == "住宅") & pl.Series(rng.random(units_df.height) < 0.15))
    co_n = spouse_or_head[co_pick["n"].to_numpy()]
    co_rows = co_pick.with_columns(n=pl.Series(co_n), co_ownership=pl.lit("共同共有")).filter(
        pl.Series(co_n != co_pick["n"].to_numpy()))
    units_df = pl.concat([
        units_df.with_columns(co_ownership=pl.when(pl.col("unit").is_in(co_rows["unit"].implode()))
                              .then(pl.lit("共同共有")).otherwise("co_ownership")),
        co_rows,
    ])
    U = cast(int, units_df["unit"].max()) + 1 if units_df.height else 0
    area = np.round(_u(rng, 35, 150, U) * 100) / 100
    reg_on = np.datetime64("2000-01-01") + rng.integers(0, 9300, U)
    dist = p["district_code"].to_numpy()
    street = p["street"].to_numpy()
    units_df = units_df.with_columns(
        unit_no=pl.format("{}GB{}F0001", pl.col("n").map_batches(lambda s: pl.Series(dist[s.to_numpy()], dtype=pl.String)),
                          pl.col("unit").cast(pl.String).str.zfill(8)),
        location=pl.format("{}幸福路{}号{}室", pl.col("n").map_batches(lambda s: pl.Series(street[s.to_numpy()], dtype=pl.String)),
                           (pl.col("unit") % 97 + 1), (pl.col("unit") % 6 + 1) * 100 + pl.col("unit") % 4 + 1),
        area_m2=pl.col("unit").map_batches(lambda s: pl.Series(area[s.to_numpy()])),
        registered_on=pl.col("unit").map_batches(lambda s: pl.Series(reg_on[s.to_numpy()])),
    )
    real_estate = _per_month(units_df, months)

    hh_exempt = np.bincount(hh_index, weights=np.isin(p["disability_grade"].to_numpy(), ["一级", "二级"])
                            | (p["serious_illness"].to_numpy() == "是"), minlength=H) > 0
    has_grade = np.bincount(hh_index, weights=p["disability_grade"].to_numpy() != "", minlength=H) > 0
    ex = hh_exempt[hh_index[hn]]
    rv = rng.random((len(hn), 4))
    car = hn[rv[:, 0] < np.where(ex, 0.35, 0.08)]
    car2 = hn[(rv[:, 0] < np.where(ex, 0.35, 0.08)) & (rv[:, 1] < np.where(ex, 0.3, 0.1))]
    moto = hn[rv[:, 2] < 0.08]
    special = hn[(rv[:, 3] < 0.4) & has_grade[hh_index[hn]]]
    cars = np.array(["小型轿车", "小型普通客车", "轻型货车"])
    veh = pl.DataFrame({
        "n": np.concatenate([car, car2, moto, special]),
        "vehicle_type": np.concatenate([cars[rng.integers(0, 3, len(car))], cars[rng.integers(0, 3, len(car2))],
                                        np.full(len(moto), "普通二轮摩托车"), np.full(len(special), "残疾人专用车")]),
    })
    V = veh.height
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
    veh = veh.with_columns(
        from_idx=pl.Series(np.where(rng.random(V) < 0.15, rng.integers(0, n_months, V), 0)),
        plate_no=pl.Series(np.char.add(np.char.add("冀", letters[rng.integers(0, 24, V)]),
                                       _zfill(rng.integers(0, 10**5, V), 5))),
        first_registered_on=pl.Series(np.datetime64("2008-01-01") + rng.integers(0, 6500, V)),
        vehicle_status=pl.Series(rng.choice(np.array(["正常", "注销", "报废", "查封"]), V, p=[0.82, 0.06, 0.06, 0.06])),
    )
    vehicles = _per_month(veh, months)

    biz_owner = np.flatnonzero(adult & (rng.random(N) < 0.04))
    solo_owner = np.flatnonzero(adult & (rng.random(N) < 0.025))
    B1, B2 = len(biz_owner), len(solo_owner)
    biz = pl.DataFrame({
        "n": np.concatenate([biz_owner, solo_owner]),
        "role": np.concatenate([rng.choice(np.array(["法定代表人", "股东"]), B1), np.full(B2, "个体工商户经营者")]),
        "capital_wan": np.concatenate([rng.choice(np.array([3.0, 5.0, 9.99, 10.0, 20.0, 50.0, 100.0]), B1),
                                       rng.choice(np.array([1.0, 5.0, 10.0, 30.0]), B2)]),
        "registration_status": rng.choice(np.array(["存续", "注销", "吊销"]), B1 + B2, p=[0.8, 0.12, 0.08]),
    }).with_row_index("biz")
    biz = biz.with_columns(
        from_idx=pl.lit(0, pl.Int64),
        credit_code=pl.format("91{}MA{}", pl.col("n").map_batches(lambda s: pl.Series(dist[s.to_numpy()], dtype=pl.String)),
                              pl.col("biz").cast(pl.String).str.zfill(8)),
        company_name=pl.format("{}{}", pl.col("n").map_batches(lambda s: pl.Series(street[s.to_numpy()], dtype=pl.String)),
                               pl.when(pl.col("role") == "个体工商户经营者").then(pl.lit("便民小卖部"))
                               .otherwise(pl.lit("商贸有限公司"))),
    ).drop("biz")
    business = _per_month(biz, months)

    # --- medical -------------------------------------------------------------------------------
    ill = p["serious_illness"].to_numpy() == "是"
    med_on = (rng.random(len(grid_n)) < np.where(ill[grid_n], 0.6, 0.06)) & alive
    mn, mm = grid_n[med_on], grid_m[med_on]
    total = np.round(np.where(ill[mn], _u(rng, 4000, 30000, len(mn)), _u(rng, 200, 3000, len(mn))) * 100)
    paid = np.round(total * _u(rng, 0.2, 0.55, len(mn)))
    mlen = np.array([month_end(m).day for m in months])
    mstart = np.array([np.datetime64(f"{m}-01") for m in months])
    medical = pl.DataFrame({
        "n": mn, "period": np.array(months)[mm],
        "settled_on": mstart[mm] + (rng.random(len(mn)) * mlen[mm]).astype(np.int64),
        "total_fen": total.astype(np.int64), "self_paid_fen": paid.astype(np.int64),
    })

    # --- deaths --------------------------------------------------------------------------------
    report = p["death_report_idx"].to_numpy()
    dn = np.flatnonzero((death_idx < n_months) & (report < n_months))
    deaths = pl.DataFrame({
        "n": dn, "period": np.array(months)[report[dn]],
        "died_on": mstart[death_idx[dn]] + p["death_day"].to_numpy()[dn] - 1,
        "data_source": rng.choice(np.array(["公安户籍", "殡葬服务", "医院死亡证明"]), len(dn)),
    })

    def person(df: pl.DataFrame) -> pl.DataFrame:
        ix = df["n"].to_numpy()
        return pl.concat([base[ix], df.drop("n")], how="horizontal")

    return {
        "tax_wages": person(tax), "pension": person(pens), "real_estate": person(real_estate),
        "vehicles": person(vehicles), "business": person(business), "bank": person(bank),
        "medical": person(medical), "deaths": person(deaths),
    }


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    """Integers as zero-padded text (numpy's zfill fails on an empty array: a small district)."""
    return np.char.zfill(values.astype(str), width) if len(values) else np.array([], dtype=f"U{width}")


def _per_month(holdings: pl.DataFrame, months: list[str]) -> pl.DataFrame:
    """Snapshot rows: each holding in every month from its ``from_idx`` on."""
    idx = pl.DataFrame({"month_idx": np.arange(len(months)), "period": months})
    keep = [c for c in holdings.columns if c not in ("from_idx", "unit")]
    return (
        holdings.with_row_index("_holding").join(idx, how="cross")
        .filter(pl.col("month_idx") >= pl.col("from_idx"))
        .sort("month_idx", "_holding").select("n", "period", *[c for c in keep if c != "n"])
    )


def standard_fen(district: str, urban_rural: str, on: date, *, tekun: bool = False,
                 standards: Mapping[tuple[str, str], tuple[int, int, int]] | None = None) -> int:
    """S (or T for 特困) in 分, in force on ``on``, from the sample table of rules.md.

    ``standards`` (``(district, 城乡类别) -> (S before, S from 2026-07-01, T from 2026-07-01)``)
    replaces that table for a province's districts.
    """
    if standards is not None:
        s_old, s_new, t_new = standards[(district, urban_rural)]
    else:
        s_old, s_new = STANDARDS[(district, urban_rural)]
        t_new = {1010: 1313, 869: 1217, 667: 934, 642: 835, 325: 423}[s_new]
    if on >= date(2026, 7, 1):
        return (t_new if tekun else s_new) * 100
    if tekun:  # 1.3 × S rounded half up to the yuan
        return ((s_old * 13 + 5) // 10) * 100
    return s_old * 100
