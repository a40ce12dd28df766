"""The match tests' frame builders (tests/helpers/match_frames.py) agree with the contract.

They compute what the cleaning stage hands over with a reference check-digit algorithm written
out independently of the code under test, so they are checked against published examples here.
"""

from __future__ import annotations

from helpers.match_frames import check_char, identity, is_valid, legacy15, make_id, substitute


def test_reference_check_digit_accepts_a_published_example():
    # GB 11643 worked example: 11010519491231002X
    assert check_char("11010519491231002") == "X"
    assert is_valid("11010519491231002X")


def test_helpers_classify_ids_like_the_contract():
    good = make_id()
    assert identity(good, "张伟")["id_status"] == "valid"
    assert identity(substitute(good, 5, "7"), "张伟")["id_status"] == "bad_checksum"
    converted = identity(legacy15(good), "张伟")
    assert converted["id_status"] == "converted_15" and converted["id18"] == good
    assert identity("  ", "张伟")["id_status"] == "blank"
    assert identity("12345", "张伟")["id_status"] == "malformed"
