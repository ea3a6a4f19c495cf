"""Offline review with a CSV, MTurk's way (DESIGN §8).

The requester downloads a run's results as CSV (`export_results --format csv`),
fills in its last two columns, `Approve` (any text approves) or `Reject` (the
text is the worker's feedback), and hands the file back. `plan_csv_review`
reads (csv_reading.py) and checks the whole file and writes nothing: what it
would approve and reject, the rows already decided that way, the rows left
blank, and every row it refuses, by its line in the file (the header is line
1). `apply_csv_review` carries out a plan that refuses no row, all of it or
nothing, through the review services, so the money paths are theirs.
`review_run --from-csv` and the run admin's "Review from a CSV" page both call
these two.

Uploading the same file again changes nothing: its rows are reported as
already decided. A row whose decision contradicts the one recorded (Approve on
a rejected unit) refuses the whole file: a CSV that disagrees with the run is
most likely the wrong file, or an old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction

from providers.outbox import publishing_together
from providers.registry import WorkerRef, get_provider_class
from tasks_app.db import ids_param
from tasks_app.exceptions import ReviewError
from tasks_app.models import Agent, AgentStatus, TaskRun, Unit
from tasks_app.services.review.checks import (
    DECIDED,
    check_permission,
    the_submission,
)
from tasks_app.services.review.csv_reading import (
    APPROVE,
    REJECT,
    Requested,
    RowRefusal,
    read_review_csv,
)
from tasks_app.services.review.decisions import (
    reject_unit,
)
from tasks_app.services.review.ledger import CENT
from tasks_app.services.review.workflows import approve_submissions

if TYPE_CHECKING:
    from tasks_app.services.review.checks import Reviewer

# What a decided agent's status says (checks.DECIDED) when it is the
# decision a row asks for.
_SAME = {APPROVE: "approved", REJECT: "rejected"}


@dataclass(frozen=True)
class Planned:
    """A decision the file makes, on the submission found for its row."""

    line: int
    unit_id: int
    agent_id: int
    action: str
    feedback: str
    worker: str  # PROVIDER:ID
    worker_blocked: bool
    # From accepting the unit to submitting it; None when not timed here.
    work_seconds: float | None
    # What approving it pays (the unit's reward).
    reward: Decimal


@dataclass
class CsvReviewPlan:
    """What a file asks of run `run_id`, checked; nothing written yet."""

    run_id: int
    source: str
    rows: int = 0  # data rows read (blank lines not counted)
    skipped: int = 0  # rows with Approve and Reject both empty
    requests: list[Requested] = field(default_factory=list)
    approve: list[Planned] = field(default_factory=list)
    reject: list[Planned] = field(default_factory=list)
    already_decided: list[Planned] = field(default_factory=list)
    refused: list[RowRefusal] = field(default_factory=list)

    @property
    def reward(self) -> Decimal:
        """What the approvals would pay in rewards (the provider's fee aside)."""
        return sum((p.reward for p in self.approve), Decimal("0")).quantize(CENT)

    def refuse(self, line: int, unit_id: int | str | None, error: str) -> None:
        self.refused.append(RowRefusal(line, unit_id, error))


@dataclass(frozen=True)
class CsvReviewResult:
    """What applying a plan decided, and the rewards it pays."""

    approved: list[Planned]
    rejected: list[Planned]
    paid: Decimal


def plan_csv_review(
    *, run_id: int, file: Iterable[bytes], source: str
) -> CsvReviewPlan:
    """Read and check the review CSV `file` (bytes, line by line; `source`
    names it in messages) for run `run_id`. Writes nothing.

    A file that can't be read as the export's CSV (not UTF-8, empty, no
    `unit_id`/`Approve`/`Reject` header, broken quoting) raises CsvFileError;
    a bad row is listed in the plan's `refused`, with every other.
    """
    run = _run(run_id)
    read = read_review_csv(file, source=source)
    plan = CsvReviewPlan(
        run_id=run.pk,
        source=source,
        rows=read.rows,
        skipped=read.skipped,
        requests=read.requests,
        refused=read.refused,
    )
    _check(run, plan)
    return plan


def replan_csv_review(
    *,
    run_id: int,
    requests: list[Requested],
    source: str,
    rows: int = 0,
    skipped: int = 0,
) -> CsvReviewPlan:
    """Check again, against the run as it is now, the filled rows of a plan
    made earlier (the admin's confirmation). Writes nothing."""
    run = _run(run_id)
    plan = CsvReviewPlan(
        run_id=run.pk,
        source=source,
        rows=rows,
        skipped=skipped,
        requests=list(requests),
    )
    _check(run, plan)
    return plan


def apply_csv_review(
    *, plan: CsvReviewPlan, reviewer: Reviewer = None
) -> CsvReviewResult:
    """Make the plan's decisions in one transaction, all or none, through
    `approve_submissions` and `reject_unit` (the rewards, fees, audit rows and
    provider calls are theirs; the calls are published once, at the end).

    Refused when the plan refuses a row, and when the run changed since it
    was checked so that a decision is refused now (a unit decided meanwhile):
    then nothing is written, and the error names the row.
    """
    if plan.refused:
        raise ReviewError(
            f"{plan.source}: {len(plan.refused)} row(s) refused; nothing was written"
        )
    check_permission(reviewer)
    approving = {p.agent_id: p for p in plan.approve}
    paid = Decimal("0")
    with publishing_together(), transaction.atomic():
        if approving:
            agents = list(
                Agent.objects.filter(pk__in=ids_param(list(approving)))
                .defer("submission", "metadata")
                .select_related("unit")
                .order_by("unit_id", "pk")
            )
            approvals = approve_submissions(agents=agents, reviewer=reviewer)
            # Only when the run changed since the check (or a unit's holder
            # has two submissions): then the file is not applied in part.
            approved = set(approvals.approved_agents)
            missed = [p for p in plan.approve if p.agent_id not in approved]
            if missed:
                first = missed[0]
                why = approvals.refused.get(first.unit_id, "it was decided meanwhile")
                raise ReviewError(
                    f"{plan.source}: line {first.line}: unit {first.unit_id} can't "
                    f"be approved now: {why}. Nothing in the file was applied; "
                    "check it again"
                )
            paid += approvals.paid
        for planned in plan.reject:
            try:
                reject_unit(
                    unit_id=planned.unit_id,
                    agent_id=planned.agent_id,
                    feedback=planned.feedback,
                    reviewer=reviewer,
                )
            except ReviewError as exc:
                raise ReviewError(
                    f"{plan.source}: line {planned.line}: {exc}. Nothing in the "
                    "file was applied"
                ) from exc
    return CsvReviewResult(
        approved=list(plan.approve), rejected=list(plan.reject), paid=paid
    )


def csv_review_report(
    plan: CsvReviewPlan, *, dry_run: bool, result: CsvReviewResult | None = None
) -> dict[str, Any]:
    """The machine-readable report (`review_run --from-csv --json`).

    `approved` and `rejected` list the units decided (under `dry_run`, to be
    decided): none when a row is refused, as then nothing is. A unit with two
    submissions decided appears twice.
    """
    doing = not plan.refused
    approved = plan.approve if doing else []
    rejected = plan.reject if doing else []
    amount = result.paid if result is not None else plan.reward if doing else 0
    return {
        "run": plan.run_id,
        "file": plan.source,
        "dry_run": dry_run,
        "rows": plan.rows,
        "approved": [p.unit_id for p in approved],
        "rejected": [p.unit_id for p in rejected],
        "already_decided": [p.unit_id for p in plan.already_decided],
        "skipped": plan.skipped,
        "refused": [r.as_dict() for r in plan.refused],
        "amount": str(Decimal(amount).quantize(CENT)),
    }


def _run(run_id: int) -> TaskRun:
    run = TaskRun.objects.filter(pk=run_id).only("pk", "provider_type").first()
    if run is None:
        raise ReviewError(f"there is no task run {run_id}; nothing was written")
    return run


# --- checking against the run -------------------------------------------------------


def _check(run: TaskRun, plan: CsvReviewPlan) -> None:
    """Find each filled row's submission in `run`, and sort the rows into
    to approve, to reject, already decided and refused."""
    unit_ids = sorted({r.unit_id for r in plan.requests})
    units = {
        unit.pk: unit
        for unit in Unit.objects.filter(run=run, pk__in=ids_param(unit_ids)).only(
            "pk", "status", "worker_id", "pay_amount"
        )
    }
    elsewhere = dict(
        Unit.objects.filter(
            pk__in=ids_param([pk for pk in unit_ids if pk not in units])
        ).values_list("pk", "run_id")
    )
    agents_of: dict[int, list[Agent]] = {}
    for agent in (
        Agent.objects.filter(unit_id__in=ids_param(list(units)))
        .defer("submission", "metadata")
        .select_related("worker")
        .order_by("pk")
    ):
        agents_of.setdefault(agent.unit_id, []).append(agent)
    units_of_agent = {a.pk: a.unit_id for agents in agents_of.values() for a in agents}
    named = {r.agent_id for r in plan.requests if r.agent_id is not None}
    units_of_agent.update(
        Agent.objects.filter(
            pk__in=ids_param(sorted(named - set(units_of_agent)))
        ).values_list("pk", "unit_id")
    )
    by_agent: dict[int, list[tuple[Requested, Agent]]] = {}
    for request in plan.requests:
        unit = units.get(request.unit_id)
        if unit is None:
            other = elsewhere.get(request.unit_id)
            plan.refuse(
                request.line,
                request.unit_id,
                f"unit {request.unit_id} is not a unit of run {run.pk}"
                + (f" (it is of run {other})" if other else " (there is no such unit)"),
            )
            continue
        agent, why = _submission(
            request, unit, agents_of.get(unit.pk, []), units_of_agent
        )
        if agent is None:
            plan.refuse(request.line, request.unit_id, why)
            continue
        by_agent.setdefault(agent.pk, []).append((request, agent))
    for rows in by_agent.values():
        _sort(run, plan, rows, units)
    plan.refused.sort(key=lambda refusal: refusal.line)
    for planned in (plan.approve, plan.reject, plan.already_decided):
        planned.sort(key=lambda p: p.line)


def _submission(
    request: Requested,
    unit: Unit,
    agents: list[Agent],
    units_of_agent: dict[int, int],
) -> tuple[Agent | None, str]:
    """The agent whose submission the row decides on, or why there is none."""
    if request.agent_id is not None:
        agent = next((a for a in agents if a.pk == request.agent_id), None)
        if agent is None:
            other = units_of_agent.get(request.agent_id)
            return None, (
                f"agent {request.agent_id} is not unit {unit.pk}'s"
                + (f" (it is unit {other}'s)" if other else " (there is no such agent)")
            )
        if agent.submitted_at is None:
            return None, (
                f"agent {agent.pk} of unit {unit.pk} has not submitted (status "
                f"{agent.status}); there is nothing to review"
            )
        return agent, ""
    submitted = [a for a in agents if a.submitted_at is not None]
    if not submitted:
        return None, (
            f"unit {unit.pk} has no submission to review (status {unit.status})"
        )
    agent = the_submission(unit.worker_id, submitted)
    if agent is None:
        listed = ", ".join(str(a.pk) for a in submitted)
        return None, (
            f"unit {unit.pk} has {len(submitted)} submissions (agents {listed}); "
            "name the one this row decides on in its agent_id column"
        )
    return agent, ""


def _sort(
    run: TaskRun,
    plan: CsvReviewPlan,
    rows: list[tuple[Requested, Agent]],
    units: dict[int, Unit],
) -> None:
    """File the rows naming one submission: refused when they disagree or
    contradict its recorded decision, else one planned decision."""
    request, agent = rows[0]
    if len({(r.action, r.feedback) for r, _ in rows}) > 1:
        lines = ", ".join(str(r.line) for r, _ in rows)
        for other, _ in rows:
            plan.refuse(
                other.line,
                other.unit_id,
                f"the submission of unit {other.unit_id} (agent {agent.pk}) is "
                f"marked on lines {lines} with different decisions; keep one",
            )
        return
    planned = Planned(
        line=request.line,
        unit_id=request.unit_id,
        agent_id=agent.pk,
        action=request.action,
        feedback=request.feedback,
        worker=WorkerRef(agent.worker.provider_type, agent.worker.worker_name).label,
        worker_blocked=agent.worker.is_blocked,
        work_seconds=_work_seconds(agent),
        reward=units[request.unit_id].pay_amount,
    )
    recorded = DECIDED.get(AgentStatus(agent.status))
    if recorded == _SAME[request.action]:
        plan.already_decided.append(planned)
        return
    if recorded is not None:
        hint = ""
        if recorded == "rejected":
            hint = (
                "; to approve a rejected unit, override its rejection "
                f"(review_run --run {run.pk} --approve {request.unit_id} "
                "--override-rejection)"
            )
        plan.refuse(
            request.line,
            request.unit_id,
            f"unit {request.unit_id} (agent {agent.pk}) was already {recorded}, "
            f"and this row asks to {request.action} it: a file that contradicts "
            f"recorded decisions is probably not the right one{hint}",
        )
        return
    if request.action == APPROVE and agent.from_provider_listing:
        plan.refuse(
            request.line,
            request.unit_id,
            f"unit {request.unit_id}: the task page never reported this "
            f"submission (agent {agent.pk}), so it is not approved from a file; "
            "look at it and approve it on its own (review_run --approve-unreported)",
        )
        return
    if request.action == REJECT:
        provider = get_provider_class(run.provider_type)
        limit = provider.feedback_max_length
        try:
            provider.check_rejection(request.feedback)
            if limit is not None and len(request.feedback) > limit:
                raise ValueError(
                    f"it is {len(request.feedback)} characters long; "
                    f"{run.provider_type} takes at most {limit}"
                )
        except ValueError as exc:
            plan.refuse(request.line, request.unit_id, f"the Reject text: {exc}")
            return
    (plan.approve if request.action == APPROVE else plan.reject).append(planned)


def _work_seconds(agent: Agent) -> float | None:
    """From accepting the unit to submitting it; None for work recorded from
    the provider's listing (not timed here)."""
    if agent.submitted_at is None or agent.from_provider_listing:
        return None
    return (agent.submitted_at - agent.created_at).total_seconds()
