"""The demo command, end to end, on the test database."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from qualifications_app.models import GrantedQualification
from tasks_app.models import Agent, Task, TaskRun, Unit, UnitStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_launches_the_example_run_and_says_where_to_look(capsys, settings):
    settings.DEBUG = True

    call_command("demo")

    out = capsys.readouterr().out
    run = TaskRun.objects.get()
    assert run.task.task_name == "sentence-rating-local-testing"
    assert run.provider_type == "mock"
    assert run.config_path.endswith(
        "examples/static_react_task/conf/local_testing.yaml"
    )
    assert Unit.objects.filter(run=run).count() == 6
    assert f"/admin/tasks_app/taskrun/{run.pk}/change/" in out
    assert f"/?task_run_id={run.pk}&worker_id=" in out
    password = out.split("password ")[1].split(")")[0]
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_demo_workers_complete_fail_onboarding_and_reach_the_maximum(capsys, settings):
    settings.DEBUG = True

    call_command("demo")

    out = capsys.readouterr().out
    run = TaskRun.objects.get()
    completed = Unit.objects.filter(run=run, status=UnitStatus.COMPLETED)
    by_worker = dict(
        completed.values_list("worker__worker_name").annotate(n=Count("pk"))
    )
    assert by_worker == {f"alice-r{run.pk}": 2, f"carol-r{run.pk}": 3}
    assert all(agent.submission for agent in Agent.objects.filter(run=run))
    assert "You did not pass the onboarding for this task" in out
    assert "You have reached the maximum of 3 units for this task." in out
    failed = "sentence-rating-onboarding-local-failed"
    assert GrantedQualification.objects.filter(
        worker__worker_name=f"bob-r{run.pk}", qualification__name=failed
    ).exists()


def test_running_the_demo_again_launches_a_new_run_of_the_same_task(settings):
    settings.DEBUG = True

    call_command("demo", "--no-workers")
    call_command("demo", "--no-workers")

    assert Task.objects.count() == 1
    assert TaskRun.objects.count() == 2


def test_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("demo")

    assert TaskRun.objects.count() == 0
