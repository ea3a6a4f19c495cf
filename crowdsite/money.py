"""Amounts of money that a person types: plain ASCII decimals, read one way everywhere.

Python reads much more than an operator means as a number: `Decimal()` and
`float()` take `1_000`, Arabic-Indic and full-width digits, exponents (`1e2`),
`NaN` and `Infinity`, and a 29-digit amount makes a later `quantize` raise
`InvalidOperation`. `parse_dollars` takes only digits 0-9 with at most one `.`
(and a leading `-`, so the caller can say "must be more than 0"), within a size
that all arithmetic on it can hold; anything else is a `ValueError` saying what
was wrong. Callers add their own rules (positive, whole cents, a ceiling).
"""

from __future__ import annotations

import re
import string
import unicodedata
from decimal import Decimal

# The decimal context holds 28 digits; 12 before the point leave room for cents
# and for every product the site makes (fees, totals) without InvalidOperation.
MAX_WHOLE_DIGITS = 12
# Longer text is refused before it is looked at further (or quoted in full).
MAX_TEXT_LENGTH = 40

PLAIN_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
EXPONENT_FORM = re.compile(r"-?[0-9]+(?:\.[0-9]+)?[eE][-+]?[0-9]+")
NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})


def parse_dollars(value: str | Decimal | int | float, *, what: str) -> Decimal:
    """`value` as a Decimal, if it is an amount written as plain ASCII decimal text
    (or already a finite number); else ValueError naming `what` and the fault.

    A float is read as its shortest repr (0.1 is 0.1, 1e-05 is 0.00001), since
    it is a number already, not text a person typed.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value}")
    if isinstance(value, Decimal | int | float):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            raise ValueError(f"{what} must be a finite number (got {value})")
        return _within_size(number, shown=str(value), what=what)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text or a number, not {type(value).__name__}")
    text = value.strip(string.whitespace)
    if not text:
        raise ValueError(f"{what} is empty: give an amount such as 12.50")
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(
            f"{what} {text[:MAX_TEXT_LENGTH]!r}... is {len(text)} characters long; "
            f"an amount is at most {MAX_TEXT_LENGTH}"
        )
    if text.lstrip("+-").casefold() in NOT_FINITE:
        raise ValueError(f"{what} must be a finite number (got {text})")
    match = PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{what} {text!r} is not a number in plain decimal digits such as "
            f"12.50: {_fault(text)}"
        )
    if len(match.group(2).lstrip("0")) > MAX_WHOLE_DIGITS:
        raise ValueError(_too_large(repr(text), what))
    return Decimal(text)


def _within_size(number: Decimal, *, shown: str, what: str) -> Decimal:
    if number and number.adjusted() >= MAX_WHOLE_DIGITS:
        raise ValueError(_too_large(shown, what))
    return number


def _too_large(shown: str, what: str) -> str:
    return (
        f"{what} {shown} is too large: at most {MAX_WHOLE_DIGITS} digits before the '.'"
    )


def _fault(text: str) -> str:
    """What keeps `text` (short, stripped, not plain) from being a plain decimal."""
    if EXPONENT_FORM.fullmatch(text):
        number = Decimal(text)
        if number and number.adjusted() >= MAX_WHOLE_DIGITS:
            return f"it has an exponent ('e'), and {text} is too large"
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -MAX_WHOLE_DIGITS:
            return f"it has an exponent ('e'); write {number:f} instead"
        return "it has an exponent ('e'); write the number out in digits"
    for position, char in enumerate(text):
        if char in "0123456789." or (char == "-" and position == 0):
            continue
        if unicodedata.digit(char, None) is not None:
            name = unicodedata.name(char, "a digit")
            return f"{char!r} ({name}) is not one of the digits 0-9"
        if char == "_":
            return "'_' is not allowed: write 1000, not 1_000"
        if char == ",":
            return "',' is not allowed: write 1000 (not 1,000) and 12.50 (not 12,50)"
        return f"{char!r} is not allowed: use only the digits 0-9 and one '.'"
    if not any(char in "0123456789" for char in text):
        return "it has no digits 0-9"
    if text.count(".") > 1:
        return "it has more than one '.'"
    if text.lstrip("-").startswith("."):
        return "write a digit before the '.' (0.50, not .50)"
    return "write digits after the '.' (12.50) or no '.' (12)"
