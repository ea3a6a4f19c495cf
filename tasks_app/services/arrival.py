"""A worker arriving at a run: reconnect, eligibility, onboarding, claiming a unit."""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from providers.base import Arrival, ProviderError
from providers.registry import get_provider, get_provider_class
from qualifications_app import services as qualification_services
from tasks_app import eligibility, worker_sql
from tasks_app.db import as_health_check, prepared_cursor
from tasks_app.exceptions import BadWorkerRequest, NotYourRegistration, UnknownAgent
from tasks_app.hooks import run_hooks
from tasks_app.models import (
    Agent,
    AgentStatus,
    OnboardingAgent,
    OnboardingStatus,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.selectors.quality import golds_of
from tasks_app.services.quality import give_quality_unit
from tasks_app.services.work import expire_overdue_agents
from tasks_app.worker_sql import ClaimedUnit, lock_worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentDetails:
    """The `agent_details` packet: an agent to work as, or why there is none."""

    worker_id: int | None
    agent_id: str | None
    init_task_data: Any = None
    failure_reason: str | None = None

    def as_packet(self) -> dict[str, Any]:
        return {
            "packet_type": "agent_details",
            "data": {
                "worker_id": self.worker_id,
                "agent_id": self.agent_id,
                "init_task_data": self.init_task_data,
                "failure_reason": self.failure_reason,
            },
        }


def new_agent_id(*, onboarding: bool = False) -> str:
    """An unguessable agent id (192 random bits); onboarding ids say so."""
    token = secrets.token_urlsafe(24)
    return f"onboarding-{token}" if onboarding else token


# Each process sweeps a run's overdue agents at claim time at most this often
# (beat sweeps every run too); a claim that finds no unit always sweeps.
SWEEP_INTERVAL_SECONDS = 5.0
_last_sweep: dict[int, float] = {}


def forget_sweeps() -> None:
    """Let the next claim on every run sweep at once (tests reuse run ids)."""
    _last_sweep.clear()


def register_agent(
    *,
    run: TaskRun,
    worker_name: str,
    registration_id: str,
    provider_assignment_id: str = "",
    provider_unit_id: str = "",
) -> AgentDetails:
    """Give a worker arriving at `run` an agent (task or onboarding), or say why not.

    The same `registration_id` always gets the same agent back. Only `run`'s
    frozen fields are used; its status is read from the database.
    """
    now = time.monotonic()
    if now - _last_sweep.get(run.pk, float("-inf")) >= SWEEP_INTERVAL_SECONDS:
        _last_sweep[run.pk] = now
        # Units freed since the last sweep may lie behind the claim position.
        worker_sql.forget_claim_positions(run.pk)
        expire_overdue_agents(run_id=run.pk, limit=100)
    arrival: dict[str, Any] = {
        "run": run,
        "worker_name": worker_name,
        "registration_id": registration_id,
        "provider_assignment_id": provider_assignment_id,
        "provider_unit_id": provider_unit_id,
    }
    return _arrive_in_one_statement(**arrival) or _arrive_under_lock(**arrival)


ASSIGNMENT_TAKEN = (
    "This assignment was opened by another worker. Please open the task from "
    "your own account."
)


def refuse_forged_arrival(
    *, run: TaskRun, worker_name: str, arrival: Arrival
) -> AgentDetails | None:
    """A refusal when `arrival`'s assignment is another worker's, else None.

    Only for providers whose assignment ids are theirs (`verifies_arrivals`):
    an assignment id another worker already arrived with here is refused, and
    the provider is asked whose it is (it may not know yet: MTurk shows an
    assignment only once submitted; every payment checks again).
    """
    if not arrival.assignment_id:
        return None
    if not get_provider_class(run.provider_type).verifies_arrivals:
        return None
    taken = any(
        model.objects.filter(
            run_id=run.pk, provider_assignment_id=arrival.assignment_id
        )
        .exclude(worker__worker_name=worker_name)
        .exists()
        for model in (Agent, OnboardingAgent)
    )
    if taken:
        logger.warning(
            "Arrival refused on run %s: assignment %s was opened by another "
            "worker before %s",
            run.pk,
            arrival.assignment_id,
            worker_name,
        )
        return AgentDetails(
            worker_id=None, agent_id=None, failure_reason=ASSIGNMENT_TAKEN
        )
    try:
        reason = get_provider(run.provider_type).verify_arrival(arrival)
    except ProviderError as exc:
        # Not asked now is not refused: the worker keeps working, and no money
        # moves before the provider confirms the assignment.
        logger.warning(
            "Arrival of %s on run %s not checked with %s: %s",
            worker_name,
            run.pk,
            run.provider_type,
            exc,
        )
        return None
    if reason:
        return AgentDetails(worker_id=None, agent_id=None, failure_reason=reason)
    return None


def _arrive_in_one_statement(
    *,
    run: TaskRun,
    worker_name: str,
    registration_id: str,
    provider_assignment_id: str,
    provider_unit_id: str,
) -> AgentDetails | None:
    """The usual arrival in one statement; None when `_arrive_under_lock` must decide.

    On PostgreSQL a new registration that passes every rule gets its unit and
    agent from `worker_sql.claim_on_arrival`: one statement, or two in a
    transaction when the run limits a worker's units. Everything else (a
    reconnect, onboarding, a refusal and its reason, no free unit past this
    process's claim position, the `worker_can_do_unit` hook) is left to
    `_arrive_under_lock`. Both check the rules of `eligibility.arrival_rules`.
    """
    if not worker_sql.can_claim_on_arrival() or not one_statement_applies(run):
        return None
    agent_id = new_agent_id()
    arrival: dict[str, Any] = {
        "run": run,
        "agent_id": agent_id,
        "registration_id": registration_id,
        "provider_assignment_id": provider_assignment_id,
        "provider_unit_id": provider_unit_id,
    }

    def claim() -> tuple[int, ClaimedUnit] | None:
        if run.allowed_concurrent or run.maximum_units_per_worker:
            # The worker's row lock serialises their own requests, as in
            # _arrive_under_lock.
            with transaction.atomic():
                worker = lock_worker(
                    provider_type=run.provider_type, worker_name=worker_name
                )
                return worker_sql.claim_on_arrival(worker=worker, **arrival)
        # No limit to race: the statement is atomic on its own, and the
        # constraints refuse what a same-worker race could do (a second unit of
        # one assignment, a second agent for one registration).
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            return worker_sql.claim_on_arrival(worker_name=worker_name, **arrival)

    try:
        # Safe to repeat: a retry of a claim that committed finds its registration.
        claimed = as_health_check(claim)
    except IntegrityError:
        return None  # such a race: `_arrive_under_lock` answers under the lock
    if claimed is None:
        # Perhaps only units behind the claim position are free: look from the
        # first one next time (as `_arrive_under_lock` does now).
        worker_sql.forget_claim_positions(run.pk)
        return None
    worker_id, unit = claimed
    return AgentDetails(
        worker_id=worker_id, agent_id=agent_id, init_task_data=unit.assignment_data
    )


def one_statement_applies(run: TaskRun) -> bool:
    """Whether the one-statement arrival may decide for `run`: not when a hook
    must see each unit (`worker_can_do_unit`) or the run gives golds (their
    schedule counts the worker's real units; the full path judges it)."""
    return "worker_can_do_unit" not in run_hooks(run) and golds_of(run) is None


def _reconnect(
    *, run: TaskRun, registration_id: str, worker_name: str
) -> AgentDetails | None:
    # A cheap probe first: almost every arrival is a new registration.
    with prepared_cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {worker_sql.table(Agent)} WHERE run_id = %s"
            " AND registration_id = %s",
            [run.pk, registration_id],
        )
        known = cursor.fetchone()
    if known is not None:
        agent = Agent.objects.select_related("unit__assignment", "worker").get(
            pk=known[0]
        )
        _check_owner(agent.worker, worker_name)
        return _agent_details(agent)
    if not eligibility.onboarding_qualification(run):
        return None  # a run without onboarding has no onboarding agents
    onboarding = (
        OnboardingAgent.objects.filter(
            run=run,
            registration_id=registration_id,
            status__in=[OnboardingStatus.NONE, OnboardingStatus.ONBOARDING],
        )
        .select_related("worker")
        .first()
    )
    if onboarding is not None:
        _check_owner(onboarding.worker, worker_name)
        return _onboarding_details(onboarding, run)
    return None


def _check_owner(worker: Worker, worker_name: str) -> None:
    # The registration id comes from the page; only its own worker may reconnect
    # with it, or it would hand out another worker's agent id (their capability).
    if worker.worker_name != worker_name:
        raise NotYourRegistration(
            "this agent_registration_id belongs to another worker"
        )


def _agent_details(agent: Agent) -> AgentDetails:
    if (
        agent.status in (AgentStatus.TIMEOUT, AgentStatus.EXPIRED)
        and not agent.submission
    ):
        return AgentDetails(
            worker_id=agent.worker_id,
            agent_id=None,
            failure_reason="Your time for this unit ran out. Please return it and "
            "accept a new one.",
        )
    if agent.status == AgentStatus.RETURNED:
        return AgentDetails(
            worker_id=agent.worker_id,
            agent_id=None,
            failure_reason="You returned this unit. Please accept a new one.",
        )
    return AgentDetails(
        worker_id=agent.worker_id,
        agent_id=agent.public_id,
        init_task_data=agent.unit.assignment.data,
    )


def _onboarding_details(onboarding: OnboardingAgent, run: TaskRun) -> AgentDetails:
    return AgentDetails(
        worker_id=onboarding.worker_id,
        agent_id=onboarding.public_id,
        init_task_data=run.shared_state.get("onboarding_data") or {},
    )


def _refuse(worker: Worker, reason: str) -> AgentDetails:
    return AgentDetails(worker_id=worker.pk, agent_id=None, failure_reason=reason)


def _refuse_in(
    check: eligibility.Eligibility, worker: Worker, reason: str
) -> AgentDetails:
    """Refuse with `reason`, or with NOT_RUNNING when the run has stopped."""
    # The run's status is read only on refusals: the claim itself takes units of
    # running runs only.
    stopped = check.stopped()
    return _refuse(worker, stopped.reason if stopped is not None else reason)


@transaction.atomic
def _arrive_under_lock(
    *,
    run: TaskRun,
    worker_name: str,
    registration_id: str,
    provider_assignment_id: str,
    provider_unit_id: str,
) -> AgentDetails:
    # Locking the worker row serialises this worker's own requests (a second tab,
    # a double click), so the limit checks below can't be raced; other workers
    # are not blocked.
    worker = lock_worker(provider_type=run.provider_type, worker_name=worker_name)
    known = _reconnect(
        run=run, registration_id=registration_id, worker_name=worker.worker_name
    )
    if known is not None:
        return known
    check = eligibility.Eligibility(run=run, worker=worker)
    onboard = False
    quality_kind = None
    # In order; those the claim checks itself only when there will be no claim.
    for verdict in check.verdicts(checked_by_claim=False):
        if not verdict.passed:
            return _refuse_in(check, worker, verdict.reason)
        onboard = onboard or verdict.onboard
        if quality_kind is None:
            quality_kind = verdict.quality
    if onboard:
        if (stopped := check.stopped()) is not None:
            return _refuse(worker, stopped.reason)
        onboarding = OnboardingAgent.objects.create(
            public_id=new_agent_id(onboarding=True),
            run=run,
            worker=worker,
            status=OnboardingStatus.ONBOARDING,
            registration_id=registration_id,
            provider_assignment_id=provider_assignment_id,
            provider_unit_id=provider_unit_id,
        )
        return _onboarding_details(onboarding, run)
    if quality_kind is not None:
        if (stopped := check.stopped()) is not None:
            return _refuse(worker, stopped.reason)
        made = give_quality_unit(
            run=run, worker=worker, kind=quality_kind, provider_unit_id=provider_unit_id
        )
        if isinstance(made, str):
            return _refuse(worker, made)
        return _agent_for(run, worker, made, registration_id, provider_assignment_id)
    claimed = claim_unit(run=run, worker=worker, provider_unit_id=provider_unit_id)
    if claimed is None:
        if (stopped := check.stopped()) is not None:
            return _refuse(worker, stopped.reason)
        # Units of agents whose time ran out go back to the pool before saying no.
        if expire_overdue_agents(run_id=run.pk, limit=100):
            claimed = claim_unit(
                run=run, worker=worker, provider_unit_id=provider_unit_id
            )
        if claimed is None:
            return _refuse(worker, eligibility.NO_UNITS_LEFT)
    return _agent_for(run, worker, claimed, registration_id, provider_assignment_id)


def _agent_for(
    run: TaskRun,
    worker: Worker,
    claimed: ClaimedUnit,
    registration_id: str,
    provider_assignment_id: str,
) -> AgentDetails:
    """The live agent of a unit just handed to `worker`."""
    agent_id = new_agent_id()
    worker_sql.insert_agent(
        public_id=agent_id,
        unit_id=claimed.unit_id,
        worker_id=worker.pk,
        run=run,
        registration_id=registration_id,
        provider_assignment_id=provider_assignment_id,
    )
    return AgentDetails(
        worker_id=worker.pk,
        agent_id=agent_id,
        init_task_data=claimed.assignment_data,
    )


# How many candidate units a `worker_can_do_unit` hook may look at per claim.
HOOK_CANDIDATES = 50


def claim_unit(
    *, run: TaskRun, worker: Worker, provider_unit_id: str = ""
) -> ClaimedUnit | None:
    """Give `worker` one launched unit of `run`, or None. Safe under any concurrency.

    Only a running run's units are taken, never two of one assignment for one
    worker. Must run inside a transaction that holds the worker's row lock.
    """
    can_do = run_hooks(run).get("worker_can_do_unit")
    attempts = [provider_unit_id, ""] if provider_unit_id else [""]
    for preferred in attempts:
        # An MTurk worker arrives through one HIT: that HIT's unit comes first.
        if can_do is None:
            claimed = worker_sql.claim_first_unit(
                run_id=run.pk, worker_id=worker.pk, provider_unit_id=preferred
            )
        else:
            claimed = _claim_with_hook(
                run=run, worker=worker, provider_unit_id=preferred, can_do=can_do
            )
        if claimed is not None:
            return claimed
    return None


def _claim_with_hook(
    *, run: TaskRun, worker: Worker, provider_unit_id: str, can_do: Any
) -> ClaimedUnit | None:
    """Claim the first of up to HOOK_CANDIDATES free units `can_do` accepts."""
    candidates = (
        Unit.objects.filter(
            run=run,
            run__status=TaskRunStatus.RUNNING,
            status=UnitStatus.LAUNCHED,
            unit_index__gte=0,
        )
        # NOT EXISTS, no outer join: never two units of one assignment per worker.
        .exclude(assignment__units__worker=worker)
        .select_related("assignment")
        .order_by("unit_index", "pk")  # served by unit_claim_order_idx
        .select_for_update(skip_locked=True, of=("self",))
    )
    if provider_unit_id:
        candidates = candidates.filter(provider_unit_id=provider_unit_id)
    for unit in candidates[:HOOK_CANDIDATES]:
        if not can_do(worker, unit):
            continue
        # Conditional, as in worker_sql.claim_first_unit.
        taken = Unit.objects.filter(pk=unit.pk, status=UnitStatus.LAUNCHED).update(
            status=UnitStatus.ASSIGNED, worker=worker, updated_at=timezone.now()
        )
        if taken:
            return ClaimedUnit(unit_id=unit.pk, assignment_data=unit.assignment.data)
    return None


def submit_onboarding(*, agent_id: str, onboarding_data: Any) -> AgentDetails:
    """Judge a worker's onboarding; on a pass, answer with their first real unit.

    Pass grants `<qual> = 1`; fail grants `<qual> = 0` and `<qual>-failed`, which
    keeps the worker out of every run using that qualification. Safe to repeat.
    """
    with transaction.atomic():
        onboarding = (
            OnboardingAgent.objects.select_for_update()
            .select_related("run", "worker")
            .filter(public_id=agent_id)
            .first()
        )
        if onboarding is None:
            raise UnknownAgent("unknown onboarding agent id")
        run, worker = onboarding.run, onboarding.worker
        if onboarding.status in (OnboardingStatus.NONE, OnboardingStatus.ONBOARDING):
            passed = _judge_onboarding(run, onboarding_data)
            onboarding.submission = onboarding_data
            onboarding.submitted_at = timezone.now()
            onboarding.status = (
                OnboardingStatus.APPROVED if passed else OnboardingStatus.REJECTED
            )
            onboarding.save(update_fields=["submission", "submitted_at", "status"])
            name = eligibility.onboarding_qualification(run)
            if name:
                reason = f"onboarding of run {run.pk}"
                qualification_services.grant_qualification(
                    worker=worker, name=name, value=1 if passed else 0, reason=reason
                )
                if not passed:
                    qualification_services.grant_qualification(
                        worker=worker,
                        name=eligibility.failed_onboarding_name(name),
                        value=1,
                        reason=reason,
                    )
    if onboarding.status == OnboardingStatus.REJECTED:
        return _refuse(worker, eligibility.FAILED_ONBOARDING)
    return register_agent(
        run=run,
        worker_name=worker.worker_name,
        registration_id=onboarding.registration_id,
        provider_assignment_id=onboarding.provider_assignment_id,
        provider_unit_id=onboarding.provider_unit_id,
    )


def _judge_onboarding(run: TaskRun, onboarding_data: Any) -> bool:
    validate = run_hooks(run).get("validate_onboarding")
    if validate is None:
        return True
    data = {
        "inputs": run.shared_state.get("onboarding_data") or {},
        "outputs": onboarding_data,
    }
    try:
        if _positional_arity(validate) >= 2:
            # `validate_onboarding(data, cfg)`: the config's own flags, as a run
            # script's closure would see them.
            from omegaconf import OmegaConf

            return bool(validate(data, OmegaConf.create(run.resolved_config)))
        return bool(validate(data))
    except Exception as exc:
        # Nothing is recorded: the worker may answer again in the expected shape.
        logger.exception("validate_onboarding failed for run %s", run.pk)
        raise BadWorkerRequest(
            f"the onboarding answer could not be checked ({type(exc).__name__}); "
            "nothing was recorded"
        ) from exc


def _positional_arity(function: Any) -> int:
    parameters = inspect.signature(function).parameters.values()
    return sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
    )
