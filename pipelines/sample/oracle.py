"""Sample layer: an independent, deliberately plain oracle of rules.md over the planted truth.

It sees the city as a perfect matcher would: only records expected to load whose true person is
on the folder's register and could be matched under outputs.md (a usable ID on both sides),
re-sent copies once, quarantined rows nowhere. It shares no code with ``pipelines.assess``: the
arithmetic is integer 分 scaled so that the 0.8 deduction and the divisions stay exact, and each
per-capita figure is rounded once, half away from zero.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from pipelines.flags import FLAGS
from pipelines.periods import add_months, month_end, month_start, window
from pipelines.sample.facts import standard_fen

#: the flags to restate, in registry order (the list is shared; the conditions below are not)
FLAG_ORDER = FLAGS


def _div_round(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """Integer division ``num / den`` rounded half away from zero (den > 0)."""
    q = (2 * num.abs() + den) // (2 * den)
    return pl.when(num < 0).then(-q).otherwise(q)


def _yuan(fen: pl.Expr) -> pl.Expr:
    """Integer 分 -> ``'1234.50'`` text (exact)."""
    a = fen.abs()
    return pl.when(fen.is_null()).then(None).otherwise(pl.format(
        "{}{}.{}", pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit("")), a // 100,
        (a % 100).cast(pl.String).str.zfill(2)))


def _sum_by(df: pl.DataFrame, col: str, name: str) -> pl.DataFrame:
    return df.group_by("household_id").agg(pl.col(col).sum().alias(name))


def assess_truth(register: pl.DataFrame, ledger: dict[str, pl.DataFrame], delivered: set[tuple[str, str]],
                 months: list[str], *, window_months: int = 6,
                 standards: Mapping[tuple[str, str], tuple[int, int, int]] | None = None,
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """True household quantities and flags for every generated month.

    Parameters
    ----------
    register : DataFrame
        One row per person and period on the register: ``period, person_id, household_id,
        district_code, urban_rural, programme, disability_grade, serious_illness``.
    ledger : dict of DataFrame
        Source -> typed records with ``period, expected, matchable, true_person_id`` and values.
    delivered : set of (period, source)
        Sources with an accepted file (a header-only file counts) per generated month.
    months : list of str
        The generated months.
    standards : mapping, optional
        ``(district, 城乡类别) -> (S before, S from 2026-07-01, T from 2026-07-01)`` of a province's
        districts (:func:`pipelines.sample.districts.standards_table`); the sample city's three
        districts by default.

    Returns
    -------
    (households, flags)
    """
    usable = {
        s: df.filter((pl.col("expected") == "link") & pl.col("matchable")).drop("person_id")
        .rename({"true_person_id": "person_id"})
        for s, df in ledger.items()
    }
    out_h, out_f = [], []
    for P in months:
        W = window(P, window_months)
        end = month_end(P)
        reg = register.filter(pl.col("period") == P)
        deaths = usable["deaths"].filter(pl.col("period").is_in(W) & (pl.col("died_on") <= end))
        dead = reg.join(deaths.select("person_id").unique(), on="person_id", how="semi")
        living = reg.join(dead.select("person_id"), on="person_id", how="anti")
        hh = (reg.group_by("household_id", maintain_order=True)
              .agg(pl.first("district_code", "urban_rural", "programme"), pl.len().alias("members")))
        hh = hh.join(living.group_by("household_id").agg(pl.len().alias("living_members")),
                     on="household_id", how="left").with_columns(pl.col("living_members").fill_null(0))
        hh = hh.join(dead.group_by("household_id").agg(pl.len().alias("deceased")), on="household_id",
                     how="left").with_columns(pl.col("deceased").fill_null(0))
        lv = living.select("person_id", "household_id")

        def of_living(source: str, folders: list[str]) -> pl.DataFrame:
            # called only within this iteration of P, so the loop variable is the one meant
            return usable[source].filter(pl.col("period").is_in(folders)).join(lv, on="person_id", how="inner")  # noqa: B023

        dt = sum((m, "tax_wages") in delivered for m in W)
        dp = sum((m, "pension") in delivered for m in W)
        wages = of_living("tax_wages", W).filter(pl.col("income_month").is_in(W))
        bens = of_living("pension", W).filter(pl.col("income_month").is_in(W))
        hh = (hh.join(_sum_by(wages, "amount_fen", "wage_fen"), on="household_id", how="left")
              .join(_sum_by(bens, "amount_fen", "benefit_fen"), on="household_id", how="left")
              .with_columns(pl.col("wage_fen", "benefit_fen").fill_null(0)))
        ddt, ddp = max(dt, 1), max(dp, 1)
        # income × 5·dt·dp = 4·wage·dp + 5·benefit·dt, exact in integers
        num = 4 * pl.col("wage_fen") * ddp + 5 * pl.col("benefit_fen") * ddt
        inc = (_div_round(num, 5 * ddt * ddp * pl.col("living_members"))
               if dt or dp else pl.lit(None, pl.Int64))

        snap = {s: (P, s) in delivered for s in ("bank", "real_estate", "vehicles", "business")}
        bank = of_living("bank", [P])
        hh = hh.join(_sum_by(bank, "balance_fen", "asset_fen"), on="household_id", how="left")
        units = of_living("real_estate", [P])
        res = units.filter(pl.col("usage") == "住宅").group_by("household_id").agg(
            pl.col("unit_no").n_unique().alias("residential_units"))
        other = units.filter(pl.col("usage").is_in(["商业", "办公", "工业"])).group_by("household_id").agg(
            pl.len().alias("other_units"))
        exempt = living.filter(pl.col("disability_grade").is_in(["一级", "二级"]) | (pl.col("serious_illness") == "是")) \
            .group_by("household_id").agg(pl.lit(1).alias("exempt"))
        cars = of_living("vehicles", [P]).filter(
            (pl.col("vehicle_status") == "正常") & ~pl.col("vehicle_type").is_in(["普通二轮摩托车", "残疾人专用车"])
        ).group_by("household_id").agg(pl.len().alias("cars"))
        biz = of_living("business", [P]).filter(
            (pl.col("registration_status") == "存续") & pl.col("role").is_in(["法定代表人", "股东"])
            & (pl.col("capital_wan") >= 10)).group_by("household_id").agg(pl.len().alias("companies"))
        med = of_living("medical", W).filter(
            (pl.col("settled_on") >= month_start(W[0])) & (pl.col("settled_on") <= end))
        hh = (hh.join(res, on="household_id", how="left").join(other, on="household_id", how="left")
              .join(exempt, on="household_id", how="left").join(cars, on="household_id", how="left")
              .join(biz, on="household_id", how="left")
              .join(_sum_by(med, "self_paid_fen", "medical_fen"), on="household_id", how="left")
              .with_columns(pl.col("residential_units", "other_units", "exempt", "cars", "companies",
                                   "medical_fen", "asset_fen").fill_null(0)))

        def known(flag: str, expr: pl.Expr) -> pl.Expr:
            return pl.when(pl.lit(snap[flag])).then(expr).otherwise(pl.lit(None, pl.Boolean))  # noqa: B023 (this P only)

        re_v = known("real_estate", (pl.col("residential_units") > 1) | (pl.col("other_units") > 0))
        veh_v = known("vehicles", pl.col("cars") > pl.col("exempt"))
        biz_v = known("business", pl.col("companies") > 0)
        prop = (pl.when(re_v.fill_null(False) | veh_v.fill_null(False) | biz_v.fill_null(False)).then(True)
                .when(re_v.is_null() | veh_v.is_null() | biz_v.is_null()).then(None).otherwise(False))

        std = pl.DataFrame(
            [(d, u, standard_fen(d, u, end, standards=standards),
              standard_fen(d, u, end, tekun=True, standards=standards))
             for d, u in (standards or [(d, u) for d in ("990101", "990102", "990103") for u in ("城市", "农村")])],
            schema=["district_code", "urban_rural", "s_fen", "t_fen"], orient="row")
        hh = hh.join(std, on=["district_code", "urban_rural"], how="left")
        alive = pl.col("living_members") > 0
        hh = hh.with_columns(
            income_pc=pl.when(alive).then(inc),
            assets_pc=pl.when(alive & pl.lit(snap["bank"])).then(_div_round(pl.col("asset_fen"), pl.col("living_members"))),
            residential=pl.when(pl.lit(snap["real_estate"])).then(pl.col("residential_units")),
            property_violation=prop,
            standard_fen=pl.when(pl.col("programme") == "特困").then("t_fen").otherwise("s_fen"),
            income_w5=4 * pl.col("wage_fen") + 5 * pl.col("benefit_fen"),
        )
        # INCOME_DROP: only when every month of P-5..P delivered both income sources
        drop_months = [add_months(P, -k) for k in range(5, -1, -1)]
        computable = all((m, s) in delivered for m in drop_months for s in ("tax_wages", "pension"))
        w_all = of_living("tax_wages", drop_months)
        b_all = of_living("pension", drop_months)
        blocks = pl.concat([
            w_all.select("household_id", "income_month", (4 * pl.col("amount_fen")).alias("v")),
            b_all.select("household_id", "income_month", (5 * pl.col("amount_fen")).alias("v")),
        ])
        last3 = blocks.filter(pl.col("income_month").is_in(drop_months[3:])).group_by("household_id").agg(
            pl.col("v").sum().alias("last5"))
        prev3 = blocks.filter(pl.col("income_month").is_in(drop_months[:3])).group_by("household_id").agg(
            pl.col("v").sum().alias("prev5"))
        hh = (hh.join(last3, on="household_id", how="left").join(prev3, on="household_id", how="left")
              .with_columns(pl.col("last5", "prev5").fill_null(0)))

        inc_c, ast_c, S = pl.col("income_pc"), pl.col("assets_pc"), pl.col("s_fen")
        prog = pl.col("programme")
        conds = {
            "INCOME_OVER_STANDARD": prog.is_in(["低保", "特困"]) & (inc_c > pl.col("standard_fen")),
            "ASSETS_OVER_LIMIT": prog.is_in(["低保", "特困"]) & (ast_c > 24 * S),
            "PROPERTY_OVER_LIMIT": prog.is_in(["低保", "特困"]) & pl.col("property_violation"),
            "ELIGIBLE_NOT_ENROLLED": prog.is_in(["低保边缘", "支出型困难", "监测对象"]) & (inc_c <= S)
            & (ast_c <= 24 * S) & ~pl.col("property_violation"),
            "MARGINAL_NO_LONGER": (prog == "低保边缘") & ((2 * inc_c > 3 * S) | (ast_c > 36 * S)
                                                          | pl.col("property_violation")),
            "INCOME_DROP": pl.lit(computable) & (pl.col("prev5") > 0) & (10 * pl.col("last5") < 7 * pl.col("prev5")),
            "HIGH_MEDICAL_EXPENSE": (pl.col("medical_fen") >= 1_000_000) & (10 * pl.col("medical_fen") >= pl.col("income_w5")),
        }
        unstated = [f for f in FLAG_ORDER if f not in conds and f != "MEMBER_DECEASED"]
        if unstated:
            raise ValueError(f"the sample oracle does not restate flag(s) {', '.join(unstated)}")
        flagged = hh.with_columns(
            [(alive & c).fill_null(False).alias(k) for k, c in conds.items()]
            + [(pl.col("deceased") > 0).alias("MEMBER_DECEASED")]
        )
        out_f.append(
            flagged.select("household_id", *FLAG_ORDER).unpivot(index="household_id", variable_name="flag")
            .filter("value").select(pl.lit(P).alias("period"), "household_id", "flag"))
        out_h.append(hh.select(
            pl.lit(P).alias("period"), "household_id", "district_code", "urban_rural", "programme", "members",
            "living_members",
            _yuan(pl.col("income_pc")).alias("income_per_capita"),
            _yuan(pl.col("assets_pc")).alias("assets_per_capita"),
            pl.col("residential").alias("residential_units"),
            _yuan(pl.col("standard_fen")).alias("standard"),
            _yuan(_div_round(4 * pl.col("wage_fen"), pl.lit(5))).alias("wage_income"),
            _yuan(pl.col("benefit_fen")).alias("benefit_income"),
            _yuan(pl.col("medical_fen")).alias("medical_out_of_pocket"),
            _yuan(_div_round(pl.col("income_w5"), pl.lit(5))).alias("household_income_w"),
            "property_violation",
            re_v.alias("real_estate_violation"), veh_v.alias("vehicle_violation"),
            biz_v.alias("business_violation"), (pl.col("exempt") > 0).alias("vehicle_exempt"),
            pl.when(pl.lit(computable)).then(_yuan(_div_round(pl.col("last5"), pl.lit(15)))).alias("avg_last3"),
            pl.when(pl.lit(computable)).then(_yuan(_div_round(pl.col("prev5"), pl.lit(15)))).alias("avg_prev3"),
            pl.lit(dt).alias("tax_wages_months"), pl.lit(dp).alias("pension_months"),
        ))
    order = {f: i for i, f in enumerate(FLAG_ORDER)}
    households = pl.concat(out_h).sort("period", "household_id")
    flags = (pl.concat(out_f).with_columns(o=pl.col("flag").replace_strict(order, return_dtype=pl.Int32))
             .sort("period", "household_id", "o").drop("o"))
    return households, flags
