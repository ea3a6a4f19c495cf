"""The rules a review decision is checked against, before anything is written:
who may review, which submission a decision is about, whether it was decided
already, and what the provider takes (feedback it would refuse, a rejection it
can't undo). decisions.py and bonuses.py call them inside their transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.utils import timezone

from providers.registry import get_provider_class
from qualifications_app.models import DECISION_ACTIONS, ReviewAction, WorkerReview
from tasks_app.exceptions import AlreadyDecided, ReviewError
from tasks_app.models import Agent, AgentStatus, TaskRun, Unit, UnitStatus
from tasks_app.review_sql import AgentRow

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Reviewer = User | AnonymousUser | None


REVIEW_PERMISSION = "tasks_app.review_unit"


# Decision -> (the unit's status, the agent's status) it leaves (DESIGN §3).
OUTCOMES = {
    ReviewAction.APPROVE: (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
    ReviewAction.REJECT: (UnitStatus.REJECTED, AgentStatus.REJECTED),
    ReviewAction.SOFT_REJECT: (UnitStatus.SOFT_REJECTED, AgentStatus.SOFT_REJECTED),
}


# What a decided agent's status says was decided, for the refusal's wording.
DECIDED = {
    AgentStatus.APPROVED: "approved",
    AgentStatus.REJECTED: "rejected",
    AgentStatus.SOFT_REJECTED: "soft-rejected",
}


def unreported_refusal(unit_id: int, agent_id: int) -> str:
    """Why a submission the task page never reported is not paid as asked."""
    return (
        f"unit {unit_id}: the task page never reported this submission (agent "
        f"{agent_id}); it was recorded from the provider's list of submitted "
        "work, so the worker may never have seen the task. It is never approved "
        "in bulk or automatically: look at it, then approve it on its own, "
        "confirming that the page never reported it; nothing was changed"
    )


def check_can_override(unit: Unit, agent: Agent) -> None:
    """Refuse, by the provider's name, to undo a rejection it can't undo."""
    provider_type = agent.worker.provider_type
    provider_class = get_provider_class(provider_type)
    if not provider_class.can_override_rejection:
        raise ReviewError(
            f"unit {unit.pk}: {provider_type} can't approve a submission after "
            "it was rejected, so the rejection can't be overridden (pay the "
            "worker a bonus instead if the rejection was a mistake); nothing "
            "was changed"
        )
    within = provider_class.override_rejection_within
    assert agent.submitted_at is not None, "a decided agent has submitted"
    if within is not None and timezone.now() - agent.submitted_at > within:
        raise ReviewError(
            f"unit {unit.pk}: {provider_type} overrides a rejection only within "
            f"{within.days} days of the submission, and this one was submitted "
            f"on {agent.submitted_at.date().isoformat()}; nothing was changed"
        )


def check_feedback_length(unit_id: int, agent: Agent, reason: str) -> None:
    """Refuse a note or feedback longer than the provider takes."""
    limit = get_provider_class(agent.worker.provider_type).feedback_max_length
    if limit is not None and len(reason) > limit:
        raise ReviewError(
            f"unit {unit_id}: the note for the worker is {len(reason)} characters "
            f"long; {agent.worker.provider_type} takes at most {limit}; nothing "
            "was changed"
        )


def check_rejection(unit: Unit, feedback: str) -> None:
    """Refuse, before anything is written, feedback the provider would refuse
    (Prolific's rules for a rejection message)."""
    provider_type = (
        TaskRun.objects.filter(pk=unit.run_id)
        .values_list("provider_type", flat=True)
        .get()
    )
    try:
        get_provider_class(provider_type).check_rejection(feedback)
    except ValueError as exc:
        raise ReviewError(f"unit {unit.pk}: {exc}; nothing was changed") from exc


def submitted_agent(unit: Unit, agent_id: int | None) -> Agent:
    """The agent whose submission a decision on `unit` is about (locked)."""
    agents = Agent.objects.select_for_update().select_related("worker")
    if agent_id is not None:
        agent = agents.filter(pk=agent_id, unit=unit).first()
        if agent is None:
            raise ReviewError(f"unit {unit.pk} has no agent {agent_id}")
        if agent.submitted_at is None:
            raise ReviewError(
                f"agent {agent_id} of unit {unit.pk} has not submitted "
                f"(status {agent.status}); there is nothing to review"
            )
        return agent
    submitted = list(agents.filter(unit=unit, submitted_at__isnull=False))
    if not submitted:
        raise ReviewError(
            f"unit {unit.pk} has no submission to review (status {unit.status})"
        )
    agent = the_submission(unit.worker_id, submitted)
    if agent is None:
        listed = ", ".join(
            f"{a.pk} ({a.worker.worker_name}{', late' if a.is_late else ''})"
            for a in submitted
        )
        raise ReviewError(
            f"unit {unit.pk} has {len(submitted)} submissions (agents {listed}); "
            "say which agent the decision is about"
        )
    return agent


AgentLike = TypeVar("AgentLike", Agent, AgentRow)


def the_submission(
    unit_worker_id: int | None, submitted: list[AgentLike]
) -> AgentLike | None:
    """Which of a unit's (non-empty) submissions a decision without an agent id
    is about: the only one, or the unit's holder's when it is on time beside late
    ones; None when that can't be told."""
    if len(submitted) == 1:
        return submitted[0]
    holder = [a for a in submitted if a.worker_id == unit_worker_id]
    if len(holder) == 1 and not holder[0].is_late:
        return holder[0]
    return None


def already_decided(unit_id: int, agent_id: int | None) -> AlreadyDecided:
    reviews = WorkerReview.objects.filter(
        action__in=list(DECISION_ACTIONS), overridden_at__isnull=True
    )
    review = (
        (
            reviews.filter(agent_id=agent_id)
            if agent_id
            else reviews.filter(unit_id=unit_id)
        )
        .select_related("created_by")
        .first()
    )
    if review is None:
        return AlreadyDecided(
            f"unit {unit_id} was decided meanwhile; nothing was changed"
        )
    who = review.created_by.get_username() if review.created_by else "the operator"
    verb = DECIDED[OUTCOMES[ReviewAction(review.action)][1]]
    when = review.created_at.isoformat(timespec="seconds")
    hint = ""
    if review.action == ReviewAction.REJECT:
        hint = " (to approve it anyway, override the rejection)"
    return AlreadyDecided(
        f"unit {unit_id} was already {verb} by {who} at {when}; nothing was "
        f"changed{hint}",
        decision={
            "unit_id": unit_id,
            "agent_id": review.agent_id,
            "action": review.action,
            "feedback": review.reason,
            "by": who,
            "at": when,
        },
    )


def check_permission(reviewer: Reviewer) -> None:
    if reviewer is None:
        return  # the operator, at the terminal
    if not reviewer.has_perm(REVIEW_PERMISSION):
        name = reviewer.get_username() if reviewer.is_authenticated else "anonymous"
        raise ReviewError(
            f"{name} may not review units (needs the {REVIEW_PERMISSION} "
            "permission); nothing was changed"
        )


def reviewer_user(reviewer: Reviewer) -> Any:
    return reviewer if reviewer is not None and reviewer.is_authenticated else None
