"""CSV that a spreadsheet opens as data: no cell can start a formula (OWASP)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

# What Excel, LibreOffice and Google Sheets read as the start of a formula. Tab and
# carriage return count too: some spreadsheets skip them and see what follows.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: Any) -> Any:
    """`value`, or its text behind a `'` if a spreadsheet would run it as a formula."""
    if value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else value


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
