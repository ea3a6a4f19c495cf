"""Nothing lost: submissions a provider lists that the task page failed to report.

A worker may submit on MTurk while our page's /submit_task never arrived (the
tab closed, the network dropped, the page broke). The sweep asks the provider
for the submitted work of a run's units still without a submission and records
what it finds for review, through the page's own `submit_unit`, so the same
rules hold: the first submission is kept, a unit is never held by two workers,
and a submission that can't take its unit is kept as late.

Listing is a read with no side effect on the provider, so it does not go
through the call log (a sweep every few minutes would fill it); what it finds
is written once, and a second sweep finds it recorded and writes nothing.

What it records is marked `from_provider_listing`: a provider lists work the
page never saw (a Prolific completion code passed on, an assignment submitted
straight to MTurk's form), so it is never approved in bulk or automatically;
a person approves it alone (services/review/decisions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from providers.base import SubmittedWork
from providers.registry import PROVIDER_CLASSES, get_provider, get_provider_class
from tasks_app.models import (
    AGENT_LIVE_STATUSES,
    Agent,
    AgentStatus,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.services.arrival import new_agent_id
from tasks_app.services.work import release_agent, submit_unit

# Units whose HIT may hold a submission we don't have: not yet submitted here.
UNREPORTED_UNIT_STATUSES = (
    UnitStatus.LAUNCHED,
    UnitStatus.ASSIGNED,
    UnitStatus.EXPIRED,
)
# How long after a run is shut down its HITs are still polled: a held HIT may
# be submitted for its assignment duration, and MTurk lists it as Submitted
# until it is approved automatically (one week, Mephisto's default).
SHUT_DOWN_POLL_WINDOW = timedelta(days=8)
# What marks a submission recorded from the provider's listing (in the agent's
# metadata, beside the raw answer), for the reviewer to see.
LISTING_KEY = "provider_listing"


@dataclass(frozen=True)
class Recovered:
    """One submission recorded from the provider's listing."""

    unit_id: int
    agent_id: int
    worker_name: str
    provider_assignment_id: str


def runs_to_poll() -> list[int]:
    """Running runs, and runs ended lately (shut down, or completed with units
    that were held until their time ran out), on providers that list work."""
    listing = [
        name
        for name in PROVIDER_CLASSES
        if get_provider_class(name).lists_submitted_work
        or get_provider_class(name).lists_abandoned_work
    ]
    since = timezone.now() - SHUT_DOWN_POLL_WINDOW
    return list(
        TaskRun.objects.filter(provider_type__in=listing)
        .filter(
            Q(status=TaskRunStatus.RUNNING)
            | Q(
                status__in=[TaskRunStatus.SHUT_DOWN, TaskRunStatus.COMPLETED],
                ended_at__gte=since,
            )
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def recover_submissions(*, run_id: int) -> list[Recovered]:
    """Record the run's submissions the provider lists and we don't have.

    Safe to run twice or concurrently: a submission already recorded (by the
    page or an earlier sweep) is left alone, and each is recorded through
    `submit_unit`, which keeps only the first.
    """
    run = TaskRun.objects.get(pk=run_id)
    if not get_provider_class(run.provider_type).lists_submitted_work:
        return []
    units = dict(
        Unit.objects.filter(run=run, status__in=UNREPORTED_UNIT_STATUSES)
        .exclude(provider_unit_id="")
        .values_list("provider_unit_id", "pk")
    )
    if not units:
        return []
    # Outside any transaction: no row is locked while the provider answers.
    listed = get_provider(run.provider_type).submitted_work(
        provider_unit_ids=sorted(units)
    )
    listed = [work for work in listed if work.provider_unit_id in units]
    if not listed:
        return []
    recorded = set(
        Agent.objects.filter(
            run=run,
            provider_assignment_id__in=[w.provider_assignment_id for w in listed],
            submitted_at__isnull=False,
        ).values_list("provider_assignment_id", flat=True)
    )
    workers = _workers(run.provider_type, [w.worker_name for w in listed])
    found = []
    for work in listed:
        if work.provider_assignment_id in recorded:
            continue
        recovered = _record(
            run=run,
            unit_id=units[work.provider_unit_id],
            worker=workers[work.worker_name],
            work=work,
        )
        if recovered is not None:
            found.append(recovered)
    return found


def free_abandoned_units(*, run_id: int) -> list[int]:
    """Free the units of agents whose workers the provider says gave up.

    Prolific lists a participant who returned the study, or ran out of time,
    as RETURNED or TIMED-OUT and opens the place again: the unit goes back to
    `launched` here too (`expired` in a shut-down run), the agent `returned`
    or `timeout`. A submission already stored is never undone. Returns the
    agents freed; safe to run twice (a freed agent is no longer live).
    """
    run = TaskRun.objects.get(pk=run_id)
    if not get_provider_class(run.provider_type).lists_abandoned_work:
        return []
    held = list(
        Agent.objects.filter(
            run=run, status__in=AGENT_LIVE_STATUSES, submitted_at__isnull=True
        )
        .exclude(provider_assignment_id="")
        .values_list("provider_assignment_id", "unit__provider_unit_id", "pk")
    )
    if not held:
        return []
    agents = {assignment: pk for assignment, _, pk in held}
    # Outside any transaction: no row is locked while the provider answers.
    abandoned = get_provider(run.provider_type).abandoned_work(
        provider_unit_ids=sorted({unit for _, unit, _ in held if unit})
    )
    freed = []
    for work in abandoned:
        agent_id = agents.get(work.provider_assignment_id)
        if agent_id is None:
            continue
        timed_out = work.status.upper().replace("_", "-") == "TIMED-OUT"
        if release_agent(agent_id=agent_id, timed_out=timed_out):
            freed.append(agent_id)
    return freed


def _workers(provider_type: str, names: list[str]) -> dict[str, Worker]:
    """The workers named, created if they never reached our page."""
    Worker.objects.bulk_create(
        [Worker(provider_type=provider_type, worker_name=n) for n in set(names)],
        ignore_conflicts=True,
    )
    return {
        w.worker_name: w
        for w in Worker.objects.filter(
            provider_type=provider_type, worker_name__in=set(names)
        )
    }


def _record(
    *, run: TaskRun, unit_id: int, worker: Worker, work: SubmittedWork
) -> Recovered | None:
    """Submit `work` as the worker's agent on the unit (created if need be)."""
    with transaction.atomic():
        agent = _agent_for(run=run, unit_id=unit_id, worker=worker, work=work)
        stored = submit_unit(agent_id=agent.public_id, final_data=work.answer)
        if not stored:
            return None
        # Marked, so that nothing pays it automatically: the page never saw it.
        Agent.objects.filter(pk=agent.pk).update(
            metadata={**(agent.metadata or {}), LISTING_KEY: _listing(work)},
            from_provider_listing=True,
        )
    return Recovered(
        unit_id=unit_id,
        agent_id=agent.pk,
        worker_name=worker.worker_name,
        provider_assignment_id=work.provider_assignment_id,
    )


def _agent_for(
    *, run: TaskRun, unit_id: int, worker: Worker, work: SubmittedWork
) -> Agent:
    """The worker's unsubmitted agent on the unit, or a new one for `work`.

    A new agent holds nothing: it starts disconnected (the page never told us
    of this worker), so `submit_unit` completes the unit with it only if the
    unit is still free, and otherwise keeps it as a late submission.
    """
    agent = (
        Agent.objects.select_for_update()
        .filter(run=run, unit_id=unit_id, worker=worker, submitted_at__isnull=True)
        .filter(
            provider_assignment_id__in=[work.provider_assignment_id, ""],
        )
        .order_by("-pk")
        .first()
    )
    if agent is not None:
        if not agent.provider_assignment_id:
            agent.provider_assignment_id = work.provider_assignment_id
            agent.save(update_fields=["provider_assignment_id"])
        return agent
    try:
        with transaction.atomic():
            return Agent.objects.create(
                public_id=new_agent_id(),
                unit_id=unit_id,
                worker=worker,
                run=run,
                status=AgentStatus.DISCONNECT,
                registration_id=f"{LISTING_KEY}:{work.provider_assignment_id}",
                provider_assignment_id=work.provider_assignment_id,
                deadline_at=timezone.now(),
            )
    except IntegrityError:
        # A concurrent sweep made it first: that one is the agent.
        return Agent.objects.select_for_update().get(
            run=run,
            registration_id=f"{LISTING_KEY}:{work.provider_assignment_id}",
        )


def _listing(work: SubmittedWork) -> dict[str, Any]:
    return {
        "provider_assignment_id": work.provider_assignment_id,
        "provider_unit_id": work.provider_unit_id,
        "answer_xml": work.raw_answer,
        "submitted_at": work.submitted_at.isoformat() if work.submitted_at else None,
        "recorded_at": timezone.now().isoformat(),
    }
