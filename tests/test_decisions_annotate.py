"""Tests of the decisions layer's flag annotation: dismissed flags stay quiet or come back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.decisions import annotate_flags, load_decision_params

PARAMS = load_decision_params()
S = 1010.0
AT = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)


def evidence(*, income: float | None = 1200.0, standard: float = S,
             records: tuple[tuple[str, str], ...] = (("tax_wages", "T1"),),
             extra_thresholds: dict | None = None, quantities: dict | None = None) -> str:
    """Evidence JSON in the contract's shape (outputs.md, "Evidence")."""
    thresholds = {"S": {"value": standard, "parameters": ["standard"]}}
    thresholds.update(extra_thresholds or {})
    return json.dumps({
        "quantities": {"income_per_capita": income, "living_members": 2, **(quantities or {})},
        "thresholds": thresholds,
        "records": [{"source": s, "period": "2026-10", "record_no": r} for s, r in records],
    })


def flags_frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    """(period, household_id, flag, evidence) rows as a computed flags frame."""
    return pl.DataFrame(
        [(p, h, "990101", f, e, "v1") for p, h, f, e in rows],
        schema=["period", "household_id", "district_code", "flag", "evidence",
                "rulebook_version"], orient="row")


def decisions_frame(rows: list[tuple[int, str, str, str, str, str | None]]) -> pl.DataFrame:
    """(decision_id, period, household_id, flag, decision, evidence) as load_flag_decisions."""
    return pl.DataFrame(
        [(i, p, h, f, d, "理由", "李明", AT, e) for i, p, h, f, d, e in rows],
        schema={"decision_id": pl.Int64, "period": pl.String, "household_id": pl.String,
                "flag": pl.String, "decision": pl.String, "reason": pl.String,
                "decided_by": pl.String, "decided_at": pl.Datetime("us", "UTC"),
                "evidence": pl.String}, orient="row")


INCOME = "INCOME_OVER_STANDARD"


def one(flag_evidence: str, decided_evidence: str, *, decision: str = "dismissed",
        flag: str = INCOME, flag_period: str = "2026-11") -> dict:
    """Annotate one flag against one decision taken in 2026-10."""
    out = annotate_flags(flags_frame([(flag_period, "H001", flag, flag_evidence)]),
                         decisions_frame([(1, "2026-10", "H001", flag, decision,
                                           decided_evidence)]), params=PARAMS)
    assert out.height == 1
    return out.row(0, named=True)


def test_dismissed_flag_stays_dismissed_while_evidence_is_unchanged():
    row = one(evidence(), evidence())
    assert (row["decision"], row["re_raised"]) == ("dismissed", False)
    assert (row["decision_reason"], row["decided_by"], row["decided_at"]) == ("理由", "李明", AT)


def test_dismissed_flag_is_re_raised_when_income_moves_more_than_the_margin():
    row = one(evidence(income=1200.0 + 0.2 * S), evidence(income=1200.0))
    assert row["re_raised"] is True
    assert (row["decision"], row["decision_reason"], row["decided_by"], row["decided_at"]) == (
        None, None, None, None)


@pytest.mark.parametrize("move", [0.05 * S, -0.05 * S, 0.10 * S])
def test_dismissed_flag_is_not_re_raised_within_the_margin(move):
    row = one(evidence(income=1200.0 + move), evidence(income=1200.0))
    assert (row["decision"], row["re_raised"]) == ("dismissed", False)


def test_a_drop_beyond_the_margin_also_re_raises():
    assert one(evidence(income=1200.0 - 0.11 * S), evidence(income=1200.0))["re_raised"] is True


def test_a_changed_standard_re_raises():
    row = one(evidence(standard=1050.0), evidence(standard=S))
    assert row["re_raised"] is True


def test_a_new_property_record_re_raises_but_new_bank_records_do_not():
    old = evidence(records=(("real_estate", "E1"),))
    assert one(evidence(records=(("real_estate", "E7"),)), old)["re_raised"] is False
    assert one(evidence(records=(("real_estate", "E7"), ("vehicles", "V1"))), old)["re_raised"]
    assert one(evidence(records=(("real_estate", "E7"), ("real_estate", "E8"))), old)["re_raised"]
    assert not one(evidence(records=(("real_estate", "E7"), ("bank", "B1"), ("bank", "B2"))),
                   old)["re_raised"]


def test_assets_are_compared_against_the_smallest_threshold():
    limits = {"assets_limit": {"value": 24 * S, "parameters": ["assets_limit_months"]}}
    old = evidence(extra_thresholds=limits, quantities={"assets_per_capita": 30000.0})
    near = evidence(extra_thresholds=limits, quantities={"assets_per_capita": 30000.0 + 0.09 * S})
    far = evidence(extra_thresholds=limits, quantities={"assets_per_capita": 30000.0 + 0.2 * S})
    assert one(near, old)["re_raised"] is False
    assert one(far, old)["re_raised"] is True


def test_a_quantity_becoming_unknown_or_known_re_raises():
    assert one(evidence(income=None), evidence(income=1200.0))["re_raised"] is True
    assert one(evidence(income=1200.0), evidence(income=None))["re_raised"] is True


def test_data_dependent_threshold_moves_within_the_margin_are_not_material():
    def medical(threshold: float, paid: float) -> str:
        return json.dumps({
            "quantities": {"medical_out_of_pocket": paid, "household_income_w": 2 * threshold},
            "thresholds": {"medical_threshold": {"value": threshold, "parameters": [
                "medical_min_amount", "medical_income_share"]}},
            "records": [{"source": "medical", "period": "2026-10", "record_no": "M1"}],
        })
    flag = "HIGH_MEDICAL_EXPENSE"
    assert not one(medical(12500.0, 20000.0), medical(12000.0, 20000.0), flag=flag)["re_raised"]
    assert one(medical(15000.0, 20000.0), medical(12000.0, 20000.0), flag=flag)["re_raised"]
    # the same threshold move on a flag whose threshold is a parameter re-raises
    assert one(medical(12500.0, 20000.0), medical(12000.0, 20000.0), flag=INCOME)["re_raised"]


def test_unreadable_evidence_re_raises_rather_than_staying_silent():
    assert one(evidence(), "not json")["re_raised"] is True
    assert one(evidence(), None)["re_raised"] is True


@pytest.mark.parametrize("decision", ["verified", "referred"])
def test_verified_and_referred_carry_forward_without_re_raise(decision):
    row = one(evidence(income=3000.0), evidence(income=1200.0), decision=decision)
    assert (row["decision"], row["re_raised"]) == (decision, False)


def test_a_decision_in_the_same_period_applies():
    row = one(evidence(), evidence(), flag_period="2026-10")
    assert row["decision"] == "dismissed"


def test_a_later_decision_does_not_reach_back_to_an_earlier_period():
    row = one(evidence(), evidence(), flag_period="2026-09")
    assert (row["decision"], row["re_raised"]) == (None, False)


def test_the_latest_applicable_decision_wins():
    flags = flags_frame([("2026-10", "H001", INCOME, evidence()),
                         ("2026-12", "H001", INCOME, evidence())])
    decisions = decisions_frame([
        (1, "2026-11", "H001", INCOME, "verified", evidence()),
        (2, "2026-10", "H001", INCOME, "dismissed", evidence()),
        (3, "2026-10", "H001", INCOME, "referred", evidence()),
    ])
    out = annotate_flags(flags, decisions, params=PARAMS)
    # 2026-10 sees only its own period's decisions, the later recorded one first;
    # 2026-12 sees the 2026-11 decision, the latest period
    assert out.get_column("decision").to_list() == ["referred", "verified"]


def test_a_re_raised_flag_stays_re_raised_until_someone_decides_again():
    flags = flags_frame([("2026-11", "H001", INCOME, evidence(income=1500.0)),
                         ("2026-12", "H001", INCOME, evidence(income=1500.0))])
    decided = decisions_frame([(1, "2026-10", "H001", INCOME, "dismissed",
                                evidence(income=1200.0))])
    assert annotate_flags(flags, decided, params=PARAMS).get_column("re_raised").to_list() == [
        True, True]
    again = pl.concat([decided, decisions_frame([(2, "2026-11", "H001", INCOME, "dismissed",
                                                  evidence(income=1500.0))])])
    out = annotate_flags(flags, again, params=PARAMS)
    assert out.select("decision", "re_raised").rows() == [("dismissed", False)] * 2


def test_decisions_never_remove_or_reorder_flags():
    flags = flags_frame([
        ("2026-11", "H003", "MEMBER_DECEASED", evidence()),
        ("2026-11", "H001", INCOME, evidence(income=2000.0)),
        ("2026-11", "H002", INCOME, evidence()),
        ("2026-11", "H001", "ASSETS_OVER_LIMIT", evidence()),
    ])
    decisions = decisions_frame([(1, "2026-10", "H001", INCOME, "dismissed", evidence()),
                                 (2, "2026-10", "H002", INCOME, "dismissed", evidence())])
    out = annotate_flags(flags, decisions, params=PARAMS)
    assert out.select(flags.columns).equals(flags)
    assert out.columns == [*flags.columns, "decision", "decision_reason", "decided_by",
                           "decided_at", "re_raised"]
    assert out.select("decision", "re_raised").rows() == [
        (None, False), (None, True), ("dismissed", False), (None, False)]


def test_empty_decisions_leave_every_flag_undecided():
    flags = flags_frame([("2026-11", "H001", INCOME, evidence())])
    out = annotate_flags(flags, decisions_frame([]), params=PARAMS)
    assert out.select("decision", "re_raised").rows() == [(None, False)]
    assert out.schema["decided_at"] == pl.Datetime("us", "UTC")


@settings(max_examples=40, deadline=None)
@given(
    incomes=st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1,
                     max_size=6),
    decided=st.floats(min_value=0, max_value=5000, allow_nan=False),
    word=st.sampled_from(["dismissed", "verified", "referred"]),
)
def test_annotation_keeps_every_flag_and_re_raises_only_dismissals(incomes, decided, word):
    flags = flags_frame([("2026-11", f"H{i}", INCOME, evidence(income=x))
                         for i, x in enumerate(incomes)])
    decisions = decisions_frame([(i + 1, "2026-10", f"H{i}", INCOME, word,
                                  evidence(income=decided)) for i in range(len(incomes))])
    out = annotate_flags(flags, decisions, params=PARAMS)
    assert out.select(flags.columns).equals(flags)
    re_raised = out.get_column("re_raised").to_list()
    expected = [word == "dismissed" and abs(x - decided) > PARAMS["reraise_relative_change"] * S
                for x in incomes]
    assert re_raised == expected
    assert all((d is None) == r for d, r in zip(out.get_column("decision").to_list(), re_raised,
                                                strict=True))


def test_the_margin_a_policy_officer_writes_is_the_margin_applied(tmp_path: Path):
    # outcomes, not values: whatever rules/decisions.yaml says, a move just over its margin
    # re-raises and one just under does not; editing the margin moves that line
    good = Path(__file__).resolve().parents[1] / "rules" / "decisions.yaml"
    for margin in (PARAMS["reraise_relative_change"], 0.25):
        text = good.read_text(encoding="utf-8")
        head, _, tail = text.partition("reraise_relative_change:\n  value: ")
        path = tmp_path / f"decisions-{margin}.yaml"
        path.write_text(head + f"reraise_relative_change:\n  value: {margin}"
                        + tail[tail.index("\n"):], encoding="utf-8")
        params = load_decision_params(path)
        assert params["reraise_relative_change"] == margin
        moved = {}
        for step in (0.99, 1.01):
            out = annotate_flags(
                flags_frame([("2026-11", "H001", INCOME, evidence(income=1200.0 + step * margin * S))]),
                decisions_frame([(1, "2026-10", "H001", INCOME, "dismissed", evidence(income=1200.0))]),
                params=params)
            moved[step] = out.get_column("re_raised").item()
        assert moved == {0.99: False, 1.01: True}, margin


@pytest.mark.parametrize(("broken", "message"), [
    ("reraise_relative_change:\n  value: 0.1\n  description: x\n", "has no source"),
    ("reraise_relative_change:\n  value: 2\n  description: x\n  source: y\n", "between 0 and 1"),
])
def test_params_refuse_undocumented_or_out_of_range_values(tmp_path: Path, broken, message):
    good = Path(__file__).resolve().parents[1] / "rules" / "decisions.yaml"
    text = good.read_text(encoding="utf-8")
    head, _, tail = text.partition("reraise_relative_change:")
    rest = tail[tail.index("\ncompared_quantities:"):]
    path = tmp_path / "decisions.yaml"
    path.write_text(head + broken + rest, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_decision_params(path)
