"""What the review service tests arrange: submitted units, reviewers, and the
provider's review calls as made.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.review_calls import calls_fixture as calls_fixture`),
so linters see the import as used; its tests ask for it by the fixture's name
(`calls`).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from providers.mock import MockProvider
from tasks_app.models import Unit
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task


@pytest.fixture(name="calls")
def calls_fixture(monkeypatch):
    """The mock provider's review calls, as made (one entry per real call)."""
    made: list[tuple[str, dict]] = []
    for name in ("approve_work", "reject_work", "pay_bonus"):
        original = getattr(MockProvider, name)

        def record(self, *, _name=name, _original=original, **kwargs):
            made.append((_name, kwargs))
            return _original(self, **kwargs)

        monkeypatch.setattr(MockProvider, name, record)
    return made


def submitted_unit(provider_type="mock", worker="w1", reward="0.50") -> Unit:
    """A unit of a one-unit run whose worker has submitted."""
    run = TaskRunFactory(units=1, provider_type=provider_type, task_reward=reward)
    client = APIClient()
    agent_id = agent_id_for(client, run, worker=worker)
    submit_task(client, run, agent_id, {"rating": "good"})
    return Unit.objects.get(run=run)


def reviewer(name="rita", *, allowed=True) -> User:
    user = User.objects.create_user(name, is_staff=True)
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="review_unit"))
    return User.objects.get(pk=user.pk)  # permissions are cached per instance
