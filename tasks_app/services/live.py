"""Writes of live tasks: the calls a page makes to the hooks' functions.

A call is kept before its function runs (`start_calls`) and its answer after
(`finish_calls`), each for many calls in a statement or two: the socket loop
gathers the calls that arrive while the previous write runs. Only an agent
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
from tasks_app.worker_sql import (
    answer_live_calls,
    keep_live_calls,
    live_agent_states,
)

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


def start_calls(requests: list[CallRequest]) -> list[CallStart]:
    """Keep `requests` and say for each what to do: two statements for all."""
    states = live_agent_states(sorted({r.agent_pk for r in requests}))
    starts: list[CallStart | None] = []
    new: dict[tuple[int, str], int] = {}
    for index, request in enumerate(requests):
        key = (request.agent_pk, request.request_id)
        state = states.get(request.agent_pk)
        stopped = (
            "expired"
            if state is None
            else not_working_status(state[0], in_time=state[1], submitted=state[2])
        )
        if stopped is not None:
            starts.append(CallStart("drop", stopped=stopped))
        elif key in new:
            starts.append(CallStart("wait"))  # the same packet twice in a batch
        elif request.over_limit:
            starts.append(
                CallStart(
                    "answer",
                    error="too many calls a minute; wait a moment and try again",
                    error_kind="rate_limited",
                )
            )
        else:
            new[key] = index
            starts.append(None)
    if new:
        rows = [_row(requests[index]) for index in new.values()]
        inserted = keep_live_calls(rows)
        again = _kept_before([key for key in new if key not in inserted])
        for key, index in new.items():
            request = requests[index]
            if key not in inserted:
                starts[index] = _again(again[key]) if key in again else None
            elif request.error:
                starts[index] = CallStart(
                    "answer", error=request.error, error_kind=request.error_kind
                )
            else:
                starts[index] = CallStart("run", call_pk=inserted[key])
    return [start if start is not None else CallStart("wait") for start in starts]


def _kept_before(keys: list[tuple[int, str]]) -> dict[tuple[int, str], LiveCall]:
    """The calls kept before under `keys` (a packet sent again)."""
    if not keys:
        return {}
    match = Q()
    for agent_pk, request_id in keys:
        match |= Q(agent_id=agent_pk, request_id=request_id)
    return {(c.agent_id, c.request_id): c for c in LiveCall.objects.filter(match)}


def _row(request: CallRequest) -> tuple[int, str, str, Any, Any, str, str, bool]:
    return (
        request.agent_pk,
        request.request_id,
        request.target,
        json.dumps(request.args),
        None,
        request.error,
        request.error_kind,
        bool(request.error),
    )


def _again(call: LiveCall) -> CallStart:
    """A call kept before: its answer again, or wait while it runs."""
    if call.answered_at is None:
        return CallStart("wait")
    if call.error:
        return CallStart("answer", error=call.error, error_kind=call.error_kind)
    return CallStart("answer", response=call.response)


def finish_calls(answers: list[CallAnswer]) -> list[None]:
    """Keep the answers of calls whose functions ran (one statement)."""
    answer_live_calls(
        [
            (
                answer.call_pk,
                None if answer.error else json.dumps(answer.response),
                answer.error,
                answer.error_kind,
            )
            for answer in answers
        ]
    )
    return [None] * len(answers)
