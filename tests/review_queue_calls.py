"""The admin review queue's address, and what the queue tests arrange and read.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.review_queue_calls import reviewer_fixture as
reviewer_fixture`), so linters see the import as used; its tests ask for it by
the fixture's name (`reviewer`, `run`).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from qualifications_app.models import GrantedQualification, WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory


def queue_url(run: TaskRun) -> str:
    return f"/admin/tasks_app/taskrun/{run.pk}/review/"


def submitted(
    run: TaskRun,
    worker: Worker | str,
    submission=None,
    *,
    inputs=None,
    late: bool = False,
    metadata=None,
) -> Agent:
    """A completed unit of `run` with `worker`'s submission, as the API leaves it."""
    if isinstance(worker, str):
        worker = Worker.objects.get_or_create(provider_type="mock", worker_name=worker)[
            0
        ]
    unit = UnitFactory(
        assignment__run=run,
        assignment__data=inputs or {"text": "This text is good text!"},
        status=UnitStatus.COMPLETED,
        worker=worker,
        pay_amount=run.task_reward,
    )
    return AgentFactory(
        unit=unit,
        worker=worker,
        status=AgentStatus.COMPLETED,
        submitted_at=timezone.now(),
        submission=submission if submission is not None else {"rating": "good"},
        metadata=metadata,
        is_late=late,
    )


def key(agent: Agent) -> str:
    return f"{agent.unit_id}:{agent.pk}"


def make_reviewer(name: str = "rita", *perms: str) -> User:
    user = User.objects.create_user(name, password="x" * 12, is_staff=True)
    for perm in ("tasks_app.review_unit", *perms):
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return user


@pytest.fixture(name="reviewer")
def reviewer_fixture(client) -> Client:
    client.force_login(make_reviewer())
    return client


@pytest.fixture(name="run")
def run_fixture() -> TaskRun:
    return TaskRunFactory(task_reward=Decimal("0.50"))


def said(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def written() -> tuple[int, ...]:
    """Counts that any decision, bonus or grant would change."""
    return (
        WorkerReview.objects.count(),
        Payment.objects.count(),
        GrantedQualification.objects.count(),
        Agent.objects.exclude(status=AgentStatus.COMPLETED).count(),
        Unit.objects.exclude(status=UnitStatus.COMPLETED).count(),
    )
