"""The payment ledger: each payment a row with its idempotency key, and the
provider's fee on it beside it."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from providers.registry import get_provider_class
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import (
    Agent,
    Payment,
    PaymentKind,
)

CENT = Decimal("0.01")
# Soft-rejecting pays the reward, as Mephisto does ("pay a worker for attempted
# work, but mark it as below the quality bar"); it is left out of the worker's
# approval rate.
PAID_DECISIONS = (ReviewAction.APPROVE, ReviewAction.SOFT_REJECT)


def record_payment(
    review: WorkerReview, agent: Agent, *, kind: PaymentKind, amount: Decimal, key: str
) -> Decimal:
    """Store the payment (and the provider's fee on it); what the worker gets."""
    Payment.objects.bulk_create(
        payment_rows(review, agent, kind=kind, amount=amount, key=key)
    )
    return amount


def payment_rows(
    review: WorkerReview, agent: Agent, *, kind: PaymentKind, amount: Decimal, key: str
) -> list[Payment]:
    """The payment of `amount` and, where the provider takes one, its fee."""
    provider_class = get_provider_class(agent.worker.provider_type)
    common = {
        "run_id": agent.run_id,
        "unit_id": agent.unit_id,
        "agent": agent,
        "worker_id": agent.worker_id,
        "review": review,
        "reason": review.reason,
        "created_by": review.created_by,
    }
    rows = [Payment(kind=kind, amount=amount, idempotency_key=key, **common)]
    fee = provider_fee(amount, provider_class.fee_rate)
    if fee > 0:
        rows.append(
            Payment(
                kind=PaymentKind.FEE, amount=fee, idempotency_key=f"fee:{key}", **common
            )
        )
    return rows


def provider_fee(amount: Decimal, rate: Decimal) -> Decimal:
    """The provider's fee on a payment of `amount`, in whole cents."""
    return (amount * rate).quantize(CENT, ROUND_HALF_UP)
