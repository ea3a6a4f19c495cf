"""The provider call of a decision or bonus, and the sweeps that finish lost ones.

`send_review` makes the call through the call log, keyed by the audit row, so
a retry or a replay pays once; `stalled_reviews` finds calls that never
finished, and `reconcile_lost_bonuses` settles a bonus whose pay call can't be
repeated (Prolific) from the provider's own records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from providers.base import WorkRef
from providers.calllog import BatchOutcome, PlannedCall, run_logged_calls
from providers.models import CallStatus, ProviderCall
from providers.outbox import enqueue_on_commit
from providers.registry import PROVIDER_CLASSES, get_provider, get_provider_class
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Payment,
    PaymentKind,
    PaymentState,
)
from tasks_app.services.review.ledger import PAID_DECISIONS


def send_review(*, review_id: int) -> Any:
    """Make the provider call of a decision or bonus, at most once with success.

    The payments it pays become `paid` with the call's success; a provider
    error marks them `failed` (or `ambiguous` when the call may have happened:
    it is retried under the same key, never resent as a new payment) and is
    raised.
    """
    outcome = send_reviews(review_ids=[review_id], raise_transient=False)
    key = review_key(review_id)
    if key in outcome.errors:
        raise outcome.errors[key]
    return outcome.results[key]


def send_reviews(
    *, review_ids: Sequence[int], raise_transient: bool = True
) -> BatchOutcome:
    """Make the provider calls of many decisions and bonuses, each at most once
    with success, in a bounded number of queries for the batch (not per review).

    As `send_review` does for one: the payments of a success become `paid`, of
    an error `failed` or `ambiguous`. A transient error (throttling, a 5xx)
    stops the batch once the rest is recorded and is raised, so the batch is
    retried: the calls already made are not made again. Other errors are kept
    in the outcome (by call-log key) for the caller to report.
    """
    reviews = list(
        WorkerReview.objects.filter(pk__in=review_ids)
        .select_related("agent__unit", "worker")
        .order_by("pk")
    )
    providers: dict[str, Any] = {}
    calls = [_planned(review, providers) for review in reviews]

    def record(results: dict[str, Any]) -> None:
        _set_payments(results, state=PaymentState.PAID)

    outcome = run_logged_calls(calls=calls, record=record)
    for state in (PaymentState.FAILED, PaymentState.AMBIGUOUS):
        failed = {
            key: str(exc)[:2000]
            for key, exc in outcome.errors.items()
            if (PaymentState.AMBIGUOUS if exc.ambiguous else PaymentState.FAILED)
            == state
        }
        _set_payments(failed, state=state)
    if raise_transient and outcome.stopped_by is not None:
        raise outcome.stopped_by
    return outcome


def review_key(review_id: int) -> str:
    """The call-log key of a review's provider call."""
    return f"review:{review_id}"


def _planned(review: WorkerReview, providers: dict[str, Any]) -> PlannedCall:
    """The provider call `review` asks for."""
    agent = review.agent
    assert agent is not None, "a review decision always names its agent"
    worker = review.worker
    provider_type = worker.provider_type
    if provider_type not in providers:
        providers[provider_type] = get_provider(provider_type)
    provider = providers[provider_type]
    work = WorkRef(
        worker_name=worker.worker_name,
        provider_unit_id=agent.unit.provider_unit_id,
        provider_assignment_id=agent.provider_assignment_id,
    )
    key = review_key(review.pk)
    action = review.action
    if action in PAID_DECISIONS:
        # A soft rejection is an approval on the provider: its reason is for
        # the requester's records, not a note for the worker.
        note = review.reason if action == ReviewAction.APPROVE else ""

        def call() -> Any:
            return provider.approve_work(
                work=work,
                token=key,
                note=note,
                override_rejection=review.overrides_rejection,
            )
    elif action == ReviewAction.REJECT and review.overridden_at is not None:

        def call() -> Any:
            # Overridden before it was sent: the approval that replaced it is
            # the only decision the provider gets.
            return {"skipped": "the rejection was overridden before it was sent"}
    elif action == ReviewAction.REJECT:

        def call() -> Any:
            return provider.reject_work(work=work, feedback=review.reason, token=key)
    elif action == ReviewAction.BONUS:
        amount = review.amount
        assert amount is not None, "a bonus review always has its amount"

        def call() -> Any:
            return provider.pay_bonus(
                work=work,
                amount=amount,
                reason=review.reason,
                token=key,
                # Before the first attempt: how old the call's token may be.
                requested_at=review.created_at,
            )
    else:
        raise ReviewError(f"review {review.pk} ({action}) has no provider call")
    return PlannedCall(
        provider_type=provider_type,
        operation=f"{action}_work" if action != ReviewAction.BONUS else "bonus",
        key=key,
        run_id=agent.run_id,
        request={
            "worker": worker.worker_name,
            "unit": agent.unit_id,
            "amount": str(review.amount) if review.amount is not None else None,
        },
        call=call,
        # Prolific's pay call is made once; a lost outcome is reconciled.
        repeatable=action != ReviewAction.BONUS
        or get_provider_class(provider_type).bonus_is_repeatable,
    )


def _set_payments(by_key: dict[str, Any], *, state: PaymentState) -> None:
    """Mark the payments of the reviews keyed in `by_key` (not paid yet) as
    `state`: PAID with each call's result, else with each error's text."""
    if not by_key:
        return
    by_review = {
        int(key.removeprefix("review:")): value for key, value in by_key.items()
    }
    payments = list(
        Payment.objects.filter(review_id__in=list(by_review)).exclude(
            state=PaymentState.PAID
        )
    )
    for payment in payments:
        value = by_review[payment.review_id]
        payment.state = state
        if state == PaymentState.PAID:
            payment.provider_response, payment.error = value, ""
        else:
            payment.error = value
    Payment.objects.bulk_update(payments, ["state", "provider_response", "error"])


# A review whose provider call has not finished this long after it was asked
# for (its message lost with a broker's restart, its worker killed) is sent
# again by beat's resend sweep; reviews are looked for this far back.
STALLED_AFTER = timedelta(minutes=15)
STALLED_WINDOW = timedelta(days=8)
SENT_ACTIONS = (*PAID_DECISIONS, ReviewAction.REJECT, ReviewAction.BONUS)


def unrepeatable_bonus_providers() -> list[str]:
    """Providers whose bonus pay call can't be deduplicated (Prolific)."""
    return [
        name
        for name in PROVIDER_CLASSES
        if not get_provider_class(name).bonus_is_repeatable
    ]


def stalled_reviews(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Reviews to send again: asked for over STALLED_AFTER ago, and their call
    never made (no log row) or left pending or ambiguous.

    Sending again is safe: the call log keys the call by the review, MTurk's
    tokens dedupe it, and a call that can't be repeated (Prolific's bonus pay)
    is refused by the log and left to `reconcile_lost_bonuses`.
    """
    now = now or timezone.now()
    cutoff = now - STALLED_AFTER
    unfinished = {
        int(key.removeprefix("review:"))
        for key in ProviderCall.objects.filter(
            status__in=[CallStatus.PENDING, CallStatus.AMBIGUOUS],
            updated_at__lt=cutoff,
            idempotency_key__startswith="review:",
        ).values_list("idempotency_key", flat=True)[:limit]
    }
    asked = list(
        WorkerReview.objects.filter(
            action__in=SENT_ACTIONS,
            agent__isnull=False,
            created_at__gte=now - STALLED_WINDOW,
            created_at__lt=cutoff,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    logged = set(
        ProviderCall.objects.filter(
            idempotency_key__in=[f"review:{pk}" for pk in asked]
        ).values_list("idempotency_key", flat=True)
    )
    never_made = {pk for pk in asked if f"review:{pk}" not in logged}
    # A non-repeatable bonus left pending or ambiguous is reconciled instead.
    unrepeatable = unrepeatable_bonus_providers()
    return list(
        WorkerReview.objects.filter(pk__in=unfinished | never_made)
        .exclude(action=ReviewAction.BONUS, worker__provider_type__in=unrepeatable)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# How long after a lost bonus payment the provider's records are read: Prolific
# pays "in the following minutes".
RECONCILE_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class Reconciled:
    """A bonus payment whose lost outcome was read from the provider's records."""

    review_id: int
    paid: bool


def reconcile_lost_bonuses(
    *, now: datetime | None = None, limit: int = 200
) -> list[Reconciled]:
    """Settle bonuses whose payment outcome was lost, on providers whose pay
    call is never repeated (Prolific), from the provider's own records.

    The bonus counts as paid when the provider records more bonuses of that
    amount on the submission than the ledger has paid there; otherwise, once
    RECONCILE_AFTER has passed, as failed (not paid), for the requester to send
    again on purpose. Safe to run twice: a settled payment is not pending or
    ambiguous any more.
    """
    now = now or timezone.now()
    unrepeatable = unrepeatable_bonus_providers()
    if not unrepeatable:
        return []
    reviews = list(
        WorkerReview.objects.filter(
            action=ReviewAction.BONUS,
            worker__provider_type__in=unrepeatable,
            payments__kind=PaymentKind.BONUS,
            payments__state__in=[PaymentState.AMBIGUOUS, PaymentState.PENDING],
            created_at__lt=now - RECONCILE_AFTER,
        )
        .select_related("agent__unit", "worker")
        .distinct()
        .order_by("pk")[:limit]
    )
    settled = []
    for review in reviews:
        call = ProviderCall.objects.filter(
            idempotency_key=f"review:{review.pk}"
        ).first()
        if call is None or call.status == CallStatus.SUCCEEDED:
            continue  # never attempted (the resend sweep's), or settled already
        if (
            call.status == CallStatus.PENDING
            and call.updated_at > now - RECONCILE_AFTER
        ):
            continue  # maybe still in flight
        outcome = _bonus_outcome(review)
        if outcome is not None:
            settled.append(outcome)
    return settled


def _bonus_outcome(review: WorkerReview) -> Reconciled | None:
    agent = review.agent
    assert agent is not None and review.amount is not None
    work = WorkRef(
        worker_name=review.worker.worker_name,
        provider_unit_id=agent.unit.provider_unit_id,
        provider_assignment_id=agent.provider_assignment_id,
    )
    provider_class = get_provider_class(review.worker.provider_type)
    # Outside any transaction: no row is locked while the provider answers.
    recorded = get_provider(review.worker.provider_type).paid_bonuses(work=work)
    if recorded is None:
        return None
    with transaction.atomic():
        payments = review.payments.select_for_update().exclude(
            state__in=[PaymentState.PAID, PaymentState.FAILED]
        )
        if not payments:
            return None
        already_paid = Payment.objects.filter(
            agent=agent,
            kind=PaymentKind.BONUS,
            state=PaymentState.PAID,
            amount=review.amount,
        ).count()
        paid = recorded.count(review.amount) > already_paid
        key = f"review:{review.pk}"
        # The review's call and the provider's own pay call inside it: none is
        # left pending for the monitoring query (docs/deploy.md).
        calls = ProviderCall.objects.filter(
            idempotency_key__in=[key, *provider_class.bonus_call_keys(token=key)]
        ).exclude(status=CallStatus.SUCCEEDED)
        if paid:
            payments.update(
                state=PaymentState.PAID,
                provider_response={"reconciled": True, "recorded": len(recorded)},
                error="",
            )
            calls.update(
                status=CallStatus.SUCCEEDED, response={"reconciled": True}, error=""
            )
        else:
            why = (
                f"{review.worker.provider_type}'s records show no such bonus "
                f"{RECONCILE_AFTER.seconds // 60} minutes after it was sent: not "
                "paid; pay it again if you mean to"
            )
            payments.update(state=PaymentState.FAILED, error=why)
            calls.update(status=CallStatus.FAILED, error=why)
    return Reconciled(review_id=review.pk, paid=paid)


def send_on_commit(review: WorkerReview) -> None:
    enqueue_on_commit(
        task="tasks_app.tasks.send_review", kwargs={"review_id": review.pk}
    )
