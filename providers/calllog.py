"""The provider call log: every call to a provider made at most once with
success, whatever is retried, and the retry policy of the Celery tasks that
make them."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.db import transaction
from django.utils import timezone

from providers.base import ProviderError
from providers.models import CallStatus, ProviderCall

T = TypeVar("T")


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
