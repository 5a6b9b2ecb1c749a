"""Minor units, `Decimal` major units and currency scales: pure conversions, no server."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redlua.ledger import MAX_MINOR, SCALES, scale_of, to_decimal, to_minor
from redlua.ledger._money import amount_arg


def test_known_currencies_have_fixed_scales() -> None:
    """USD, EUR and CNY have 2 decimal places, JPY none, KWD three."""
    assert (SCALES["USD"], SCALES["EUR"], SCALES["CNY"], SCALES["JPY"], SCALES["KWD"]) == (
        2, 2, 2, 0, 3,
    )  # fmt: skip
    assert scale_of("USD") == 2 and scale_of("USD", 2) == 2


def test_custom_currencies_need_a_scale_and_known_ones_keep_theirs() -> None:
    """A code outside the table needs scale=; a known code refuses another scale."""
    assert scale_of("POINTS", 0) == 0 and scale_of("BTC", 8) == 8
    with pytest.raises(ValueError, match="no known scale"):
        scale_of("POINTS")
    with pytest.raises(ValueError, match="USD has scale 2"):
        scale_of("USD", 3)
    with pytest.raises(ValueError, match="0 to 12"):
        scale_of("XYZ", 13)
    with pytest.raises(TypeError, match="scale must be an int"):
        scale_of("XYZ", True)  # type: ignore[arg-type]
    for bad in ("usd", "US", "U$D", "1USD", "ABCDEFGHIJKLM"):
        with pytest.raises(ValueError, match="currency"):
            scale_of(bad, 2)


def test_decimals_convert_with_the_scale_and_refuse_extra_places() -> None:
    """12.34 USD is 1234 cents; 1.230 is fine (a trailing zero), 1.234 is refused."""
    assert to_minor(Decimal("12.34"), 2) == 1234
    assert to_minor(Decimal("1.230"), 2) == 123
    assert to_minor(Decimal("5"), 0) == 5 and to_minor(Decimal("1E+2"), 2) == 10000
    assert to_minor(1234, 2) == 1234  # an int already is minor units
    with pytest.raises(ValueError, match="3 decimal places; the scale allows 2"):
        to_minor(Decimal("1.234"), 2)
    with pytest.raises(ValueError, match="1 decimal places; the scale allows 0"):
        to_minor(Decimal("5.5"), 0)
    with pytest.raises(TypeError, match="not float"):
        to_minor(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        to_minor(Decimal("NaN"), 2)
    with pytest.raises(ValueError, match="at most"):
        to_minor(MAX_MINOR + 1, 2)
    assert to_decimal(1234, 2) == Decimal("12.34") and str(to_decimal(100, 2)) == "1.00"
    assert to_decimal(-5, 0) == Decimal(-5)


@given(st.integers(-MAX_MINOR, MAX_MINOR), st.integers(0, 12))
def test_minor_units_round_trip_through_decimal(minor: int, scale: int) -> None:
    """to_minor(to_decimal(n, s), s) == n for every amount and scale."""
    assert to_minor(to_decimal(minor, scale), scale) == minor


def test_amount_arguments_are_positive_ints_or_decimals() -> None:
    """Ints go as digits, Decimals as d<decimal>; zero, negatives, floats, bools and str are refused."""
    assert amount_arg(1250) == "1250"
    assert amount_arg(Decimal("12.50")) == "d12.5"
    assert amount_arg(Decimal("1E+2")) == "d100"
    for bad in (0, -1, Decimal(0), Decimal("-0.01"), Decimal("Infinity"), MAX_MINOR + 1):
        with pytest.raises(ValueError, match="amount"):
            amount_arg(bad)
    for bad in (1.5, True, "12.50", None):
        with pytest.raises(TypeError, match="amount must be an int"):
            amount_arg(bad)
    with pytest.raises(ValueError, match="15 digits"):
        amount_arg(Decimal("1" * 16))
