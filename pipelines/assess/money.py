"""Assess layer: exact money.

Sums in integer 分, exact fractions in Int128, one rounding half away from zero; published
amounts as ``Decimal(18, 2)`` yuan.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import floor

import polars as pl

MONEY = pl.Decimal(18, 2)
_I = pl.Int128



def _round_half_away(num: pl.Expr, den: pl.Expr | int) -> pl.Expr:
    """Integer ``num / den`` rounded half away from zero (den > 0), in exact integer arithmetic."""
    den_e = den if isinstance(den, pl.Expr) else pl.lit(den, dtype=_I)
    return num.sign() * ((num.abs() * 2 + den_e) // (den_e * 2))


def _yuan(fen: pl.Expr) -> pl.Expr:
    return (fen.cast(MONEY) / 100).cast(MONEY)


def _decimal_yuan(value: Fraction) -> Decimal:
    """An exact amount in 分 as yuan with two decimals (half away from zero)."""
    fen = abs(value)
    whole = floor(fen + Fraction(1, 2))
    return (Decimal(whole if value >= 0 else -whole) / 100).quantize(Decimal("0.01"))
