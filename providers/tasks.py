"""Celery tasks that change providers' own rows. Thin: each calls a service."""

from __future__ import annotations

import logging

from celery import shared_task

from providers import calllog, notify, outbox
from providers.base import ProviderError

logger = logging.getLogger(__name__)


@shared_task(name="providers.tasks.send_outbox")
def send_outbox() -> int:
    """Publish the tasks whose commit hook found the broker down.

    Safe to run twice: each row is published under a row lock and marked sent.
    """
    return outbox.send_outbox()


@shared_task(name="providers.tasks.notify_workers", bind=True, max_retries=8)
def notify_workers(
    self,
    provider_type: str,
    worker_names: list[str],
    subject: str,
    message: str,
    key: str,
) -> object:
    """Send one batch of a message to workers. Safe to run twice: the call log
    is keyed by the batch's content, and a sent batch is not sent again."""
    try:
        return calllog.call_with_retry(
            self,
            lambda: notify.send_notification(
                provider_type=provider_type,
                worker_names=worker_names,
                subject=subject,
                message=message,
                key=key,
            ),
        )
    except ProviderError as exc:
        logger.error("A message to %d workers was not sent: %s", len(worker_names), exc)
        return {"failed": str(exc)}
