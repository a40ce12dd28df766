"""link_folder end to end on small folders: the contract's guards, decisions, determinism."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipelines.match import LINK_SCHEMA, link_folder, load_matching_params, unlinked_no_register
from pipelines.match.params import METHODS

from helpers.match_frames import (
    is_valid,
    legacy15,
    make_id,
    person,
    record,
    records_frame,
    register_frame,
    substitute,
    swap,
)

PARAMS = load_matching_params()
A = make_id(birth="19800101", seq="011")
B = make_id(birth="19650707", district="990102", seq="022")
C = make_id(birth="19921212", district="990103", seq="034")


def _register(*extra: dict) -> pl.DataFrame:
    return register_frame([person("P1", A, "张伟", household_id="H1"),
                           person("P2", B, "李秀英", household_id="H2"),
                           person("P3", C, "欧阳娜娜", household_id="H3"), *extra])


def _link(recs: list[dict], reg: pl.DataFrame | None = None, **kw) -> dict[str, dict]:
    out = link_folder(records_frame(recs), _register() if reg is None else reg, params=PARAMS, **kw)
    assert out.schema == pl.Schema(LINK_SCHEMA)
    assert out.height == len(recs)
    return {r["record_no"]: r for r in out.iter_rows(named=True)}


def _typo(id18: str, pos: int) -> str:
    return next(substitute(id18, pos, c) for c in "0123456789"
                if c != id18[pos] and not is_valid(substitute(id18, pos, c)))


def test_exact_id_and_agreeing_name_is_matched_with_score_one():
    got = _link([record("1", A, "张伟")])["1"]
    assert (got["status"], got["method"], got["person_id"], got["household_id"], got["score"]) == \
        ("matched", "id_exact", "P1", "H1", 1.0)
    assert '"id":"equal"' in got["comparison"] and got["reason"] is None


@pytest.mark.parametrize(("rec_id", "name", "method"), [
    (legacy15(B), "李秀英", "id_converted_15"),
    (_typo(B, 15), "李秀英", "id_one_substitution"),
    (swap(C, 8) if C[8] != C[9] else swap(C, 10), "欧阳娜娜", "id_transposition"),
    (C, "欧阳娜", "id_exact"),            # truncated name
    (C, "歐陽娜娜", "id_exact"),           # traditional characters, folded by the cleaner
    (A, "张玮", "id_exact"),               # homophone typed from pinyin
])
def test_repaired_ids_with_agreeing_names_are_matched(rec_id, name, method):
    norm = "欧阳娜娜" if name == "歐陽娜娜" else None
    got = _link([record("1", rec_id, name, name_norm=norm)])["1"]
    assert (got["status"], got["method"]) == ("matched", method)
    assert got["person_id"] is not None and 0.0 < got["score"] <= 1.0


def test_a_person_may_have_many_records():
    got = _link([record("1", A, "张伟"), record("2", A, "张伟", source="bank"),
                 record("3", A, "张伟", source="bank", period="2026-10")])
    assert {g["person_id"] for g in got.values()} == {"P1"}


def test_namesake_with_a_different_valid_id_is_never_matched():
    namesake = make_id(birth="19800101", seq="077")
    got = _link([record("1", namesake, "张伟")])["1"]
    assert (got["status"], got["method"], got["person_id"]) == ("unmatched", "valid_id_not_on_register", None)
    assert got["score"] is None and got["candidate_person_id"] is None


def test_valid_id_on_register_with_a_plainly_different_name_goes_to_review():
    got = _link([record("1", A, "王芳")])["1"]
    assert (got["status"], got["method"], got["person_id"]) == ("review", "id_name_mismatch", None)
    assert (got["candidate_person_id"], got["candidate_household_id"]) == ("P1", "H1")
    assert "plainly different" in got["reason"]


def test_similar_pinyin_alone_never_auto_links():
    # zhangsan / zhangshan: Jaro-Winkler 0.98 but 三 and 山 share no reading
    reg = register_frame([person("P1", A, "张山")])
    got = _link([record("1", A, "张三")], reg)["1"]
    assert (got["status"], got["method"]) == ("review", "id_name_mismatch")
    assert "sounds similar" in got["reason"]


def test_id_less_record_with_perfect_name_goes_to_review_never_matched():
    for blank in (None, "", "12345"):
        got = _link([record("1", blank, "李秀英")])["1"]
        assert (got["status"], got["method"], got["person_id"]) == ("review", "name_only", None)
        assert got["candidate_person_id"] == "P2"


def test_excel_number_id_is_matched_as_a_record_without_id():
    got = _link([record("1", A[:15] + "000", "张伟", excel=True)])["1"]
    assert (got["status"], got["method"]) == ("review", "name_only")


def test_id_less_record_without_a_namesake_is_unmatched():
    got = _link([record("1", None, "赵六")])["1"]
    assert (got["status"], got["method"], got["score"]) == ("unmatched", "no_candidate", None)


def test_person_without_usable_register_id_is_only_ever_reviewed():
    own = make_id(birth="19550505", seq="055")
    reg = _register(person("P4", None, "陈红", household_id="H4", birth_on=date(1955, 5, 5)))
    got = _link([record("1", own, "陈红"), record("2", None, "陈红")], reg)
    assert (got["1"]["status"], got["1"]["method"], got["1"]["candidate_person_id"]) == \
        ("review", "name_only", "P4")
    assert "not on the register" in got["1"]["reason"]
    assert (got["2"]["status"], got["2"]["candidate_person_id"]) == ("review", "P4")


def _second_neighbour(valid: str, pos: int) -> tuple[str, str]:
    """A typo of ``valid`` that is also one substitution from another valid ID in the sequence digits."""
    for p in (14, 15, 16):
        for c in "0123456789":
            typo = substitute(valid, pos, c) if c != valid[pos] else None
            if typo is None or is_valid(typo):
                continue
            for d in "0123456789":
                other = substitute(typo, p, d)
                if p != pos and other != valid and is_valid(other):
                    return typo, other
    raise AssertionError("no shared neighbour")


def test_two_close_candidates_go_to_review_naming_the_best():
    typo, other = _second_neighbour(A, 15)
    reg = register_frame([person("P1", A, "张伟", household_id="H1"),
                          person("P9", other, "张伟", household_id="H9")])
    got = _link([record("1", typo, "张伟")], reg)["1"]
    assert (got["status"], got["method"], got["person_id"]) == ("review", "ambiguous", None)
    assert got["candidate_person_id"] in ("P1", "P9")
    assert '"candidates":2' in got["comparison"]


def test_the_same_id_on_two_register_persons_is_ambiguous():
    reg = register_frame([person("P1", A, "张伟"), person("P2", A, "张伟")])
    got = _link([record("1", A, "张伟")], reg)["1"]
    assert (got["status"], got["method"], got["candidate_person_id"]) == ("review", "ambiguous", "P1")


def test_reasons_never_carry_an_id_number_or_a_name():
    got = _link([record("1", A, "王芳"), record("2", None, "李秀英"), record("3", B, "李秀英"),
                 record("4", make_id(seq="099"), "欧阳娜娜")])
    for row in got.values():
        text = (row["reason"] or "") + (row["comparison"] or "")
        assert not any(s in text for s in (A, B, C, "王芳", "李秀英", "欧阳娜娜", "张伟"))


def _decisions(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["source", "id_norm", "name_norm", "person_id", "decision"],
                        orient="row")


def test_confirmed_identity_links_when_the_person_is_on_this_register():
    dec = _decisions([("tax_wages", None, "李秀英", "P2", "confirmed"),
                      ("tax_wages", None, "王芳", "P404", "confirmed")])
    got = _link([record("1", None, "李秀英"), record("2", None, "王芳")], decisions=dec)
    assert (got["1"]["status"], got["1"]["method"], got["1"]["person_id"]) == ("matched", "confirmed", "P2")
    assert got["2"]["status"] == "unmatched"


def test_confirmation_of_another_source_does_not_apply():
    dec = _decisions([("bank", None, "李秀英", "P2", "confirmed")])
    assert _link([record("1", None, "李秀英")], decisions=dec)["1"]["status"] == "review"


def test_rejected_pair_is_never_matched():
    dec = _decisions([("tax_wages", A, "张伟", "P1", "rejected")])
    got = _link([record("1", A, "张伟"), record("2", A, "张伟", source="bank")], decisions=dec)
    assert (got["1"]["status"], got["1"]["method"], got["1"]["person_id"]) == ("unmatched", "rejected", None)
    assert got["2"]["status"] == "matched"      # the decision is about the tax identity only


def test_unknown_decision_value_is_refused():
    with pytest.raises(ValueError, match="unknown decision"):
        _link([record("1", A, "张伟")], decisions=_decisions([("tax_wages", A, "张伟", "P1", "maybe")]))


def test_links_do_not_depend_on_row_order():
    recs = [record(str(i), rid, name) for i, (rid, name) in enumerate([
        (A, "张伟"), (_typo(B, 15), "李秀英"), (None, "欧阳娜娜"), (A, "王芳"),
        (make_id(seq="099"), "张伟"), (legacy15(C), "欧阳娜娜")])]
    reg = _register(person("P4", None, "陈红"))
    first = link_folder(records_frame(recs), reg, params=PARAMS)
    again = link_folder(records_frame(recs[::-1]), reg.reverse(), params=PARAMS)
    assert first.equals(again)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="name_norm"):
        link_folder(records_frame([record("1", A, "张伟")]).drop("name_norm"), _register(), params=PARAMS)


def test_repeated_record_key_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="record_no 7"):
        link_folder(records_frame([record("7", A, "张伟"), record("7", B, "李秀英")]), _register(),
                    params=PARAMS)


def test_empty_inputs():
    assert link_folder(records_frame([]), _register(), params=PARAMS).height == 0
    got = _link([record("1", A, "张伟"), record("2", None, "张伟")], register_frame([]))
    assert (got["1"]["status"], got["1"]["method"]) == ("unmatched", "valid_id_not_on_register")
    assert (got["2"]["status"], got["2"]["method"]) == ("unmatched", "no_candidate")


def test_folder_without_register_gives_no_register_rows():
    out = unlinked_no_register(records_frame([record("2", A, "张伟"), record("1", None, "李秀英")]))
    assert out.schema == pl.Schema(LINK_SCHEMA)
    assert out["record_no"].to_list() == ["1", "2"]
    assert set(out["status"]) == {"unmatched"} and set(out["method"]) == {"no_register"}
    assert out["person_id"].null_count() == 2 and out["score"].null_count() == 2


def test_every_emitted_method_is_described_with_its_status():
    got = _link([record("1", A, "张伟"), record("2", A, "王芳"), record("3", None, "李秀英"),
                 record("4", make_id(seq="099"), "赵六"), record("5", None, "赵六")])
    for row in got.values():
        assert row["method"] in METHODS
        assert PARAMS.methods[row["method"]][0] == row["status"]


def test_birth_date_alone_does_not_resolve_two_namesakes_one_typo_away():
    # the typo may be in the birth digits: the namesake whose birth date "agrees" is not safer
    typo, other = _second_neighbour(A, 15)
    reg = register_frame([person("P1", A, "张伟"),
                          person("P9", other, "张伟", birth_on=date(1979, 3, 3))])
    got = _link([record("1", typo, "张伟")], reg)["1"]
    assert (got["status"], got["method"]) == ("review", "ambiguous")


def test_checksum_invalid_id_of_a_person_without_register_id_goes_to_review_by_name():
    # the typo sits in the birth digits, so the name block (not name + birth) must find her
    own = make_id(birth="19620910", seq="087")
    typo = _typo(own, 10)
    reg = _register(person("P5", None, "单磊", household_id="H5", birth_on=date(1962, 9, 10)))
    got = _link([record("1", typo, "单磊")], reg)["1"]
    assert (got["status"], got["method"], got["candidate_person_id"]) == ("review", "name_only", "P5")
    assert "fails its check digit" in got["reason"]


def test_off_register_id_with_a_namesake_of_another_birth_date_is_unmatched():
    reg = _register(person("P4", None, "陈红", household_id="H4", birth_on=date(1990, 2, 2)))
    got = _link([record("1", make_id(birth="19550505", seq="055"), "陈红")], reg)["1"]
    assert (got["status"], got["method"], got["person_id"]) == ("unmatched", "valid_id_not_on_register", None)
    assert "another birth date" in got["reason"]
