"""How many calls an agent's page may make a minute
(CROWDSITE_LIVE_CALLS_PER_MINUTE), counted by each server process for the
sockets it holds: a page has one socket, so one process counts all its calls.
Counted in memory, before any database work, so a flood costs nothing else."""

from __future__ import annotations

import time
from collections import deque

WINDOW_SECONDS = 60.0

_calls: dict[int, deque[float]] = {}


# Past this many agents counted, those idle for a minute are forgotten.
PRUNE_AT = 10_000


def allow_call(agent_pk: int, limit: int) -> bool:
    """Count a call of agent `agent_pk` if it is within `limit` a minute."""
    now = time.monotonic()
    if len(_calls) > PRUNE_AT:
        _prune(now)
    times = _calls.setdefault(agent_pk, deque())
    while times and times[0] <= now - WINDOW_SECONDS:
        times.popleft()
    if len(times) >= limit:
        return False
    times.append(now)
    return True


def _prune(now: float) -> None:
    for agent_pk in [
        pk
        for pk, times in _calls.items()
        if not times or times[-1] <= now - WINDOW_SECONDS
    ]:
        del _calls[agent_pk]


def forget_all() -> None:
    """Start counting afresh (tests reuse agent ids)."""
    _calls.clear()
