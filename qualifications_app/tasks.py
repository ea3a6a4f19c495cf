"""Celery tasks on qualifications. Thin: each takes ids and calls a service."""

from __future__ import annotations

import logging

from celery import shared_task

from providers.base import ProviderError
from providers.calllog import call_with_retry

logger = logging.getLogger(__name__)


@shared_task(
    name="qualifications_app.tasks.mirror_qualification", bind=True, max_retries=8
)
def mirror_qualification(self, review_id: int) -> bool:
    """Repeat a grant or revoke (a WorkerReview row) on the worker's provider.

    Safe to run twice: the call log is keyed by the review row. A provider's
    refusal is kept on the call log for the requester to see; only transient
    errors retry.
    """
    # The one seam between this app's services and its tasks: the services
    # enqueue this task by name through the outbox, and the task imports the
    # service here, so neither module imports the other at load time.
    from qualifications_app.services import mirror_qualification

    try:
        return call_with_retry(self, lambda: mirror_qualification(review_id=review_id))
    except ProviderError as exc:
        # The grant stands here and the refusal is on the call log (failed);
        # raising would fail the request whose commit ran this in-process.
        logger.error("Review %s was not mirrored on the provider: %s", review_id, exc)
        return False
