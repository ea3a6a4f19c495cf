"""Writes of live tasks: the calls a page makes to the hooks' functions.

A call is kept before its function runs and its answer after; `keep_calls`
writes both for many calls at once (one statement on PostgreSQL): the socket
loop gathers what arrives while the previous write runs. Only an agent
that still works (live, within its time, not submitted) gets a function run;
a packet sent twice (same `request_id`) is answered from what was kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from tasks_app.models import LiveCall
from tasks_app.selectors.live import not_working_status
from tasks_app.worker_sql import live_agent_states, write_live_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRequest:
    """A call as the socket read it; `error` when it can't run at all (unknown
    function, unreadable arguments): it is kept failed and answered so."""

    agent_pk: int
    request_id: str
    target: str
    args: Any
    error: str = ""
    error_kind: str = ""
    # Past the agent's calls a minute (tasks_app.live.rate): answered so, if
    # the agent still works, and neither run nor kept.
    over_limit: bool = False


@dataclass(frozen=True)
class CallStart:
    """What to do with a call: `run` its function (kept as call `call_pk`),
    `answer` at once with `response` or `error`, `wait` (the same call is
    running), or `drop` it (the agent no longer works: `stopped` says why)."""

    action: str
    call_pk: int | None = None
    response: Any = None
    error: str = ""
    error_kind: str = ""
    stopped: str | None = None


@dataclass(frozen=True)
class CallAnswer:
    call_pk: int
    response: Any = None
    error: str = ""
    error_kind: str = ""


def keep_calls(items: list[CallRequest | CallAnswer]) -> list[CallStart | None]:
    """The answers of calls that ran, and the calls that just came, written
    together (one statement on PostgreSQL); for each new call what to do, None
    for an answer."""
    requests = [
        (i, item) for i, item in enumerate(items) if isinstance(item, CallRequest)
    ]
    answers = [item for item in items if isinstance(item, CallAnswer)]
    to_keep: dict[tuple[int, str], CallRequest] = {}
    for _, request in requests:
        if not request.over_limit:
            to_keep.setdefault((request.agent_pk, request.request_id), request)
    kept = write_live_batch(
        [
            (
                answer.call_pk,
                None if answer.error else json.dumps(answer.response),
                answer.error,
                answer.error_kind,
            )
            for answer in answers
        ],
        [
            (
                request.agent_pk,
                request.request_id,
                request.target,
                json.dumps(request.args),
                request.error,
                request.error_kind,
                bool(request.error),
            )
            for request in to_keep.values()
        ],
    )
    # Why a call was not kept (its agent stopped, or it was kept before), and
    # whether an agent over its limit still works: read only when needed.
    unsure = {r.agent_pk for _, r in requests if (r.agent_pk, r.request_id) not in kept}
    states = live_agent_states(sorted(unsure)) if unsure else {}
    stopped = {
        pk: "expired"
        if pk not in states
        else not_working_status(
            states[pk][0], in_time=states[pk][1], submitted=states[pk][2]
        )
        for pk in unsure
    }
    again = _kept_before(
        [key for key in to_keep if key not in kept and stopped.get(key[0]) is None]
    )
    results: list[CallStart | None] = [None] * len(items)
    first: set[tuple[int, str]] = set()
    for index, request in requests:
        key = (request.agent_pk, request.request_id)
        results[index] = _start(request, key, kept, stopped, again, first)
        first.add(key)
    return results


def _start(
    request: CallRequest,
    key: tuple[int, str],
    kept: dict[tuple[int, str], int],
    stopped: dict[int, str | None],
    again: dict[tuple[int, str], LiveCall],
    first: set[tuple[int, str]],
) -> CallStart:
    if stopped.get(request.agent_pk) is not None:
        return CallStart("drop", stopped=stopped[request.agent_pk])
    if request.over_limit:
        return CallStart(
            "answer",
            error="too many calls a minute; wait a moment and try again",
            error_kind="rate_limited",
        )
    if key in first:
        return CallStart("wait")  # the same packet twice in one batch
    if key in kept:
        if request.error:
            return CallStart(
                "answer", error=request.error, error_kind=request.error_kind
            )
        return CallStart("run", call_pk=kept[key])
    if key in again:
        return _again(again[key])
    return CallStart("wait")


def _kept_before(keys: list[tuple[int, str]]) -> dict[tuple[int, str], LiveCall]:
    """The calls kept before under `keys` (a packet sent again)."""
    if not keys:
        return {}
    match = Q()
    for agent_pk, request_id in keys:
        match |= Q(agent_id=agent_pk, request_id=request_id)
    return {(c.agent_id, c.request_id): c for c in LiveCall.objects.filter(match)}


def _again(call: LiveCall) -> CallStart:
    """A call kept before: its answer again, or wait while it runs."""
    if call.answered_at is None:
        return CallStart("wait")
    if call.error:
        return CallStart("answer", error=call.error, error_kind=call.error_kind)
    return CallStart("answer", response=call.response)
