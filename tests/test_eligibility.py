"""Who gets which unit, and why not (DESIGN §6), at the service level."""

from __future__ import annotations

import pytest

from tasks_app import selectors, services
from tasks_app.models import Agent, TaskRun, TaskRunStatus, Unit, UnitStatus, Worker
from tests.eligibility_calls import (
    NO_UNITS_LEFT,
    NOT_RUNNING,
    RUN_ENDED,
    agent_of,
    register,
    run_requiring,
    worker_holding,
)
from tests.factories import (
    AssignmentFactory,
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


# --- qualification requirements -------------------------------------------------------


@pytest.mark.parametrize(
    "comparator, value, held",
    [
        ("Exists", None, 0),
        ("DoesNotExist", None, None),
        ("EqualTo", 3, 3),
        ("NotEqualTo", 3, 2),
        ("GreaterThan", 3, 4),
        ("GreaterThanOrEqualTo", 3, 3),
        ("LessThan", 3, 2),
        ("LessThanOrEqualTo", 3, 3),
        ("In", [1, 3], 3),
        ("NotIn", [1, 3], 2),
    ],
)
def test_a_worker_meeting_the_requirement_gets_a_unit(comparator, value, held):
    run = run_requiring(comparator, value)
    worker_holding(held)

    details = register(run)

    assert details.failure_reason is None
    assert agent_of(details).unit.status == UnitStatus.ASSIGNED


@pytest.mark.parametrize(
    "comparator, value, held, reason",
    [
        ("Exists", None, None, "This task needs the qualification 'skill'."),
        (
            "DoesNotExist",
            None,
            1,
            "This task is only for workers without the qualification 'skill'.",
        ),
        ("EqualTo", 3, 2, "Your 'skill' value (2) must be equal to 3."),
        ("NotEqualTo", 3, 3, "Your 'skill' value (3) must be different from 3."),
        ("GreaterThan", 3, 3, "Your 'skill' value (3) must be more than 3."),
        ("GreaterThanOrEqualTo", 3, 2, "Your 'skill' value (2) must be at least 3."),
        ("LessThan", 3, 3, "Your 'skill' value (3) must be less than 3."),
        ("LessThanOrEqualTo", 3, 4, "Your 'skill' value (4) must be at most 3."),
        ("In", [1, 3], 2, "Your 'skill' value (2) must be one of 1, 3."),
        ("NotIn", [1, 3], 3, "Your 'skill' value (3) must be none of 1, 3."),
    ],
)
def test_a_worker_failing_the_requirement_is_told_which_qualification(
    comparator, value, held, reason
):
    run = run_requiring(comparator, value)
    worker = worker_holding(held)

    details = register(run)

    assert details.agent_id is None
    assert details.worker_id == worker.pk
    assert details.failure_reason == reason
    assert not Agent.objects.exists()
    assert Unit.objects.get().status == UnitStatus.LAUNCHED


@pytest.mark.parametrize(
    "comparator, value",
    [
        ("EqualTo", 3),
        ("NotEqualTo", 3),
        ("GreaterThan", 3),
        ("GreaterThanOrEqualTo", 3),
        ("LessThan", 3),
        ("LessThanOrEqualTo", 3),
        ("In", [1, 3]),
        ("NotIn", [1, 3]),
    ],
)
def test_a_value_comparison_needs_the_qualification_to_be_held(comparator, value):
    run = run_requiring(comparator, value)
    worker_holding(None)

    details = register(run)

    assert details.agent_id is None
    assert details.failure_reason == "This task needs the qualification 'skill'."


def test_a_requirement_for_other_providers_does_not_apply():
    run = run_requiring("Exists", applicable_providers=["mturk", "mturk_sandbox"])
    worker_holding(None)

    details = register(run)

    assert details.failure_reason is None
    assert agent_of(details).unit.status == UnitStatus.ASSIGNED


def test_a_requirement_naming_this_provider_applies():
    run = run_requiring("Exists", applicable_providers=["mock"])
    worker_holding(None)

    details = register(run)

    assert details.failure_reason == "This task needs the qualification 'skill'."


# --- blocks ---------------------------------------------------------------------------


def test_a_worker_on_the_local_blocklist_gets_no_work():
    run = TaskRunFactory(units=1)
    WorkerFactory(worker_name="worker-1", is_blocked=True)

    details = register(run)

    assert details.agent_id is None
    assert details.failure_reason == (
        "You are blocked from working on this requester's tasks."
    )
    assert Unit.objects.get().status == UnitStatus.LAUNCHED


def test_the_blocklist_is_checked_before_qualifications():
    run = run_requiring("Exists")
    WorkerFactory(worker_name="worker-1", is_blocked=True)

    details = register(run)

    assert details.failure_reason == (
        "You are blocked from working on this requester's tasks."
    )


def test_a_worker_holding_the_block_qualification_gets_no_work():
    run = TaskRunFactory(
        units=1,
        resolved_config={"mephisto": {"blueprint": {"block_qualification": "bad"}}},
    )
    worker = WorkerFactory(worker_name="worker-1")
    GrantedQualificationFactory(
        worker=worker, qualification=QualificationFactory(name="bad"), value=1
    )

    details = register(run)

    assert details.agent_id is None
    assert details.failure_reason == "You are blocked from working on this task."


def test_the_block_qualification_does_not_refuse_other_workers():
    run = TaskRunFactory(
        units=1,
        resolved_config={"mephisto": {"blueprint": {"block_qualification": "bad"}}},
    )
    QualificationFactory(name="bad")

    details = register(run)

    assert details.failure_reason is None


# --- limits ---------------------------------------------------------------------------


def test_allowed_concurrent_refuses_another_open_unit_with_a_reason():
    run = TaskRunFactory(units=3, allowed_concurrent=1)
    first = register(run, registration="tab-1")

    second = register(run, registration="tab-2")

    assert second.agent_id is None
    assert second.failure_reason == (
        "You already have 1 unit(s) of this task open; submit them first."
    )
    assert Unit.objects.filter(status=UnitStatus.ASSIGNED).count() == 1
    services.submit_unit(agent_id=first.agent_id, final_data={"done": True})
    assert register(run, registration="tab-3").failure_reason is None


def test_maximum_units_per_worker_counts_every_run_of_the_task():
    task = TaskFactory(task_name="rate-sentences")
    pilot = TaskRunFactory(task=task, units=2, maximum_units_per_worker=2)
    batch = TaskRunFactory(task=task, units=2, maximum_units_per_worker=2)
    done = register(pilot, registration="pilot-1")
    services.submit_unit(agent_id=done.agent_id, final_data={})
    register(batch, registration="batch-1")

    third = register(batch, registration="batch-2")

    assert third.agent_id is None
    assert third.failure_reason == (
        "You have reached the maximum of 2 units for this task."
    )
    assert Unit.objects.filter(run=batch, status=UnitStatus.LAUNCHED).count() == 1


def test_maximum_units_per_worker_does_not_count_another_task():
    other = TaskRunFactory(
        task=TaskFactory(task_name="other-task"), units=2, maximum_units_per_worker=2
    )
    run = TaskRunFactory(
        task=TaskFactory(task_name="rate-sentences"),
        units=2,
        maximum_units_per_worker=2,
    )
    register(other, registration="other-1")
    register(other, registration="other-2")

    details = register(run, registration="run-1")

    assert details.failure_reason is None
    assert agent_of(details).unit.run == run


def test_a_returned_unit_does_not_count_towards_the_maximum():
    run = TaskRunFactory(units=2, maximum_units_per_worker=1)
    returned = agent_of(register(run, registration="tab-1"))
    services.return_agent(agent_id=returned.pk)

    details = register(run, registration="tab-2")

    assert details.failure_reason is None


def run_with_two_units_per_assignment(assignments: int):
    run = TaskRunFactory(units=0)
    for row in range(assignments):
        assignment = AssignmentFactory(run=run, row_index=row, data={"row": row})
        for unit_index in (0, 1):
            UnitFactory(assignment=assignment, unit_index=unit_index)
    return run


def test_a_worker_never_gets_two_units_of_one_assignment():
    run = run_with_two_units_per_assignment(assignments=2)

    first = register(run, registration="tab-1")
    second = register(run, registration="tab-2")
    third = register(run, registration="tab-3")

    assert first.init_task_data == {"row": 0}
    assert second.init_task_data == {"row": 1}
    assert agent_of(first).unit.assignment != agent_of(second).unit.assignment
    assert third.agent_id is None
    assert third.failure_reason == NO_UNITS_LEFT


def test_the_other_unit_of_an_assignment_goes_to_another_worker():
    run = run_with_two_units_per_assignment(assignments=1)
    register(run, "worker-1")

    again = register(run, "worker-1", registration="tab-2")
    other = register(run, "worker-2")

    assert again.failure_reason == NO_UNITS_LEFT
    assert other.failure_reason is None
    assert set(Unit.objects.values_list("worker__worker_name", flat=True)) == {
        "worker-1",
        "worker-2",
    }


def run_with_hook(tmp_path, source: str, units: int = 3):
    hooks = tmp_path / "hooks.py"
    hooks.write_text(source)
    return TaskRunFactory(
        units=units,
        resolved_config={"mephisto": {"blueprint": {"hooks": str(hooks)}}},
    )


def test_the_worker_can_do_unit_hook_skips_units_it_refuses(tmp_path):
    run = run_with_hook(
        tmp_path,
        "def worker_can_do_unit(worker, unit):\n"
        "    return unit.assignment.data['text'] != 'row 0'\n",
    )

    details = register(run)

    assert details.init_task_data == {"text": "row 1"}
    refused = Unit.objects.get(assignment__data__text="row 0")
    assert refused.status == UnitStatus.LAUNCHED
    assert refused.worker is None


def test_the_worker_can_do_unit_hook_sees_the_worker(tmp_path):
    run = run_with_hook(
        tmp_path,
        "def worker_can_do_unit(worker, unit):\n"
        "    return worker.worker_name != 'worker-1'\n",
    )

    refused = register(run, "worker-1")
    allowed = register(run, "worker-2")

    assert refused.agent_id is None
    assert refused.failure_reason == NO_UNITS_LEFT
    assert allowed.failure_reason is None
    assert Unit.objects.filter(status=UnitStatus.LAUNCHED).count() == 2


# --- run status and supply ------------------------------------------------------------


@pytest.mark.parametrize(
    "status, reason",
    [("launching", NOT_RUNNING), ("completed", RUN_ENDED), ("shut_down", RUN_ENDED)],
)
def test_a_run_that_is_not_running_refuses(status, reason):
    run = TaskRunFactory(units=1, status=status)

    details = register(run)

    assert details.agent_id is None
    assert details.failure_reason == reason
    assert Unit.objects.get().status == UnitStatus.LAUNCHED


def test_a_run_stopped_after_serving_workers_refuses_the_next_one():
    # The worker API keeps runs per process; their status is still read fresh.
    run = TaskRunFactory(units=2)
    cached = selectors.cached_run(run.pk)
    assert register(cached, "worker-1").agent_id
    TaskRun.objects.filter(pk=run.pk).update(status=TaskRunStatus.SHUT_DOWN)

    details = register(selectors.cached_run(run.pk), "worker-2")

    assert details.agent_id is None
    assert details.failure_reason == RUN_ENDED
    assert Unit.objects.filter(status=UnitStatus.LAUNCHED).count() == 1


def test_a_stopped_run_says_so_rather_than_naming_a_missing_qualification():
    QualificationFactory(name="skill")
    run = TaskRunFactory(
        units=1,
        status=TaskRunStatus.COMPLETED,
        qualifications=[{"qualification_name": "skill", "comparator": "Exists"}],
    )

    details = register(run)

    assert details.failure_reason == RUN_ENDED


def test_when_every_unit_is_taken_the_reason_is_no_units_left():
    run = TaskRunFactory(units=1)
    register(run, "worker-1")

    details = register(run, "worker-2")

    assert details.agent_id is None
    assert details.failure_reason == NO_UNITS_LEFT


def test_units_not_yet_launched_are_not_handed_out():
    run = TaskRunFactory(units=0)
    UnitFactory(assignment=AssignmentFactory(run=run), status=UnitStatus.CREATED)

    details = register(run)

    assert details.failure_reason == NO_UNITS_LEFT


def test_screening_units_are_not_handed_out_as_work():
    run = TaskRunFactory(units=0)
    UnitFactory(assignment=AssignmentFactory(run=run), unit_index=-1)

    details = register(run)

    assert details.failure_reason == NO_UNITS_LEFT


def test_a_worker_seen_for_the_first_time_is_created_with_their_first_claim():
    run = TaskRunFactory(units=1)

    details = register(run, "brand-new")

    worker = Worker.objects.get(worker_name="brand-new")
    assert details.worker_id == worker.pk
    assert worker.provider_type == run.provider_type
    assert worker.created_at is not None
    assert Unit.objects.get().worker == worker
