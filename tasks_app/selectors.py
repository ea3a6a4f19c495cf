"""Reads worth a name: what to launch next, where a run's page lives."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from tasks_app.models import (
    DECIDED_AGENT_STATUSES,
    Agent,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)

# The worker API reads a run on every request. Everything on a run but its status
# is frozen at launch (the admin shows it read-only), so each process keeps the
# runs it has served; `status` stays deferred and is read from the database.
RUN_CACHE_SIZE = 256
_run_cache: OrderedDict[int, TaskRun] = OrderedDict()
_run_cache_lock = threading.Lock()


def cached_run(run_id: int) -> TaskRun | None:
    """Run `run_id` with its task, or None. Reading `.status` queries the database.

    The instance is the caller's own copy, so a status read is never shared.
    """
    with _run_cache_lock:
        run = _run_cache.get(run_id)
        if run is not None:
            _run_cache.move_to_end(run_id)
    if run is None:
        run = (
            TaskRun.objects.select_related("task")
            .defer("status", "config_yaml")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            return None
        with _run_cache_lock:
            _run_cache[run_id] = run
            while len(_run_cache) > RUN_CACHE_SIZE:
                _run_cache.popitem(last=False)
    return copy.copy(run)


def forget_cached_runs() -> None:
    """Empty this process's run cache (tests reuse ids after a rollback)."""
    with _run_cache_lock:
        _run_cache.clear()


def units_to_launch(*, run: TaskRun) -> list[int]:
    """Ids of created units that fit under the run's `max_num_concurrent_units`."""
    pending = Unit.objects.filter(run=run, status=UnitStatus.CREATED).order_by("pk")
    if run.max_num_concurrent_units:
        live = Unit.objects.filter(
            run=run, status__in=[UnitStatus.LAUNCHED, UnitStatus.ASSIGNED]
        ).count()
        room = max(run.max_num_concurrent_units - live, 0)
        pending = pending[:room]
    return list(pending.values_list("pk", flat=True))


def task_url(run: TaskRun, **params: str) -> str:
    """Where workers open the run's task page: the site root, `?task_run_id=<id>`,
    then `params` (the provider adds its own parameters after these)."""
    public = (
        run.resolved_config.get("mephisto", {}).get("architect", {}).get("public_url")
    )
    if run.architect_type == "server":
        base = (public or settings.PUBLIC_URL).rstrip("/")
    else:
        base = settings.SITE_URL
    return f"{base}/?{urlencode({'task_run_id': run.pk, **params})}"


def unit_counts(*, run: TaskRun) -> dict[str, int]:
    """Units of `run` by status, in lifecycle order, omitting empty statuses."""
    rows = dict(
        Unit.objects.filter(run=run)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    return {status: rows[status] for status in UnitStatus.values if status in rows}


def worker_summary(*, worker: Worker) -> dict:
    """What the Worker admin page shows: grants, units per task, approval rate."""
    from qualifications_app.models import GrantedQualification

    grants = list(
        GrantedQualification.objects.filter(worker=worker)
        .select_related("qualification")
        .order_by("qualification__name")
    )
    per_task = list(
        Unit.objects.filter(worker=worker)
        .order_by()
        .values("run__task__task_name")
        .annotate(
            units=Count("pk"),
            completed=Count("pk", filter=Q(status=UnitStatus.COMPLETED)),
            accepted=Count("pk", filter=Q(status=UnitStatus.ACCEPTED)),
            rejected=Count("pk", filter=Q(status=UnitStatus.REJECTED)),
            # Paid but below the bar: out of the approval rate, as in Mephisto.
            soft_rejected=Count("pk", filter=Q(status=UnitStatus.SOFT_REJECTED)),
        )
        .order_by("run__task__task_name")
    )
    accepted = sum(row["accepted"] for row in per_task)
    reviewed = accepted + sum(row["rejected"] for row in per_task)
    return {
        "grants": grants,
        "units_per_task": per_task,
        "approval_rate": (accepted / reviewed) if reviewed else None,
        "reviewed_units": reviewed,
    }


def runs_with_units_to_launch() -> list[int]:
    """Running runs that still have created units (those past their cap wait)."""
    from tasks_app.models import TaskRunStatus

    return list(
        TaskRun.objects.filter(status=TaskRunStatus.RUNNING)
        .filter(
            Exists(Unit.objects.filter(run=OuterRef("pk"), status=UnitStatus.CREATED))
        )
        .values_list("pk", flat=True)
    )


def runs_stuck_launching(*, launched_before: datetime) -> list[int]:
    """Runs created before `launched_before` and still launching (a lost launch)."""
    from tasks_app.models import TaskRunStatus

    return list(
        TaskRun.objects.filter(
            status=TaskRunStatus.LAUNCHING, created_at__lt=launched_before
        )
        .order_by("pk")
        .values_list("pk", flat=True)
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


def run_allowlist(run: TaskRun) -> str | None:
    """The allowlist qualification `run` was launched with: its config's top-level
    `allowlist_qualification` flag (the example hooks' Flags), or None."""
    name = run.resolved_config.get("allowlist_qualification")
    return name.strip() or None if isinstance(name, str) else None


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


def approved_units(*, run: TaskRun, unit_ids: list[int]) -> list[Unit]:
    """Those of `unit_ids` that are `run`'s accepted units, with their workers
    (the ones whose workers an allowlist grant from the queue is for)."""
    return list(
        Unit.objects.filter(
            run=run, pk__in=unit_ids, status=UnitStatus.ACCEPTED
        ).select_related("worker")
    )


CENT = Decimal("0.01")


def run_budget(run: TaskRun) -> Decimal | None:
    """`run`'s `mephisto.task.budget` in dollars, or None when it has none."""
    # services.launch imports this module; its budget_of is how a launch reads
    # the same key, so the run is held to the budget it was launched with.
    from tasks_app.services.launch import budget_of

    return budget_of(run.resolved_config.get("mephisto", {}).get("task", {}))


@dataclass(frozen=True)
class Commitment:
    """What a run is committed to spend, in dollars, with the provider's fee."""

    # Rewards of every unit not rejected or expired: paid, owed or still open.
    rewards: Decimal
    # Bonuses (and their fees) not failed: pending, paid or ambiguous.
    bonuses: Decimal

    @property
    def total(self) -> Decimal:
        return self.rewards + self.bonuses


def run_commitment(*, run: TaskRun, fee_rate: Decimal) -> Commitment:
    """What `run` is committed to: the rewards of its units that are not rejected
    or expired (decided or not) with the provider's `fee_rate` on them, and its
    bonuses and their fees that did not fail. The one rule that the budget check
    of a bonus and the run's dashboard both read. Two queries."""
    from qualifications_app.models import ReviewAction
    from tasks_app.models import Payment, PaymentState

    rewards = Unit.objects.filter(run=run).exclude(
        status__in=[UnitStatus.REJECTED, UnitStatus.EXPIRED]
    ).aggregate(total=Sum("pay_amount"))["total"] or Decimal("0")
    bonuses = Payment.objects.filter(
        run=run, review__action=ReviewAction.BONUS
    ).exclude(state=PaymentState.FAILED).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")
    # Quantized: SQLite sums decimals as floats.
    return Commitment(
        rewards=(Decimal(rewards) * (1 + fee_rate)).quantize(CENT, ROUND_HALF_UP),
        bonuses=Decimal(bonuses).quantize(CENT, ROUND_HALF_UP),
    )
