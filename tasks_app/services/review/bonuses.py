"""Bonuses: paid once per (unit, amount, reason), within the run's budget.

Bonuses are keyed by what they pay, so a replayed or double-clicked bonus is
refused rather than paid twice; several different ones are allowed.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from crowdsite.money import parse_dollars
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.exceptions import LargeBonusError, ReviewError
from tasks_app.models import (
    AgentStatus,
    Payment,
    PaymentKind,
    Unit,
)
from tasks_app.services.review.checks import (
    check_permission,
    reviewer_user,
    submitted_agent,
)
from tasks_app.services.review.decisions import (
    Decision,
)
from tasks_app.services.review.ledger import CENT, check_budget, record_payment
from tasks_app.services.review.sending import send_on_commit

if TYPE_CHECKING:
    from tasks_app.services.review.checks import Reviewer


def pay_bonus(
    *,
    unit_id: int,
    amount: Decimal | str | float,
    reason: str,
    reviewer: Reviewer = None,
    agent_id: int | None = None,
    confirm_large: bool = False,
) -> Decision:
    """Pay the unit's worker a bonus of `amount` dollars, saying why.

    Several bonuses per unit are allowed, each its own payment; the same amount
    for the same reason again is taken for a replay and refused. A bonus of
    more than LARGE_BONUS_FACTOR times the unit's reward is paid only with
    `confirm_large` (a slipped decimal point costs real money).
    """
    check_permission(reviewer)
    value = parse_amount(amount)
    reason = reason.strip()
    if not reason:
        raise ReviewError(
            f"unit {unit_id}: a bonus needs a reason, which the worker is shown; "
            "nothing was paid"
        )
    digest = hashlib.sha256(f"{value}\n{reason}".encode()).hexdigest()[:24]
    try:
        with transaction.atomic():
            unit = Unit.objects.select_for_update().filter(pk=unit_id).first()
            if unit is None:
                raise ReviewError(f"there is no unit {unit_id}")
            agent = submitted_agent(unit, agent_id)
            if agent.status == AgentStatus.REJECTED:
                raise ReviewError(
                    f"unit {unit_id} was rejected: a bonus would pay for work "
                    "that was refused; nothing was paid"
                )
            if not confirm_large:
                check_not_large(unit, value)
            key = f"bonus:agent={agent.pk}:{digest}"
            earlier = Payment.objects.filter(idempotency_key=key).first()
            if earlier is not None:
                raise _replayed_bonus(unit_id, earlier)
            check_budget(unit, agent, value, what=f"a bonus of ${value}")
            review = WorkerReview.objects.create(
                worker_id=agent.worker_id,
                action=ReviewAction.BONUS,
                unit=unit,
                agent=agent,
                amount=value,
                reason=reason,
                created_by=reviewer_user(reviewer),
            )
            record_payment(review, agent, kind=PaymentKind.BONUS, amount=value, key=key)
            send_on_commit(review)
    except IntegrityError as exc:
        # The same bonus committed by another request between our check and ours.
        earlier = Payment.objects.filter(
            unit_id=unit_id, idempotency_key__endswith=f":{digest}"
        ).first()
        if earlier is None:
            raise
        raise _replayed_bonus(unit_id, earlier) from exc
    return Decision(
        action=ReviewAction.BONUS,
        unit_id=unit.pk,
        agent_id=agent.pk,
        worker_name=agent.worker.worker_name,
        review_id=review.pk,
        late=agent.is_late,
        paid=value,
    )


# A bonus above this many times the unit's reward needs a confirmation.
LARGE_BONUS_FACTOR = 10


def check_not_large(unit: Unit, amount: Decimal) -> None:
    """Raise LargeBonusError if `amount` is more than LARGE_BONUS_FACTOR times
    the unit's reward (any bonus on an unpaid unit counts as large)."""
    limit = unit.pay_amount * LARGE_BONUS_FACTOR
    if amount <= limit:
        return
    if unit.pay_amount > 0:
        times = f"{(amount / unit.pay_amount).quantize(Decimal('0.1')).normalize():f}"
        size = f"{times} times the unit's reward of ${unit.pay_amount}"
    else:
        size = "paid on a unit without a reward"
    raise LargeBonusError(
        f"unit {unit.pk}: a bonus of ${amount} is {size}, more than "
        f"{LARGE_BONUS_FACTOR} times; check the amount, and confirm it to pay it; "
        "nothing was paid"
    )


def parse_amount(amount: Decimal | str | float) -> Decimal:
    """A bonus amount in dollars: plain decimal digits, positive, whole cents."""
    try:
        value = parse_dollars(amount, what="the bonus amount")
    except ValueError as exc:
        raise ReviewError(str(exc)) from exc
    if value <= 0:
        raise ReviewError(f"the bonus amount must be more than 0 (got {amount})")
    if value >= Decimal("100000000"):
        raise ReviewError(f"the bonus amount {amount} is too large to be paid")
    if value != value.quantize(CENT, ROUND_HALF_UP):
        raise ReviewError(
            f"the bonus amount is paid in whole cents (got {amount}); "
            f"did you mean {value.quantize(CENT, ROUND_HALF_UP)}?"
        )
    return value.quantize(CENT)


def _replayed_bonus(unit_id: int, earlier: Payment) -> ReviewError:
    who = earlier.created_by.get_username() if earlier.created_by else "the operator"
    when = earlier.created_at.isoformat(timespec="seconds")
    return ReviewError(
        f"unit {unit_id}: a bonus of {earlier.amount} for this reason was already "
        f"paid by {who} at {when} ({earlier.state}); a second one is refused as a "
        "replay. To pay another bonus, give it its own reason"
    )
