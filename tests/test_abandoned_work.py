"""Work a provider says its worker gave up (Prolific's RETURNED and TIMED-OUT)
frees its unit here too; an ended run is closed on its provider once."""

from __future__ import annotations

import pytest

from providers.base import AbandonedWork
from providers.mock import MockProvider
from providers.models import ProviderCall
from tasks_app import services
from tasks_app.models import AgentStatus, TaskRunStatus, Unit, UnitStatus
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory

pytestmark = pytest.mark.django_db


class Listing:
    """What the (mock) provider lists as given up, and which units it was asked for."""

    def __init__(self) -> None:
        self.given_up: list[AbandonedWork] = []
        self.asked: list[list[str]] = []

    def append(self, work: AbandonedWork) -> None:
        self.given_up.append(work)


@pytest.fixture
def listed(monkeypatch) -> Listing:
    listing = Listing()

    def abandoned_work(self, *, provider_unit_ids):
        listing.asked.append(list(provider_unit_ids))
        return list(listing.given_up)

    monkeypatch.setattr(MockProvider, "lists_abandoned_work", True)
    monkeypatch.setattr(MockProvider, "abandoned_work", abandoned_work)
    return listing


def held(run, worker_name: str, assignment: str, **agent):
    worker = WorkerFactory(worker_name=worker_name)
    unit = UnitFactory(
        run=run,
        assignment__run=run,
        worker=worker,
        status=UnitStatus.ASSIGNED,
        provider_unit_id="STUDY1",
    )
    return AgentFactory(
        unit=unit, worker=worker, provider_assignment_id=assignment, **agent
    )


def given_up(submission: str, status: str) -> AbandonedWork:
    return AbandonedWork(
        provider_unit_id="STUDY1",
        provider_assignment_id=submission,
        worker_name="p",
        status=status,
    )


@pytest.mark.parametrize(
    ("status", "agent_status"),
    [("RETURNED", AgentStatus.RETURNED), ("TIMED-OUT", AgentStatus.TIMEOUT)],
)
def test_a_place_given_up_on_the_provider_frees_its_unit(listed, status, agent_status):
    run = TaskRunFactory()
    agent = held(run, "P1", "S1")
    listed.append(given_up("S1", status))

    assert services.free_abandoned_units(run_id=run.pk) == [agent.pk]

    agent.refresh_from_db()
    unit = Unit.objects.get(pk=agent.unit_id)
    assert agent.status == agent_status
    assert (unit.status, unit.worker_id) == (UnitStatus.LAUNCHED, None)
    assert listed.asked == [["STUDY1"]]


def test_a_stored_submission_is_never_undone(listed):
    run = TaskRunFactory()
    agent = held(run, "P1", "S1")
    services.submit_unit(agent_id=agent.public_id, final_data={"a": 1})
    listed.append(given_up("S1", "RETURNED"))

    assert services.free_abandoned_units(run_id=run.pk) == []

    agent.refresh_from_db()
    assert agent.status == AgentStatus.COMPLETED
    assert Unit.objects.get(pk=agent.unit_id).status == UnitStatus.COMPLETED


def test_only_the_listed_agent_is_freed_and_twice_frees_once(listed):
    run = TaskRunFactory()
    gone = held(run, "P1", "S1")
    stays = held(run, "P2", "S2")
    listed.append(given_up("S1", "RETURNED"))
    listed.append(given_up("S-UNKNOWN", "RETURNED"))

    assert services.free_abandoned_units(run_id=run.pk) == [gone.pk]
    assert services.free_abandoned_units(run_id=run.pk) == []

    stays.refresh_from_db()
    assert stays.status == "in_task"


def test_in_a_shut_down_run_the_freed_unit_is_expired(listed):
    run = TaskRunFactory()
    agent = held(run, "P1", "S1")
    run.status = TaskRunStatus.SHUT_DOWN
    run.save(update_fields=["status"])
    listed.append(given_up("S1", "RETURNED"))

    services.free_abandoned_units(run_id=run.pk)

    assert Unit.objects.get(pk=agent.unit_id).status == UnitStatus.EXPIRED


def test_a_provider_that_lists_no_abandoned_work_is_not_asked(monkeypatch):
    run = TaskRunFactory()
    held(run, "P1", "S1")
    monkeypatch.setattr(
        MockProvider, "abandoned_work", lambda *a, **k: pytest.fail("asked")
    )

    assert services.free_abandoned_units(run_id=run.pk) == []


def test_runs_on_a_provider_that_lists_abandoned_work_are_polled(listed):
    run = TaskRunFactory()

    assert run.pk in services.runs_to_poll()


# --- closing an ended run on its provider -----------------------------------------


@pytest.fixture
def ended(monkeypatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def end_run(self, *, run, provider_unit_ids):
        calls.append(list(provider_unit_ids))
        return {"stopped": list(provider_unit_ids)}

    monkeypatch.setattr(MockProvider, "end_run", end_run)
    return calls


def test_a_shut_down_run_is_closed_on_its_provider_once(ended, execute):
    run = TaskRunFactory(units=2)
    Unit.objects.filter(run=run).update(provider_unit_id="STUDY1")

    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))
    execute(lambda: services.end_run_on_provider(run_id=run.pk))

    assert ended == [["STUDY1"]]
    assert ProviderCall.objects.get(operation="end_run").status == "succeeded"


def test_a_completed_run_is_closed_on_its_provider(ended, execute):
    run = TaskRunFactory(units=1)
    Unit.objects.filter(run=run).update(
        provider_unit_id="STUDY1", status=UnitStatus.EXPIRED
    )

    assert execute(services.complete_finished_runs) == [run.pk]

    assert ended == [["STUDY1"]]


def test_a_run_never_posted_to_its_provider_is_not_closed_there(ended, execute):
    run = TaskRunFactory(units=1)

    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough"))

    assert ended == []
