"""Agents that time out, submit late or return their unit, at the service level."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tasks_app import services
from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus
from tests.eligibility_calls import agent_of, register
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

DURATION = timedelta(seconds=600)


@pytest.fixture
def clock(time_machine):
    """The clock stands still at now until a test moves it."""
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


# --- timeouts and late submissions ----------------------------------------------------


def test_an_agent_past_its_duration_is_expired_and_its_unit_relaunched(clock):
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run))
    clock.shift(DURATION + timedelta(seconds=1))

    expired = services.expire_overdue_agents()

    assert expired == 1
    agent.refresh_from_db()
    agent.unit.refresh_from_db()
    assert agent.status == AgentStatus.TIMEOUT
    assert agent.unit.status == UnitStatus.LAUNCHED
    assert agent.unit.worker is None


def test_an_agent_within_its_duration_is_not_expired(clock):
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run))
    clock.shift(DURATION - timedelta(seconds=1))

    assert services.expire_overdue_agents() == 0
    agent.refresh_from_db()
    assert agent.status == AgentStatus.ACCEPTED


def test_expiring_twice_is_harmless(clock):
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run))
    clock.shift(DURATION + timedelta(seconds=1))
    services.expire_overdue_agents()

    assert services.expire_overdue_agents() == 0
    assert services.expire_agent(agent_id=agent.pk) is False
    agent.refresh_from_db()
    assert agent.status == AgentStatus.TIMEOUT
    assert Unit.objects.get().status == UnitStatus.LAUNCHED


def test_a_claim_expires_the_runs_overdue_agents_first(clock):
    run = TaskRunFactory(units=1)
    late = agent_of(register(run, "worker-1"))
    clock.shift(DURATION + timedelta(seconds=1))

    details = register(run, "worker-2")

    assert details.failure_reason is None
    late.refresh_from_db()
    assert late.status == AgentStatus.TIMEOUT
    unit = Unit.objects.get()
    assert unit.worker.worker_name == "worker-2"
    assert unit.status == UnitStatus.ASSIGNED


def test_a_claim_finding_no_unit_sweeps_even_right_after_a_sweep(clock):
    run = TaskRunFactory(units=1)
    late = agent_of(register(run, "worker-1"))  # this claim swept the run
    clock.shift(DURATION + timedelta(seconds=1))

    details = register(run, "worker-2")

    assert details.agent_id is not None
    late.refresh_from_db()
    assert late.status == AgentStatus.TIMEOUT


def test_a_submission_past_the_deadline_before_any_sweep_is_flagged_late(clock):
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run, "worker-1"))
    clock.shift(DURATION + timedelta(seconds=1))

    assert services.submit_unit(agent_id=agent.public_id, final_data={"a": 1})

    agent.refresh_from_db()
    assert agent.status == AgentStatus.COMPLETED
    assert agent.is_late is True
    assert agent.submission == {"a": 1}
    assert Unit.objects.get().status == UnitStatus.COMPLETED


def test_a_submission_within_the_deadline_is_not_late(clock):
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run, "worker-1"))
    clock.shift(DURATION - timedelta(seconds=1))

    services.submit_unit(agent_id=agent.public_id, final_data={"a": 1})

    agent.refresh_from_db()
    assert agent.is_late is False


def test_a_timed_out_agent_reconnecting_is_told_its_time_ran_out(clock):
    run = TaskRunFactory(units=1)
    register(run, "worker-1", registration="tab-1")
    clock.shift(DURATION + timedelta(seconds=1))
    services.expire_overdue_agents()

    details = register(run, "worker-1", registration="tab-1")

    assert details.agent_id is None
    assert details.failure_reason == (
        "Your time for this unit ran out. Please return it and accept a new one."
    )


def test_a_late_submission_nobody_took_over_completes_the_unit(clock):
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run, "worker-1"))
    clock.shift(DURATION + timedelta(seconds=1))
    services.expire_overdue_agents()

    stored = services.submit_unit(agent_id=agent.public_id, final_data={"a": 1})

    assert stored is True
    agent.refresh_from_db()
    assert agent.submission == {"a": 1}
    assert agent.is_late is True
    assert agent.status == AgentStatus.COMPLETED
    unit = Unit.objects.get()
    assert unit.status == UnitStatus.COMPLETED
    assert unit.worker == agent.worker


def test_a_late_submission_is_kept_but_leaves_the_new_workers_unit_alone(clock):
    run = TaskRunFactory(units=1)
    late = agent_of(register(run, "worker-1"))
    clock.shift(DURATION + timedelta(seconds=1))
    current = agent_of(register(run, "worker-2"))

    stored = services.submit_unit(agent_id=late.public_id, final_data={"a": 1})

    assert stored is True
    late.refresh_from_db()
    assert late.submission == {"a": 1}
    assert late.is_late is True
    assert late.status == AgentStatus.TIMEOUT
    current.refresh_from_db()
    current.unit.refresh_from_db()
    assert current.status == AgentStatus.ACCEPTED
    assert current.submission is None
    assert current.unit.status == UnitStatus.ASSIGNED
    assert current.unit.worker == current.worker


def test_the_new_worker_can_still_submit_after_a_late_submission(clock):
    run = TaskRunFactory(units=1)
    late = agent_of(register(run, "worker-1"))
    clock.shift(DURATION + timedelta(seconds=1))
    current = agent_of(register(run, "worker-2"))
    services.submit_unit(agent_id=late.public_id, final_data={"a": 1})

    services.submit_unit(agent_id=current.public_id, final_data={"b": 2})

    unit = Unit.objects.get()
    assert unit.status == UnitStatus.COMPLETED
    assert unit.worker == current.worker
    assert Agent.objects.get(pk=current.pk).is_late is False


# --- returns --------------------------------------------------------------------------


def test_returning_frees_the_unit_at_once():
    run = TaskRunFactory(units=1)
    agent = agent_of(register(run, "worker-1", registration="tab-1"))

    returned = services.return_agent(agent_id=agent.pk)

    assert returned is True
    agent.refresh_from_db()
    assert agent.status == AgentStatus.RETURNED
    unit = Unit.objects.get()
    assert unit.status == UnitStatus.LAUNCHED
    assert unit.worker is None
    assert register(run, "worker-2").failure_reason is None


def test_a_returned_agent_reconnecting_is_told_so_and_returning_again_is_harmless():
    run = TaskRunFactory(units=2)
    agent = agent_of(register(run, "worker-1", registration="tab-1"))
    services.return_agent(agent_id=agent.pk)

    again = register(run, "worker-1", registration="tab-1")

    assert again.agent_id is None
    assert again.failure_reason == "You returned this unit. Please accept a new one."
    assert services.return_agent(agent_id=agent.pk) is False


def test_a_submitted_agent_cannot_be_returned():
    run = TaskRunFactory(units=1)
    details = register(run)
    services.submit_unit(agent_id=details.agent_id, final_data={})

    assert services.return_agent(agent_id=agent_of(details).pk) is False
    assert Unit.objects.get().status == UnitStatus.COMPLETED
