"""Review decisions: approve, reject, soft-reject, one unit or many, undo a
rejection, and block (checked first against the rules in checks.py).

A decision changes the unit and agent statuses (DESIGN §3), writes its
`WorkerReview` audit row and the `Payment` rows it pays (ledger.py), and
enqueues the provider call on commit (sending.py). An agent gets one decision:
the database refuses a second (a partial unique index), so two reviewers racing
on one unit end with exactly one. A rejection overridden by an approval stays on
record (`overridden_at`), no longer in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from providers.outbox import enqueue_on_commit
from providers.registry import get_provider_class
from qualifications_app.models import DECISION_ACTIONS, ReviewAction, WorkerReview
from qualifications_app.services import set_blocked
from tasks_app import review_sql
from tasks_app.db import ids_param
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Agent,
    AgentStatus,
    PaymentKind,
    TaskRun,
    Unit,
    UnitStatus,
)
from tasks_app.review_sql import AgentRow, UnitRow
from tasks_app.services.review.checks import (
    DECIDED,
    OUTCOMES,
    already_decided,
    check_can_override,
    check_feedback_length,
    check_permission,
    check_rejection,
    reviewer_user,
    submitted_agent,
    the_submission,
    unreported_refusal,
)
from tasks_app.services.review.ledger import (
    PAID_DECISIONS,
    check_budget,
    provider_fee,
    record_payment,
)
from tasks_app.services.review.sending import send_on_commit

if TYPE_CHECKING:
    from tasks_app.services.review.checks import Reviewer


@dataclass(frozen=True)
class Decision:
    """What a decision or bonus did, for the admin's and the commands' reports."""

    action: str
    unit_id: int
    agent_id: int
    worker_name: str
    review_id: int
    late: bool
    paid: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "unit_id": self.unit_id,
            "agent_id": self.agent_id,
            "worker": self.worker_name,
            "review_id": self.review_id,
            "late": self.late,
            "amount": str(self.paid),
        }


def approve_unit(
    *,
    unit_id: int,
    reviewer: Reviewer = None,
    agent_id: int | None = None,
    reason: str = "",
    confirm_unreported: bool = False,
    override_rejection: bool = False,
) -> Decision:
    """Accept the unit's submission; its reward (and the provider's fee) is paid.

    `reason` is a note for the worker, sent where the provider shows one
    (MTurk's RequesterFeedback). A submission the task page never reported
    (`Agent.from_provider_listing`) is approved only with `confirm_unreported`:
    a person looked at it alone. A rejected submission is approved only with
    `override_rejection` (MTurk's OverrideRejection), and only on a provider
    that can undo a rejection; the rejection stays on record, overridden.
    """
    return decide(
        unit_id=unit_id,
        action=ReviewAction.APPROVE,
        reason=reason,
        reviewer=reviewer,
        agent_id=agent_id,
        confirm_unreported=confirm_unreported,
        override_rejection=override_rejection,
    )


def reject_unit(
    *,
    unit_id: int,
    feedback: str,
    reviewer: Reviewer = None,
    agent_id: int | None = None,
) -> Decision:
    """Refuse the unit's submission, unpaid; `feedback` (required) says why."""
    return decide(
        unit_id=unit_id,
        action=ReviewAction.REJECT,
        reason=feedback,
        reviewer=reviewer,
        agent_id=agent_id,
    )


def soft_reject_unit(
    *,
    unit_id: int,
    reason: str = "",
    reviewer: Reviewer = None,
    agent_id: int | None = None,
    confirm_unreported: bool = False,
) -> Decision:
    """Pay the reward but mark the work below the bar (no provider rejection).

    It pays, so an unreported submission needs `confirm_unreported` as in
    `approve_unit`.
    """
    return decide(
        unit_id=unit_id,
        action=ReviewAction.SOFT_REJECT,
        reason=reason,
        reviewer=reviewer,
        agent_id=agent_id,
        confirm_unreported=confirm_unreported,
    )


def decide(
    *,
    unit_id: int,
    action: ReviewAction,
    reason: str = "",
    reviewer: Reviewer = None,
    agent_id: int | None = None,
    confirm_unreported: bool = False,
    override_rejection: bool = False,
) -> Decision:
    """Record `action` on the unit's submitted agent and enqueue its provider call.

    `agent_id` picks the agent when the unit has more than one submission (a
    late one beside its current worker's). Refused, with nothing written, when
    the reviewer may not review, the unit has no submission, it was decided,
    or the decision pays for a submission the task page never reported
    without `confirm_unreported`. `override_rejection` (approvals only) lets an
    approval replace the agent's rejection.
    """
    if action not in DECISION_ACTIONS:
        raise ReviewError(f"{action!r} is not a review decision")
    if override_rejection and action != ReviewAction.APPROVE:
        raise ReviewError(
            f"unit {unit_id}: only an approval can override a rejection; "
            "nothing was changed"
        )
    check_permission(reviewer)
    reason = reason.strip()
    if action == ReviewAction.REJECT and not reason:
        raise ReviewError(
            f"unit {unit_id}: a rejection needs feedback for the worker (why the "
            "work was refused); nothing was changed"
        )
    try:
        with transaction.atomic():
            return _decide(
                unit_id,
                action,
                reason,
                reviewer,
                agent_id,
                confirm_unreported,
                override_rejection,
            )
    except IntegrityError as exc:
        # Another reviewer's decision committed between our check and our write.
        raise already_decided(unit_id, agent_id) from exc


def _decide(
    unit_id: int,
    action: ReviewAction,
    reason: str,
    reviewer: Reviewer,
    agent_id: int | None,
    confirm_unreported: bool,
    override_rejection: bool = False,
) -> Decision:
    unit = Unit.objects.select_for_update().filter(pk=unit_id).first()
    if unit is None:
        raise ReviewError(f"there is no unit {unit_id}")
    agent = submitted_agent(unit, agent_id)
    overriding = override_rejection and agent.status == AgentStatus.REJECTED
    if override_rejection and not overriding:
        raise ReviewError(
            f"unit {unit_id} is not rejected (its submission is {agent.status}): "
            "overriding a rejection only approves a rejected unit; nothing was "
            "changed"
        )
    if overriding:
        check_can_override(unit, agent)
        # A rejected unit's reward was released from the budget; paying it
        # now has to fit again.
        check_budget(
            unit,
            agent,
            unit.pay_amount,
            what=f"overriding the rejection pays its reward of ${unit.pay_amount}",
        )
        _override_rejection(unit_id, agent)
    elif agent.status in DECIDED:
        raise already_decided(unit_id, agent.pk)
    paying = action in PAID_DECISIONS
    if paying and agent.from_provider_listing and not confirm_unreported:
        raise ReviewError(unreported_refusal(unit.pk, agent.pk))
    if action == ReviewAction.REJECT:
        check_rejection(unit, reason)
    check_feedback_length(unit_id, agent, reason)
    unit_status, agent_status = OUTCOMES[action]
    # Conditional, so a decision that raced ours (on a database without row
    # locks) leaves this one writing nothing; the unique index then refuses it.
    if not Agent.objects.filter(pk=agent.pk, status=agent.status).update(
        status=agent_status
    ):
        raise already_decided(unit_id, agent.pk)
    decided_from = UnitStatus.REJECTED if overriding else UnitStatus.COMPLETED
    if unit.worker_id == agent.worker_id and unit.status == decided_from:
        Unit.objects.filter(pk=unit.pk).update(status=unit_status)
    review = WorkerReview.objects.create(
        worker_id=agent.worker_id,
        action=action,
        unit=unit,
        agent=agent,
        reason=reason,
        created_by=reviewer_user(reviewer),
        overrides_rejection=overriding,
    )
    paid = Decimal("0")
    if action in PAID_DECISIONS and unit.pay_amount > 0:
        paid = record_payment(
            review,
            agent,
            kind=PaymentKind.REWARD,
            amount=unit.pay_amount,
            key=f"reward:agent={agent.pk}",
        )
    send_on_commit(review)
    return Decision(
        action=action,
        unit_id=unit.pk,
        agent_id=agent.pk,
        worker_name=agent.worker.worker_name,
        review_id=review.pk,
        late=agent.is_late,
        paid=paid,
    )


# Reviews per Celery task of a bulk approval: the first task splits the
# approval in batches of this many, which workers send in parallel.
SEND_BATCH = 500


@dataclass(frozen=True)
class BulkApproval:
    """What approving many units did: the ones approved now, and why not the rest."""

    approved: list[int]
    refused: dict[int, str]
    paid: Decimal
    # The agents whose submissions were approved, one per unit approved.
    approved_agents: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "approved": self.approved,
            "refused": {str(unit): why for unit, why in self.refused.items()},
            "amount": str(self.paid),
        }


def approve_units(
    *, unit_ids: Iterable[int], reviewer: Reviewer = None, reason: str = ""
) -> BulkApproval:
    """Approve many units in one transaction, with a bounded number of queries.

    Each unit is approved as `approve_unit` would (statuses, audit row, reward
    and fee rows, the provider call on commit, sent in batches); a unit that
    can't be (decided before, no submission, several submissions) is left out
    and listed in `refused` with the reason. So is a submission the task page
    never reported: it is approved only alone (`approve_unit`).
    """
    check_permission(reviewer)
    wanted = list(dict.fromkeys(int(pk) for pk in unit_ids))
    created_by = reviewer_user(reviewer)
    created_by_id = created_by.pk if created_by is not None else None
    refused: dict[int, str] = {}
    with transaction.atomic():
        # Plain rows, not model instances: at 10,000 units the instances would
        # cost more than the statements.
        units, agents_by_unit = review_sql.lock_for_approval(wanted)
        chosen: list[tuple[UnitRow, AgentRow]] = []
        for pk in wanted:
            unit = units.get(pk)
            if unit is None:
                refused[pk] = f"there is no unit {pk}"
                continue
            found, why = _bulk_agent(unit, agents_by_unit.get(pk, []))
            if found is None:
                refused[pk] = why
            else:
                chosen.append((unit, found))
        if not chosen:
            return BulkApproval(approved=[], refused=refused, paid=Decimal("0"))
        unit_status, agent_status = OUTCOMES[ReviewAction.APPROVE]
        agent_ids = [agent.pk for _, agent in chosen]
        held = [
            unit.pk
            for unit, agent in chosen
            if unit.worker_id == agent.worker_id and unit.status == UnitStatus.COMPLETED
        ]
        changed = (
            Agent.objects.filter(pk__in=ids_param(agent_ids))
            .exclude(status__in=list(DECIDED))
            .update(status=agent_status)
        )
        if changed != len(agent_ids):
            # Only without row locks (a racing decision): undo, and say so.
            raise ReviewError(
                "some of these units were decided meanwhile; nothing was changed. "
                "Reload and approve again"
            )
        Unit.objects.filter(pk__in=ids_param(held)).update(status=unit_status)
        try:
            review_of = review_sql.insert_reviews(
                agent_ids,
                action=ReviewAction.APPROVE,
                reason=reason,
                created_by_id=created_by_id,
            )
        except IntegrityError as exc:
            raise ReviewError(
                "some of these units were decided meanwhile; nothing was changed. "
                "Reload and approve again"
            ) from exc
        review_ids = [review_of[agent_id] for agent_id in agent_ids]
        # Rewards and fees as approve_unit writes them: each unit's pay_amount
        # if it pays, and the provider's fee on it, from the same rounding.
        review_sql.insert_rewards(
            review_ids, reason=reason, created_by_id=created_by_id
        )
        rates = {
            run_id: get_provider_class(provider_type).fee_rate
            for run_id, provider_type in TaskRun.objects.filter(
                pk__in={unit.run_id for unit, _ in chosen}
            ).values_list("pk", "provider_type")
        }
        fees = {}
        for run_id, amount in {(unit.run_id, unit.pay_amount) for unit, _ in chosen}:
            fee = provider_fee(amount, rates[run_id])
            if amount > 0 and fee > 0:
                fees[run_id, amount] = fee
        review_sql.insert_fees(
            review_ids, fees, reason=reason, created_by_id=created_by_id
        )
        paid = sum(
            (unit.pay_amount for unit, _ in chosen if unit.pay_amount > 0),
            Decimal("0"),
        )
        # One outbox row whatever the number: the task splits it in batches.
        enqueue_on_commit(
            task="tasks_app.tasks.send_reviews", kwargs={"review_ids": review_ids}
        )
    return BulkApproval(
        approved=[unit.pk for unit, _ in chosen],
        refused=refused,
        paid=paid,
        approved_agents=agent_ids,
    )


def _bulk_agent(
    unit: UnitRow, submitted: list[AgentRow]
) -> tuple[AgentRow | None, str]:
    """The agent a bulk approval of `unit` decides on, or why there is none."""
    if not submitted:
        return (
            None,
            f"unit {unit.pk} has no submission to review (status {unit.status})",
        )
    agent = the_submission(unit.worker_id, submitted)
    if agent is None:
        return None, (
            f"unit {unit.pk} has {len(submitted)} submissions; decide on it "
            "alone, naming the agent"
        )
    if agent.status in DECIDED:
        hint = ""
        if agent.status == AgentStatus.REJECTED:
            hint = " (overriding the rejection approves it anyway)"
        return None, (
            f"unit {unit.pk} was already {DECIDED[AgentStatus(agent.status)]}{hint}"
        )
    if agent.from_provider_listing:
        return None, (
            f"unit {unit.pk}: the task page never reported its submission (agent "
            f"{agent.pk}), so it is not approved in bulk; look at it and approve "
            "it on its own"
        )
    return agent, ""


def block_from_review(
    *, unit_id: int, reason: str, reviewer: Reviewer = None, agent_id: int | None = None
) -> bool:
    """Put the unit's worker on the local blocklist; False if already on it."""
    check_permission(reviewer)
    reason = reason.strip()
    if not reason:
        raise ReviewError(f"unit {unit_id}: blocking a worker needs a reason")
    with transaction.atomic():
        unit = Unit.objects.select_for_update().filter(pk=unit_id).first()
        if unit is None:
            raise ReviewError(f"there is no unit {unit_id}")
        agent = submitted_agent(unit, agent_id)
        blocked = set_blocked(
            worker=agent.worker,
            blocked=True,
            reason=reason,
            unit=unit,
            created_by=reviewer_user(reviewer),
        )
        # set_blocked tells the provider too, after commit.
        return blocked


def _override_rejection(unit_id: int, agent: Agent) -> None:
    """Mark the agent's rejection overridden, so an approval can take its place."""
    overridden = WorkerReview.objects.filter(
        agent=agent,
        action=ReviewAction.REJECT,
        overridden_at__isnull=True,
    ).update(overridden_at=timezone.now())
    if not overridden:
        # Another override got there first (its approval then wins the race).
        raise already_decided(unit_id, agent.pk)
