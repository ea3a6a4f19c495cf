"""Without a broker the web process runs beat's schedule between requests
(tasks_app/in_process_beat.py): stale runs end, overdue agents time out and due
units are auto-approved on a laptop with no Celery at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from tasks_app import in_process_beat
from tasks_app.models import TaskRun, TaskRunStatus
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

SCHEDULED = [entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()]


@pytest.fixture(name="beat_on")
def beat_on_fixture(settings):
    settings.IN_PROCESS_BEAT = True
    in_process_beat.forget_runs()


def stale_run() -> TaskRun:
    """A running run launched an hour ago with no submission and 60 s of patience."""
    return TaskRunFactory(
        units=2,
        no_submission_patience=60,
        launched_at=timezone.now() - timedelta(hours=1),
    )


def test_a_request_runs_the_schedule_and_a_stale_run_is_shut_down(beat_on):
    task_run = stale_run()

    Client().get("/admin/login/")

    task_run.refresh_from_db()
    assert task_run.status == TaskRunStatus.SHUT_DOWN
    assert "no_submission_patience" in task_run.end_reason


def test_each_task_runs_once_per_its_interval_in_a_process(beat_on):
    assert in_process_beat.run_due(now=1000.0) == SCHEDULED

    assert in_process_beat.run_due(now=1010.0) == []
    # 30 s later: only the tasks scheduled every 30 s are due again.
    again = in_process_beat.run_due(now=1030.0)
    assert again == [
        entry["task"]
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["schedule"] <= 30
    ]


def test_with_a_broker_requests_run_nothing(beat_on, eager_celery):
    task_run = stale_run()
    eager_celery.conf.task_always_eager = False

    Client().get("/admin/login/")

    assert in_process_beat.run_due() == []
    assert TaskRun.objects.get(pk=task_run.pk).status == TaskRunStatus.RUNNING


def test_switched_off_it_runs_nothing(settings):
    settings.IN_PROCESS_BEAT = False
    task_run = stale_run()

    Client().get("/admin/login/")

    assert TaskRun.objects.get(pk=task_run.pk).status == TaskRunStatus.RUNNING


def test_a_failing_task_is_logged_and_the_rest_still_run(beat_on, monkeypatch, caplog):
    task_run = stale_run()

    def broken():
        raise RuntimeError("the sweep broke")

    from tasks_app import tasks

    monkeypatch.setattr(tasks.expire_overdue_agents, "run", broken)

    response = Client().get("/admin/login/")

    assert response.status_code == 200
    assert "in-process beat: tasks_app.tasks.expire_overdue_agents failed" in (
        caplog.text
    )
    assert TaskRun.objects.get(pk=task_run.pk).status == TaskRunStatus.SHUT_DOWN
