"""Every write to tasks, runs, assignments and units goes through a function here."""

from __future__ import annotations

import inspect
import json
import logging
import secrets
import time
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import yaml
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from providers.registry import get_provider_class
from qualifications_app import selectors as qualification_selectors
from qualifications_app import services as qualification_services
from tasks_app import eligibility, selectors, worker_sql
from tasks_app import hooks as task_hooks
from tasks_app.db import as_health_check, prepared_cursor
from tasks_app.exceptions import WorkerRequestError
from tasks_app.models import (
    AGENT_LIVE_STATUSES,
    Agent,
    AgentStatus,
    Assignment,
    OnboardingAgent,
    OnboardingStatus,
    Requester,
    Task,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.run_config import RunConfig
from tasks_app.uploads import SavedFile
from tasks_app.worker_sql import ClaimedUnit, lock_worker

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


@dataclass(frozen=True)
class LaunchPlan:
    """What a launch would create and cost; `--dry-run` prints it."""

    task_name: str
    task_exists: bool
    blueprint_type: str
    architect_type: str
    provider_type: str
    requester_name: str
    assignments: int
    units: int
    reward: Decimal
    provider_fee: Decimal
    estimated_cost: Decimal
    qualifications: list[dict[str, Any]]
    created_qualifications: list[str]
    config_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_name": self.task_name,
            "task_exists": self.task_exists,
            "blueprint": self.blueprint_type,
            "architect": self.architect_type,
            "provider": self.provider_type,
            "requester": self.requester_name,
            "assignments": self.assignments,
            "units": self.units,
            "reward_per_unit": str(self.reward),
            "provider_fee": str(self.provider_fee),
            "estimated_cost": str(self.estimated_cost),
            "qualifications": self.qualifications,
            "creates_qualifications": self.created_qualifications,
            "config_hash": self.config_hash,
        }


def plan_launch(*, config: RunConfig) -> LaunchPlan:
    """Check `config` against the database and price it. Writes nothing."""
    provider_class = get_provider_class(config.provider_type)
    automatic = automatic_qualification_names(config)
    qualification_selectors.check_requirements_exist(
        requirements=config.qualifications, also_known=automatic
    )
    reward = Decimal(str(config.task["task_reward"])).quantize(CENT, ROUND_HALF_UP)
    units = config.unit_count
    subtotal = reward * units
    fee = (subtotal * provider_class.fee_rate).quantize(CENT, ROUND_HALF_UP)
    return LaunchPlan(
        task_name=config.task["task_name"],
        task_exists=Task.objects.filter(task_name=config.task["task_name"]).exists(),
        blueprint_type=config.blueprint_type,
        architect_type=config.architect_type,
        provider_type=config.provider_type,
        requester_name=requester_name_for(config),
        assignments=len(config.rows),
        units=units,
        reward=reward,
        provider_fee=fee,
        estimated_cost=subtotal + fee,
        qualifications=config.qualifications,
        created_qualifications=qualification_selectors.missing_qualification_names(
            names=automatic
        ),
        config_hash=config.config_hash,
    )


def requester_name_for(config: RunConfig) -> str:
    name = config.provider.get("requester_name")
    return str(name) if name else f"{config.provider_type.upper()}_REQUESTER"


def automatic_qualification_names(config: RunConfig) -> list[str]:
    """Qualifications the platform manages for this run (onboarding, block)."""
    names = []
    onboarding = config.blueprint.get("onboarding_qualification")
    if onboarding:
        names += [onboarding, f"{onboarding}-failed"]
    block = config.blueprint.get("block_qualification")
    if block:
        names.append(block)
    return names


@transaction.atomic
def launch_run(*, config: RunConfig) -> TaskRun:
    """Create the Task (by name), the TaskRun and all its units; enqueue the launch.

    Everything is written in one transaction with bulk inserts; the provider is
    only called after commit, from a Celery task.
    """
    plan = plan_launch(config=config)
    provider_class = get_provider_class(config.provider_type)
    provider_class.check_can_launch(config=config)
    qualification_services.ensure_qualifications(
        names=automatic_qualification_names(config)
    )
    requester, _ = Requester.objects.get_or_create(
        name=plan.requester_name, provider_type=config.provider_type
    )
    task, _ = Task.objects.get_or_create(
        task_name=plan.task_name, defaults={"task_type": config.blueprint_type}
    )
    spec = config.task
    run = TaskRun.objects.create(
        task=task,
        requester=requester,
        blueprint_type=config.blueprint_type,
        architect_type=config.architect_type,
        provider_type=config.provider_type,
        config_path=str(config.path or ""),
        config_yaml=config.source_yaml,
        config_overrides=list(config.overrides),
        resolved_config=config.resolved,
        config_hash=plan.config_hash,
        qualifications=config.qualifications,
        shared_state=config.shared_state,
        task_title=spec["task_title"],
        task_description=spec["task_description"],
        task_reward=plan.reward,
        task_tags=_tags(spec.get("task_tags")),
        assignment_duration_in_seconds=spec["assignment_duration_in_seconds"],
        allowed_concurrent=spec["allowed_concurrent"],
        maximum_units_per_worker=spec["maximum_units_per_worker"],
        max_num_concurrent_units=spec["max_num_concurrent_units"],
        no_submission_patience=spec["no_submission_patience"],
    )
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(run=run, row_index=index, data=row)
            for index, row in enumerate(config.rows)
        ],
        batch_size=BULK_BATCH_SIZE,
    )
    Unit.objects.bulk_create(
        [
            Unit(
                assignment=assignment,
                run=run,
                unit_index=unit_index,
                pay_amount=plan.reward,
            )
            for assignment in assignments
            for unit_index in range(config.units_per_assignment)
        ],
        batch_size=BULK_BATCH_SIZE,
    )
    from providers.services import enqueue_on_commit

    # Through the outbox: if the broker is lost before commit, the run stays
    # `launching` with its launch recorded, and beat sends it later.
    enqueue_on_commit(task="providers.tasks.launch_units", kwargs={"run_id": run.pk})
    return run


# Large enough that a 10,000-unit launch is a handful of INSERTs, small enough to
# stay under PostgreSQL's 65,535 bind parameters per statement.
BULK_BATCH_SIZE = 5000


def _tags(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(tag) for tag in value)
    return str(value or "")


@transaction.atomic
def mark_run_running(*, run_id: int) -> bool:
    """Move a run from launching to running; False if it was not launching."""
    return bool(
        TaskRun.objects.filter(pk=run_id, status=TaskRunStatus.LAUNCHING).update(
            status=TaskRunStatus.RUNNING, launched_at=timezone.now()
        )
    )


@transaction.atomic
def mark_units_launched(
    *, unit_ids: list[int], provider_unit_ids: dict[int, str] | None = None
) -> int:
    """Move created units to launched; returns how many moved. Safe to run twice."""
    if provider_unit_ids:
        # Each HIT id differs, so these are per-row updates; the mock has none.
        for unit_id, provider_id in provider_unit_ids.items():
            Unit.objects.filter(pk=unit_id, status=UnitStatus.CREATED).update(
                provider_unit_id=provider_id
            )
    return Unit.objects.filter(pk__in=unit_ids, status=UnitStatus.CREATED).update(
        status=UnitStatus.LAUNCHED, updated_at=timezone.now()
    )


def stored_config_text(run: TaskRun) -> str:
    """The resolved config as YAML, for people reading a past run."""
    return yaml.safe_dump(run.resolved_config, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------
# Workers at work: registration, onboarding, submission, timeouts (DESIGN §5-6)
# ---------------------------------------------------------------------------


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
    return _assign_at_once(**arrival) or _assign(**arrival)


def _assign_at_once(
    *,
    run: TaskRun,
    worker_name: str,
    registration_id: str,
    provider_assignment_id: str,
    provider_unit_id: str,
) -> AgentDetails | None:
    """The usual arrival in one statement; None when `_assign` must decide.

    On PostgreSQL a new registration that passes every rule gets its unit and
    agent from `worker_sql.claim_on_arrival`: one statement, or two in a
    transaction when the run limits a worker's units. Everything else (a
    reconnect, onboarding, a refusal and its reason, no free unit past this
    process's claim position, the `worker_can_do_unit` hook) is left to
    `_assign`.
    """
    if not worker_sql.can_claim_on_arrival() or "worker_can_do_unit" in run_hooks(run):
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
            # The worker's row lock serialises their own requests, as in _assign.
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
        return None  # such a race: `_assign` answers under the worker's lock
    if claimed is None:
        # Perhaps only units behind the claim position are free: look from the
        # first one next time (as `_assign` does now).
        worker_sql.forget_claim_positions(run.pk)
        return None
    worker_id, unit = claimed
    return AgentDetails(
        worker_id=worker_id, agent_id=agent_id, init_task_data=unit.assignment_data
    )


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
        raise WorkerRequestError(
            "this agent_registration_id belongs to another worker", status=409
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


def _is_running(run: TaskRun) -> bool:
    return TaskRun.objects.filter(pk=run.pk, status=TaskRunStatus.RUNNING).exists()


def _refuse_in(run: TaskRun, worker: Worker, reason: str) -> AgentDetails:
    """Refuse with `reason`, or with NOT_RUNNING when the run has stopped."""
    # The run's status is read only on refusals: the claim itself takes units of
    # running runs only.
    return _refuse(worker, reason if _is_running(run) else eligibility.NOT_RUNNING)


@transaction.atomic
def _assign(
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
    failed = eligibility.first_failure(
        [
            eligibility.block_verdict(worker),
            *eligibility.qualification_verdicts(run=run, worker=worker),
            *eligibility.limit_verdicts(run=run, worker=worker),
        ]
    )
    if failed is not None:
        return _refuse_in(run, worker, failed.reason)
    state = eligibility.onboarding_state(run=run, worker=worker)
    if state == "failed":
        return _refuse_in(run, worker, eligibility.FAILED_ONBOARDING)
    if state == "needed":
        if not _is_running(run):
            return _refuse(worker, eligibility.NOT_RUNNING)
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
    claimed = claim_unit(run=run, worker=worker, provider_unit_id=provider_unit_id)
    if claimed is None:
        if not _is_running(run):
            return _refuse(worker, eligibility.NOT_RUNNING)
        # Units of agents whose time ran out go back to the pool before saying no.
        if expire_overdue_agents(run_id=run.pk, limit=100):
            claimed = claim_unit(
                run=run, worker=worker, provider_unit_id=provider_unit_id
            )
        if claimed is None:
            return _refuse(worker, eligibility.NO_UNITS_LEFT)
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


def run_hooks(run: TaskRun) -> dict[str, Any]:
    """The run's hook functions by name (empty when the run has no hooks)."""
    config = run.resolved_config or {}
    ref = config.get("mephisto", {}).get("blueprint", {}).get("hooks")
    if not ref:
        return {}
    module = task_hooks.load_hooks(ref, task_dir=config.get("task_dir"))
    return {
        name: getattr(module, name)
        for name in task_hooks.HOOK_NAMES
        if callable(getattr(module, name, None))
    }


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
            raise WorkerRequestError("unknown onboarding agent id", status=404)
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
                        worker=worker, name=f"{name}-failed", value=1, reason=reason
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
        raise WorkerRequestError(
            f"the onboarding answer could not be checked ({type(exc).__name__}); "
            "nothing was recorded"
        ) from exc


def _positional_arity(function: Any) -> int:
    parameters = inspect.signature(function).parameters.values()
    return sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters
    )


def find_agent(*, agent_id: str) -> Agent:
    """The agent whose capability `agent_id` is, or a 404 error."""
    agent = Agent.objects.filter(public_id=agent_id).first()
    if agent is None:
        raise WorkerRequestError("unknown agent id", status=404)
    return agent


REVIEWED_AGENT_STATUSES = (
    AgentStatus.APPROVED,
    AgentStatus.REJECTED,
    AgentStatus.SOFT_REJECTED,
)


def submit_unit(
    *, agent_id: str, final_data: Any, files: list[SavedFile] | None = None
) -> bool:
    """Store a worker's submission; False if the agent had already submitted.

    The first submission is kept; a second is answered without changing data. A
    submission after the agent's deadline is kept and flagged `is_late`.
    """
    submission = final_data
    if files:
        submission = {"final_data": final_data, "files": [f.as_dict() for f in files]}
    # Safe to repeat: a retry of a submission that committed stores nothing.
    stored = as_health_check(
        lambda: worker_sql.submit_live_agent(agent_id=agent_id, submission=submission)
    )
    if stored is None:
        # Not a live, unsubmitted agent: unknown, reviewed, a repeat, or timed
        # out. Decide under the agent's row lock.
        with transaction.atomic():
            stored = _submit_other_agent(agent_id=agent_id, submission=submission)
    if stored is None:
        return False
    run_id, unit_id = stored
    transaction.on_commit(lambda: _after_submit(run_id, unit_id))
    return True


def _submit_other_agent(*, agent_id: str, submission: Any) -> tuple[int, int] | None:
    agent = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if agent is None:
        raise WorkerRequestError("unknown agent id", status=404)
    if agent.status in REVIEWED_AGENT_STATUSES:
        raise WorkerRequestError(
            "this unit was already reviewed; the submission was not changed",
            status=409,
        )
    if agent.submitted_at is not None:
        return None
    # Timed out, returned or expired: kept, flagged, and completed if the unit
    # is still free.
    agent.submission = submission
    agent.submitted_at = timezone.now()
    agent.is_late = True
    if _reclaim_for_late_submission(agent):
        agent.status = AgentStatus.COMPLETED
    agent.save(update_fields=["submission", "submitted_at", "status", "is_late"])
    return agent.run_id, agent.unit_id


def _reclaim_for_late_submission(agent: Agent) -> bool:
    """Give a late submitter their unit back if nobody else has taken it."""
    try:
        with transaction.atomic():
            return bool(
                Unit.objects.filter(
                    pk=agent.unit_id, status=UnitStatus.LAUNCHED
                ).update(
                    status=UnitStatus.COMPLETED,
                    worker=agent.worker_id,
                    updated_at=timezone.now(),
                )
            )
    except IntegrityError:
        # The worker holds another unit of the same assignment: keep it as late.
        return False


def _after_submit(run_id: int, unit_id: int) -> None:
    run = selectors.launched_run(run_id)
    hook = run_hooks(run).get("on_unit_submitted") if run is not None else None
    if hook is None:
        return
    try:
        hook(Unit.objects.select_related("assignment").get(pk=unit_id))
    except Exception:
        # The submission is stored; a failing hook must not turn it into an error.
        logger.exception("on_unit_submitted hook failed for unit %s", unit_id)


@transaction.atomic
def submit_metadata(*, agent_id: str, metadata: Any) -> None:
    """Merge the page's metadata into the agent's. Allowed before and after submit.

    Refused whole (nothing changes) when the agent's stored metadata would pass
    CROWDSITE_MAX_AGENT_METADATA_BYTES.
    """
    agent = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if agent is None:
        raise WorkerRequestError("unknown agent id", status=404)
    merged = dict(agent.metadata or {})
    if isinstance(metadata, dict):
        merged.update(metadata)
    else:
        merged["value"] = metadata
    _check_metadata_size(merged, what="this metadata")
    agent.metadata = merged
    agent.save(update_fields=["metadata"])


@transaction.atomic
def log_agent_error(*, agent_id: str, error_data: Any) -> None:
    """Keep an error the task page reported, with the agent or onboarding agent.

    At most CROWDSITE_MAX_ERROR_REPORTS per agent, within the agent's metadata
    limit; past either the report is refused with a 413, never kept in part.
    """
    holder: Agent | OnboardingAgent | None
    if agent_id.startswith("onboarding"):
        holder = (
            OnboardingAgent.objects.select_for_update()
            .filter(public_id=agent_id)
            .first()
        )
    else:
        holder = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if holder is None:
        raise WorkerRequestError("unknown agent id", status=404)
    metadata = dict(holder.metadata or {})
    errors = list(metadata.get("errors", []))
    limit = settings.CROWDSITE_MAX_ERROR_REPORTS
    if len(errors) >= limit:
        raise WorkerRequestError(
            f"this agent has sent {len(errors)} error reports, the most that are "
            "kept; this one was not stored",
            status=413,
        )
    errors.append({"at": timezone.now().isoformat(), "error_data": error_data})
    metadata["errors"] = errors
    _check_metadata_size(metadata, what="this error report")
    holder.metadata = metadata
    holder.save(update_fields=["metadata"])
    if isinstance(holder, OnboardingAgent):
        # Kept with the onboarding agent; the server log gets a bounded line.
        logger.warning("onboarding agent %s reported: %.500r", holder.pk, error_data)


def _check_metadata_size(metadata: dict[str, Any], *, what: str) -> None:
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    limit = settings.CROWDSITE_MAX_AGENT_METADATA_BYTES
    if size > limit:
        raise WorkerRequestError(
            f"with {what} the agent's metadata and error reports would take "
            f"{size} bytes; the limit is {limit} bytes, so nothing was changed",
            status=413,
        )


def _release_agent(*, agent_id: int, status: AgentStatus, only_overdue: bool) -> bool:
    agents = Agent.objects.filter(pk=agent_id, status__in=AGENT_LIVE_STATUSES)
    if only_overdue:
        agents = agents.overdue(timezone.now())
    changed = agents.update(status=status)
    if changed:
        Unit.objects.filter(agents=agent_id, status=UnitStatus.ASSIGNED).update(
            status=UnitStatus.LAUNCHED, worker=None, updated_at=timezone.now()
        )
    return bool(changed)


@transaction.atomic
def expire_agent(*, agent_id: int) -> bool:
    """Time out an overdue agent and free its unit; False if it was not overdue."""
    return _release_agent(
        agent_id=agent_id, status=AgentStatus.TIMEOUT, only_overdue=True
    )


@transaction.atomic
def return_agent(*, agent_id: int) -> bool:
    """The worker gave the unit back: free it at once. False if already finished."""
    return _release_agent(
        agent_id=agent_id, status=AgentStatus.RETURNED, only_overdue=False
    )


@transaction.atomic
def return_unit(*, agent_id: str) -> bool:
    """The worker gives their unit back from the page; False if already returned.

    The unit goes to the next worker at once. Returning twice is harmless; a
    submitted unit, or one whose time ran out, can't be returned (409).
    """
    # The agent's row lock orders a return against a submission of the same
    # agent: whichever comes second sees what the first did and says so.
    agent = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if agent is None:
        raise WorkerRequestError("unknown agent id", status=404)
    if agent.submitted_at is not None:
        raise WorkerRequestError(
            "this unit was already submitted; it can't be returned", status=409
        )
    if agent.status == AgentStatus.RETURNED:
        return False
    if agent.status not in AGENT_LIVE_STATUSES:
        raise WorkerRequestError(
            f"this unit is no longer yours (the agent is {agent.status}); "
            "nothing to return",
            status=409,
        )
    return _release_agent(
        agent_id=agent.pk, status=AgentStatus.RETURNED, only_overdue=False
    )


def expire_overdue_agents(*, run_id: int | None = None, limit: int = 1000) -> int:
    """Free the units of timed-out agents. Safe to run twice or concurrently."""
    overdue = Agent.objects.overdue(timezone.now())
    if run_id is not None:
        overdue = overdue.filter(run_id=run_id)
    ids = list(overdue.values_list("pk", flat=True)[:limit])
    return sum(expire_agent(agent_id=pk) for pk in ids)
