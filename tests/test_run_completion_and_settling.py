"""A run completes as Mephisto's does (no unit created, launched or assigned) and
review goes on after it; without a broker a submit tops the run up and completes
it at once, so the laptop set-up never stalls; `launch_run --resume` tops up a
running run."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from qualifications_app.models import WorkerReview
from tasks_app import services
from tasks_app.models import TaskRun, TaskRunStatus, Unit, UnitStatus
from tasks_app.run_config import load_run_config
from tasks_app.services.lifecycle import COMPLETED_REASON
from tests.command_calls import run as run_command
from tests.factories import TaskRunFactory
from tests.test_launch import write_task
from tests.worker_calls import agent_id_for, request_agent, submit_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def settling_on(settings):
    """As a laptop runs: without a broker, beat's work is done in-process."""
    settings.IN_PROCESS_BEAT = True


def launched(tmp_path, execute, *, rows: int, cap: int) -> TaskRun:
    config = load_run_config(write_task(tmp_path, rows=rows, cap=cap))
    return execute(lambda: services.launch_run(config=config))


def work_one(execute, run: TaskRun, worker: str) -> None:
    client = APIClient()
    agent_id = agent_id_for(client, run, worker=worker)
    assert agent_id, f"{worker} found no unit"
    response = execute(lambda: submit_task(client, run, agent_id, {"ok": 1}))
    assert response.status_code == 200


def statuses(run: TaskRun) -> dict[str, int]:
    return {
        status: run.units.filter(status=status).count()
        for status in (UnitStatus.CREATED, UnitStatus.LAUNCHED, UnitStatus.COMPLETED)
    }


# --- completion -------------------------------------------------------------------


def test_a_run_whose_units_are_all_submitted_is_completed_before_any_review(
    execute, eager_celery
):
    run = TaskRunFactory(units=2)
    eager_celery.conf.task_always_eager = False  # nothing settles at submit
    work_one(execute, run, "alice")
    work_one(execute, run, "bob")

    assert services.complete_finished_runs() == [run.pk]

    run.refresh_from_db()
    assert run.status == TaskRunStatus.COMPLETED
    assert run.end_reason == COMPLETED_REASON
    assert run.ended_at is not None
    assert not WorkerReview.objects.exists()


def test_a_run_with_a_launched_or_assigned_unit_is_not_completed(execute):
    run = TaskRunFactory(units=3)
    work_one(execute, run, "alice")
    request_agent(APIClient(), run, worker="bob")  # holds one; one left launched

    assert services.complete_finished_runs() == []

    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.RUNNING


def test_a_run_with_created_units_waiting_is_not_completed(
    tmp_path, execute, eager_celery
):
    run = launched(tmp_path, execute, rows=2, cap=1)
    eager_celery.conf.task_always_eager = False
    work_one(execute, run, "alice")  # one created unit waits for the top-up

    assert services.complete_finished_runs() == []

    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.RUNNING


def test_review_and_bonuses_go_on_after_the_run_completed(tmp_path, execute):
    run = launched(tmp_path, execute, rows=1, cap=0)
    work_one(execute, run, "alice")
    run.refresh_from_db()
    assert run.status == TaskRunStatus.COMPLETED
    unit = Unit.objects.get(run=run)

    execute(lambda: services.approve_unit(unit_id=unit.pk))
    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.10", reason="ok"))

    unit.refresh_from_db()
    assert unit.status == UnitStatus.ACCEPTED
    assert WorkerReview.objects.filter(unit=unit).count() == 2


# --- without a broker: settled at once ------------------------------------------


def test_without_a_broker_a_submit_launches_the_next_unit_at_once(tmp_path, execute):
    run = launched(tmp_path, execute, rows=5, cap=2)
    assert statuses(run) == {"created": 3, "launched": 2, "completed": 0}

    work_one(execute, run, "alice")

    assert statuses(run) == {"created": 2, "launched": 2, "completed": 1}


def test_without_a_broker_the_next_arrival_after_a_submit_finds_work(tmp_path, execute):
    run = launched(tmp_path, execute, rows=3, cap=1)

    for worker in ("alice", "bob", "carol"):
        work_one(execute, run, worker)

    run.refresh_from_db()
    assert statuses(run) == {"created": 0, "launched": 0, "completed": 3}
    assert run.status == TaskRunStatus.COMPLETED


def test_with_a_broker_a_submit_leaves_the_top_up_to_beat(
    tmp_path, execute, eager_celery
):
    run = launched(tmp_path, execute, rows=5, cap=2)
    eager_celery.conf.task_always_eager = False  # a broker: beat tops up

    work_one(execute, run, "alice")

    assert statuses(run) == {"created": 3, "launched": 1, "completed": 1}
    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING


def test_with_in_process_beat_off_a_submit_settles_nothing(tmp_path, execute, settings):
    run = launched(tmp_path, execute, rows=5, cap=2)
    settings.IN_PROCESS_BEAT = False

    work_one(execute, run, "alice")

    assert statuses(run) == {"created": 3, "launched": 1, "completed": 1}


# --- launch_run --resume on a running run ----------------------------------------


def test_resume_tops_up_a_running_run_with_room(tmp_path, execute, eager_celery):
    run = launched(tmp_path, execute, rows=5, cap=2)
    eager_celery.conf.task_always_eager = False
    work_one(execute, run, "alice")  # frees a place; no beat ran
    eager_celery.conf.task_always_eager = True

    out = execute(lambda: run_command("launch_run", "--resume", str(run.pk)))

    assert statuses(run) == {"created": 2, "launched": 2, "completed": 1}
    assert f"run {run.pk}" in out


def test_resume_of_a_running_run_without_room_says_why(tmp_path, execute):
    run = launched(tmp_path, execute, rows=5, cap=2)
    client = APIClient()
    request_agent(client, run, worker="alice")

    with pytest.raises(Exception, match=r"3 units waiting.*\(2\) are all out"):
        run_command("launch_run", "--resume", str(run.pk))
