"""What the export tests arrange and call: submitted units, a run, timestamps as the
export writes them, and the command's output.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.export_calls import run_fixture as run_fixture`), so
linters see the import as used; its tests ask for it by the fixture's name (`run`).
"""

from __future__ import annotations

import io
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from tasks_app.models import Agent, AgentStatus, TaskRun, UnitStatus, Worker
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory


def submitted(
    run: TaskRun,
    worker: Worker | str,
    submission=None,
    *,
    inputs=None,
    late: bool = False,
    metadata=None,
    took: timedelta = timedelta(seconds=42.5),
    unit=None,
    provider_unit_id: str = "",
    provider_assignment_id: str = "",
) -> Agent:
    """A completed unit of `run` with `worker`'s submission, as the API leaves it
    (or another submission to `unit`); the provider's ids (an MTurk HIT and
    assignment, say) if given."""
    if isinstance(worker, str):
        worker = Worker.objects.get_or_create(provider_type="mock", worker_name=worker)[
            0
        ]
    if unit is None:
        unit = UnitFactory(
            assignment__run=run,
            assignment__data=inputs if inputs is not None else {"text": "Good?"},
            status=UnitStatus.COMPLETED,
            worker=worker,
            pay_amount=run.task_reward,
            provider_unit_id=provider_unit_id,
        )
    # The clock stands still, so the agent is created exactly `took` before it
    # submitted.
    with time_machine.travel(timezone.now(), tick=False):
        agent = AgentFactory(
            unit=unit,
            worker=worker,
            status=AgentStatus.COMPLETED,
            submission=submission if submission is not None else {"rating": "good"},
            submitted_at=timezone.now() + took,
            metadata=metadata,
            is_late=late,
            provider_assignment_id=provider_assignment_id,
        )
    agent.refresh_from_db()
    return agent


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_results", *args, stdout=out)
    return out.getvalue()


def iso(moment) -> str:
    return (
        moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        + "Z"
    )


@pytest.fixture(name="run")
def run_fixture() -> TaskRun:
    return TaskRunFactory(task_reward=Decimal("0.50"), task__task_name="rate-pilot-1")
