"""Writes of live tasks: the calls a page makes to the hooks' functions.

A call is kept before its function runs (`start_calls`) and its answer after
(`finish_calls`), each for many calls in one transaction: the socket loop
gathers the calls that arrive while the previous write runs. Only an agent
that still works (live, within its time, not submitted) gets a function run;
a packet sent twice (same `request_id`) is answered from what was kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from tasks_app.models import Agent, LiveCall
from tasks_app.selectors.live import not_working_status
from tasks_app.worker_sql import answer_live_calls, keep_live_calls

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
    """Keep `requests` and say for each what to do, in one transaction."""
    agent_pks = {r.agent_pk for r in requests}
    with transaction.atomic():
        agents = {
            pk: not_working_status(status, deadline_at, submitted_at is not None)
            for pk, status, deadline_at, submitted_at in Agent.objects.filter(
                pk__in=agent_pks
            ).values_list("pk", "status", "deadline_at", "submitted_at")
        }
        kept = {
            (call.agent_id, call.request_id): call
            for call in LiveCall.objects.filter(
                agent_id__in=agent_pks,
                request_id__in={r.request_id for r in requests},
            )
        }
        starts: list[CallStart | None] = []
        new: list[tuple[int, CallRequest]] = []
        seen: set[tuple[int, str]] = set()
        for request in requests:
            key = (request.agent_pk, request.request_id)
            if request.agent_pk not in agents:
                starts.append(CallStart("drop", stopped="expired"))
            elif agents[request.agent_pk] is not None:
                starts.append(CallStart("drop", stopped=agents[request.agent_pk]))
            elif key in kept:
                starts.append(_again(kept[key]))
            elif key in seen:
                starts.append(CallStart("wait"))
            elif request.over_limit:
                starts.append(
                    CallStart(
                        "answer",
                        error="too many calls a minute; wait a moment and try again",
                        error_kind="rate_limited",
                    )
                )
            else:
                seen.add(key)
                new.append((len(starts), request))
                starts.append(None)
        for index, call_pk in _insert(new):
            request = requests[index]
            if call_pk is None:
                starts[index] = CallStart("wait")
            elif request.error:
                starts[index] = CallStart(
                    "answer", error=request.error, error_kind=request.error_kind
                )
            else:
                starts[index] = CallStart("run", call_pk=call_pk)
    return [start if start is not None else CallStart("wait") for start in starts]


def _insert(
    new: list[tuple[int, CallRequest]],
) -> list[tuple[int, int | None]]:
    """Keep `new` in one statement; if another process kept one of them
    meanwhile, one by one (that one's id is then None: its first copy is
    answered there). (index in the batch, call id) pairs."""
    if not new:
        return []
    rows = [_row(request) for _, request in new]
    try:
        with transaction.atomic():
            ids = keep_live_calls(rows)
        return [(index, pk) for (index, _), pk in zip(new, ids, strict=True)]
    except IntegrityError:
        pass
    kept: list[tuple[int, int | None]] = []
    for (index, _), row in zip(new, rows, strict=True):
        try:
            with transaction.atomic():
                kept.append((index, keep_live_calls([row])[0]))
        except IntegrityError:
            kept.append((index, None))
    return kept


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
