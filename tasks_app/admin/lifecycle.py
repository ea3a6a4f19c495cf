"""The admin's part in a run's end: the "Shut down" action, and why a run, unit or
agent that workers took part in can't be deleted.

Agents are PROTECTed in the database (deleting their unit or run fails); the
admin says so before trying, in words, without collecting every row it would
have deleted (a 100,000-unit run would make that page enormous).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest
from django.template.response import TemplateResponse

from providers.outbox import publishing_together
from tasks_app import services
from tasks_app.exceptions import RunLifecycleError
from tasks_app.models import Agent, TaskRun, TaskRunStatus, UnitStatus

SHUTDOWN_PERMISSION = "tasks_app.change_taskrun"


@admin.action(
    permissions=["shutdown"],
    description="Shut down selected runs (expire their untaken units)",
)
def shutdown_runs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset):
    """A confirmation page first; the shutdown happens on its POST."""
    runs = list(queryset.select_related("task").order_by("pk"))
    if request.POST.get("confirm") == "1":
        who = request.user.get_username() or "the operator"
        # Each run commits on its own; their provider tasks are published in one
        # pass at the end, so a broker that is down delays the page once.
        with publishing_together():
            for run in runs:
                try:
                    done = services.shutdown_run(
                        run_id=run.pk, reason=f"shut down by {who} in the admin"
                    )
                except RunLifecycleError as exc:
                    messages.error(request, f"Run {run.pk} not changed: {exc}")
                    continue
                messages.success(
                    request,
                    f"Run {run.pk} is shut down: {done.expired} unit(s) not yet "
                    "taken expired (and withdrawn from the provider, where posted); "
                    f"{done.held} unit(s) held by workers may still be submitted; "
                    f"{done.awaiting_review} submitted unit(s) await review.",
                )
        return None
    counts = dict(
        queryset.model.objects.filter(pk__in=[run.pk for run in runs])
        .annotate(
            untaken=Count(
                "units",
                filter=Q(units__status__in=[UnitStatus.CREATED, UnitStatus.LAUNCHED]),
            )
        )
        .values_list("pk", "untaken")
    )
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": TaskRun._meta,
        "title": "Shut down runs",
        "rows": [
            {
                "run": run,
                "untaken": counts.get(run.pk, 0),
                "ended": run.status
                in (TaskRunStatus.COMPLETED, TaskRunStatus.SHUT_DOWN),
            }
            for run in runs
        ],
        "action": request.POST.get("action"),
        "selected": [run.pk for run in runs],
    }
    return TemplateResponse(
        request, "admin/tasks_app/taskrun/shutdown_confirm.html", context
    )


class KeepsWorkedOn:
    """ModelAdmin mixin: deleting objects that workers took part in is refused,
    with `protected_reasons(objs)` as the reasons the delete page lists."""

    protected_reasons: Callable[[Iterable[Any]], list[str]]

    def get_deleted_objects(self, objs, request):
        protected = self.protected_reasons(objs)
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)  # type: ignore[misc]


def protected_runs(runs: Iterable[TaskRun]) -> list[str]:
    """Why each of `runs` that workers took part in can't be deleted."""
    ids = [run.pk for run in runs]
    return _reasons(
        Agent.objects.filter(run_id__in=ids), "run_id", "Run {}", _run_advice
    )


def protected_units(units: Iterable[Any]) -> list[str]:
    """Why each of `units` that a worker took can't be deleted."""
    ids = [unit.pk for unit in units]
    return _reasons(
        Agent.objects.filter(unit_id__in=ids), "unit_id", "Unit {}", _kept_advice
    )


def protected_assignments(assignments: Iterable[Any]) -> list[str]:
    """Why each of `assignments` whose units workers took can't be deleted."""
    ids = [assignment.pk for assignment in assignments]
    return _reasons(
        Agent.objects.filter(unit__assignment_id__in=ids),
        "unit__assignment_id",
        "Assignment {}",
        _kept_advice,
    )


def protected_agents(agents: Iterable[Agent]) -> list[str]:
    """Why each of `agents` that submitted can't be deleted."""
    ids = [agent.pk for agent in agents]
    return [
        f"Agent {pk} holds a submission (worker {name}): submissions are kept; "
        "review the unit instead."
        for pk, name in Agent.objects.filter(pk__in=ids, submitted_at__isnull=False)
        .order_by("pk")
        .values_list("pk", "worker__worker_name")
    ]


def _reasons(agents, key: str, label: str, advice) -> list[str]:
    rows = (
        agents.values(key)
        .annotate(
            attempts=Count("pk"),
            submitted=Count("pk", filter=Q(submitted_at__isnull=False)),
        )
        .order_by(key)
    )
    return [
        f"{label.format(row[key])} has {row['attempts']} worker attempt(s) (agents), "
        f"{row['submitted']} with a submission: what workers did is kept, so it "
        f"can't be deleted. {advice()}"
        for row in rows
    ]


def _run_advice() -> str:
    return (
        "To stop it, use the action 'Shut down selected runs'; to keep the data "
        "elsewhere, export its results."
    )


def _kept_advice() -> str:
    return "Shut its run down instead, if no more work should be done."
