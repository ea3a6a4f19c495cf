"""Review workflows made of decisions: approving a set of submissions (and
granting the workers approved a qualification, the pilot's last step), and
approving what waited past its run's auto-approve delay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from providers.outbox import publishing_together
from qualifications_app.services import GRANT_PERMISSION, grant_to_unit_workers
from tasks_app import selectors
from tasks_app.exceptions import ReviewError
from tasks_app.models import DECIDED_AGENT_STATUSES, Agent, TaskRun
from tasks_app.services.review.checks import (
    check_permission,
    reviewer_user,
)
from tasks_app.services.review.decisions import (
    approve_unit,
    approve_units,
    reject_unit,
    soft_reject_unit,
)

if TYPE_CHECKING:
    from tasks_app.services.review.checks import Reviewer

# mephisto.task.auto_approve_delay_in_seconds when a stored config lacks it.
DEFAULT_AUTO_APPROVE_DELAY = 60 * 60 * 24 * 7
# The most submissions one sweep approves per run; the next sweep takes the rest.
AUTO_APPROVE_BATCH = 10_000


@dataclass(frozen=True)
class Approvals:
    """What approving a set of submissions did: the units and agents approved
    now, why the others were not (unit id -> why), what it pays, and the grant."""

    approved: list[int]
    approved_agents: list[int]
    refused: dict[int, str]
    paid: Decimal
    granted: dict[str, Any] | None = None


def approve_submissions(
    *,
    agents: Sequence[Agent],
    reviewer: Reviewer = None,
    reason: str = "",
    confirm_unreported: bool = False,
) -> Approvals:
    """Approve each of `agents`' submissions (their units loaded): a unit
    holder's on-time one in one bulk approval, any other (late, or never
    reported by the page) on its own, naming its agent. A refusal is listed,
    not raised; the rest are approved."""
    bulk = [
        a
        for a in agents
        if a.worker_id == a.unit.worker_id
        and not a.is_late
        and not a.from_provider_listing
    ]
    singles = [a for a in agents if a not in bulk]
    approved: list[int] = []
    approved_agents: list[int] = []
    refused: dict[int, str] = {}
    paid = Decimal("0")
    if bulk:
        result = approve_units(
            unit_ids=[a.unit_id for a in bulk], reviewer=reviewer, reason=reason
        )
        approved += result.approved
        approved_agents += result.approved_agents
        refused.update(result.refused)
        paid += result.paid
    for agent in singles:
        try:
            decision = approve_unit(
                unit_id=agent.unit_id,
                agent_id=agent.pk,
                reviewer=reviewer,
                reason=reason,
                confirm_unreported=confirm_unreported,
            )
        except ReviewError as exc:
            refused[agent.unit_id] = str(exc)
            continue
        approved.append(decision.unit_id)
        approved_agents.append(decision.agent_id)
        paid += decision.paid
    return Approvals(approved, approved_agents, refused, paid)


def grant_to_approved(
    *, agents: Sequence[Agent], name: str, reason: str, reviewer: Reviewer = None
) -> dict[str, Any]:
    """Grant existing `name` to the workers whose submissions `agents` are: the
    submitter, not the unit's holder (a late submission's unit may have gone to
    another worker meanwhile)."""
    _check_grant_permission(reviewer)
    units = []
    for agent in agents:
        agent.unit.worker = agent.worker
        units.append(agent.unit)
    workers = grant_to_unit_workers(
        units=units, name=name, reason=reason, created_by=reviewer_user(reviewer)
    )
    return {"qualification": name, "workers": workers}


def approve_and_grant(
    *,
    agents: Sequence[Agent] = (),
    unit_ids: Sequence[int] = (),
    reviewer: Reviewer = None,
    grant: str | None = None,
    grant_reason: str = "",
    reason: str = "",
    confirm_unreported: bool = False,
) -> Approvals:
    """Approve submissions and grant `grant` (an existing qualification, such as
    the run's allowlist) to the workers approved now, in one transaction. The
    submissions are `agents`, or each of `unit_ids`' own (`approve_units`: a
    unit with several is refused, to be decided alone). Both permissions are
    checked before anything is written; refusals are listed, not raised."""
    check_permission(reviewer)
    if grant is not None:
        _check_grant_permission(reviewer)
    with transaction.atomic():
        if unit_ids:
            bulk = approve_units(unit_ids=unit_ids, reviewer=reviewer, reason=reason)
            approvals = Approvals(
                bulk.approved, bulk.approved_agents, bulk.refused, bulk.paid
            )
        else:
            approvals = approve_submissions(
                agents=agents,
                reviewer=reviewer,
                reason=reason,
                confirm_unreported=confirm_unreported,
            )
        if grant is None:
            return approvals
        granted = _grant_to_agents(
            approvals.approved_agents, grant, grant_reason, reviewer
        )
    return Approvals(
        approvals.approved,
        approvals.approved_agents,
        approvals.refused,
        approvals.paid,
        granted,
    )


def _check_grant_permission(reviewer: Reviewer) -> None:
    if reviewer is not None and not reviewer.has_perm(GRANT_PERMISSION):
        raise ReviewError(
            f"{reviewer.get_username()} may not grant qualifications (needs the "
            f"{GRANT_PERMISSION} permission); nothing was changed"
        )


def auto_approve_due(*, now: datetime | None = None) -> int:
    """Approve every submission awaiting review longer than its run's
    `auto_approve_delay_in_seconds`, as MTurk would, late ones too; how many.
    A submission the task page never reported is left for a person.

    Through `approve_submissions`, so the reward is paid once and the audit row
    says it was automatic. Safe to run twice or concurrently: a submission
    approved by the other sweep is refused, not approved again.
    """
    now = now or timezone.now()
    approved = 0
    for run in TaskRun.objects.only("pk", "resolved_config").order_by("pk"):
        task = run.resolved_config.get("mephisto", {}).get("task", {})
        delay = task.get("auto_approve_delay_in_seconds", DEFAULT_AUTO_APPROVE_DELAY)
        due = list(
            selectors.awaiting_review(run=run)
            .filter(
                submitted_at__lte=now - timedelta(seconds=delay),
                # Work the page never saw waits for a person.
                from_provider_listing=False,
            )
            # Only the unit's holder is read: not 10,000 assignments' data.
            .select_related(None)
            .select_related("unit")[:AUTO_APPROVE_BATCH]
        )
        if due:
            # Also the note MTurk shows the worker with the approval.
            reason = (
                "Approved automatically: not reviewed within "
                f"{_delay_words(int(delay))}."
            )
            approved += len(approve_submissions(agents=due, reason=reason).approved)
    return approved


# The scripted decisions review_run makes on named units (approve-unreported:
# the one unit's submission the task page never reported).
SCRIPTED_ACTIONS = (
    "approve",
    "approve_all",
    "approve_unreported",
    "reject",
    "soft_reject",
)


def review_units(
    *,
    run: TaskRun,
    action: str,
    unit_ids: Sequence[int],
    reviewer: Reviewer = None,
    feedback: str = "",
    grant: str | None = None,
    grant_reason: str = "",
    override_rejection: bool = False,
) -> Approvals:
    """Decide `action` (one of SCRIPTED_ACTIONS) on `run`'s `unit_ids`, in one
    transaction, its provider calls published once at the end.

    Named units are decided all or none: a refusal raises ReviewError and
    nothing is written. `approve_all` approves what it can and lists the rest
    (a unit with two submissions is decided alone). Approvals grant `grant` to
    the workers approved. `approved` in the result lists the units decided.
    `override_rejection` (with `approve`) approves rejected units instead, each
    through `approve_unit(override_rejection=True)`.
    """
    if action not in SCRIPTED_ACTIONS:
        raise ReviewError(f"{action!r} is not a scripted review decision")
    if override_rejection and action != "approve":
        raise ReviewError("only an approval of named units overrides a rejection")
    found = set(run.units.filter(pk__in=unit_ids).values_list("pk", flat=True))
    for unit_id in unit_ids:
        if unit_id not in found:
            raise ReviewError(
                f"there is no unit {unit_id} in run {run.pk}; nothing was changed"
            )
    with publishing_together(), transaction.atomic():
        if override_rejection:
            return _approve_overriding(
                unit_ids, reviewer=reviewer, grant=grant, grant_reason=grant_reason
            )
        if action in ("reject", "soft_reject"):
            decisions = [
                reject_unit(unit_id=unit_id, feedback=feedback, reviewer=reviewer)
                if action == "reject"
                else soft_reject_unit(
                    unit_id=unit_id, reason=feedback, reviewer=reviewer
                )
                for unit_id in unit_ids
            ]
            return Approvals(
                approved=[d.unit_id for d in decisions],
                approved_agents=[d.agent_id for d in decisions],
                refused={},
                paid=sum((d.paid for d in decisions), Decimal("0")),
            )
        unreported = action == "approve_unreported"
        approvals = approve_and_grant(
            unit_ids=() if unreported else unit_ids,
            agents=[_unreported_submission(unit_ids[0])] if unreported else (),
            confirm_unreported=unreported,
            reviewer=reviewer,
            grant=grant,
            grant_reason=grant_reason,
        )
        if approvals.refused and action != "approve_all":
            raise ReviewError(
                "nothing was changed: "
                + "; ".join(
                    approvals.refused[pk] for pk in unit_ids if pk in approvals.refused
                )
            )
        return approvals


def _approve_overriding(
    unit_ids: Sequence[int],
    *,
    reviewer: Reviewer,
    grant: str | None,
    grant_reason: str,
) -> Approvals:
    """Approve each rejected unit of `unit_ids`, overriding its rejection (in
    the caller's transaction: one refusal undoes them all)."""
    if grant is not None:
        _check_grant_permission(reviewer)
    decisions = [
        approve_unit(unit_id=unit_id, reviewer=reviewer, override_rejection=True)
        for unit_id in unit_ids
    ]
    approved_agents = [d.agent_id for d in decisions]
    granted = None
    if grant is not None:
        granted = _grant_to_agents(approved_agents, grant, grant_reason, reviewer)
    return Approvals(
        approved=[d.unit_id for d in decisions],
        approved_agents=approved_agents,
        refused={},
        paid=sum((d.paid for d in decisions), Decimal("0")),
        granted=granted,
    )


def _unreported_submission(unit_id: int) -> Agent:
    """The unit's undecided submission that the task page never reported."""
    agent = (
        Agent.objects.filter(
            unit_id=unit_id, from_provider_listing=True, submitted_at__isnull=False
        )
        .exclude(status__in=DECIDED_AGENT_STATUSES)
        .select_related("unit", "worker")
        .first()
    )
    if agent is None:
        raise ReviewError(
            f"unit {unit_id} has no undecided submission that the task page never "
            "reported; approve it with --approve. Nothing was changed"
        )
    return agent


def _delay_words(seconds: int) -> str:
    """A delay as a person says it: '7 days', '1 hour', '90 seconds'."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _grant_to_agents(
    agent_ids: list[int], name: str, reason: str, reviewer: Reviewer
) -> dict[str, Any]:
    """grant_to_approved for the submitters of the agents `agent_ids`."""
    agents = (
        Agent.objects.filter(pk__in=agent_ids)
        .select_related("unit", "worker")
        .order_by("pk")
    )
    return grant_to_approved(
        agents=list(agents), name=name, reason=reason, reviewer=reviewer
    )
