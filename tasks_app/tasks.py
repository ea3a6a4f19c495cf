"""Celery tasks on runs and units: launching, topping up, timing out. Thin: each
takes ids and calls a service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from providers.services import call_with_retry
from tasks_app import selectors, services


@shared_task
def expire_overdue_agents() -> int:
    """Free the units of timed-out agents. Safe to run twice or concurrently."""
    return services.expire_overdue_agents()


@shared_task(bind=True, max_retries=8)
def launch_units(self, run_id: int) -> int:
    """Launch a run's pending units on its provider. Safe to run twice."""
    return call_with_retry(self, lambda: services.launch_units(run_id=run_id))


@shared_task
def top_up_runs() -> int:
    """Launch more units of running runs as their concurrency cap frees up.

    Safe to run twice: each run's launch takes only created units that fit.
    """
    run_ids = selectors.runs_with_units_to_launch()
    for run_id in run_ids:
        launch_units.delay(run_id)
    return len(run_ids)


@shared_task
def finish_stuck_launches() -> int:
    """Launch again the runs still `launching` long after they were created.

    Their launch message was lost (the broker was down at commit) or its worker
    died. Safe to run twice: launch_units goes through the call log, so units
    already launched are not posted again.
    """
    before = timezone.now() - timedelta(seconds=settings.LAUNCH_STUCK_AFTER_SECONDS)
    run_ids = selectors.runs_stuck_launching(launched_before=before)
    for run_id in run_ids:
        launch_units.delay(run_id)
    return len(run_ids)
