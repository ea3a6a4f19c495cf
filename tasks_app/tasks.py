"""Celery tasks on runs and units: launching, topping up, timing out, sending review
decisions and payments, ending runs. Thin: each takes ids and calls a service."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from providers.base import ProviderError
from providers.calllog import call_with_retry
from providers.outbox import publishing_together
from tasks_app import selectors, services

logger = logging.getLogger(__name__)


@shared_task(name="tasks_app.tasks.expire_overdue_agents")
def expire_overdue_agents() -> int:
    """Free the units of timed-out agents. Safe to run twice or concurrently."""
    return services.expire_overdue_agents()


@shared_task(name="tasks_app.tasks.launch_units", bind=True, max_retries=8)
def launch_units(self, run_id: int) -> int:
    """Launch a run's pending units on its provider. Safe to run twice."""
    return call_with_retry(self, lambda: services.launch_units(run_id=run_id))


@shared_task(name="tasks_app.tasks.top_up_runs")
def top_up_runs() -> int:
    """Launch more units of running runs as their concurrency cap frees up.

    Safe to run twice: each run's launch takes only created units that fit.
    """
    run_ids = selectors.runs_with_units_to_launch()
    for run_id in run_ids:
        launch_units.delay(run_id)
    return len(run_ids)


@shared_task(name="tasks_app.tasks.finish_stuck_launches")
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


@shared_task(name="tasks_app.tasks.send_review", bind=True, max_retries=8)
def send_review(self, review_id: int) -> object:
    """Send a decision or bonus (a WorkerReview row) to the worker's provider.

    Safe to run twice: the call log is keyed by the review row, and what it pays
    is marked paid once. A provider's refusal is kept on the call log and the
    payments (failed) for the requester to see; only transient errors retry.
    """
    try:
        return call_with_retry(self, lambda: services.send_review(review_id=review_id))
    except ProviderError as exc:
        logger.error("Review %s was not sent to the provider: %s", review_id, exc)
        return {"failed": str(exc)}


@shared_task(name="tasks_app.tasks.send_reviews", bind=True, max_retries=8)
def send_reviews(self, review_ids: list[int]) -> int:
    """Send a bulk approval's decisions to their providers, in order.

    More than `SEND_BATCH` reviews are split into tasks of that many, which
    workers take in parallel. Safe to run twice: each review's call is logged
    and paid once. A transient error retries the batch; the reviews already
    sent are not sent again.
    """
    if len(review_ids) > services.SEND_BATCH:
        for start in range(0, len(review_ids), services.SEND_BATCH):
            send_reviews.delay(review_ids[start : start + services.SEND_BATCH])
        return len(review_ids)
    # One batch through the call log: its queries don't grow with its size.
    outcome = call_with_retry(
        self, partial(services.send_reviews, review_ids=review_ids)
    )
    for key, exc in outcome.errors.items():
        logger.error("Review %s was not sent to the provider: %s", key, exc)
    return len(review_ids)


@shared_task(name="tasks_app.tasks.resend_stalled_reviews")
def resend_stalled_reviews() -> int:
    """Send again the decisions and bonuses whose provider call never finished
    (a lost message, a killed worker). Safe to run twice: each review's call is
    logged and paid once, and a call that can't be repeated is refused."""
    review_ids = services.stalled_reviews()
    for start in range(0, len(review_ids), services.SEND_BATCH):
        send_reviews.delay(review_ids[start : start + services.SEND_BATCH])
    return len(review_ids)


@shared_task(name="tasks_app.tasks.reconcile_lost_bonuses")
def reconcile_lost_bonuses() -> dict[str, int]:
    """Settle lost bonus payments of providers whose pay call is never repeated
    (Prolific) from the provider's records. Safe to run twice."""
    settled = services.reconcile_lost_bonuses()
    return {
        "paid": sum(1 for r in settled if r.paid),
        "not_paid": sum(1 for r in settled if not r.paid),
    }


@shared_task(name="tasks_app.tasks.expire_units_on_provider", bind=True, max_retries=8)
def expire_units_on_provider(self, run_id: int) -> int:
    """Withdraw a shut-down run's expired units from its provider. Safe to run
    twice: the call log keys the call by the units."""
    return call_with_retry(
        self, lambda: services.expire_units_on_provider(run_id=run_id)
    )


@shared_task(name="tasks_app.tasks.end_run_on_provider", bind=True, max_retries=8)
def end_run_on_provider(self, run_id: int) -> object:
    """Close an ended run on its provider (stop a Prolific study). Safe to run
    twice: the call log keys the call by the run."""
    return call_with_retry(self, lambda: services.end_run_on_provider(run_id=run_id))


@shared_task(name="tasks_app.tasks.end_runs")
def end_runs() -> dict[str, list[int]]:
    """Shut down runs past their patience or lifetime; complete the runs whose
    units are all final. Safe to run twice or concurrently."""
    # One publish for the sweep: with the broker down it waits once, not per run.
    with publishing_together():
        shut_down = [done.run_id for done in services.shut_down_stale_runs()]
        completed = services.complete_finished_runs()
    return {"shut_down": shut_down, "completed": completed}


@shared_task(name="tasks_app.tasks.auto_approve_units")
def auto_approve_units() -> int:
    """Approve units not reviewed within their run's auto-approve delay.

    Safe to run twice or concurrently: each unit gets one decision.
    """
    return services.auto_approve_due()


@shared_task(name="tasks_app.tasks.recover_submissions")
def recover_submissions() -> int:
    """Poll providers that list submitted work for submissions the task page
    failed to report, one task per run. Safe to run twice: what is already
    recorded is left alone."""
    run_ids = services.runs_to_poll()
    for run_id in run_ids:
        recover_run_submissions.delay(run_id)
    return len(run_ids)


@shared_task(name="tasks_app.tasks.recover_run_submissions", bind=True, max_retries=8)
def recover_run_submissions(self, run_id: int) -> int:
    """Record one run's submissions its provider lists and we don't have, for
    review, and free the units of work its workers gave up there. Safe to run
    twice or concurrently."""
    recovered = call_with_retry(
        self, lambda: services.recover_submissions(run_id=run_id)
    )
    call_with_retry(self, lambda: services.free_abandoned_units(run_id=run_id))
    return len(recovered)
