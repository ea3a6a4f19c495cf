"""The demo command, end to end, on the test database."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from tasks_app.models import Task, TaskRun, Unit, UnitStatus

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
    assert Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED).count() == 6
    assert f"/admin/tasks_app/taskrun/{run.pk}/change/" in out
    assert f"/task/{run.pk}/?worker_id=" in out
    password = out.split("password ")[1].split(")")[0]
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_running_the_demo_again_launches_a_new_run_of_the_same_task(settings):
    settings.DEBUG = True

    call_command("demo")
    call_command("demo")

    assert Task.objects.count() == 1
    assert TaskRun.objects.count() == 2


def test_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("demo")

    assert TaskRun.objects.count() == 0
