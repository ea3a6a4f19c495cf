"""`manage.py shutdown_run --run N`: what it says, --json, and its refusals."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tasks_app.models import TaskRun, TaskRunStatus, Unit, UnitStatus
from tests.command_calls import run, run_from_terminal
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db


def test_shutdown_run_expires_the_untaken_units_and_says_what_is_left():
    task_run = TaskRunFactory(units=3)
    agent_id_for(APIClient(), task_run, worker="alice")

    text = run("shutdown_run", "--run", str(task_run.pk))

    assert text.strip() == (
        f"Run {task_run.pk} is shut down: 2 unit(s) not yet taken expired "
        "(and withdrawn through Celery from the provider, where posted); "
        "1 unit(s) held by workers may still be submitted; "
        "0 submitted unit(s) await review."
    )
    task_run.refresh_from_db()
    assert task_run.status == TaskRunStatus.SHUT_DOWN
    assert task_run.end_reason == "shut down by the operator (shutdown_run)"
    assert Unit.objects.filter(status=UnitStatus.EXPIRED).count() == 2


def test_shutdown_run_json_and_reason():
    task_run = TaskRunFactory(units=2)

    report = json.loads(
        run(
            "shutdown_run",
            "--run",
            str(task_run.pk),
            "--reason",
            "pilot done",
            "--json",
        )
    )

    assert report == {
        "run": task_run.pk,
        "status": "shut_down",
        "expired": 2,
        "held": 0,
        "awaiting_review": 0,
        "reason": "pilot done",
    }
    assert TaskRun.objects.get(pk=task_run.pk).end_reason == "pilot done"


def test_shutting_down_an_ended_run_exits_1_and_changes_nothing(monkeypatch, capsys):
    task_run = TaskRunFactory(units=1)
    run("shutdown_run", "--run", str(task_run.pk), "--reason", "first")

    status, out, err = run_from_terminal(
        monkeypatch, capsys, "tasks_app", "shutdown_run", "--run", str(task_run.pk)
    )

    assert status == 1
    assert out == ""
    assert f"run {task_run.pk} has already ended: it is shut_down at" in err
    assert "(first); nothing changed" in err
    assert TaskRun.objects.get(pk=task_run.pk).end_reason == "first"


def test_shutting_down_an_unknown_run_exits_1():
    with pytest.raises(CommandError, match="there is no task run 424242") as caught:
        call_command("shutdown_run", "--run", "424242")

    assert caught.value.returncode == 1


def test_submitted_units_are_counted_as_awaiting_review_not_as_held(execute):
    task_run = TaskRunFactory(units=3)
    client = APIClient()
    execute(
        lambda: submit_task(
            client, task_run, agent_id_for(client, task_run, worker="alice"), {}
        )
    )
    agent_id_for(APIClient(), task_run, worker="bob")

    report = json.loads(run("shutdown_run", "--run", str(task_run.pk), "--json"))

    assert (report["expired"], report["held"], report["awaiting_review"]) == (1, 1, 1)
