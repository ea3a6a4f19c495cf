"""Writes to the provider call log, and the provider-facing steps of a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction

from providers.base import ProviderError
from providers.models import CallStatus, ProviderCall
from providers.registry import get_provider
from tasks_app import selectors as task_selectors
from tasks_app import services as task_services
from tasks_app.models import TaskRun

T = TypeVar("T")


@transaction.atomic
def start_call(
    *, provider_type: str, operation: str, key: str, run_id: int | None, request: dict
) -> ProviderCall:
    """Find or create the log row of the logical call `key`, counting an attempt.

    A row that already succeeded is returned unchanged: the caller must not call.
    """
    call, _ = ProviderCall.objects.select_for_update().get_or_create(
        idempotency_key=key,
        defaults={
            "provider_type": provider_type,
            "operation": operation,
            "run_id": run_id,
            "request": request,
        },
    )
    if call.status == CallStatus.SUCCEEDED:
        return call
    call.attempts += 1
    call.status = CallStatus.PENDING
    call.save(update_fields=["attempts", "status", "updated_at"])
    return call


@transaction.atomic
def finish_call(
    *, call_id: int, status: CallStatus, response: Any = None, error: str = ""
) -> None:
    """Record how a call ended."""
    ProviderCall.objects.filter(pk=call_id).update(
        status=status, response=response, error=error
    )


def run_logged_call(
    *,
    provider_type: str,
    operation: str,
    key: str,
    run_id: int | None,
    request: dict,
    call: Callable[[], T],
) -> T:
    """Make one provider call through the log, at most once with success.

    If the log says the call already succeeded, its recorded response is returned
    and the provider is not called again.

    The call itself runs outside any transaction or row lock. A transient error is
    logged as ambiguous (it may have happened) and re-raised for Celery to retry.
    """
    logged = start_call(
        provider_type=provider_type,
        operation=operation,
        key=key,
        run_id=run_id,
        request=request,
    )
    if logged.status == CallStatus.SUCCEEDED:
        return logged.response
    try:
        result = call()
    except ProviderError as exc:
        status = CallStatus.AMBIGUOUS if exc.transient else CallStatus.FAILED
        finish_call(call_id=logged.pk, status=status, error=str(exc))
        raise
    finish_call(call_id=logged.pk, status=CallStatus.SUCCEEDED, response=result)
    return result


def launch_units(*, run_id: int) -> int:
    """Post the run's created units (up to its concurrency cap) to its provider.

    Returns how many units moved to launched. Safe to run twice.
    """
    run = TaskRun.objects.get(pk=run_id)
    unit_ids = task_selectors.units_to_launch(run=run)
    if unit_ids:
        provider = get_provider(run.provider_type)
        first, last = unit_ids[0], unit_ids[-1]
        key = f"launch_units:run={run.pk}:units={first}-{last}:n={len(unit_ids)}"
        provider_ids = run_logged_call(
            provider_type=run.provider_type,
            operation="launch_units",
            key=key,
            run_id=run.pk,
            request={"unit_ids": [unit_ids[0], unit_ids[-1]], "count": len(unit_ids)},
            call=lambda: {
                str(k): v
                for k, v in provider.launch_units(run=run, unit_ids=unit_ids).items()
            },
        )
        launched = task_services.mark_units_launched(
            unit_ids=unit_ids,
            provider_unit_ids={int(k): v for k, v in provider_ids.items()},
        )
    else:
        launched = 0
    task_services.mark_run_running(run_id=run.pk)
    return launched


def mirror_qualification(*, review_id: int) -> bool:
    """Repeat a grant/revoke audit row on the worker's provider, at most once.

    False when the provider doesn't mirror qualifications.
    """
    from qualifications_app.models import ReviewAction, WorkerReview

    review = WorkerReview.objects.select_related("worker", "qualification").get(
        pk=review_id
    )
    worker = review.worker
    provider = get_provider(worker.provider_type)
    if not provider.mirrors_qualifications or review.qualification is None:
        return False
    name = review.qualification.name
    if review.action == ReviewAction.GRANT:
        value = review.value if review.value is not None else 1

        def call():
            return provider.grant_qualification(
                worker_name=worker.worker_name, qualification_name=name, value=value
            )
    else:

        def call():
            return provider.revoke_qualification(
                worker_name=worker.worker_name, qualification_name=name
            )

    run_logged_call(
        provider_type=worker.provider_type,
        operation=f"{review.action}_qualification",
        key=f"mirror_qualification:review={review.pk}",
        run_id=None,
        request={"worker": worker.worker_name, "qualification": name},
        call=call,
    )
    return True
