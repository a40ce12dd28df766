"""Sample layer: the truth oracle follows rules.md on tiny hand-made households."""

from __future__ import annotations

from datetime import date

import polars as pl

from pipelines.sample.oracle import assess_truth
from pipelines.sources import SOURCES

VALUES = {
    "tax_wages": {"income_month": pl.String, "amount_fen": pl.Int64},
    "pension": {"income_month": pl.String, "amount_fen": pl.Int64},
    "bank": {"balance_fen": pl.Int64},
    "real_estate": {"unit_no": pl.String, "usage": pl.String},
    "vehicles": {"vehicle_type": pl.String, "vehicle_status": pl.String},
    "business": {"role": pl.String, "capital_wan": pl.Float64, "registration_status": pl.String},
    "medical": {"settled_on": pl.Date, "self_paid_fen": pl.Int64},
    "deaths": {"died_on": pl.Date},
}


def ledger(**rows: list[dict]) -> dict[str, pl.DataFrame]:
    """Typed records per source; every record loads and is matchable unless it says otherwise."""
    out = {}
    for source in SOURCES:
        schema = {"period": pl.String, "person_id": pl.String, "true_person_id": pl.String,
                  "expected": pl.String, "matchable": pl.Boolean, **VALUES[source]}
        data = [{"expected": "link", "matchable": True, **r, "true_person_id": r["person"], "person_id": r["person"]}
                for r in rows.get(source, [])]
        out[source] = pl.DataFrame([{k: d.get(k) for k in schema} for d in data], schema=schema)
    return out


def register(periods: list[str], people: list[dict]) -> pl.DataFrame:
    base = {"household_id": "H1", "district_code": "990102", "urban_rural": "农村", "programme": "低保",
            "disability_grade": "", "serious_illness": "否"}
    return pl.DataFrame([{"period": p, **base, **person} for p in periods for person in people])


def run(periods, people, delivered_sources=tuple(SOURCES), **rows):
    delivered = {(p, s) for p in periods for s in delivered_sources}
    return assess_truth(register(periods, people), ledger(**rows), delivered, periods)


def flags_of(flags: pl.DataFrame, period: str) -> set[str]:
    return set(flags.filter(pl.col("period") == period)["flag"])


def pension(person, period, fen, month=None):
    return {"person": person, "period": period, "income_month": month or period, "amount_fen": fen}


def test_per_capita_income_rounds_half_away_from_zero_over_delivered_months():
    hh, _ = run(["2026-05", "2026-06"], [{"person_id": "A"}],
                pension=[pension("A", "2026-05", 1000), pension("A", "2026-06", 1001)])
    row = hh.filter(pl.col("period") == "2026-06").row(0, named=True)
    assert row["income_per_capita"] == "10.01"  # 2001 分 / 2 months = 1000.5 -> 1001 (not half-even 1000)
    assert row["pension_months"] == 2 and row["benefit_income"] == "20.01"
    hh, _ = run(["2026-05", "2026-06"], [{"person_id": "A"}],
                pension=[pension("A", "2026-05", -1000), pension("A", "2026-06", -1001)])
    assert hh.filter(pl.col("period") == "2026-06")["income_per_capita"].item() == "-10.01"


def test_wages_count_after_the_deduction_per_member():
    hh, _ = run(["2026-07"], [{"person_id": "A"}, {"person_id": "B"}],
                tax_wages=[{"person": "A", "period": "2026-07", "income_month": "2026-07", "amount_fen": 200_000}])
    row = hh.row(0, named=True)
    assert row["wage_income"] == "1600.00" and row["income_per_capita"] == "800.00"


def test_income_over_standard_at_the_threshold_and_the_july_change():
    # 990102 农村: S = 640 until 2026-06-30, 667 from 2026-07-01
    for period, fen, flagged in (("2026-06", 64_000, False), ("2026-06", 64_001, True),
                                 ("2026-07", 66_700, False), ("2026-07", 66_701, True)):
        _, flags = run([period], [{"person_id": "A"}], pension=[pension("A", period, fen)])
        assert ("INCOME_OVER_STANDARD" in flags_of(flags, period)) is flagged, (period, fen)


def test_tekun_uses_t_and_its_half_up_derivation_before_july():
    people = [{"person_id": "A", "programme": "特困"}]
    for fen, flagged in ((83_200, False), (83_201, True)):  # T = round_half_up(1.3 × 640) = 832
        hh, flags = run(["2026-06"], people, pension=[pension("A", "2026-06", fen)])
        assert hh["standard"].item() == "832.00"
        assert ("INCOME_OVER_STANDARD" in flags_of(flags, "2026-06")) is flagged


def test_vehicle_exemption_for_grave_disability_or_illness():
    car = {"person": "A", "period": "2026-07", "vehicle_type": "小型轿车", "vehicle_status": "正常"}
    cases = [
        ({}, [car], True),
        ({"disability_grade": "二级"}, [car], False),
        ({"serious_illness": "是"}, [car], False),
        ({"disability_grade": "三级"}, [car], True),
        ({"disability_grade": "一级"}, [car, car], True),
        ({}, [{**car, "vehicle_type": "普通二轮摩托车"}, {**car, "vehicle_status": "注销"}], False),
    ]
    for extra, cars, flagged in cases:
        _, flags = run(["2026-07"], [{"person_id": "A", **extra}], vehicles=cars)
        assert ("PROPERTY_OVER_LIMIT" in flags_of(flags, "2026-07")) is flagged, (extra, len(cars))


def test_real_estate_business_and_co_owned_units():
    home = {"person": "A", "period": "2026-07", "unit_no": "U1", "usage": "住宅"}
    hh, flags = run(["2026-07"], [{"person_id": "A"}, {"person_id": "B"}],
                    real_estate=[home, {**home, "person": "B"}])
    assert hh["residential_units"].item() == 1 and not flags_of(flags, "2026-07") & {"PROPERTY_OVER_LIMIT"}
    _, flags = run(["2026-07"], [{"person_id": "A"}], real_estate=[{**home, "usage": "商业"}])
    assert "PROPERTY_OVER_LIMIT" in flags_of(flags, "2026-07")
    biz = {"person": "A", "period": "2026-07", "role": "股东", "capital_wan": 10.0, "registration_status": "存续"}
    for b, flagged in ((biz, True), ({**biz, "capital_wan": 9.99}, False),
                       ({**biz, "role": "个体工商户经营者", "capital_wan": 50.0}, False),
                       ({**biz, "registration_status": "注销"}, False)):
        _, flags = run(["2026-07"], [{"person_id": "A"}], business=[b])
        assert ("PROPERTY_OVER_LIMIT" in flags_of(flags, "2026-07")) is flagged, b


def test_missing_snapshot_is_unknown_and_never_raises_or_clears():
    people = [{"person_id": "A", "programme": "监测对象"}]
    sources = [s for s in SOURCES if s != "bank"]
    hh, flags = run(["2026-07"], people, delivered_sources=sources, pension=[pension("A", "2026-07", 100)])
    assert hh["assets_per_capita"].item() is None
    assert "ELIGIBLE_NOT_ENROLLED" not in flags_of(flags, "2026-07")
    hh, flags = run(["2026-07"], people, pension=[pension("A", "2026-07", 100)])
    assert hh["assets_per_capita"].item() == "0.00" and "ELIGIBLE_NOT_ENROLLED" in flags_of(flags, "2026-07")


def test_a_deceased_member_leaves_the_living_and_flags_while_on_the_register():
    people = [{"person_id": "A"}, {"person_id": "B"}]
    months = ["2026-07", "2026-08"]
    hh, flags = run(months, people, deaths=[{"person": "B", "period": "2026-07", "died_on": date(2026, 7, 20)}],
                    pension=[pension("B", m, 500_000) for m in months])
    assert hh.filter(pl.col("period") == "2026-08")["living_members"].item() == 1
    assert flags_of(flags, "2026-07") == {"MEMBER_DECEASED"} == flags_of(flags, "2026-08")
    _, flags = run(["2026-07"], [{"person_id": "A"}],
                   deaths=[{"person": "A", "period": "2026-07", "died_on": date(2026, 7, 2)}],
                   pension=[pension("A", "2026-07", 900_000)])
    assert flags_of(flags, "2026-07") == {"MEMBER_DECEASED"}


def test_records_that_a_perfect_matcher_cannot_link_count_nowhere():
    for extra in ({"matchable": False}, {"expected": "quarantine"}, {"expected": "duplicate"}):
        _, flags = run(["2026-07"], [{"person_id": "A"}], pension=[{**pension("A", "2026-07", 900_000), **extra}])
        assert not flags_of(flags, "2026-07"), extra


def test_income_drop_needs_six_delivered_months():
    months = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"]
    wages = [{"person": "A", "period": m, "income_month": m, "amount_fen": 300_000} for m in months[:3]]
    wages += [{"person": "A", "period": m, "income_month": m, "amount_fen": 100_000} for m in months[3:]]
    hh, flags = run(months, [{"person_id": "A"}], tax_wages=wages)
    assert "INCOME_DROP" in flags_of(flags, "2026-10")
    assert hh.filter(pl.col("period") == "2026-10").select("avg_prev3", "avg_last3").row(0) == ("2400.00", "800.00")
    _, flags = run(months[1:], [{"person_id": "A"}], tax_wages=wages[1:])
    assert "INCOME_DROP" not in set(flags["flag"])
    steady = [{**w, "amount_fen": 300_000} for w in wages[:3]] + [{**w, "amount_fen": 210_000} for w in wages[3:]]
    _, flags = run(months, [{"person_id": "A"}], tax_wages=steady)  # exactly 70 %: not below
    assert "INCOME_DROP" not in flags_of(flags, "2026-10")


def test_high_medical_expense_against_the_floor_and_half_the_income():
    med = {"person": "A", "period": "2026-07", "settled_on": date(2026, 7, 9)}
    for paid, income, flagged in ((1_000_000, 0, True), (999_999, 0, False),
                                  (1_000_000, 2_000_000, True), (1_000_000, 2_000_001, False)):
        _, flags = run(["2026-07"], [{"person_id": "A", "programme": "监测对象"}],
                       medical=[{**med, "self_paid_fen": paid}], pension=[pension("A", "2026-07", income)])
        assert ("HIGH_MEDICAL_EXPENSE" in flags_of(flags, "2026-07")) is flagged, (paid, income)
