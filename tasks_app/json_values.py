"""Which JSON values a database can store: one check for the worker API and launch."""

from __future__ import annotations

import math
from typing import Any


def unstorable_reason(value: Any) -> str | None:
    """Why no JSON column can hold `value`, in words; None when it can.

    NUL characters, lone surrogates and NaN/Infinity are accepted by Python's
    json module but refused by PostgreSQL's jsonb (and a NUL or surrogate breaks
    every later read of the row on SQLite).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "contains text that is not valid Unicode (a lone surrogate)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "contains NaN or Infinity, which JSON can't hold"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None
