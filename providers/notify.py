"""Messages to workers through their provider, each batch sent once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from providers.calllog import run_logged_call
from providers.outbox import enqueue_on_commit
from providers.registry import get_provider, get_provider_class


@transaction.atomic
def notify_workers(
    *, provider_type: str, worker_names: Sequence[str], subject: str, message: str
) -> list[str]:
    """Queue `message` to the workers on their provider, one call per batch.

    Each batch is a logical call keyed by what it sends, so queuing the same
    message to the same workers again sends nothing twice. All batches or none.
    Raises ValueError for a message the provider would refuse. Returns the
    calls' log keys.
    """
    provider_class = get_provider_class(provider_type)
    provider_class.check_notification(subject=subject, message=message)
    names = sorted(set(worker_names))
    size = provider_class.notify_batch
    keys = []
    for start in range(0, len(names), size):
        batch = names[start : start + size]
        key = notification_key(
            provider_type=provider_type,
            worker_names=batch,
            subject=subject,
            message=message,
        )
        keys.append(key)
        enqueue_on_commit(
            task="providers.tasks.notify_workers",
            kwargs={
                "provider_type": provider_type,
                "worker_names": batch,
                "subject": subject,
                "message": message,
                "key": key,
            },
        )
    return keys


def notification_key(
    *, provider_type: str, worker_names: Sequence[str], subject: str, message: str
) -> str:
    """The call-log key of one batch of a message: the same content, the same key."""
    content = json.dumps([provider_type, list(worker_names), subject, message])
    return f"notify:{hashlib.sha256(content.encode()).hexdigest()}"


def send_notification(
    *,
    provider_type: str,
    worker_names: Sequence[str],
    subject: str,
    message: str,
    key: str,
) -> Any:
    """Make one batch's provider call through the log, at most once with success."""
    return run_logged_call(
        provider_type=provider_type,
        operation="notify_workers",
        key=key,
        run_id=None,
        request={"workers": list(worker_names), "subject": subject},
        call=lambda: get_provider(provider_type).notify_workers(
            worker_names=worker_names, subject=subject, message=message
        ),
    )
