"""A run with known figures, and runs of any size, for the dashboard's tests
(tests/test_run_dashboard.py, test_run_status_command.py, the browser test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from providers.models import CallStatus, ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    PaymentState,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def done_unit(
    run: TaskRun,
    worker: Worker,
    status: str,
    *,
    seconds: float | None = None,
    submitted: datetime | None = None,
    late: bool = False,
) -> Unit:
    """A unit of `run` held by `worker`; submitted `seconds` after it was
    accepted, at `submitted`, when given."""
    unit = UnitFactory(
        assignment__run=run, status=status, worker=worker, pay_amount=run.task_reward
    )
    agent_status = {
        UnitStatus.ASSIGNED: AgentStatus.IN_TASK,
        UnitStatus.COMPLETED: AgentStatus.COMPLETED,
        UnitStatus.ACCEPTED: AgentStatus.APPROVED,
        UnitStatus.REJECTED: AgentStatus.REJECTED,
        UnitStatus.SOFT_REJECTED: AgentStatus.SOFT_REJECTED,
    }[status]
    agent = AgentFactory(
        unit=unit, worker=worker, status=agent_status, submission={"rating": "good"}
    )
    if seconds is not None:
        assert submitted is not None
        Agent.objects.filter(pk=agent.pk).update(
            created_at=submitted - timedelta(seconds=seconds),
            submitted_at=submitted,
            is_late=late,
        )
    return unit


def payment(unit: Unit, kind: str, amount: str, state: str) -> Payment:
    agent = unit.agents.get()
    review = WorkerReview.objects.create(
        worker=agent.worker,
        action=ReviewAction.BONUS
        if kind == PaymentKind.BONUS
        else ReviewAction.APPROVE,
        unit=unit,
        agent=agent,
    )
    return Payment.objects.create(
        kind=kind,
        amount=Decimal(amount),
        run=unit.run,
        unit=unit,
        agent=agent,
        worker=agent.worker,
        review=review,
        state=state,
        idempotency_key=f"{kind}:{unit.pk}:{amount}:{state}",
    )


def known_run() -> TaskRun:
    """Ten units at $0.50 with a $10 budget on the mock (no fee): alice holds
    five (submitted after 10, 20, 30, 40, 50 s), bob four (60, 70, 80 s, the
    last one late, and one he is still on), one is open; one every ten minutes
    from 10:00."""
    run = TaskRunFactory(
        task__task_name="rate-sentences-pilot-1",
        task_reward=Decimal("0.50"),
        resolved_config={"mephisto": {"task": {"budget": 10}}},
    )
    alice = WorkerFactory(worker_name="alice")
    bob = WorkerFactory(worker_name="bob")
    at = [START + timedelta(minutes=10 * i) for i in range(8)]
    a = [
        done_unit(run, alice, UnitStatus.ACCEPTED, seconds=10, submitted=at[0]),
        done_unit(run, alice, UnitStatus.ACCEPTED, seconds=20, submitted=at[1]),
        done_unit(run, alice, UnitStatus.ACCEPTED, seconds=30, submitted=at[2]),
        done_unit(run, alice, UnitStatus.REJECTED, seconds=40, submitted=at[3]),
        done_unit(run, alice, UnitStatus.COMPLETED, seconds=50, submitted=at[4]),
    ]
    b = [
        done_unit(run, bob, UnitStatus.ACCEPTED, seconds=60, submitted=at[5]),
        done_unit(run, bob, UnitStatus.SOFT_REJECTED, seconds=70, submitted=at[6]),
        done_unit(
            run, bob, UnitStatus.COMPLETED, seconds=80, submitted=at[7], late=True
        ),
        done_unit(run, bob, UnitStatus.ASSIGNED),
    ]
    UnitFactory(assignment__run=run, status=UnitStatus.LAUNCHED, pay_amount="0.50")
    payment(a[0], PaymentKind.REWARD, "0.50", PaymentState.PAID)
    payment(a[1], PaymentKind.REWARD, "0.50", PaymentState.PAID)
    payment(a[2], PaymentKind.REWARD, "0.50", PaymentState.PENDING)
    payment(b[0], PaymentKind.REWARD, "0.50", PaymentState.FAILED)
    payment(b[1], PaymentKind.REWARD, "0.50", PaymentState.PAID)
    payment(a[0], PaymentKind.BONUS, "1.00", PaymentState.PAID)
    payment(b[0], PaymentKind.BONUS, "0.25", PaymentState.FAILED)
    for n, status in enumerate([CallStatus.FAILED, CallStatus.FAILED]):
        ProviderCall.objects.create(
            provider_type="mock",
            operation="approve",
            idempotency_key=f"approve:{n}",
            run=run,
            status=status,
            attempts=3,
            error=f"Throttled ({n})",
        )
    ProviderCall.objects.create(
        provider_type="mock",
        operation="launch_units",
        idempotency_key="launch",
        run=run,
        status=CallStatus.SUCCEEDED,
    )
    ProviderCall.objects.create(
        provider_type="mock",
        operation="approve",
        idempotency_key="elsewhere",
        run=TaskRunFactory(),
        status=CallStatus.FAILED,
    )
    return TaskRun.objects.select_related("task").get(pk=run.pk)


def many_units_run(units: int, workers: int) -> TaskRun:
    run = TaskRunFactory(units=units)
    crowd = Worker.objects.bulk_create(
        [
            Worker(provider_type="mock", worker_name=f"run{run.pk}-w{n}")
            for n in range(workers)
        ]
    )
    held = list(Unit.objects.filter(run=run))
    for n, unit in enumerate(held):
        unit.status = [UnitStatus.ACCEPTED, UnitStatus.COMPLETED][n % 2]
        unit.worker = crowd[n % workers]
    Unit.objects.bulk_update(held, ["status", "worker"])
    Agent.objects.bulk_create(
        [
            Agent(
                public_id=f"a{unit.pk}",
                unit=unit,
                worker=unit.worker,
                run=run,
                status=AgentStatus.COMPLETED,
                registration_id=f"r{unit.pk}",
                submission={"rating": "good"},
                deadline_at=START + timedelta(hours=1),
                submitted_at=START + timedelta(minutes=n),
            )
            for n, unit in enumerate(held)
        ]
    )
    return TaskRun.objects.select_related("task").get(pk=run.pk)
