"""Sample layer: resident ID numbers for the synthetic city, as digit arrays.

IDs are held as ``(n, 18)`` integer arrays (the check position holds 10 for ``X``) so that
building, checking and corrupting them is vectorised numpy, never a loop over people.
"""

from __future__ import annotations

import numpy as np

#: ISO 7064 MOD 11-2 weights of the first 17 digits (2**(17-i) mod 11).
WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
#: check value (sum mod 11) -> check character value (10 means ``X``)
_CHECK = np.array([1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)


def check_values(first17: np.ndarray) -> np.ndarray:
    """Check-digit values (0–10, 10 = ``X``) of an ``(n, 17)`` digit array."""
    return _CHECK[(first17.astype(np.int64) @ WEIGHTS) % 11]


def build_ids(district: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Valid 18-digit IDs as an ``(n, 18)`` digit array.

    Parameters
    ----------
    district : array of int
        Six-digit address codes (990101 …).
    birth : array of datetime64[D]
        Birth dates, embedded as YYYYMMDD.
    seq : array of int
        Three-digit sequence numbers 0–999; the last digit's parity is the sex (odd = 男).
    """
    n = len(district)
    ymd = birth.astype("datetime64[D]").astype(str)
    birth_num = np.char.replace(ymd, "-", "").astype(np.int64)
    body = district.astype(np.int64) * 10**11 + birth_num * 1000 + seq.astype(np.int64)
    digits = np.empty((n, 18), dtype=np.int64)
    for pos in range(16, -1, -1):
        digits[:, pos] = body % 10
        body //= 10
    digits[:, 17] = check_values(digits[:, :17])
    return digits


def is_valid(digits: np.ndarray) -> np.ndarray:
    """Whether each row's check digit agrees with its first 17 digits."""
    return check_values(digits[:, :17]) == digits[:, 17]


def to_text(digits: np.ndarray) -> np.ndarray:
    """``(n, 18)`` digit array -> array of 18-character strings (``X`` for 10)."""
    chars = np.ascontiguousarray((digits + ord("0")).astype(np.uint8))
    chars[digits == 10] = ord("X")
    return chars.view("S18").ravel().astype("U18") if len(digits) else np.array([], dtype="U18")


def from_text(ids: np.ndarray) -> np.ndarray:
    """Array of 18-character ID strings -> ``(n, 18)`` digit array."""
    raw = np.asarray(ids, dtype="S18").view(np.uint8).reshape(-1, 18).astype(np.int64)
    out = raw - ord("0")
    out[raw == ord("X")] = 10
    return out


def legacy15(digits: np.ndarray) -> np.ndarray:
    """The legacy 15-digit form (no century, no check digit) of IDs born in the 1900s."""
    keep = list(range(6)) + list(range(8, 17))
    chars = np.ascontiguousarray((digits[:, keep] + ord("0")).astype(np.uint8))
    return chars.view("S15").ravel().astype("U15") if len(digits) else np.array([], dtype="U15")


def reseq_valid(digits: np.ndarray, rng: np.random.Generator, taken: np.ndarray) -> np.ndarray:
    """A different, checksum-valid ID per row: same address and birth date, another sequence.

    The new sequence keeps the sex digit's parity; results never fall in ``taken`` (the sorted
    array of the city's real IDs) nor repeat each other.
    """
    out = digits.copy()
    todo = np.arange(len(out))
    while len(todo):
        bump = rng.integers(1, 50, size=len(todo)) * 2
        seq = out[todo, 14] * 100 + out[todo, 15] * 10 + out[todo, 16]
        seq = (seq + bump) % 1000
        out[todo, 14], out[todo, 15], out[todo, 16] = seq // 100, (seq // 10) % 10, seq % 10
        out[todo, 17] = check_values(out[todo, :17])
        texts = to_text(out)
        clash = np.isin(texts, taken)
        _, first = np.unique(texts, return_index=True)
        repeat = np.ones(len(texts), dtype=bool)
        repeat[first] = False
        todo = np.flatnonzero(clash | repeat)
    return out
