"""Publishing Celery tasks: the broker check, and the outbox, whose rows commit
with the writes that call for a task, so a broker that is down delays a task
but never loses it. Tasks are published by their registered name; no app's
task module is imported here."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from providers.models import OutboxMessage

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The Celery broker can't be reached; the message says which and what to do."""


def broker_url() -> str:
    """The broker's address as it may be shown: the password masked."""
    with current_app.connection_for_write() as conn:
        return conn.as_uri()


def tasks_run_in_process() -> bool:
    """True when no broker is configured and tasks run eagerly in this process."""
    return bool(current_app.conf.task_always_eager)


def check_broker() -> None:
    """Raise BrokerUnavailable unless tasks run in-process or the broker answers now."""
    if tasks_run_in_process():
        return
    with current_app.connection_for_write() as conn:
        try:
            # One quick attempt: a person is waiting for the answer.
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        except Exception as exc:
            raise BrokerUnavailable(
                f"The Celery broker at {conn.as_uri()} is unreachable ({exc}). "
                "Start it (or fix CELERY_BROKER_URL), or unset CELERY_BROKER_URL "
                "to run tasks in-process."
            ) from exc


def registered_task(name: str) -> Any:
    """The Celery task registered as `name` (each task declares its name).

    Outside a worker Celery has not imported the apps' task modules yet: its
    own autodiscovery (every installed app's `tasks` module) runs first.
    """
    tasks = current_app.tasks
    if name not in tasks:
        # Once per process: importing the modules again costs milliseconds.
        current_app.loader.import_default_modules()
    try:
        return tasks[name]
    except KeyError:
        raise LookupError(
            f"no Celery task is registered as {name!r}: a task of an app's tasks "
            "module declares its name with @shared_task(name=...)"
        ) from None


@transaction.atomic
def enqueue_on_commit(*, task: str, kwargs: dict[str, Any]) -> OutboxMessage | None:
    """Publish `task(**kwargs)` once the current transaction commits; never lose it.

    The outbox row commits with the caller's writes, so a broker that is down at
    commit time only delays the task until `send_outbox` finds the row. Inside
    `publishing_together()` the row is published when that block ends instead.
    With tasks in-process the task runs at commit, as `delay_on_commit` does,
    and no row is written. Returns the row, if any.
    """
    if tasks_run_in_process():
        registered_task(task).delay_on_commit(**kwargs)
        return None
    message = OutboxMessage.objects.create(task_name=task, kwargs=kwargs)
    batch: _Batch | None = getattr(_publishing, "batch", None)
    if batch is None:
        transaction.on_commit(lambda: send_message(message_id=message.pk))
    else:
        # Only once committed: a row rolled back with its transaction is never
        # handed to the publisher.
        transaction.on_commit(lambda: batch.committed(message.pk))
    return message


# The block of `publishing_together` open in this thread, if any. Per thread, as
# Django's connections and their on_commit callbacks are.
_publishing = threading.local()


class _Batch:
    """The outbox rows committed inside one `publishing_together` block."""

    def __init__(self) -> None:
        self.message_ids: list[int] = []
        self.published = False

    def committed(self, message_id: int) -> None:
        if self.published:
            # Committed after the block's rows went out (not expected): alone.
            send_message(message_id=message_id)
        else:
            self.message_ids.append(message_id)

    def publish(self) -> None:
        self.published = True
        if _send_in_order(self.message_ids) == len(self.message_ids):
            return
        left = OutboxMessage.objects.filter(
            pk__in=self.message_ids, sent_at__isnull=True
        ).count()
        if left:
            logger.warning(
                "%s of %s tasks not published; the outbox sweep will send them "
                "when the broker is back.",
                left,
                len(self.message_ids),
            )


@contextmanager
def publishing_together() -> Iterator[None]:
    """Publish the tasks enqueued in this block in one pass when it ends.

    For one action over many items (an admin bulk action, a command's loop),
    whose services each commit their own outbox rows: the rows still commit
    with each item, but are published at the end, in order, stopping at the
    first failure, as `send_outbox` does. So a broker that is down costs the
    action one failed publish, not one per item (each waits for the broker's
    connect timeout); the rows left are the sweep's. What committed is
    published even if the block raises. Nested blocks publish with the
    outermost. Ended inside a transaction, the rows go out when it commits.
    With tasks in-process, nothing changes: they run at each commit.
    """
    if getattr(_publishing, "batch", None) is not None:
        yield
        return
    batch = _publishing.batch = _Batch()
    try:
        yield
    finally:
        _publishing.batch = None
        if transaction.get_connection().in_atomic_block:
            # The block's rows commit with this transaction; the callbacks that
            # add them to the batch were registered first, so they run first.
            transaction.on_commit(batch.publish)
        else:
            batch.publish()


def send_message(*, message_id: int) -> bool:
    """Publish one unsent outbox row and mark it sent; False if it wasn't published.

    Safe to run twice or concurrently: a row already sent, or being sent by
    another process, is left alone. A failed publish is counted on the row and
    left for the sweep; it never raises, so a web request still gets its answer.
    """
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, sent_at__isnull=True)
            .first()
        )
        if message is None:
            return False
        message.attempts += 1
        try:
            # No publish retries: the outbox is the retry, and a caller waits.
            registered_task(message.task_name).apply_async(
                kwargs=message.kwargs, retry=False
            )
        except Exception as exc:  # kombu, redis and amqp each raise their own
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            message.save(update_fields=["attempts", "last_error"])
            logger.warning(
                "Could not publish %s(%s) (outbox row %s, attempt %s): %s; "
                "the outbox sweep will send it when the broker is back.",
                message.task_name,
                message.kwargs,
                message.pk,
                message.attempts,
                exc,
            )
            return False
        message.sent_at = timezone.now()
        message.save(update_fields=["attempts", "sent_at"])
        return True


def send_outbox(*, limit: int = 1000) -> int:
    """Publish unsent outbox rows, oldest first; returns how many were published.

    Stops at the first failure: with the broker down the rest would fail too.
    """
    unsent = OutboxMessage.objects.filter(sent_at__isnull=True).order_by("created_at")
    return _send_in_order(list(unsent.values_list("pk", flat=True)[:limit]))


def _send_in_order(message_ids: Iterable[int]) -> int:
    """Publish these outbox rows in order until one fails; how many were published."""
    sent = 0
    for message_id in message_ids:
        if send_message(message_id=message_id):
            sent += 1
        elif OutboxMessage.objects.filter(pk=message_id, sent_at__isnull=True).exists():
            # Not published (rather than sent meanwhile by another process).
            break
    return sent


def unsent_messages(*, task: str, **kwargs: Any) -> list[OutboxMessage]:
    """Outbox rows of `task` with these kwargs that are not published yet."""
    rows = OutboxMessage.objects.filter(task_name=task, sent_at__isnull=True)
    for key, value in kwargs.items():
        rows = rows.filter(**{f"kwargs__{key}": value})
    return list(rows)
