"""Review workflows made of decisions: approving what waited too long."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from tasks_app.models import (
    AgentStatus,
    TaskRun,
    Unit,
    UnitStatus,
)
from tasks_app.services.review.decisions import approve_units

# mephisto.task.auto_approve_delay_in_seconds when a stored config lacks it.
DEFAULT_AUTO_APPROVE_DELAY = 60 * 60 * 24 * 7


# The most units one sweep approves per run; the next sweep takes the rest.
AUTO_APPROVE_BATCH = 10_000


def auto_approve_due(*, now: datetime | None = None) -> int:
    """Approve every completed unit whose submission has waited longer than its
    run's `auto_approve_delay_in_seconds`, as MTurk would; how many. A
    submission the task page never reported is left for a person.

    Through `approve_units`, so the reward is paid once and the audit row says
    it was automatic. Safe to run twice or concurrently: a unit approved by the
    other sweep is refused, not approved again.
    """
    now = now or timezone.now()
    approved = 0
    for run in TaskRun.objects.only("pk", "resolved_config").order_by("pk"):
        task = run.resolved_config.get("mephisto", {}).get("task", {})
        delay = task.get("auto_approve_delay_in_seconds", DEFAULT_AUTO_APPROVE_DELAY)
        cutoff = now - timedelta(seconds=delay)
        due = list(
            Unit.objects.filter(
                run=run,
                status=UnitStatus.COMPLETED,
                agents__status=AgentStatus.COMPLETED,
                agents__submitted_at__lte=cutoff,
                # Work the page never saw waits for a person (approve_units
                # would refuse it too, every sweep).
                agents__from_provider_listing=False,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:AUTO_APPROVE_BATCH]
        )
        if due:
            reason = f"approved automatically, not reviewed within {delay} seconds"
            approved += len(approve_units(unit_ids=due, reason=reason).approved)
    return approved
