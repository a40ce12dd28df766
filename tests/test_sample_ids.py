"""Sample layer: the generator's ID arithmetic agrees with the reference MOD 11-2 algorithm."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.sample.corrupt import _render_ids
from pipelines.sample.ids import build_ids, from_text, is_valid, legacy15, reseq_valid, to_text


def reference_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 as GB 11643 states it, one character at a time."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17))
    return "10X98765432"[total % 11]


ids17 = st.text(alphabet="0123456789", min_size=17, max_size=17)


@settings(max_examples=60, deadline=None)
@given(st.lists(ids17, min_size=1, max_size=20))
def test_check_digit_agrees_with_reference(bodies):
    digits = from_text(np.array([b + "0" for b in bodies]))
    from pipelines.sample.ids import check_values
    got = ["X" if v == 10 else str(v) for v in check_values(digits[:, :17])]
    assert got == [reference_check(b) for b in bodies]


def test_built_ids_embed_district_birth_and_sex():
    birth = np.array(["1949-12-31", "2003-02-05"], dtype="datetime64[D]")
    digits = build_ids(np.array([990101, 990103]), birth, np.array([21, 100]))
    text = to_text(digits)
    assert text[0][:17] == "99010119491231021" and text[1][:17] == "99010320030205100"
    assert all(t[17] == reference_check(t[:17]) for t in text)
    assert is_valid(digits).all()
    assert [int(t[16]) % 2 for t in text] == [1, 0]  # odd = 男


def test_text_round_trip_keeps_x():
    text = np.array(["11010519491231002X", "990101199001011234"])
    assert list(to_text(from_text(text))) == list(text)


def test_legacy15_drops_century_and_check_digit():
    assert list(legacy15(from_text(np.array(["11010519491231002X"])))) == ["110105491231002"]


@settings(max_examples=25, deadline=None)
@given(st.lists(ids17, min_size=1, max_size=30), st.integers(0, 2**32 - 1))
def test_wrong_digit_and_swap_never_keep_a_valid_checksum(bodies, seed):
    ids = np.array([b + reference_check(b) for b in bodies])
    rng = np.random.default_rng(seed)
    for kind in ("id_wrong_digit", "id_swap"):
        out = _render_ids(rng, ids, np.full(len(ids), kind))
        changed = out != ids  # a swap of two equal digits everywhere is impossible to plant
        assert changed.any() or kind == "id_swap"
        d = from_text(out[changed])
        assert not is_valid(d).any(), kind
        assert all(sum(a != b for a, b in zip(x, y, strict=True)) in (1, 2)
                   for x, y in zip(out[changed], ids[changed], strict=True))


def test_reseq_gives_other_valid_ids_never_taken():
    rng = np.random.default_rng(3)
    base = build_ids(np.array([990102] * 50), np.array(["1980-01-01"] * 50, dtype="datetime64[D]"),
                     np.arange(50) * 2 + 1)
    taken = np.sort(to_text(base))
    new = reseq_valid(base, rng, taken)
    text = to_text(new)
    assert is_valid(new).all()
    assert not (set(text) & set(taken)) and len(set(text)) == 50
    assert all(t[:14] == o[:14] for t, o in zip(text, to_text(base), strict=True))
    assert ((new[:, 16] - base[:, 16]) % 2 == 0).all()  # sex kept
