"""Reads worth a name: what to launch next, where a run's page lives."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count

from tasks_app.models import TaskRun, Unit, UnitStatus


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


def task_url(run: TaskRun) -> str:
    """Where workers open the run's task page (before provider parameters)."""
    public = (
        run.resolved_config.get("mephisto", {}).get("architect", {}).get("public_url")
    )
    if run.architect_type == "server":
        base = (public or settings.PUBLIC_URL).rstrip("/")
    else:
        base = settings.SITE_URL
    return f"{base}/task/{run.pk}/"


def unit_counts(*, run: TaskRun) -> dict[str, int]:
    """Units of `run` by status, in lifecycle order, omitting empty statuses."""
    rows = dict(
        Unit.objects.filter(run=run)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    return {status: rows[status] for status in UnitStatus.values if status in rows}
