"""Claims under real concurrency (DESIGN §6 step 7), on PostgreSQL only.

Dozens of threads, each with its own database connection, are released together
by a barrier, round after round, against one run with two units per assignment.
Some workers submit what they get, some keep it open, and some send a second
request at the same moment (a double click, a second tab). Afterwards the database
must show that no unit was shared, no worker got two units of one assignment, no
limit was exceeded, and every unit the limits allow was handed out.

`skip_locked` is a no-op on SQLite, so these tests skip there, with a reason.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from tasks_app import eligibility, services
from tasks_app.models import (
    AGENT_LIVE_STATUSES,
    Agent,
    AgentStatus,
    Assignment,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tests.factories import TaskRunFactory, WorkerFactory

# Threads must see each other's commits, so no test-wide transaction.
pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 64
ROUNDS = 8
UNITS_PER_ASSIGNMENT = 2
# A barrier that is never reached means a thread died or a lock never came free.
BARRIER_TIMEOUT = 60


def submits(worker: int) -> bool:
    """Half the workers submit every unit they get; the others keep theirs open."""
    return worker % 2 == 0


def tabs(worker: int) -> int:
    """Some workers of each kind send two requests at once, as from two tabs."""
    return 2 if worker % 16 in (0, 5) else 1


def launched_run(*, assignments: int, limit: int, concurrent: int) -> TaskRun:
    """A running run whose assignments each have two launched units (index 0, 1)."""
    run = TaskRunFactory(maximum_units_per_worker=limit, allowed_concurrent=concurrent)
    rows = Assignment.objects.bulk_create(
        [
            Assignment(run=run, row_index=i, data={"text": f"row {i}"})
            for i in range(assignments)
        ]
    )
    Unit.objects.bulk_create(
        [
            Unit(
                assignment=row,
                run=run,
                unit_index=index,
                status=UnitStatus.LAUNCHED,
                pay_amount=run.task_reward,
            )
            for row in rows
            for index in range(UNITS_PER_ASSIGNMENT)
        ]
    )
    return run


@dataclass(frozen=True)
class Outcome:
    worker: int
    details: services.AgentDetails


def together(plan: list[tuple[int, int]], job) -> list[Exception]:
    """Run `job(barrier, worker, tab)` in one thread per step; return their errors.

    Each thread has its own database connection and closes it when done.
    """
    barrier = threading.Barrier(len(plan), timeout=BARRIER_TIMEOUT)
    errors: list[Exception] = []

    def body(worker: int, tab: int) -> None:
        try:
            job(barrier, worker, tab)
        except Exception as exc:
            errors.append(exc)
            barrier.abort()  # release the others rather than hang
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=step) for step in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def storm(run: TaskRun) -> tuple[list[Outcome], list[Exception]]:
    """Every worker's tabs request (and maybe submit) together, for ROUNDS rounds."""
    plan = [(w, tab) for w in range(WORKERS) for tab in range(tabs(w))]
    outcomes: list[Outcome] = []

    def job(barrier: threading.Barrier, worker: int, tab: int) -> None:
        for round_ in range(ROUNDS):
            barrier.wait()
            details = services.register_agent(
                run=run,
                worker_name=f"worker-{worker}",
                registration_id=f"worker-{worker}-round-{round_}-tab-{tab}",
            )
            outcomes.append(Outcome(worker, details))
            if details.agent_id and submits(worker):
                services.submit_unit(
                    agent_id=details.agent_id, final_data={"rating": worker}
                )

    return outcomes, together(plan, job)


def cap(worker: int, *, assignments: int, limit: int, concurrent: int) -> int:
    """The most units this worker can end up holding (0 in a limit = unlimited)."""
    most = assignments  # never two units of one assignment
    if limit:
        most = min(most, limit)
    if concurrent and not submits(worker):
        most = min(most, concurrent)  # open units are never freed here
    return min(most, ROUNDS * tabs(worker))  # at most one unit per request


@pytest.mark.parametrize(
    ("assignments", "limit", "concurrent"),
    [
        pytest.param(40, 3, 2, id="units-run-out"),
        pytest.param(150, 3, 2, id="limits-bind"),
        pytest.param(150, 0, 0, id="no-limits"),
    ],
)
def test_concurrent_claims_never_share_a_unit_or_break_a_limit(
    postgres, assignments, limit, concurrent
):
    run = launched_run(assignments=assignments, limit=limit, concurrent=concurrent)

    outcomes, errors = storm(run)

    assert errors == []
    requests = ROUNDS * sum(tabs(w) for w in range(WORKERS))
    assert len(outcomes) == requests

    units = Unit.objects.filter(run=run)
    held = units.filter(worker__isnull=False)
    # No unit held by two workers: at most one agent per unit (nothing timed
    # out here), and it belongs to the worker the unit names.
    per_unit = Counter(Agent.objects.filter(run=run).values_list("unit", flat=True))
    assert max(per_unit.values()) == 1
    assert not Agent.objects.filter(run=run).exclude(worker=F("unit__worker"))
    assert set(per_unit) == set(held.values_list("pk", flat=True))
    live = Agent.objects.filter(run=run, status__in=AGENT_LIVE_STATUSES)
    assert not live.values("unit").annotate(n=Count("pk")).filter(n__gt=1)
    completed_by = (
        Agent.objects.filter(run=run, status=AgentStatus.COMPLETED)
        .values("unit")
        .annotate(workers=Count("worker", distinct=True))
    )
    assert not completed_by.filter(workers__gt=1)
    # Held units are exactly the assigned (open) and completed (submitted) ones.
    assert set(held.values_list("status", flat=True)) <= {
        UnitStatus.ASSIGNED,
        UnitStatus.COMPLETED,
    }
    assert not units.filter(worker__isnull=True).exclude(status=UnitStatus.LAUNCHED)

    # Never two units of one assignment for one worker.
    doubled = held.values("assignment", "worker").annotate(n=Count("pk"))
    assert not doubled.filter(n__gt=1)

    # No limit exceeded, counted from the units themselves.
    names = dict(Worker.objects.values_list("pk", "worker_name"))
    per_worker = Counter(held.values_list("worker", flat=True))
    open_per_worker = Counter(
        held.filter(status=UnitStatus.ASSIGNED).values_list("worker", flat=True)
    )
    for worker_pk, count in per_worker.items():
        if limit:
            assert count <= limit, names[worker_pk]
        if concurrent:
            assert open_per_worker[worker_pk] <= concurrent, names[worker_pk]
    for worker_pk, count in open_per_worker.items():
        worker = int(names[worker_pk].removeprefix("worker-"))
        if submits(worker):
            assert count == 0, f"{names[worker_pk]} submitted everything it got"

    # Every unit was handed out until none were left or every limit was reached.
    allowed = sum(
        cap(w, assignments=assignments, limit=limit, concurrent=concurrent)
        for w in range(WORKERS)
    )
    total = assignments * UNITS_PER_ASSIGNMENT
    assert held.count() == min(total, allowed)
    if allowed >= total:
        assert not units.filter(status=UnitStatus.LAUNCHED).exists()

    # Every answer is an agent or a reason, and every agent answered is stored.
    given = [o.details.agent_id for o in outcomes if o.details.agent_id]
    refused = [o for o in outcomes if not o.details.agent_id]
    assert len(given) == len(set(given)) == held.count()
    stored = Agent.objects.filter(run=run).values_list("public_id", flat=True)
    assert set(given) == set(stored)
    assert all(o.details.failure_reason is None for o in outcomes if o.details.agent_id)
    assert all(o.details.failure_reason for o in refused)
    assert len(refused) == requests - len(given)
    reasons = {o.details.failure_reason for o in refused}
    expected = {eligibility.NO_UNITS_LEFT}
    if limit:
        expected.add(f"You have reached the maximum of {limit} units for this task.")
    assert {r for r in reasons if not r.startswith("You already have")} <= expected
    if not concurrent:
        assert not any(r.startswith("You already have") for r in reasons)


def test_concurrent_requests_with_one_registration_id_share_one_agent(postgres):
    run = launched_run(assignments=40, limit=0, concurrent=0)
    plan = [(w, tab) for w in range(32) for tab in range(2)]
    answers: dict[tuple[int, int], str | None] = {}

    def job(barrier: threading.Barrier, worker: int, tab: int) -> None:
        barrier.wait()
        details = services.register_agent(
            run=run,
            worker_name=f"worker-{worker}",
            registration_id=f"worker-{worker}-page-load",
        )
        answers[worker, tab] = details.agent_id

    errors = together(plan, job)

    assert errors == []
    for worker in range(32):
        assert answers[worker, 0] is not None
        assert answers[worker, 0] == answers[worker, 1]
    assert Agent.objects.filter(run=run).count() == 32
    assert Unit.objects.filter(run=run, status=UnitStatus.ASSIGNED).count() == 32


# The constraints below hold on any database; they are what stops a claim that
# skipped the service (or a bug in it) from handing out a unit twice.


def two_unit_assignment() -> tuple[Unit, Unit]:
    run = launched_run(assignments=1, limit=0, concurrent=0)
    first, second = Unit.objects.filter(run=run).order_by("unit_index")
    return first, second


def test_database_refuses_a_second_unit_of_an_assignment_for_one_worker():
    first, second = two_unit_assignment()
    worker = WorkerFactory()
    Unit.objects.filter(pk=first.pk).update(status=UnitStatus.ASSIGNED, worker=worker)

    with pytest.raises(IntegrityError), transaction.atomic():
        Unit.objects.filter(pk=second.pk).update(
            status=UnitStatus.ASSIGNED, worker=worker
        )

    second.refresh_from_db()
    assert (second.status, second.worker_id) == (UnitStatus.LAUNCHED, None)


def test_database_refuses_a_second_live_agent_for_one_unit():
    unit, _ = two_unit_assignment()
    first, second = WorkerFactory(), WorkerFactory()
    Unit.objects.filter(pk=unit.pk).update(status=UnitStatus.ASSIGNED, worker=first)
    deadline = timezone.now() + timedelta(minutes=10)
    Agent.objects.create(
        public_id="agent-first",
        unit=unit,
        worker=first,
        run=unit.run,
        status=AgentStatus.IN_TASK,
        registration_id="first",
        deadline_at=deadline,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        Agent.objects.create(
            public_id="agent-second",
            unit=unit,
            worker=second,
            run=unit.run,
            status=AgentStatus.ACCEPTED,
            registration_id="second",
            deadline_at=deadline,
        )

    assert list(Agent.objects.filter(unit=unit).values_list("public_id")) == [
        ("agent-first",)
    ]
    # A finished agent does not count: the unit may be worked on again.
    Agent.objects.filter(public_id="agent-first").update(status=AgentStatus.TIMEOUT)
    Agent.objects.create(
        public_id="agent-third",
        unit=unit,
        worker=second,
        run=unit.run,
        status=AgentStatus.ACCEPTED,
        registration_id="third",
        deadline_at=deadline,
    )
    assert Agent.objects.filter(unit=unit, status__in=AGENT_LIVE_STATUSES).count() == 1


def test_the_claim_and_submit_statements_are_prepared_on_postgresql(postgres):
    run = TaskRunFactory(units=4)
    for i in range(3):  # prepared from the second run on a connection
        details = services.register_agent(
            run=run, worker_name=f"w{i}", registration_id=f"r{i}"
        )
        services.submit_unit(agent_id=details.agent_id, final_data={"i": i})

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = " ".join(row[0] for row in cursor.fetchall())
    assert "FOR UPDATE SKIP LOCKED" in prepared
    assert "submitted_at IS NULL" in prepared
