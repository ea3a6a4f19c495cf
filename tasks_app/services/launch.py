"""Launching a run: check and price a config, write the run and units, launch them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from crowdsite.config_errors import ConfigError
from providers.base import Provider, ProviderError
from providers.calllog import run_logged_call
from providers.outbox import (
    check_broker,
    enqueue_on_commit,
    tasks_run_in_process,
    unsent_messages,
)
from providers.registry import get_provider, get_provider_class
from qualifications_app import selectors as qualification_selectors
from qualifications_app import services as qualification_services
from tasks_app import eligibility, selectors
from tasks_app.exceptions import RunLifecycleError
from tasks_app.models import (
    Assignment,
    Requester,
    Task,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
)
from tasks_app.run_config import RunConfig

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
    # mephisto.task.budget, in dollars, or None.
    budget: Decimal | None
    qualifications: list[dict[str, Any]]
    created_qualifications: list[str]
    config_hash: str
    # The provider account's balance in dollars once read (`with_balance`);
    # None for a provider that keeps none (the mock) or before it is read.
    balance: Decimal | None = None
    # Why the balance could not be read, when a dry run went on without it.
    balance_error: str = ""
    # mephisto.task.task_reward as written, and what it counts (`reward` is
    # always dollars): "dollars", or "cents" on Prolific, as Mephisto reads it.
    config_reward: str = ""
    reward_unit: str = "dollars"
    fee_rate: Decimal = Decimal("0")
    # Whether the units are places on one study (Prolific).
    units_are_places: bool = False

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
            "task_reward": self.config_reward,
            "task_reward_unit": self.reward_unit,
            "places": self.units if self.units_are_places else None,
            "provider_fee_rate": str(self.fee_rate),
            "provider_fee": str(self.provider_fee),
            "estimated_cost": str(self.estimated_cost),
            "budget": str(self.budget) if self.budget is not None else None,
            "within_budget": self.within_budget,
            "qualifications": self.qualifications,
            "creates_qualifications": self.created_qualifications,
            "config_hash": self.config_hash,
            "balance": str(self.balance) if self.balance is not None else None,
            "balance_error": self.balance_error,
            "funded": self.funded,
        }

    @property
    def within_budget(self) -> bool:
        return self.budget is None or self.estimated_cost <= self.budget

    def check_budget(self) -> None:
        """Refuse a launch whose rewards and fees would pass the run's budget."""
        if not self.within_budget:
            raise ConfigError(
                f"this launch would cost ${self.estimated_cost} ({self.units} units "
                f"at ${self.reward}, plus ${self.provider_fee} provider fee), more "
                f"than the budget of ${self.budget}; raise the budget or launch "
                "fewer units",
                key="mephisto.task.budget",
            )

    @property
    def funded(self) -> bool:
        """Whether the account's balance covers the cost (True if none was read)."""
        return self.balance is None or self.estimated_cost <= self.balance

    def check_funded(self) -> None:
        """Refuse a launch the provider account can't pay for, with the figures."""
        if not self.funded:
            raise ConfigError(
                f"the {self.provider_type} account's balance is ${self.balance}, "
                f"less than this launch's ${self.estimated_cost} ({self.units} "
                f"units at ${self.reward}, plus ${self.provider_fee} provider "
                "fee); add funds to the account or launch fewer units",
                key="mephisto.provider",
            )


def with_balance(plan: LaunchPlan, *, strict: bool = True) -> LaunchPlan:
    """`plan` with its provider account's balance, read from the provider now.

    A provider that keeps no balance (the mock) leaves it None. A balance that
    can't be read (no credentials, MTurk unreachable) raises ConfigError, or
    with `strict=False` (a dry run) is kept as `balance_error`.
    """
    try:
        balance = get_provider(plan.provider_type).account_balance()
    except ProviderError as exc:
        if not strict:
            return replace(plan, balance_error=str(exc))
        raise ConfigError(
            f"could not read the {plan.provider_type} account's balance, which is "
            f"checked against the launch's cost before anything is written: {exc}",
            key="mephisto.provider",
        ) from exc
    return replace(plan, balance=balance)


def plan_launch(*, config: RunConfig) -> LaunchPlan:
    """Check `config` against the database and price it. Writes nothing."""
    provider_class = get_provider_class(config.provider_type)
    automatic = eligibility.automatic_qualification_names(config.blueprint)
    check_requirements_exist(requirements=config.qualifications, also_known=automatic)
    reward = reward_in_dollars(config, provider_class)
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
        budget=selectors.budget_of(config.task),
        qualifications=config.qualifications,
        created_qualifications=[
            *qualification_selectors.missing_qualification_names(names=automatic),
            *created_empty(requirements=config.qualifications),
        ],
        config_hash=config.config_hash,
        config_reward=f"{Decimal(str(config.task['task_reward'])).normalize():f}",
        reward_unit=provider_class.reward_unit,
        fee_rate=provider_class.fee_rate,
        units_are_places=provider_class.units_are_places,
    )


def reward_in_dollars(config: RunConfig, provider_class: type[Provider]) -> Decimal:
    """A unit's reward in dollars, from `task_reward` in the provider's unit.

    On Prolific `task_reward` is cents, as Mephisto reads it there (150 is
    $1.50); a fraction of a cent is refused, not rounded.
    """
    written = Decimal(str(config.task["task_reward"]))
    if provider_class.reward_unit != "cents":
        return written.quantize(CENT, ROUND_HALF_UP)
    if written != written.to_integral_value():
        raise ConfigError(
            f"on {provider_class.provider_type} task_reward is read in cents, as "
            f"Mephisto reads it there: {written} would be a fraction of a cent; "
            f"write a whole number of cents (150 for $1.50)",
            key="mephisto.task.task_reward",
        )
    return (written * CENT).quantize(CENT)


def requester_name_for(config: RunConfig) -> str:
    name = config.provider.get("requester_name")
    return str(name) if name else f"{config.provider_type.upper()}_REQUESTER"


def launch_run(*, config: RunConfig) -> TaskRun:
    """Create the Task (by name), the TaskRun and all its units; enqueue the launch.

    Refused (ConfigError, nothing written) over the budget, without the
    provider's credentials, or when the provider account's balance is less than
    the cost. Everything is written in one transaction with bulk inserts; the
    units are posted only after commit, from a Celery task.
    """
    plan = plan_launch(config=config)
    plan.check_budget()
    get_provider_class(config.provider_type).check_can_launch(
        provider_args=dict(config.provider)
    )
    # The one provider call a launch makes itself (GetAccountBalance on MTurk),
    # before the transaction: no lock is held while it waits on the network.
    with_balance(plan).check_funded()
    return _write_run(config=config, plan=plan)


@transaction.atomic
def _write_run(*, config: RunConfig, plan: LaunchPlan) -> TaskRun:
    """launch_run's writes, in one transaction."""
    qualification_services.ensure_qualifications(
        names=[
            *eligibility.automatic_qualification_names(config.blueprint),
            *plan.created_qualifications,
        ]
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
    # Through the outbox: if the broker is lost before commit, the run stays
    # `launching` with its launch recorded, and beat sends it later.
    enqueue_on_commit(task=LAUNCH_TASK, kwargs={"run_id": run.pk})
    return run


LAUNCH_TASK = "tasks_app.tasks.launch_units"


@dataclass(frozen=True)
class ResumedLaunch:
    """What resuming a run's launch did."""

    run: TaskRun
    pending_units: int
    in_process: bool  # launched here, no broker configured
    queued: bool  # published to the broker (or run in process)


def resume_launch(*, run_id: int) -> ResumedLaunch:
    """Send the launch of a run still `launching` again (its message was lost),
    or top up a running run: launch the created units its
    `max_num_concurrent_units` has room for now (what beat does).

    Refused (RunLifecycleError) for an unknown or ended run, or a running one
    with nothing to launch (saying why), and (BrokerUnavailable) while the
    broker can't be reached. Through the outbox, so a broker that drops now
    still leaves the launch recorded for beat. Safe to run twice: the launch
    goes through the call log.
    """
    run = TaskRun.objects.select_related("task").filter(pk=run_id).first()
    if run is None:
        raise RunLifecycleError(f"There is no run {run_id}.")
    if run.status not in (TaskRunStatus.LAUNCHING, TaskRunStatus.RUNNING):
        raise RunLifecycleError(
            f"Run {run_id} is {run.status}: it has ended, nothing to resume."
        )
    pending = len(selectors.units_to_launch(run=run))
    if run.status == TaskRunStatus.RUNNING and not pending:
        raise RunLifecycleError(_nothing_to_top_up(run))
    check_broker()
    in_process = tasks_run_in_process()
    message = enqueue_on_commit(task=LAUNCH_TASK, kwargs={"run_id": run.pk})
    run.refresh_from_db()
    queued = in_process or (
        message is not None and not unsent_messages(task=LAUNCH_TASK, run_id=run.pk)
    )
    return ResumedLaunch(
        run=run, pending_units=pending, in_process=in_process, queued=queued
    )


def _nothing_to_top_up(run: TaskRun) -> str:
    """Why a running run has no unit to launch now."""
    created = Unit.objects.filter(run=run, status=UnitStatus.CREATED).count()
    if not created:
        return f"Run {run.pk} is running and every unit is launched: nothing to resume."
    return (
        f"Run {run.pk} is running with {created} units waiting, but its "
        f"max_num_concurrent_units ({run.max_num_concurrent_units}) are all out "
        "(launched or assigned): they go out as those are submitted or expire; "
        "nothing to resume now."
    )


# Large enough that a 10,000-unit launch is a handful of INSERTs, small enough to
# stay under PostgreSQL's 65,535 bind parameters per statement.
BULK_BATCH_SIZE = 5000


def _tags(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(tag) for tag in value)
    return str(value or "")


def launch_units(*, run_id: int) -> int:
    """Post the run's created units (up to its concurrency cap) to its provider.

    Returns how many units moved to launched. Safe to run twice: the call log
    keys the call by the units it posts, and marks them in the same commit.
    """
    run = TaskRun.objects.get(pk=run_id)
    unit_ids = selectors.units_to_launch(run=run)
    if unit_ids:
        provider = get_provider(run.provider_type)
        first, last = unit_ids[0], unit_ids[-1]
        key = f"launch_units:run={run.pk}:units={first}-{last}:n={len(unit_ids)}"
        launched_before = list(
            Unit.objects.filter(run=run)
            .exclude(provider_unit_id="")
            .exclude(pk__in=unit_ids)
            .order_by("pk")
            .values_list("provider_unit_id", flat=True)
        )
        url = selectors.task_url(run)
        # The same list the arrival checks (DESIGN §6.3): a provider that can
        # enforce requirements keeps ineligible workers from accepting at all.
        requirements = eligibility.requirements(run)
        spec = selectors.run_spec(run)
        marked: list[int] = []

        def record(provider_ids: dict[str, str]) -> None:
            marked.append(
                mark_units_launched(
                    unit_ids=unit_ids,
                    provider_unit_ids={int(k): v for k, v in provider_ids.items()},
                )
            )

        run_logged_call(
            provider_type=run.provider_type,
            operation="launch_units",
            key=key,
            run_id=run.pk,
            request={"unit_ids": [first, last], "count": len(unit_ids)},
            call=lambda: {
                str(k): v
                for k, v in provider.launch_units(
                    run=spec,
                    unit_ids=unit_ids,
                    task_url=url,
                    launched_before=launched_before,
                    requirements=requirements,
                ).items()
            },
            record=record,
        )
        launched = sum(marked)
        if TaskRun.objects.filter(pk=run.pk, status=TaskRunStatus.SHUT_DOWN).exists():
            # Shut down while these were being posted: withdraw them as well.
            enqueue_on_commit(
                task="tasks_app.tasks.expire_units_on_provider",
                kwargs={"run_id": run.pk},
            )
    else:
        launched = 0
    mark_run_running(run_id=run.pk)
    return launched


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
        # Expired ones too: a run shut down while they were posted must still
        # know their ids, to withdraw them from the provider.
        for unit_id, provider_id in provider_unit_ids.items():
            Unit.objects.filter(
                pk=unit_id, status__in=[UnitStatus.CREATED, UnitStatus.EXPIRED]
            ).update(provider_unit_id=provider_id)
    return Unit.objects.filter(pk__in=unit_ids, status=UnitStatus.CREATED).update(
        status=UnitStatus.LAUNCHED, updated_at=timezone.now()
    )


def created_empty(*, requirements: list[dict[str, Any]]) -> list[str]:
    """Qualifications a `DoesNotExist` requirement names that nobody created yet.

    The first pilot recruits before anyone is on the allowlist: the launch creates
    them empty (so the requirement admits everyone until workers are granted it)
    and says so. Any other comparator on an unknown name is refused.
    """
    return qualification_selectors.missing_qualification_names(
        names=_may_create(requirements)
    )


def _may_create(requirements: list[dict[str, Any]]) -> list[str]:
    return [
        r["qualification_name"]
        for r in requirements
        if r["comparator"] == "DoesNotExist"
    ]


def check_requirements_exist(
    *, requirements: list[dict[str, Any]], also_known: Iterable[str] = ()
) -> None:
    """Refuse requirements naming a qualification nobody created.

    Mephisto lets such a requirement pass silently, which admits everyone to a run
    meant for an allowlist; here it is an error at launch (except `DoesNotExist`,
    whose qualification the launch creates: `created_empty`).
    """
    also_known = {*also_known, *_may_create(requirements)}
    names = [r["qualification_name"] for r in requirements]
    missing = qualification_selectors.missing_qualification_names(names=names)
    unknown = [n for n in missing if n not in also_known]
    if unknown:
        index = names.index(unknown[0])
        raise ConfigError(
            f"unknown qualification {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else "")
            + "; create it first (admin: Qualifications → Add) so the requirement "
            "means what it says",
            key=f"mephisto.task.qualifications[{index}].qualification_name",
        )
