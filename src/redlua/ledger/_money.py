"""Money as the ledger keeps it: integer minor units, with one fixed scale per currency.

A balance of 12.34 USD is stored as ``1234`` (cents); a scale is the number of decimal
places of a currency's minor unit (USD 2, JPY 0, KWD 3). `Decimal` amounts in major
units are converted with that scale, and an amount with more decimal places than the
scale allows is refused, never rounded. Floats are refused everywhere: ``0.1 + 0.2`` is
not money. Every figure stays within 15 digits of minor units, so the scripts compute
exactly (Lua numbers are doubles, exact to 2**53).
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import MappingProxyType

MAX_MINOR = 10**15 - 1
"""The largest amount, balance or overdraft limit, in minor units (15 digits)."""
MAX_SCALE = 12
"""The most decimal places a currency's minor unit may have."""

SCALES = MappingProxyType(
    {
        "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "EUR": 2, "GBP": 2,
        "HKD": 2, "INR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2, "SEK": 2,
        "SGD": 2, "TND": 3, "USD": 2, "VND": 0,
    }
)  # fmt: skip
"""The scale of common ISO 4217 currencies; any other code needs an explicit scale."""

_CODE = re.compile(r"[A-Z][A-Z0-9]{2,11}")


def check_currency(currency: object) -> str:
    """Return *currency* if it is a code of 3 to 12 capitals or digits, else raise."""
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, not {type(currency).__name__}")
    if not _CODE.fullmatch(currency):
        raise ValueError(
            f"currency must be 3 to 12 capital letters or digits, starting with a letter,"
            f" got {currency!r}"
        )
    return currency


def scale_of(currency: str, scale: int | None = None) -> int:
    """Return the scale of *currency*: from `SCALES`, or *scale* for other codes.

    A known code given another scale is refused: two scales for one code would let
    a transfer between them change the amount.
    """
    code = check_currency(currency)
    known = SCALES.get(code)
    if scale is None:
        if known is None:
            raise ValueError(
                f"currency {code} has no known scale; pass scale= (decimal places, 0 to"
                f" {MAX_SCALE})"
            )
        return known
    if isinstance(scale, bool) or not isinstance(scale, int):
        raise TypeError(f"scale must be an int, not {type(scale).__name__}")
    if not 0 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be from 0 to {MAX_SCALE}, got {scale}")
    if known is not None and known != scale:
        raise ValueError(f"currency {code} has scale {known}, not {scale}")
    return scale


def to_decimal(minor: int, scale: int) -> Decimal:
    """Return *minor* units as a `Decimal` in major units: ``to_decimal(1234, 2) == 12.34``."""
    return Decimal(minor).scaleb(-scale)


def to_minor(amount: Decimal | int, scale: int, *, what: str = "amount") -> int:
    """Return *amount* in minor units: an int already is one, a `Decimal` is major units.

    A `Decimal` with more decimal places than *scale* (trailing zeros aside) raises
    `ValueError` naming *what*; so does anything past `MAX_MINOR` in size.
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
        raise TypeError(
            f"{what} must be an int (minor units) or a Decimal (major units),"
            f" not {type(amount).__name__}"
        )
    if isinstance(amount, Decimal):
        if not amount.is_finite():
            raise ValueError(f"{what} must be a finite Decimal, got {amount}")
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > scale:
            raise ValueError(
                f"{what} {amount} has {-exponent} decimal places; the scale allows {scale}"
            )
        amount = int(amount.scaleb(scale))
    if abs(amount) > MAX_MINOR:
        raise ValueError(f"{what} must be at most {MAX_MINOR} minor units, got {amount}")
    return amount


def amount_arg(amount: object, what: str = "amount") -> str:
    """Return a positive *amount* as a script argument, or raise naming *what*.

    An int is minor units and goes as digits; a `Decimal` is major units and goes as
    ``d<decimal>``, for the script to convert with the account's scale (and refuse
    extra decimal places) in the same step as the transfer.
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
        raise TypeError(
            f"{what} must be an int (minor units) or a Decimal (major units),"
            f" not {type(amount).__name__}"
        )
    if isinstance(amount, int):
        if not 0 < amount <= MAX_MINOR:
            raise ValueError(f"{what} must be from 1 to {MAX_MINOR} minor units, got {amount}")
        return str(amount)
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{what} must be a finite Decimal > 0, got {amount}")
    text = format(amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    if len(whole.lstrip("0")) > 15 or len(fraction) > MAX_SCALE:
        raise ValueError(f"{what} {amount} does not fit 15 digits of minor units")
    return "d" + text
