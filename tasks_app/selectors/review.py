"""What awaits a decision, and what the review queue shows: the one selection
the queue, review_run, auto-approval and the run's figures read."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from tasks_app.models import (
    DECIDED_AGENT_STATUSES,
    Agent,
    AgentStatus,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)


def awaiting_review(*, run: TaskRun, worker_id: int | None = None) -> QuerySet:
    """What awaits a decision in `run` (of `worker_id`, if given): every
    submission without one, the unit holder's and late ones alike, by unit then
    agent, with its unit, assignment and worker.

    The one answer to the question: the review queue, `review_run`,
    auto-approval and the run's figures all read it. A late submission is
    marked `is_late`; its agent may be `timeout`, `returned` or `expired` (the
    unit went to another worker), so the agent's status is no test of it.
    """
    agents = Agent.objects.filter(run=run, submitted_at__isnull=False).exclude(
        status__in=DECIDED_AGENT_STATUSES
    )
    if worker_id is not None:
        agents = agents.filter(worker_id=worker_id)
    return agents.select_related("unit__assignment", "worker").order_by("unit_id", "pk")


# The review queue's filters: what awaits a decision, each decision, or all.
REVIEW_QUEUE_STATUSES = ("pending", "approved", "rejected", "soft_rejected", "all")


def review_queue(
    *,
    run: TaskRun,
    status: str = "pending",
    worker_id: int | None = None,
    late: bool | None = None,
) -> QuerySet:
    """`run`'s submissions for the admin's review queue, by unit then agent, with
    their unit, assignment and worker (one query per page). `status` is one of
    REVIEW_QUEUE_STATUSES: "pending" is `awaiting_review`; a late submission
    beside the unit's own is its own row."""
    if status == "pending":
        agents = awaiting_review(run=run, worker_id=worker_id)
    else:
        agents = Agent.objects.filter(run=run, submitted_at__isnull=False)
        if status != "all":
            agents = agents.filter(status=status)
        if worker_id is not None:
            agents = agents.filter(worker_id=worker_id)
        agents = agents.select_related("unit__assignment", "worker").order_by(
            "unit_id", "pk"
        )
    if late is not None:
        agents = agents.filter(is_late=late)
    return agents


def review_queue_workers(*, run: TaskRun) -> list[Worker]:
    """The workers with a submission in `run`, by name (the queue's worker filter)."""
    from tasks_app.models import Agent

    submitted = Agent.objects.filter(
        run=run, worker=OuterRef("pk"), submitted_at__isnull=False
    )
    return list(Worker.objects.filter(Exists(submitted)).order_by("worker_name"))


def worker_standings(*, run: TaskRun, worker_ids: list[int]) -> dict[int, dict]:
    """Each worker's standing as the review queue shows it, in three queries for
    any number of workers: approval rate (as worker_summary counts it), units
    done, late submissions (everywhere) and their onboarding status in `run`."""
    from tasks_app.models import Agent, OnboardingAgent

    done = [
        UnitStatus.COMPLETED,
        UnitStatus.ACCEPTED,
        UnitStatus.REJECTED,
        UnitStatus.SOFT_REJECTED,
    ]
    standings: dict[int, dict] = {
        pk: {"approval_rate": None, "reviewed": 0, "done": 0, "late": 0}
        for pk in worker_ids
    }
    rows = (
        Unit.objects.filter(worker_id__in=worker_ids)
        .order_by()
        .values("worker_id")
        .annotate(
            done=Count("pk", filter=Q(status__in=done)),
            accepted=Count("pk", filter=Q(status=UnitStatus.ACCEPTED)),
            rejected=Count("pk", filter=Q(status=UnitStatus.REJECTED)),
        )
    )
    for row in rows:
        reviewed = row["accepted"] + row["rejected"]
        standings[row["worker_id"]].update(
            done=row["done"],
            reviewed=reviewed,
            approval_rate=row["accepted"] / reviewed if reviewed else None,
        )
    late = (
        Agent.objects.filter(worker_id__in=worker_ids, is_late=True)
        .order_by()
        .values_list("worker_id")
        .annotate(n=Count("pk"))
    )
    for worker_id, count in late:
        standings[worker_id]["late"] = count
    onboarding = OnboardingAgent.objects.filter(
        run=run, worker_id__in=worker_ids
    ).order_by("pk")
    for worker_id, status in onboarding.values_list("worker_id", "status"):
        standings[worker_id]["onboarding"] = status  # the latest attempt wins
    return standings


def agent_reviews(*, agent_ids: list[int]) -> dict[int, list]:
    """The decisions and bonuses made on each of `agent_ids`, oldest first, with
    who made them (one query)."""
    from qualifications_app.models import ReviewAction, WorkerReview

    reviews: dict[int, list] = {pk: [] for pk in agent_ids}
    rows = (
        WorkerReview.objects.filter(
            agent_id__in=agent_ids,
            action__in=[
                ReviewAction.APPROVE,
                ReviewAction.REJECT,
                ReviewAction.SOFT_REJECT,
                ReviewAction.BONUS,
            ],
        )
        .select_related("created_by")
        .order_by("pk")
    )
    for review in rows:
        assert review.agent_id is not None  # filtered on it
        reviews[review.agent_id].append(review)
    return reviews


def approved_submissions(
    *, run: TaskRun, unit_ids: Sequence[int] = (), agent_ids: Sequence[int] = ()
) -> list[Agent]:
    """`run`'s approved submissions on `unit_ids` or by `agent_ids`, with their
    units and workers (the ones whose workers an allowlist grant from the queue
    is for: the submitter's, a late one's too)."""
    return list(
        Agent.objects.filter(run=run, status=AgentStatus.APPROVED)
        .filter(Q(unit_id__in=unit_ids) | Q(pk__in=agent_ids))
        .select_related("unit", "worker")
        .order_by("unit_id", "pk")
    )
