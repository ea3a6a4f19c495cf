"""What a run may spend and has committed: its budget and commitment, the one
rule the budget checks and the dashboard read."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum

from tasks_app.models import (
    TaskRun,
    Unit,
    UnitStatus,
)

CENT = Decimal("0.01")


def run_budget(run: TaskRun) -> Decimal | None:
    """`run`'s `mephisto.task.budget` in dollars, or None when it has none."""
    return budget_of(run.resolved_config.get("mephisto", {}).get("task", {}))


def budget_of(task_config: dict[str, Any]) -> Decimal | None:
    """A `mephisto.task.budget` in dollars (cents), or None for none: how a launch
    and every later check read the same key, so a run is held to the budget it
    was launched with."""
    budget = task_config.get("budget")
    if budget is None:
        return None
    return Decimal(str(budget)).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Commitment:
    """What a run is committed to spend, in dollars, with the provider's fee."""

    # Rewards of every unit not rejected or expired: paid, owed or still open.
    rewards: Decimal
    # Bonuses (and their fees) not failed: pending, paid or ambiguous.
    bonuses: Decimal

    @property
    def total(self) -> Decimal:
        return self.rewards + self.bonuses


def run_commitment(*, run: TaskRun, fee_rate: Decimal) -> Commitment:
    """What `run` is committed to: the rewards of its units that are not rejected
    or expired (decided or not) with the provider's `fee_rate` on them, and its
    bonuses and their fees that did not fail. The one rule that the budget check
    of a bonus and the run's dashboard both read. Two queries."""
    from qualifications_app.models import ReviewAction
    from tasks_app.models import Payment, PaymentState

    rewards = Unit.objects.filter(run=run).exclude(
        status__in=[UnitStatus.REJECTED, UnitStatus.EXPIRED]
    ).aggregate(total=Sum("pay_amount"))["total"] or Decimal("0")
    bonuses = Payment.objects.filter(
        run=run, review__action=ReviewAction.BONUS
    ).exclude(state=PaymentState.FAILED).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal("0")
    # Quantized: SQLite sums decimals as floats.
    return Commitment(
        rewards=(Decimal(rewards) * (1 + fee_rate)).quantize(CENT, ROUND_HALF_UP),
        bonuses=Decimal(bonuses).quantize(CENT, ROUND_HALF_UP),
    )
