"""Celery tasks that talk to providers. Thin: take ids, call a service."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from providers import services
from providers.base import ProviderError
from tasks_app import selectors as task_selectors


def _call_with_retry(task, call):
    """Run a provider service; retry only transient failures, with backoff."""
    try:
        return call()
    except ProviderError as exc:
        if exc.transient:
            # Throttling and 5xx: back off 2, 4, 8 ... seconds, at most 5 minutes.
            countdown = min(2 ** (task.request.retries + 1), 300)
            raise task.retry(exc=exc, countdown=countdown) from exc
        raise


@shared_task(bind=True, max_retries=8)
def launch_units(self, run_id: int) -> int:
    """Launch a run's pending units on its provider. Safe to run twice."""
    return _call_with_retry(self, lambda: services.launch_units(run_id=run_id))


@shared_task(bind=True, max_retries=8)
def mirror_qualification(self, review_id: int) -> bool:
    """Repeat a grant or revoke (a WorkerReview row) on the worker's provider.

    Safe to run twice: the call log is keyed by the review row.
    """
    return _call_with_retry(
        self, lambda: services.mirror_qualification(review_id=review_id)
    )


@shared_task
def top_up_runs() -> int:
    """Launch more units of running runs as their concurrency cap frees up.

    Safe to run twice: each run's launch takes only created units that fit.
    """
    run_ids = task_selectors.runs_with_units_to_launch()
    for run_id in run_ids:
        launch_units.delay(run_id)
    return len(run_ids)


@shared_task
def send_outbox() -> int:
    """Publish the tasks whose commit hook found the broker down.

    Safe to run twice: each row is published under a row lock and marked sent.
    """
    return services.send_outbox()


@shared_task
def finish_stuck_launches() -> int:
    """Launch again the runs still `launching` long after they were created.

    Their launch message was lost (the broker was down at commit) or its worker
    died. Safe to run twice: launch_units goes through the call log, so units
    already launched are not posted again.
    """
    before = timezone.now() - timedelta(seconds=settings.LAUNCH_STUCK_AFTER_SECONDS)
    run_ids = task_selectors.runs_stuck_launching(launched_before=before)
    for run_id in run_ids:
        launch_units.delay(run_id)
    return len(run_ids)
