"""Reads of live tasks: the agent a socket binds to, whether it still works,
and the calls kept with an agent (for its page, its functions, review, export)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from tasks_app.models import (
    AGENT_LIVE_STATUSES,
    Agent,
    AgentStatus,
    LiveCall,
    OnboardingAgent,
    OnboardingStatus,
)

LIVE_BLUEPRINT = "remote_procedure"

# An agent no longer working, as Mephisto's page names its state (live.js
# AGENT_STATUS); a submitted agent has nothing to be told.
MEPHISTO_STATUS = {
    AgentStatus.TIMEOUT: "timeout",
    AgentStatus.RETURNED: "returned",
    AgentStatus.EXPIRED: "expired",
    AgentStatus.DISCONNECT: "disconnect",
}


@dataclass(frozen=True)
class LiveAgent:
    """What a socket needs of the agent it is bound to, read once."""

    pk: int
    public_id: str
    run_id: int
    unit_id: int
    worker: str  # PROVIDER:ID
    init_data: Any  # the unit's inputs
    remote_call_timeout_s: float
    # An onboarding agent's socket is kept alive (heartbeats), but its calls
    # are answered `unavailable`: calls are kept with task agents only.
    onboarding: bool = False


def live_agent(public_id: str) -> LiveAgent | None:
    """The agent `public_id` names if it is an agent (or onboarding agent) of a
    live run, else None (an unknown id, or another blueprint's agent)."""
    if public_id.startswith("onboarding"):
        return _live_onboarding_agent(public_id)
    agent = (
        Agent.objects.select_related("run", "worker", "unit__assignment")
        .filter(public_id=public_id)
        .first()
    )
    if agent is None or agent.run.blueprint_type != LIVE_BLUEPRINT:
        return None
    blueprint = (agent.run.resolved_config or {}).get("mephisto", {}).get("blueprint")
    return LiveAgent(
        pk=agent.pk,
        public_id=agent.public_id,
        run_id=agent.run_id,
        unit_id=agent.unit_id,
        worker=f"{agent.worker.provider_type}:{agent.worker.worker_name}",
        init_data=agent.unit.assignment.data,
        remote_call_timeout_s=float((blueprint or {}).get("remote_call_timeout_s", 30)),
    )


def _live_onboarding_agent(public_id: str) -> LiveAgent | None:
    onboarding = (
        OnboardingAgent.objects.select_related("run", "worker")
        .filter(public_id=public_id, run__blueprint_type=LIVE_BLUEPRINT)
        .first()
    )
    if onboarding is None:
        return None
    return LiveAgent(
        pk=onboarding.pk,
        public_id=onboarding.public_id,
        run_id=onboarding.run_id,
        unit_id=0,
        worker=f"{onboarding.worker.provider_type}:{onboarding.worker.worker_name}",
        init_data=onboarding.run.shared_state.get("onboarding_data") or {},
        remote_call_timeout_s=0,
        onboarding=True,
    )


def not_working_status(status: str, *, in_time: bool, submitted: bool) -> str | None:
    """Mephisto's name for why an agent no longer works, or None while it works
    (live and within its time). A submitted agent is `done`."""
    if submitted:
        return "done"
    if status in AGENT_LIVE_STATUSES:
        return None if in_time else "timeout"
    return MEPHISTO_STATUS.get(AgentStatus(status), "done")


def agent_stopped(agent_pk: int, onboarding: bool = False) -> str | None:
    """Why agent `agent_pk` no longer works (Mephisto's status), or None."""
    if onboarding:
        working = OnboardingAgent.objects.filter(
            pk=agent_pk,
            status__in=[OnboardingStatus.NONE, OnboardingStatus.ONBOARDING],
        ).exists()
        return None if working else "done"
    row = (
        Agent.objects.filter(pk=agent_pk)
        .values_list("status", "deadline_at", "submitted_at")
        .first()
    )
    if row is None:
        return "expired"
    status, deadline_at, submitted_at = row
    return not_working_status(
        status, in_time=deadline_at > timezone.now(), submitted=submitted_at is not None
    )


def call_record(call: LiveCall) -> dict[str, Any]:
    """A kept call as review, export and the agent's functions see it."""
    return {
        "request_id": call.request_id,
        "target": call.target,
        "args": call.args,
        "response": call.response,
        "error": call.error or None,
        "error_kind": call.error_kind or None,
        "requested_at": call.requested_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
    }


def agent_calls(agent_pk: int) -> list[dict[str, Any]]:
    """Agent `agent_pk`'s calls in the order they arrived."""
    return [call_record(c) for c in LiveCall.objects.filter(agent_id=agent_pk)]


def calls_by_agent(agent_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    """{agent pk: its calls in order} for `agent_pks` (one query)."""
    calls: dict[int, list[dict[str, Any]]] = {pk: [] for pk in agent_pks}
    for call in LiveCall.objects.filter(agent_id__in=agent_pks).order_by("pk"):
        calls[call.agent_id].append(call_record(call))
    return calls


def previous_requests(agent_pk: int) -> list[dict[str, Any]]:
    """The agent's calls as Mephisto's `previous_requests` (RemoteRequest dicts:
    uuid, target, args_json, response_json, timestamp), for a page reloaded."""
    rows = []
    for call in LiveCall.objects.filter(agent_id=agent_pk):
        rows.append(
            {
                "uuid": call.request_id,
                "target": call.target,
                "args_json": json.dumps(call.args),
                "response_json": None
                if call.answered_at is None
                else json.dumps(call.response if not call.error else error_body(call)),
                "timestamp": call.requested_at.timestamp(),
            }
        )
    return rows


def error_body(call: LiveCall) -> dict[str, str]:
    """The answer the page got for a failed call."""
    return {"error": call.error, "error_kind": call.error_kind}


def live_init_data(agent_id: str, init_task_data: Any) -> dict[str, Any]:
    """An agent's `init_task_data` on a live run, in Mephisto's shape:
    `{"task_data": the inputs, "previous_requests": its calls so far}` (a
    reloaded page sees what it asked before)."""
    previous = (
        [] if agent_id.startswith("onboarding") else previous_requests_of(agent_id)
    )
    return {"task_data": init_task_data, "previous_requests": previous}


def previous_requests_of(agent_id: str) -> list[dict[str, Any]]:
    pk = Agent.objects.filter(public_id=agent_id).values_list("pk", flat=True).first()
    return [] if pk is None else previous_requests(pk)


def onboarding_run_is_live(agent_id: str) -> bool:
    """Whether onboarding agent `agent_id` belongs to a live run."""
    return OnboardingAgent.objects.filter(
        public_id=agent_id, run__blueprint_type=LIVE_BLUEPRINT
    ).exists()


# How much of a call's arguments or answer the review queue shows.
REVIEW_TEXT_LIMIT = 400


def calls_for_review(agent_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    """{agent pk: its calls in order}, each with `args_text` and `answer_text`
    (compact JSON, cut at REVIEW_TEXT_LIMIT characters) for the review queue."""
    calls = calls_by_agent(agent_pks)
    for records in calls.values():
        for record in records:
            record["args_text"] = _short_json(record["args"])
            record["answer_text"] = (
                "(no answer)"
                if record["answered_at"] is None
                else _short_json(record["response"])
            )
    return calls


def _short_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ": "))
    if len(text) <= REVIEW_TEXT_LIMIT:
        return text
    return f"{text[:REVIEW_TEXT_LIMIT]}… ({len(text)} characters)"
