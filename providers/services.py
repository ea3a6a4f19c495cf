"""Writes to the provider call log, and the provider-facing steps of a run."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from celery import current_app
from django.db import transaction
from django.utils import timezone

from providers.base import ProviderError
from providers.models import CallStatus, OutboxMessage, ProviderCall
from providers.registry import get_provider, get_provider_class

T = TypeVar("T")

logger = logging.getLogger(__name__)


class NotRepeated(ProviderError):
    """A call that must not be repeated was attempted before, with no known
    outcome (in flight, killed, or its answer lost): it is left to be
    reconciled from the provider's records, never sent again."""


def run_logged_call(
    *,
    provider_type: str,
    operation: str,
    key: str,
    run_id: int | None,
    request: dict,
    call: Callable[[], T],
    record: Callable[[T], Any] | None = None,
    repeatable: bool = True,
) -> T:
    """Make one provider call through the log, at most once with success.

    If the log says the call already succeeded, its recorded response is returned
    and the provider is not called again.

    The call itself runs outside any transaction or row lock. An error after which
    the call may have happened (`ProviderError.ambiguous`) is logged as
    ambiguous, any other as failed; either is re-raised, and Celery retries only
    a transient one.

    `record(result)` writes what the call means to our own rows. It commits with
    the success in the log, so a worker killed in between leaves the call pending
    (and retried under the same key), never "succeeded" with the rows unchanged;
    it runs again from the recorded response when the log already says succeeded,
    so it must be safe to repeat.

    `repeatable=False` marks a call the provider can't deduplicate (Prolific's
    bonus payment): it is never attempted again after an attempt with no known
    outcome (NotRepeated). One call of `run_logged_calls`, which holds the rules.
    """
    outcome = run_logged_calls(
        calls=[
            PlannedCall(
                provider_type=provider_type,
                operation=operation,
                key=key,
                run_id=run_id,
                request=request,
                call=call,
                repeatable=repeatable,
            )
        ],
        record=None if record is None else lambda results: record(results[key]),
    )
    if key in outcome.errors:
        raise outcome.errors[key]
    return cast(T, outcome.results[key])


@dataclass(frozen=True)
class PlannedCall:
    """One provider call of a batch for `run_logged_calls`."""

    provider_type: str
    operation: str
    key: str
    run_id: int | None
    request: dict
    call: Callable[[], Any]
    repeatable: bool = True


@dataclass
class BatchOutcome:
    """How a batch of logged calls ended: results and errors by key, and the
    transient error that stopped it (the calls after it were not made)."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, ProviderError] = field(default_factory=dict)
    stopped_by: ProviderError | None = None


def run_logged_calls(
    *,
    calls: Sequence[PlannedCall],
    record: Callable[[dict[str, Any]], Any] | None = None,
) -> BatchOutcome:
    """Make many provider calls through the log, each at most once with success,
    in a bounded number of queries for the whole batch (not per call).

    Each call is handled as `run_logged_call` handles one: a call the log says
    succeeded is not made again (its recorded response is returned), a call that
    is not `repeatable` and was attempted with no known outcome is refused
    (NotRepeated), an error after which the call may have happened is logged
    ambiguous, any other failed. The log rows are found or made and counted in
    one transaction before any call, and finished in one after, together with
    `record(results)`, which writes what every success (recorded ones included)
    means to our own rows, so it must be safe to repeat. A transient error stops
    the batch: the calls after it are left as they were, to be made when the
    batch is retried. No call runs in a transaction or under a row lock.
    """
    now = timezone.now()
    keys = [planned.key for planned in calls]
    with transaction.atomic():
        ProviderCall.objects.bulk_create(
            [
                ProviderCall(
                    idempotency_key=planned.key,
                    provider_type=planned.provider_type,
                    operation=planned.operation,
                    run_id=planned.run_id,
                    request=planned.request,
                )
                for planned in calls
            ],
            ignore_conflicts=True,
        )
        logged = {
            row.idempotency_key: row
            for row in ProviderCall.objects.select_for_update().filter(
                idempotency_key__in=keys
            )
        }
        before = {key: (row.status, row.attempts) for key, row in logged.items()}
        outcome = BatchOutcome(
            results={
                key: row.response
                for key, row in logged.items()
                if row.status == CallStatus.SUCCEEDED
            }
        )
        counted = []
        for planned in calls:
            row = logged[planned.key]
            if row.status == CallStatus.SUCCEEDED:
                continue
            failed = row.status == CallStatus.FAILED
            if not planned.repeatable and row.attempts and not failed:
                outcome.errors[planned.key] = NotRepeated(
                    f"{planned.operation} on {planned.provider_type} was attempted "
                    f"before and its outcome is not known ({row.status}): it is not "
                    "sent again, and is reconciled from the provider's records",
                    transient=False,
                    ambiguous=True,
                )
                continue
            row.attempts += 1
            row.status = CallStatus.PENDING
            row.updated_at = now
            counted.append(row)
        ProviderCall.objects.bulk_update(counted, ["attempts", "status", "updated_at"])
    finished = []
    for planned in calls:
        row = logged[planned.key]
        if planned.key in outcome.results or planned.key in outcome.errors:
            continue
        if outcome.stopped_by is not None:
            # Not made: as it was before this batch counted an attempt.
            row.status, row.attempts = before[planned.key]
            finished.append(row)
            continue
        try:
            result = planned.call()
        except ProviderError as exc:
            row.status = CallStatus.AMBIGUOUS if exc.ambiguous else CallStatus.FAILED
            row.error = str(exc)
            outcome.errors[planned.key] = exc
            if exc.transient:
                outcome.stopped_by = exc
        else:
            row.status, row.response, row.error = CallStatus.SUCCEEDED, result, ""
            outcome.results[planned.key] = result
        row.updated_at = timezone.now()
        finished.append(row)
    with transaction.atomic():
        ProviderCall.objects.bulk_update(
            finished, ["status", "attempts", "response", "error", "updated_at"]
        )
        if record is not None and outcome.results:
            record(outcome.results)
    return outcome


def notify_workers(
    *, provider_type: str, worker_names: Sequence[str], subject: str, message: str
) -> list[str]:
    """Queue `message` to the workers on their provider, one call per batch.

    Each batch is a logical call keyed by what it sends, so queuing the same
    message to the same workers again sends nothing twice. Raises ValueError for
    a message the provider would refuse. Returns the calls' log keys.
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


def call_with_retry(task: Any, call: Callable[[], T]) -> T:
    """Run a provider call from a bound Celery task; retry only transient failures.

    Throttling and 5xx back off about 2, 4, 8 ... seconds, at most 5 minutes
    apart; anything else fails the task at once. Every app's provider tasks use
    this.
    """
    try:
        return call()
    except ProviderError as exc:
        if exc.transient:
            raise task.retry(
                exc=exc, countdown=retry_delay(task.request.retries)
            ) from exc
        raise


def retry_delay(retries: int) -> float:
    """Seconds before retry number `retries` + 1 of a transient provider failure.

    Exponential (2, 4, 8 ... at most 300) with "equal jitter": each delay is
    drawn from its upper half, so tasks throttled together (a bulk approval's
    batches, a launch's waves) don't all come back at the same moment and get
    throttled again.
    """
    ceiling = min(2 ** (retries + 1), 300)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# ---------------------------------------------------------------------------
# Publishing tasks: the broker check and the outbox
# ---------------------------------------------------------------------------


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


def _task(name: str) -> Any:
    """The task `name` ("module.function"), importing its module.

    Outside a worker, Celery has not imported the apps' task modules.
    """
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)


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
        _task(task).delay_on_commit(**kwargs)
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
            _task(message.task_name).apply_async(kwargs=message.kwargs, retry=False)
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
