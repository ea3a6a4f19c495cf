"""The payment ledger: each payment a row with its idempotency key, and the
provider's fee on it beside it; and the run's budget, checked before a payment
that was not committed at launch."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from providers.registry import get_provider_class
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import selectors
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Agent,
    Payment,
    PaymentKind,
    TaskRun,
    Unit,
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


def check_budget(unit: Unit, agent: Agent, amount: Decimal, *, what: str) -> None:
    """Refuse a payment (`what`: "a bonus of $1.00") that would take the run
    past `mephisto.task.budget`.

    The run is committed to its units' rewards (all but rejected and expired
    ones), the bonuses not failed, and the provider's fee on both. The run's row
    is locked, so two bonuses at once can't both fit into what one leaves.
    """
    run = TaskRun.objects.select_for_update().get(pk=unit.run_id)
    budget = selectors.run_budget(run)
    if budget is None:
        return
    rate = get_provider_class(agent.worker.provider_type).fee_rate
    committed = selectors.run_commitment(run=run, fee_rate=rate).total
    cost = (amount * (1 + rate)).quantize(CENT, ROUND_HALF_UP)
    if committed + cost > budget:
        raise ReviewError(
            f"unit {unit.pk}: {what} (${cost} with the provider's fee) "
            f"would take run {run.pk} to ${committed + cost}, past its budget of "
            f"${budget} (committed: ${committed}, rewards and bonuses with fees); "
            "nothing was paid"
        )
