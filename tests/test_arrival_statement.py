"""On PostgreSQL the usual arrival is one statement (`worker_sql.claim_on_arrival`).

It must hand out a unit exactly when the rules of `eligibility` let the worker
have one, and leave everything else to the full path; tests/test_eligibility_rules.py
compares the two rule by rule, from the rule list. These check what only this
path has: reconnects left to the full path, limits counted after the worker's
lock, the claim position, the statement count and the stand-in for the
per-request health check.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tasks_app import eligibility, selectors, services, worker_sql
from tasks_app.models import Agent, Unit, UnitStatus, Worker
from tests.conftest import need
from tests.factories import (
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

ONE_STATEMENT_NEEDS = (
    "needs PostgreSQL: the one-statement arrival uses its data-modifying WITH"
)


def arrive(run, worker_name, *, registration=None, locked=False):
    """claim_on_arrival as `_arrive_in_one_statement` calls it; (worker id, unit)."""
    arrival = {
        "run": run,
        "agent_id": services.new_agent_id(),
        "registration_id": registration or f"{worker_name}-registration",
        "provider_assignment_id": "",
        "provider_unit_id": "",
    }
    with transaction.atomic():
        if not locked:
            return worker_sql.claim_on_arrival(worker_name=worker_name, **arrival)
        worker = worker_sql.lock_worker(
            provider_type=run.provider_type, worker_name=worker_name
        )
        return worker_sql.claim_on_arrival(worker=worker, **arrival)


def python_path_refuses(run, worker_name) -> bool:
    """Whether the rules of `eligibility` refuse this worker on the Python path."""
    worker = Worker.objects.get(
        provider_type=run.provider_type, worker_name=worker_name
    )
    check = eligibility.Eligibility(run=run, worker=worker)
    return eligibility.first_failure(check.verdicts()) is not None


# Every rule and comparator both ways, on this path and the Python one:
# tests/test_eligibility_rules.py, generated from eligibility.ARRIVAL_RULES.


def test_a_registration_seen_before_is_left_to_the_full_path(postgres):
    run = TaskRunFactory(units=2)
    assert arrive(run, "w1", registration="r1") is not None

    assert arrive(run, "w1", registration="r1") is None
    assert Agent.objects.filter(run=run).count() == 1


def test_allowed_concurrent_counts_the_units_the_worker_holds(postgres):
    run = TaskRunFactory(units=3, allowed_concurrent=1)

    assert arrive(run, "w1", registration="r1", locked=True) is not None
    assert arrive(run, "w1", registration="r2", locked=True) is None
    assert python_path_refuses(run, "w1")


def test_maximum_units_per_worker_counts_every_run_of_the_task(postgres):
    task = TaskFactory()
    earlier = TaskRunFactory(task=task)
    worker = WorkerFactory(worker_name="w1")
    UnitFactory(assignment__run=earlier, worker=worker, status=UnitStatus.COMPLETED)
    run = TaskRunFactory(task=task, units=2, maximum_units_per_worker=2)

    assert arrive(run, "w1", registration="r1", locked=True) is not None
    assert arrive(run, "w1", registration="r2", locked=True) is None
    assert python_path_refuses(run, "w1")


def test_never_two_units_of_one_assignment_from_the_statement(postgres):
    run = TaskRunFactory(units=1)
    unit = Unit.objects.get(run=run)
    UnitFactory(assignment=unit.assignment, unit_index=1)

    assert arrive(run, "w1", registration="r1") is not None
    assert arrive(run, "w1", registration="r2") is None


def test_the_unit_of_the_hit_the_worker_arrived_through_comes_first(postgres):
    run = TaskRunFactory(units=3)
    units = list(Unit.objects.filter(run=run).order_by("pk"))
    Unit.objects.filter(pk=units[2].pk).update(provider_unit_id="HIT-3")

    details = services.register_agent(
        run=run, worker_name="w1", registration_id="r1", provider_unit_id="HIT-3"
    )

    assert Agent.objects.get(public_id=details.agent_id).unit_id == units[2].pk


# --- the claim position ---------------------------------------------------------


def register(run, worker_name):
    details = services.register_agent(
        run=run, worker_name=worker_name, registration_id=f"{worker_name}-r"
    )
    return Agent.objects.get(public_id=details.agent_id)


def returned_first_of_three() -> tuple:
    """A run of three units: the first two handed out, then the first returned."""
    run = TaskRunFactory(units=3)
    units = list(Unit.objects.filter(run=run).order_by("pk"))
    first = register(run, "w1")
    register(run, "w2")
    services.return_agent(agent_id=first.pk)
    return run, units


def test_a_unit_freed_behind_the_claim_position_is_handed_out_when_none_is_ahead(
    postgres,
):
    run, units = returned_first_of_three()

    # The claim goes on from where it was, then looks from the start.
    assert register(run, "w3").unit_id == units[2].pk
    assert register(run, "w4").unit_id == units[0].pk


def test_a_sweep_makes_the_next_claim_look_from_the_first_unit(postgres, monkeypatch):
    run, units = returned_first_of_three()
    monkeypatch.setattr("tasks_app.services.arrival.SWEEP_INTERVAL_SECONDS", 0.0)

    assert register(run, "w3").unit_id == units[0].pk


# --- statements per request, and a dead connection --------------------------------


def statements(queries) -> list[str]:
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [q["sql"] for q in queries if not q["sql"].startswith(control)]


@pytest.mark.django_db(transaction=True)
def test_an_arrival_and_a_submission_are_one_statement_each(eager_celery):
    need(connection.vendor == "postgresql", ONE_STATEMENT_NEEDS)
    # As production runs, with a broker: without one, a submit also settles its
    # run at once (the top-up and completion beat would do), at a few queries.
    eager_celery.conf.task_always_eager = False
    # As the views get it: from this process's run cache.
    run = selectors.cached_run(TaskRunFactory(units=3).pk)
    services.register_agent(run=run, worker_name="w0", registration_id="r0")

    with CaptureQueriesContext(connection) as arrival:
        details = services.register_agent(
            run=run, worker_name="w1", registration_id="r1"
        )
    with CaptureQueriesContext(connection) as submission:
        services.submit_unit(agent_id=details.agent_id, final_data={"a": 1})

    assert len(arrival.captured_queries) == 1
    assert len(submission.captured_queries) == 1
    assert Unit.objects.filter(run=run, status=UnitStatus.COMPLETED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_under_a_limit_an_arrival_locks_the_worker_then_claims():
    need(connection.vendor == "postgresql", ONE_STATEMENT_NEEDS)
    run = TaskRunFactory(units=3, maximum_units_per_worker=2)
    services.register_agent(run=run, worker_name="w0", registration_id="r0")

    with CaptureQueriesContext(connection) as arrival:
        services.register_agent(run=run, worker_name="w1", registration_id="r1")

    assert len(statements(arrival.captured_queries)) == 2


def drop_the_connection() -> None:
    """End this test's database session from outside, as a server restart would."""
    pid = connection.connection.info.backend_pid
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    # What Django does at the start of every request (request_started).
    connection.close_if_unusable_or_obsolete()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("limit", [0, 2], ids=["one-statement", "under-a-limit"])
def test_a_request_on_a_dropped_connection_reconnects_without_an_error(limit):
    need(connection.vendor == "postgresql", ONE_STATEMENT_NEEDS)
    run = TaskRunFactory(units=2, maximum_units_per_worker=limit)
    services.register_agent(run=run, worker_name="w0", registration_id="r0")

    drop_the_connection()
    details = services.register_agent(run=run, worker_name="w1", registration_id="r1")
    drop_the_connection()
    stored = services.submit_unit(agent_id=details.agent_id, final_data={"a": 1})

    assert details.agent_id is not None
    assert stored is True
    agent = Agent.objects.get(public_id=details.agent_id)
    assert agent.submission == {"a": 1}
