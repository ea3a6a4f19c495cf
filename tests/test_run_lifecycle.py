"""A run's end: shutdown (by a person, by patience, by lifetime), units expired here
and on the provider, held units still submitted, and completion by itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone
from rest_framework.test import APIClient

from providers.mock import MockProvider
from providers.models import ProviderCall
from tasks_app import selectors, services, tasks
from tasks_app.exceptions import RunLifecycleError
from tasks_app.models import (
    Agent,
    AgentStatus,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
)
from tests.eligibility_calls import RUN_ENDED
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory
from tests.threads import race
from tests.worker_calls import agent_id_for, request_agent, return_unit, submit_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def expired_on_provider(monkeypatch):
    """The provider ids each expire_units call of the mock was given."""
    calls: list[list[str]] = []
    monkeypatch.setattr(
        MockProvider,
        "expire_units",
        lambda self, *, run, provider_unit_ids: calls.append(list(provider_unit_ids)),
    )
    return calls


def statuses(run: TaskRun) -> dict[str, int]:
    return selectors.unit_counts(run=run)


def launched_run(units: int = 3) -> TaskRun:
    run = TaskRunFactory(units=units)
    for index, unit in enumerate(Unit.objects.filter(run=run).order_by("pk")):
        unit.provider_unit_id = f"HIT{index}"
        unit.save(update_fields=["provider_unit_id"])
    return run


# --- shutdown ------------------------------------------------------------------------


def test_shutting_down_expires_untaken_units_here_and_on_the_provider(
    execute, expired_on_provider
):
    run = launched_run(units=3)
    client = APIClient()
    holder = agent_id_for(client, run, worker="alice")

    done = execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    run.refresh_from_db()
    assert (run.status, run.end_reason) == (TaskRunStatus.SHUT_DOWN, "enough")
    assert run.ended_at is not None
    assert (done.expired, done.held) == (2, 1)
    assert statuses(run) == {"assigned": 1, "expired": 2}
    taken = Unit.objects.get(run=run, status=UnitStatus.ASSIGNED)
    assert expired_on_provider == [
        sorted(
            Unit.objects.filter(run=run, status=UnitStatus.EXPIRED).values_list(
                "provider_unit_id", flat=True
            )
        )
    ]
    assert taken.provider_unit_id not in expired_on_provider[0]
    call = ProviderCall.objects.get(operation="expire_units")
    assert (call.status, call.run_id) == ("succeeded", run.pk)
    # The worker who holds a unit can still submit it.
    assert submit_task(client, run, holder, {"rating": "good"}).status_code == 200
    taken.refresh_from_db()
    assert taken.status == UnitStatus.COMPLETED


def test_a_worker_arriving_after_the_shutdown_is_told_there_are_no_units_left(
    execute,
):
    run = launched_run(units=2)
    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    response = request_agent(APIClient(), run, worker="late-bob")

    assert response.status_code == 200
    assert response.json()["data"]["agent_id"] is None
    assert response.json()["data"]["failure_reason"] == RUN_ENDED
    assert not Agent.objects.exists()


def test_a_unit_freed_after_the_shutdown_expires_instead_of_going_back(execute):
    run = launched_run(units=2)
    client = APIClient()
    holder = agent_id_for(client, run, worker="alice")
    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    assert return_unit(client, holder).status_code == 200

    assert statuses(run) == {"expired": 2}
    assert Agent.objects.get().status == AgentStatus.RETURNED


def test_a_timed_out_agent_of_a_shut_down_run_frees_no_unit(execute):
    run = launched_run(units=1)
    client = APIClient()
    agent_id_for(client, run, worker="alice")
    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))
    Agent.objects.update(deadline_at=timezone.now() - timedelta(minutes=1))

    assert services.expire_overdue_agents() == 1

    assert statuses(run) == {"expired": 1}


def test_shutting_down_twice_is_refused_the_second_time_with_when_and_why(execute):
    run = launched_run(units=2)
    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    with pytest.raises(RunLifecycleError, match=r"already ended: it is shut_down at"):
        services.shutdown_run(run_id=run.pk, reason="again")

    run.refresh_from_db()
    assert run.end_reason == "enough"
    assert ProviderCall.objects.filter(operation="expire_units").count() == 1


def test_shutting_down_a_completed_or_unknown_run_is_refused():
    done = TaskRunFactory(units=1, status=TaskRunStatus.COMPLETED)

    with pytest.raises(RunLifecycleError, match="it is completed"):
        services.shutdown_run(run_id=done.pk, reason="x")
    with pytest.raises(RunLifecycleError, match="there is no task run 999999"):
        services.shutdown_run(run_id=999999, reason="x")

    assert statuses(done) == {"launched": 1}


def test_expiring_on_the_provider_twice_calls_it_once(execute, expired_on_provider):
    run = launched_run(units=2)
    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    again = tasks.expire_units_on_provider.delay(run.pk).get()

    assert again == 2  # the units, answered from the call log
    assert len(expired_on_provider) == 1
    assert ProviderCall.objects.filter(operation="expire_units").count() == 1


def test_units_never_posted_to_the_provider_are_not_sent_to_it(
    execute, expired_on_provider
):
    run = TaskRunFactory(units=2)  # mock units: no provider-side id

    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    assert statuses(run) == {"expired": 2}
    assert expired_on_provider == []
    assert not ProviderCall.objects.filter(operation="expire_units").exists()


def test_units_posted_while_the_run_was_shut_down_are_withdrawn_too(
    execute, monkeypatch, expired_on_provider
):
    run = TaskRunFactory(launching=True, units=2)

    def post_and_meanwhile_shut_down(self, *, run, unit_ids, task_url, **kwargs):
        services.shutdown_run(run_id=run.run_id, reason="stopped during the launch")
        return {unit_id: f"HIT-{unit_id}" for unit_id in unit_ids}

    monkeypatch.setattr(MockProvider, "launch_units", post_and_meanwhile_shut_down)

    execute(lambda: services.launch_units(run_id=run.pk))

    assert statuses(run) == {"expired": 2}
    ids = sorted(f"HIT-{pk}" for pk in Unit.objects.values_list("pk", flat=True))
    assert sorted(Unit.objects.values_list("provider_unit_id", flat=True)) == ids
    assert [sorted(call) for call in expired_on_provider] == [ids]


# --- patience, lifetime, completion (beat) -------------------------------------------


def test_beat_shuts_down_a_run_with_no_submission_within_its_patience(execute):
    idle = launched_run(units=2)
    TaskRun.objects.filter(pk=idle.pk).update(
        no_submission_patience=60, launched_at=timezone.now() - timedelta(minutes=5)
    )
    fresh = launched_run(units=1)
    TaskRun.objects.filter(pk=fresh.pk).update(no_submission_patience=600)

    result = execute(lambda: tasks.end_runs.delay().get())

    assert result["shut_down"] == [idle.pk]
    idle.refresh_from_db()
    assert idle.status == TaskRunStatus.SHUT_DOWN
    assert idle.end_reason == "no submission for 60 seconds (no_submission_patience)"
    assert TaskRun.objects.get(pk=fresh.pk).status == TaskRunStatus.RUNNING


def test_patience_runs_from_the_last_submission(execute):
    run = launched_run(units=2)
    TaskRun.objects.filter(pk=run.pk).update(
        no_submission_patience=60, launched_at=timezone.now() - timedelta(hours=1)
    )
    client = APIClient()
    agent_id = agent_id_for(client, run, worker="alice")
    submit_task(client, run, agent_id, {"rating": "good"})

    assert execute(lambda: services.shut_down_stale_runs()) == []
    later = timezone.now() + timedelta(seconds=61)
    [done] = execute(lambda: services.shut_down_stale_runs(now=later))

    assert done.run_id == run.pk
    assert done.expired == 1


def test_a_patience_of_zero_never_shuts_a_run_down(execute):
    run = launched_run(units=1)
    TaskRun.objects.filter(pk=run.pk).update(
        no_submission_patience=0, launched_at=timezone.now() - timedelta(days=30)
    )

    assert execute(lambda: services.shut_down_stale_runs()) == []


def test_beat_shuts_down_a_run_past_its_task_lifetime(execute):
    run = launched_run(units=2)
    TaskRun.objects.filter(pk=run.pk).update(
        resolved_config={"mephisto": {"task": {"task_lifetime_in_seconds": 3600}}},
        launched_at=timezone.now() - timedelta(hours=2),
        no_submission_patience=0,
    )

    [done] = execute(lambda: services.shut_down_stale_runs())

    assert done.reason == "its task_lifetime_in_seconds (3600) passed"
    assert statuses(run) == {"expired": 2}


def test_a_run_with_no_unit_left_to_do_completes_by_itself_review_or_not():
    finished, waiting, held, empty = (TaskRunFactory() for _ in range(4))
    for run, second in (
        (finished, UnitStatus.EXPIRED),
        (waiting, UnitStatus.COMPLETED),
        (held, UnitStatus.ASSIGNED),
    ):
        UnitFactory(
            assignment__run=run, status=UnitStatus.ACCEPTED, worker=WorkerFactory()
        )
        # waiting's second unit is submitted, not reviewed yet; held's is taken
        UnitFactory(
            assignment__run=run,
            status=second,
            worker=WorkerFactory() if second != UnitStatus.EXPIRED else None,
        )

    assert sorted(services.complete_finished_runs()) == [finished.pk, waiting.pk]
    assert services.complete_finished_runs() == []

    finished.refresh_from_db()
    assert finished.status == TaskRunStatus.COMPLETED
    assert finished.end_reason == (
        "no unit is created, launched or assigned (collection is done)"
    )
    assert TaskRun.objects.get(pk=waiting.pk).status == TaskRunStatus.COMPLETED
    assert TaskRun.objects.get(pk=held.pk).status == TaskRunStatus.RUNNING
    assert TaskRun.objects.get(pk=empty.pk).status == TaskRunStatus.RUNNING


def test_a_shut_down_run_stays_shut_down_when_its_last_unit_is_reviewed(execute):
    run = launched_run(units=1)
    client = APIClient()
    agent_id = agent_id_for(client, run, worker="alice")
    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))
    submit_task(client, run, agent_id, {"rating": "good"})
    unit = Unit.objects.get(run=run)
    execute(lambda: services.approve_unit(unit_id=unit.pk))

    assert services.complete_finished_runs() == []
    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.SHUT_DOWN


# --- what can't be deleted ----------------------------------------------------------


def test_a_run_or_unit_that_workers_took_part_in_cant_be_deleted():
    agent = AgentFactory(unit__worker=WorkerFactory())
    run = agent.run

    with pytest.raises(ProtectedError):
        run.delete()
    with pytest.raises(ProtectedError):
        agent.unit.delete()

    assert Agent.objects.filter(pk=agent.pk).exists()


def test_a_run_nobody_worked_on_can_be_deleted():
    run = TaskRunFactory(units=2)

    run.delete()

    assert not Unit.objects.exists()


# --- races (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_shutdowns_racing_on_one_run_shut_it_down_once(postgres, expired_on_provider):
    run = launched_run(units=4)

    outcomes = race(
        [
            lambda n=n: services.shutdown_run(run_id=run.pk, reason=f"by {n}")
            for n in "abcd"
        ]
    )

    done = [o for o in outcomes if isinstance(o, services.Shutdown)]
    refused = [o for o in outcomes if isinstance(o, RunLifecycleError)]
    assert len(done) == 1 and len(refused) == 3, outcomes
    assert done[0].expired == 4
    assert statuses(run) == {"expired": 4}
    assert ProviderCall.objects.filter(operation="expire_units").count() == 1
