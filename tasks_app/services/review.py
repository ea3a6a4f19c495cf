"""A requester's review of submitted work: decisions, bonuses, and paying them.

A decision (approve, reject, soft-reject) or a bonus changes the unit and agent
statuses (DESIGN §3), writes its `WorkerReview` audit row and the `Payment` rows
it pays, and enqueues the provider call on commit; `send_review` makes that call
through the call log, keyed by the audit row, so a retry or a replay pays once.

An agent gets one decision: the database refuses a second (a partial unique
index), so two reviewers racing on one unit end with exactly one. Bonuses are
keyed by what they pay (unit, amount, reason), so a replayed or double-clicked
bonus is refused rather than paid twice; several different ones are allowed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from crowdsite.money import parse_dollars
from providers.base import ProviderError, WorkRef
from providers.models import CallStatus, ProviderCall
from providers.registry import PROVIDER_CLASSES, get_provider, get_provider_class
from providers.services import enqueue_on_commit, run_logged_call
from qualifications_app.models import DECISION_ACTIONS, ReviewAction, WorkerReview
from qualifications_app.services import mirror_block, set_blocked
from tasks_app import review_sql, selectors
from tasks_app.db import ids_param
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    PaymentState,
    TaskRun,
    Unit,
    UnitStatus,
)
from tasks_app.review_sql import AgentRow, UnitRow

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Reviewer = User | AnonymousUser | None

CENT = Decimal("0.01")
# mephisto.task.auto_approve_delay_in_seconds when a stored config lacks it.
DEFAULT_AUTO_APPROVE_DELAY = 60 * 60 * 24 * 7
REVIEW_PERMISSION = "tasks_app.review_unit"

# Decision -> (the unit's status, the agent's status) it leaves (DESIGN §3).
OUTCOMES = {
    ReviewAction.APPROVE: (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
    ReviewAction.REJECT: (UnitStatus.REJECTED, AgentStatus.REJECTED),
    ReviewAction.SOFT_REJECT: (UnitStatus.SOFT_REJECTED, AgentStatus.SOFT_REJECTED),
}
# What a decided agent's status says was decided, for the refusal's wording.
DECIDED = {
    AgentStatus.APPROVED: "approved",
    AgentStatus.REJECTED: "rejected",
    AgentStatus.SOFT_REJECTED: "soft-rejected",
}
# Soft-rejecting pays the reward, as Mephisto does ("pay a worker for attempted
# work, but mark it as below the quality bar"); it is left out of the worker's
# approval rate.
PAID_DECISIONS = (ReviewAction.APPROVE, ReviewAction.SOFT_REJECT)


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
    confirm_unreported: bool = False,
) -> Decision:
    """Accept the unit's submission; its reward (and the provider's fee) is paid.

    A submission the task page never reported (`Agent.from_provider_listing`)
    is approved only with `confirm_unreported`: a person looked at it alone.
    """
    return decide(
        unit_id=unit_id,
        action=ReviewAction.APPROVE,
        reviewer=reviewer,
        agent_id=agent_id,
        confirm_unreported=confirm_unreported,
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
) -> Decision:
    """Record `action` on the unit's submitted agent and enqueue its provider call.

    `agent_id` picks the agent when the unit has more than one submission (a
    late one beside its current worker's). Refused, with nothing written, when
    the reviewer may not review, the unit has no submission, it was decided,
    or the decision pays for a submission the task page never reported
    without `confirm_unreported`.
    """
    if action not in DECISION_ACTIONS:
        raise ReviewError(f"{action!r} is not a review decision")
    _check_permission(reviewer)
    reason = reason.strip()
    if action == ReviewAction.REJECT and not reason:
        raise ReviewError(
            f"unit {unit_id}: a rejection needs feedback for the worker (why the "
            "work was refused); nothing was changed"
        )
    try:
        with transaction.atomic():
            return _decide(
                unit_id, action, reason, reviewer, agent_id, confirm_unreported
            )
    except IntegrityError as exc:
        # Another reviewer's decision committed between our check and our write.
        raise _already_decided(unit_id, agent_id) from exc


def _decide(
    unit_id: int,
    action: ReviewAction,
    reason: str,
    reviewer: Reviewer,
    agent_id: int | None,
    confirm_unreported: bool,
) -> Decision:
    unit = Unit.objects.select_for_update().filter(pk=unit_id).first()
    if unit is None:
        raise ReviewError(f"there is no unit {unit_id}")
    agent = _submitted_agent(unit, agent_id)
    if agent.status in DECIDED:
        raise _already_decided(unit_id, agent.pk)
    paying = action in PAID_DECISIONS
    if paying and agent.from_provider_listing and not confirm_unreported:
        raise ReviewError(unreported_refusal(unit.pk, agent.pk))
    if action == ReviewAction.REJECT:
        _check_rejection(unit, reason)
    unit_status, agent_status = OUTCOMES[action]
    # Conditional, so a decision that raced ours (on a database without row
    # locks) leaves this one writing nothing; the unique index then refuses it.
    if not Agent.objects.filter(pk=agent.pk, status=agent.status).update(
        status=agent_status
    ):
        raise _already_decided(unit_id, agent.pk)
    if unit.worker_id == agent.worker_id and unit.status == UnitStatus.COMPLETED:
        Unit.objects.filter(pk=unit.pk).update(status=unit_status)
    review = WorkerReview.objects.create(
        worker_id=agent.worker_id,
        action=action,
        unit=unit,
        agent=agent,
        reason=reason,
        created_by=_user(reviewer),
    )
    paid = Decimal("0")
    if action in PAID_DECISIONS and unit.pay_amount > 0:
        paid = _record_payment(
            review,
            agent,
            kind=PaymentKind.REWARD,
            amount=unit.pay_amount,
            key=f"reward:agent={agent.pk}",
        )
    _send_on_commit(review)
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
    _check_permission(reviewer)
    wanted = list(dict.fromkeys(int(pk) for pk in unit_ids))
    created_by = _user(reviewer)
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
            fee = _fee(amount, rates[run_id])
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
        approved=[unit.pk for unit, _ in chosen], refused=refused, paid=paid
    )


# The most units one sweep approves per run; the next sweep takes the rest.
AUTO_APPROVE_BATCH = 10_000


def auto_approve_due(*, now: datetime | None = None) -> int:
    """Approve every completed unit whose submission has waited longer than its
    run's `auto_approve_delay_in_seconds`, as MTurk would; how many. A
    submission the task page never reported is left for a person.

    Through `approve_units`, so the reward is paid once and the audit row says
    it was automatic. Safe to run twice or concurrently: a unit approved by the
    other sweep is refused, not approved again.
    """
    now = now or timezone.now()
    approved = 0
    for run in TaskRun.objects.only("pk", "resolved_config").order_by("pk"):
        task = run.resolved_config.get("mephisto", {}).get("task", {})
        delay = task.get("auto_approve_delay_in_seconds", DEFAULT_AUTO_APPROVE_DELAY)
        cutoff = now - timedelta(seconds=delay)
        due = list(
            Unit.objects.filter(
                run=run,
                status=UnitStatus.COMPLETED,
                agents__status=AgentStatus.COMPLETED,
                agents__submitted_at__lte=cutoff,
                # Work the page never saw waits for a person (approve_units
                # would refuse it too, every sweep).
                agents__from_provider_listing=False,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:AUTO_APPROVE_BATCH]
        )
        if due:
            reason = f"approved automatically, not reviewed within {delay} seconds"
            approved += len(approve_units(unit_ids=due, reason=reason).approved)
    return approved


def _bulk_agent(
    unit: UnitRow, submitted: list[AgentRow]
) -> tuple[AgentRow | None, str]:
    """The agent a bulk approval of `unit` decides on, or why there is none."""
    if not submitted:
        return (
            None,
            f"unit {unit.pk} has no submission to review (status {unit.status})",
        )
    agent = _the_submission(unit.worker_id, submitted)
    if agent is None:
        return None, (
            f"unit {unit.pk} has {len(submitted)} submissions; decide on it "
            "alone, naming the agent"
        )
    if agent.status in DECIDED:
        return None, f"unit {unit.pk} was already {DECIDED[AgentStatus(agent.status)]}"
    if agent.from_provider_listing:
        return None, (
            f"unit {unit.pk}: the task page never reported its submission (agent "
            f"{agent.pk}), so it is not approved in bulk; look at it and approve "
            "it on its own"
        )
    return agent, ""


def unreported_refusal(unit_id: int, agent_id: int) -> str:
    """Why a submission the task page never reported is not paid as asked."""
    return (
        f"unit {unit_id}: the task page never reported this submission (agent "
        f"{agent_id}); it was recorded from the provider's list of submitted "
        "work, so the worker may never have seen the task. It is never approved "
        "in bulk or automatically: look at it, then approve it on its own, "
        "confirming that the page never reported it; nothing was changed"
    )


def pay_bonus(
    *,
    unit_id: int,
    amount: Decimal | str | float,
    reason: str,
    reviewer: Reviewer = None,
    agent_id: int | None = None,
) -> Decision:
    """Pay the unit's worker a bonus of `amount` dollars, saying why.

    Several bonuses per unit are allowed, each its own payment; the same amount
    for the same reason again is taken for a replay and refused.
    """
    _check_permission(reviewer)
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
            agent = _submitted_agent(unit, agent_id)
            if agent.status == AgentStatus.REJECTED:
                raise ReviewError(
                    f"unit {unit_id} was rejected: a bonus would pay for work "
                    "that was refused; nothing was paid"
                )
            key = f"bonus:agent={agent.pk}:{digest}"
            earlier = Payment.objects.filter(idempotency_key=key).first()
            if earlier is not None:
                raise _replayed_bonus(unit_id, earlier)
            _check_bonus_budget(unit, agent, value)
            review = WorkerReview.objects.create(
                worker_id=agent.worker_id,
                action=ReviewAction.BONUS,
                unit=unit,
                agent=agent,
                amount=value,
                reason=reason,
                created_by=_user(reviewer),
            )
            _record_payment(
                review, agent, kind=PaymentKind.BONUS, amount=value, key=key
            )
            _send_on_commit(review)
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


def block_from_review(
    *, unit_id: int, reason: str, reviewer: Reviewer = None, agent_id: int | None = None
) -> bool:
    """Put the unit's worker on the local blocklist; False if already on it."""
    _check_permission(reviewer)
    reason = reason.strip()
    if not reason:
        raise ReviewError(f"unit {unit_id}: blocking a worker needs a reason")
    with transaction.atomic():
        unit = Unit.objects.select_for_update().filter(pk=unit_id).first()
        if unit is None:
            raise ReviewError(f"there is no unit {unit_id}")
        agent = _submitted_agent(unit, agent_id)
        blocked = set_blocked(
            worker=agent.worker,
            blocked=True,
            reason=reason,
            unit=unit,
            created_by=_user(reviewer),
        )
        # set_blocked tells the provider too, after commit.
        return blocked


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


# ---------------------------------------------------------------------------
# The provider call
# ---------------------------------------------------------------------------


def send_review(*, review_id: int) -> Any:
    """Make the provider call of a decision, bonus or block, at most once with
    success.

    The payments it pays become `paid` with the call's success; a provider
    error marks them `failed` (or `ambiguous` when the call may have happened:
    it is retried under the same key, never resent as a new payment).
    """
    review = WorkerReview.objects.select_related("agent__unit", "worker", "unit").get(
        pk=review_id
    )
    if review.action == ReviewAction.BLOCK:
        return _send_block(review)
    agent = review.agent
    assert agent is not None, "a review decision always names its agent"
    worker = review.worker
    provider = get_provider(worker.provider_type)
    work = WorkRef(
        worker_name=worker.worker_name,
        provider_unit_id=agent.unit.provider_unit_id,
        provider_assignment_id=agent.provider_assignment_id,
    )
    key = f"review:{review.pk}"
    action = review.action
    if action in PAID_DECISIONS:

        def call() -> Any:
            return provider.approve_work(work=work, token=key)
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

    def record(result: Any) -> None:
        review.payments.exclude(state=PaymentState.PAID).update(
            state=PaymentState.PAID, provider_response=result, error=""
        )

    try:
        return run_logged_call(
            provider_type=worker.provider_type,
            operation=f"{action}_work" if action != ReviewAction.BONUS else "bonus",
            # Prolific's pay call is made once; a lost outcome is reconciled.
            repeatable=action != ReviewAction.BONUS
            or get_provider_class(worker.provider_type).bonus_is_repeatable,
            key=key,
            run_id=agent.run_id,
            request={
                "worker": worker.worker_name,
                "unit": agent.unit_id,
                "amount": str(review.amount) if review.amount is not None else None,
            },
            call=call,
            record=record,
        )
    except ProviderError as exc:
        state = PaymentState.AMBIGUOUS if exc.ambiguous else PaymentState.FAILED
        review.payments.exclude(state=PaymentState.PAID).update(
            state=state, error=str(exc)[:2000]
        )
        raise


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


def _send_block(review: WorkerReview) -> Any:
    """Block the worker on the provider's side too, at most once.

    Blocks are mirrored by the qualifications app now (set_blocked); this
    serves a block's send_review still queued by an older release, under the
    same call-log key, so it is made once.
    """
    return mirror_block(review=review)


def _send_on_commit(review: WorkerReview) -> None:
    enqueue_on_commit(
        task="tasks_app.tasks.send_review", kwargs={"review_id": review.pk}
    )


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _record_payment(
    review: WorkerReview, agent: Agent, *, kind: PaymentKind, amount: Decimal, key: str
) -> Decimal:
    """Store the payment (and the provider's fee on it); what the worker gets."""
    Payment.objects.bulk_create(
        _payment_rows(review, agent, kind=kind, amount=amount, key=key)
    )
    return amount


def _payment_rows(
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
    fee = _fee(amount, provider_class.fee_rate)
    if fee > 0:
        rows.append(
            Payment(
                kind=PaymentKind.FEE, amount=fee, idempotency_key=f"fee:{key}", **common
            )
        )
    return rows


def _check_rejection(unit: Unit, feedback: str) -> None:
    """Refuse, before anything is written, feedback the provider would refuse
    (Prolific's rules for a rejection message)."""
    provider_type = (
        TaskRun.objects.filter(pk=unit.run_id)
        .values_list("provider_type", flat=True)
        .get()
    )
    try:
        get_provider_class(provider_type).check_rejection(feedback)
    except ValueError as exc:
        raise ReviewError(f"unit {unit.pk}: {exc}; nothing was changed") from exc


def _fee(amount: Decimal, rate: Decimal) -> Decimal:
    """The provider's fee on a payment of `amount`, in whole cents."""
    return (amount * rate).quantize(CENT, ROUND_HALF_UP)


def _check_bonus_budget(unit: Unit, agent: Agent, amount: Decimal) -> None:
    """Refuse a bonus that would take the run past `mephisto.task.budget`.

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
            f"unit {unit.pk}: a bonus of ${amount} (${cost} with the provider's fee) "
            f"would take run {run.pk} to ${committed + cost}, past its budget of "
            f"${budget} (committed: ${committed}, rewards and bonuses with fees); "
            "nothing was paid"
        )


def _submitted_agent(unit: Unit, agent_id: int | None) -> Agent:
    """The agent whose submission a decision on `unit` is about (locked)."""
    agents = Agent.objects.select_for_update().select_related("worker")
    if agent_id is not None:
        agent = agents.filter(pk=agent_id, unit=unit).first()
        if agent is None:
            raise ReviewError(f"unit {unit.pk} has no agent {agent_id}")
        if agent.submitted_at is None:
            raise ReviewError(
                f"agent {agent_id} of unit {unit.pk} has not submitted "
                f"(status {agent.status}); there is nothing to review"
            )
        return agent
    submitted = list(agents.filter(unit=unit, submitted_at__isnull=False))
    if not submitted:
        raise ReviewError(
            f"unit {unit.pk} has no submission to review (status {unit.status})"
        )
    agent = _the_submission(unit.worker_id, submitted)
    if agent is None:
        listed = ", ".join(
            f"{a.pk} ({a.worker.worker_name}{', late' if a.is_late else ''})"
            for a in submitted
        )
        raise ReviewError(
            f"unit {unit.pk} has {len(submitted)} submissions (agents {listed}); "
            "say which agent the decision is about"
        )
    return agent


AgentLike = TypeVar("AgentLike", Agent, AgentRow)


def _the_submission(
    unit_worker_id: int | None, submitted: list[AgentLike]
) -> AgentLike | None:
    """Which of a unit's (non-empty) submissions a decision without an agent id
    is about: the only one, or the unit's holder's when it is on time beside late
    ones; None when that can't be told."""
    if len(submitted) == 1:
        return submitted[0]
    holder = [a for a in submitted if a.worker_id == unit_worker_id]
    if len(holder) == 1 and not holder[0].is_late:
        return holder[0]
    return None


def _already_decided(unit_id: int, agent_id: int | None) -> ReviewError:
    reviews = WorkerReview.objects.filter(action__in=list(DECISION_ACTIONS))
    review = (
        (
            reviews.filter(agent_id=agent_id)
            if agent_id
            else reviews.filter(unit_id=unit_id)
        )
        .select_related("created_by")
        .first()
    )
    if review is None:
        return ReviewError(f"unit {unit_id} was decided meanwhile; nothing was changed")
    who = review.created_by.get_username() if review.created_by else "the operator"
    verb = DECIDED[OUTCOMES[ReviewAction(review.action)][1]]
    when = review.created_at.isoformat(timespec="seconds")
    return ReviewError(
        f"unit {unit_id} was already {verb} by {who} at {when}; nothing was changed"
    )


def _replayed_bonus(unit_id: int, earlier: Payment) -> ReviewError:
    who = earlier.created_by.get_username() if earlier.created_by else "the operator"
    when = earlier.created_at.isoformat(timespec="seconds")
    return ReviewError(
        f"unit {unit_id}: a bonus of {earlier.amount} for this reason was already "
        f"paid by {who} at {when} ({earlier.state}); a second one is refused as a "
        "replay. To pay another bonus, give it its own reason"
    )


def _check_permission(reviewer: Reviewer) -> None:
    if reviewer is None:
        return  # the operator, at the terminal
    if not reviewer.has_perm(REVIEW_PERMISSION):
        name = reviewer.get_username() if reviewer.is_authenticated else "anonymous"
        raise ReviewError(
            f"{name} may not review units (needs the {REVIEW_PERMISSION} "
            "permission); nothing was changed"
        )


def _user(reviewer: Reviewer) -> Any:
    return reviewer if reviewer is not None and reviewer.is_authenticated else None
