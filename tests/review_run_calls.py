"""What the `manage.py review_run` tests arrange and call: a pilot run whose units
were each submitted, the statuses it ends with, users, and a refused command."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tasks_app.models import Agent, Unit
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

ALLOWLIST = "pilot-allowlist"


def pilot(workers=("alice", "bob", "carol"), *, allowlist=ALLOWLIST, reward="0.50"):
    """A run whose units were each submitted by one of `workers`, in that order:
    (the run, its units by worker name)."""
    config: dict = {"mephisto": {}}
    if allowlist:
        config["allowlist_qualification"] = allowlist
    task_run = TaskRunFactory(
        units=len(workers), task_reward=reward, resolved_config=config
    )
    client = APIClient()
    for name in workers:
        agent_id = agent_id_for(client, task_run, worker=name)
        submit_task(client, task_run, agent_id, {"rating": f"{name} says good"})
    units = Unit.objects.filter(run=task_run).select_related("worker")
    return task_run, {unit.worker.worker_name: unit for unit in units}


def statuses(units) -> dict[str, tuple[str, str]]:
    """Worker name -> (unit status, agent status), read from the database."""
    return {
        name: (
            Unit.objects.get(pk=unit.pk).status,
            Agent.objects.get(unit=unit).status,
        )
        for name, unit in units.items()
    }


def user(name="rita", *permissions: str) -> User:
    person = User.objects.create_user(name, is_staff=True)
    for codename in permissions:
        person.user_permissions.add(Permission.objects.get(codename=codename))
    return person


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command("review_run", *args, stdout=io.StringIO())
    assert caught.value.returncode == 1
    return caught.value
