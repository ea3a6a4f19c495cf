"""Reads of runs: the per-process run cache, a run as its provider sees it, what
to launch next, where a run's page lives, unit counts, a worker's standing, the
list of runs with their progress."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from providers.base import RunSpec
from providers.registry import get_provider_class
from tasks_app.models import (
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


def run_spec(run: TaskRun) -> RunSpec:
    """`run` as its provider is handed it (providers never see the model).

    Read from the run's own fields only, so a run from `cached_run` makes one
    without a query.
    """
    mephisto = run.resolved_config.get("mephisto", {})
    task = mephisto.get("task", {})
    key = get_provider_class(run.provider_type).specific_state_key
    specific = (run.shared_state or {}).get(key) if key else None
    return RunSpec(
        run_id=run.pk,
        created_at=run.created_at,
        title=run.task_title,
        description=run.task_description,
        keywords=run.task_tags,
        reward=run.task_reward,
        assignment_duration=run.assignment_duration_in_seconds,
        auto_approve_delay=_seconds(task.get("auto_approve_delay_in_seconds")),
        task_lifetime=_seconds(task.get("task_lifetime_in_seconds")),
        provider_args=MappingProxyType(dict(mephisto.get("provider") or {})),
        specific_requirements=tuple(specific or ()),
    )


def _seconds(value: Any) -> int | None:
    return None if value is None else int(value)


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
    """Data units of `run` by status, in lifecycle order, omitting empty statuses.

    Screening and gold units (unit_index < 0) are left out: they are not data
    and never count toward a run's progress."""
    rows = dict(
        Unit.objects.filter(run=run, unit_index__gte=0)
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


def run_allowlist(run: TaskRun) -> str | None:
    """The allowlist qualification `run` was launched with: its config's top-level
    `allowlist_qualification` flag (the example hooks' Flags), or None."""
    name = run.resolved_config.get("allowlist_qualification")
    return name.strip() or None if isinstance(name, str) else None


@dataclass(frozen=True)
class RunRow:
    """A run as `list_runs` shows it: what it is, its progress and its end."""

    run_id: int
    task_name: str
    provider_type: str
    status: str
    units: int  # data units (screening and gold units are not progress)
    submitted: int  # of those, submitted, decided or not
    awaiting_review: int  # submissions without a decision, late ones included
    created_at: datetime
    launched_at: datetime | None
    ended_at: datetime | None
    end_reason: str

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "launched_at", "ended_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


def run_rows(
    *, task_name: str | None = None, statuses: tuple[str, ...] = (), limit: int = 50
) -> list[RunRow]:
    """The newest `limit` runs (of `task_name`, in `statuses`), with their
    progress (data units only: screening and gold units are not progress; their
    submissions await review like any other), in one query whatever their size."""
    return [RunRow(*row) for row in run_rows_query(task_name, statuses)[:limit]]


def run_rows_query(
    task_name: str | None = None, statuses: tuple[str, ...] = ()
) -> QuerySet:
    """run_rows' query, newest first, for a caller that pages through it: its
    rows are RunRow's fields in order."""
    from tasks_app.models import DECIDED_AGENT_STATUSES, Agent

    submitted = [
        UnitStatus.COMPLETED,
        UnitStatus.ACCEPTED,
        UnitStatus.REJECTED,
        UnitStatus.SOFT_REJECTED,
    ]

    def units(**where: Any) -> Subquery:
        rows = Unit.objects.filter(
            run=OuterRef("pk"), unit_index__gte=0, **where
        ).order_by()
        return Subquery(rows.values("run").annotate(n=Count("pk")).values("n")[:1])

    awaiting = (
        Agent.objects.filter(run=OuterRef("pk"), submitted_at__isnull=False)
        .exclude(status__in=DECIDED_AGENT_STATUSES)
        .order_by()
        .values("run")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    runs = TaskRun.objects.all()
    if task_name is not None:
        runs = runs.filter(task__task_name=task_name)
    if statuses:
        runs = runs.filter(status__in=statuses)
    return (
        runs.order_by("-pk")
        .annotate(
            n_units=Coalesce(units(), 0),
            n_submitted=Coalesce(units(status__in=submitted), 0),
            n_awaiting=Coalesce(Subquery(awaiting), 0),
        )
        .values_list(
            "pk",
            "task__task_name",
            "provider_type",
            "status",
            "n_units",
            "n_submitted",
            "n_awaiting",
            "created_at",
            "launched_at",
            "ended_at",
            "end_reason",
        )
    )
