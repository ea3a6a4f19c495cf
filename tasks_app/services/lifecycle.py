"""A run's end: shutting it down, expiring what is left of it, completing it.

A run is `running` until it ends, one of two ways (DESIGN §3):
- `shut_down`: by `shutdown_run` (the command or the admin action), or by beat
  when no submission came for `no_submission_patience` seconds or the run's
  `task_lifetime_in_seconds` passed. Every unit not yet taken is expired, here and
  (through Celery) on the provider; units a worker holds may still be submitted
  and reviewed.
- `completed`: by itself, as Mephisto's `TaskRun.get_is_completed`: once no
  unit is created, launched or assigned. Collection is over; review, bonuses
  and auto-approval of its submitted units go on.

Without a broker there is no beat: `settle_run` does a run's share of it after
each submit and return, and `tasks_app.in_process_beat` runs the rest while the
site serves requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.db.models.functions import Coalesce
from django.utils import timezone

from providers.calllog import run_logged_call
from providers.outbox import enqueue_on_commit
from providers.registry import get_provider
from tasks_app import selectors
from tasks_app.exceptions import RunLifecycleError
from tasks_app.models import TaskRun, TaskRunStatus, Unit, UnitStatus
from tasks_app.services.launch import launch_units

# Units no worker has taken yet: a shutdown expires these.
UNTAKEN_STATUSES = (UnitStatus.CREATED, UnitStatus.LAUNCHED)
# Units still to be done by a worker: a run without any is completed
# (Mephisto's get_is_completed), whatever waits for review.
COLLECTING_UNIT_STATUSES = (
    UnitStatus.CREATED,
    UnitStatus.LAUNCHED,
    UnitStatus.ASSIGNED,
)
COMPLETED_REASON = "no unit is created, launched or assigned (collection is done)"
ENDED_RUN_STATUSES = (TaskRunStatus.COMPLETED, TaskRunStatus.SHUT_DOWN)


@dataclass(frozen=True)
class Shutdown:
    """What shutting a run down did."""

    run_id: int
    expired: int  # units not yet taken, now expired
    held: int  # units a worker holds, which may still be submitted
    reason: str
    awaiting_review: int = 0  # units submitted and not yet decided

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "status": TaskRunStatus.SHUT_DOWN.value,
            "expired": self.expired,
            "held": self.held,
            "awaiting_review": self.awaiting_review,
            "reason": self.reason,
        }


def shutdown_run(*, run_id: int, reason: str) -> Shutdown:
    """Stop `run_id` taking workers: expire its untaken units (on the provider
    too, through Celery, once), and mark it shut_down. Held units may still be
    submitted. Refused, changing nothing, if the run has already ended."""
    with transaction.atomic():
        # The run's row lock orders two shutdowns (a double click, beat and a
        # person): the second sees the first's status and is refused.
        run = TaskRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise RunLifecycleError(f"there is no task run {run_id}")
        if run.status in ENDED_RUN_STATUSES:
            when = f" at {run.ended_at:%Y-%m-%d %H:%M} UTC" if run.ended_at else ""
            raise RunLifecycleError(
                f"run {run_id} has already ended: it is {run.status}{when}"
                + (f" ({run.end_reason})" if run.end_reason else "")
                + "; nothing changed"
            )
        now = timezone.now()
        expired = Unit.objects.filter(run=run, status__in=UNTAKEN_STATUSES).update(
            status=UnitStatus.EXPIRED, updated_at=now
        )
        held = Unit.objects.filter(run=run, status=UnitStatus.ASSIGNED).count()
        submitted = Unit.objects.filter(run=run, status=UnitStatus.COMPLETED).count()
        run.status = TaskRunStatus.SHUT_DOWN
        run.ended_at = now
        run.end_reason = reason[:500]
        run.save(update_fields=["status", "ended_at", "end_reason"])
        enqueue_on_commit(
            task="tasks_app.tasks.expire_units_on_provider", kwargs={"run_id": run.pk}
        )
        enqueue_on_commit(
            task="tasks_app.tasks.end_run_on_provider", kwargs={"run_id": run.pk}
        )
    return Shutdown(
        run_id=run.pk,
        expired=expired,
        held=held,
        reason=reason,
        awaiting_review=submitted,
    )


def expire_units_on_provider(*, run_id: int) -> int:
    """Withdraw the run's expired units from its provider; how many were sent.

    Only units the provider knows (launched there, with its id) are sent. Safe
    to run twice: the call log keys the call by the units it withdraws, so a
    retry or a second shutdown sweep does not call again for the same units.
    """
    run = TaskRun.objects.get(pk=run_id)
    rows = list(
        Unit.objects.filter(run=run, status=UnitStatus.EXPIRED)
        .exclude(provider_unit_id="")
        .order_by("pk")
        .values_list("pk", "provider_unit_id")
    )
    if not rows:
        return 0
    provider = get_provider(run.provider_type)
    first, last = rows[0][0], rows[-1][0]
    provider_ids = [provider_id for _, provider_id in rows]
    spec = selectors.run_spec(run)

    def call() -> dict[str, Any]:
        provider.expire_units(run=spec, provider_unit_ids=provider_ids)
        return {"expired": len(provider_ids)}

    run_logged_call(
        provider_type=run.provider_type,
        operation="expire_units",
        key=f"expire_units:run={run.pk}:units={first}-{last}:n={len(rows)}",
        run_id=run.pk,
        request={"unit_ids": [first, last], "count": len(rows)},
        call=call,
    )
    return len(rows)


def complete_finished_runs(*, run_ids: list[int] | None = None) -> list[int]:
    """Mark completed every running run (of `run_ids`, or all) that has units
    and none of them created, launched or assigned; their ids.

    Safe to run twice or concurrently: a conditional UPDATE per run, and a run
    that was shut down meanwhile stays shut down.
    """
    # Quality units (screening, golds: unit_index < 0) never hold a run open.
    collecting = Unit.objects.filter(
        run=OuterRef("pk"), status__in=COLLECTING_UNIT_STATUSES, unit_index__gte=0
    )
    has_units = Unit.objects.filter(run=OuterRef("pk"))
    running = TaskRun.objects.filter(status=TaskRunStatus.RUNNING)
    if run_ids is not None:
        running = running.filter(pk__in=run_ids)
    ids = list(
        running.filter(Exists(has_units))
        .exclude(Exists(collecting))
        .values_list("pk", flat=True)
    )
    completed = []
    for run_id in ids:
        with transaction.atomic():
            still_done = not Unit.objects.filter(
                run_id=run_id, status__in=COLLECTING_UNIT_STATUSES, unit_index__gte=0
            ).exists()
            if still_done and TaskRun.objects.filter(
                pk=run_id, status=TaskRunStatus.RUNNING
            ).update(
                status=TaskRunStatus.COMPLETED,
                ended_at=timezone.now(),
                end_reason=COMPLETED_REASON,
            ):
                completed.append(run_id)
                enqueue_on_commit(
                    task="tasks_app.tasks.end_run_on_provider",
                    kwargs={"run_id": run_id},
                )
    return completed


def settle_run(*, run_id: int) -> None:
    """Without a broker, what beat would do for one run after a submit or a
    return, at once: launch the created units its `max_num_concurrent_units`
    now leaves room for, and complete it if collection is done.

    Safe to run twice or concurrently: the launch takes only created units that
    fit (and the call log keys it by them); the completion is conditional.
    """
    run = selectors.cached_run(run_id)
    if run is None or run.status != TaskRunStatus.RUNNING:
        return
    if run.max_num_concurrent_units and selectors.units_to_launch(run=run):
        launch_units(run_id=run_id)
    complete_finished_runs(run_ids=[run_id])


def end_run_on_provider(*, run_id: int) -> Any:
    """Close what the provider keeps open for an ended run (Prolific's study).

    Once per run: the call log keys it by the run, so a retry, or a shutdown
    followed by the completion sweep, calls the provider once.
    """
    run = TaskRun.objects.get(pk=run_id)
    provider_ids = sorted(
        set(
            Unit.objects.filter(run=run)
            .exclude(provider_unit_id="")
            .values_list("provider_unit_id", flat=True)
        )
    )
    if not provider_ids:
        return {}
    provider = get_provider(run.provider_type)
    spec = selectors.run_spec(run)
    return run_logged_call(
        provider_type=run.provider_type,
        operation="end_run",
        key=f"end_run:run={run.pk}",
        run_id=run.pk,
        request={"provider_unit_ids": provider_ids[:10], "count": len(provider_ids)},
        call=lambda: provider.end_run(run=spec, provider_unit_ids=provider_ids),
    )


def shut_down_stale_runs(*, now: datetime | None = None) -> list[Shutdown]:
    """Shut down the running runs past their patience or their lifetime.

    A run's patience (`no_submission_patience` seconds, 0 for none) runs from
    its last submission, or its launch before the first; its lifetime
    (`mephisto.task.task_lifetime_in_seconds`) from its launch. Safe to run twice:
    a run already shut down is skipped.
    """
    now = now or timezone.now()
    runs = (
        TaskRun.objects.filter(status=TaskRunStatus.RUNNING, launched_at__isnull=False)
        .annotate(
            last_activity=Coalesce(Max("agents__submitted_at"), "launched_at"),
        )
        .values_list("pk", "no_submission_patience", "last_activity", "launched_at")
    )
    stale: list[tuple[int, str]] = []
    lifetimes = _lifetimes()
    for run_id, patience, last_activity, launched_at in runs:
        if launched_at is None or last_activity is None:
            continue  # filtered out above; for the type checker
        lifetime = lifetimes.get(run_id)
        if lifetime and launched_at + timedelta(seconds=lifetime) <= now:
            stale.append((run_id, f"its task_lifetime_in_seconds ({lifetime}) passed"))
        elif patience and last_activity + timedelta(seconds=patience) <= now:
            stale.append(
                (
                    run_id,
                    f"no submission for {patience} seconds (no_submission_patience)",
                )
            )
    done = []
    for run_id, reason in stale:
        try:
            done.append(shutdown_run(run_id=run_id, reason=reason))
        except RunLifecycleError:
            continue  # ended meanwhile (a person shut it down, or it completed)
    return done


def _lifetimes() -> dict[int, int]:
    """{running run id: its task_lifetime_in_seconds}, from the frozen configs."""
    lifetimes = {}
    for run_id, config in TaskRun.objects.filter(
        status=TaskRunStatus.RUNNING
    ).values_list("pk", "resolved_config"):
        value = (
            (config or {})
            .get("mephisto", {})
            .get("task", {})
            .get("task_lifetime_in_seconds")
        )
        if isinstance(value, int) and value > 0:
            lifetimes[run_id] = value
    return lifetimes
