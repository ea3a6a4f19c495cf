"""CSV that a spreadsheet opens as data: no cell can start a formula (OWASP).

Only text is escaped. A number (int, float or Decimal) is written as it is, `-3`
included: a spreadsheet reads it as the number it is, never as a formula, and a
`'` in front would turn a numeric column into text. A number that arrived as
text (the string "-3") is text, and is escaped like any other.
"""

from __future__ import annotations

import csv
import math
import string
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

# What Excel, LibreOffice and Google Sheets read as the start of a formula. Tab and
# carriage return count too: some spreadsheets skip them and see what follows.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CHARS = frozenset("=+-@")
# The first characters that settle at once that a cell is no formula: the rest of
# printable ASCII (no whitespace), and the empty cell. Almost every cell starts
# with one, so this check is all most of them cost.
_PLAIN_STARTS = frozenset(
    {"", *(set(string.printable) - FORMULA_CHARS - set(string.whitespace))}
)


def is_number(value: Any) -> bool:
    """Whether `value` is a finite number (not a bool), written as it is."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    # "-inf" and "NaN" are no numbers to a spreadsheet: text, so escaped.
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return False


def escape_formula(value: Any) -> Any:
    """`value`, or its text behind a `'` if a spreadsheet would run it as a formula:
    text whose first character other than whitespace is `=`, `+`, `-` or `@`, or a
    form of one (full-width `＝`, small `﹢`, ...), or which starts with a tab or CR.
    A finite number (`is_number`) is returned as it is."""
    if isinstance(value, str):
        text = value
    elif value is None or is_number(value):
        return value
    else:
        text = str(value)
    first = text[:1]
    if first in _PLAIN_STARTS:
        return value
    if first in FORMULA_STARTS:
        return "'" + text
    if first.isspace():
        # Leading whitespace may be trimmed before the cell is read (some importers
        # do, and so does anyone tidying the sheet), leaving the formula in front.
        first = text.lstrip()[:1]
    # NFKC folds the compatibility forms a spreadsheet may take for the ASCII sign
    # (full-width ＝, small ﹢, superscript ⁺) onto it. Of one character: the cost
    # doesn't grow with the cell.
    if unicodedata.normalize("NFKC", first)[:1] in FORMULA_CHARS:
        return "'" + text
    return value


class FormulaSafeWriter:
    """`csv.writer` whose every cell goes through `escape_formula`."""

    def __init__(self, file: Any, **fmtparams: Any) -> None:
        self._writer = csv.writer(file, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([escape_formula(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file: Any, **fmtparams: Any) -> FormulaSafeWriter:
    """Like `csv.writer`, for every CSV the site writes for people to open."""
    return FormulaSafeWriter(file, **fmtparams)
