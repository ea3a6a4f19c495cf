"""A late submission awaits a decision like any other: one selection
(`selectors.awaiting_review`) feeds the review queue, `review_run`,
auto-approval, `run_status` and the export.

The case that used to fall through: a worker takes the unit and times out,
another takes it and submits, then the first submits late. The first's agent
stays `timeout` (the unit is the second's), yet its submission is kept and
must be found everywhere a reviewer or a sweep looks.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tasks_app import services
from tasks_app.models import Agent, AgentStatus, PaymentKind
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import TaskRunFactory
from tests.review_queue_calls import make_reviewer
from tests.worker_calls import agent_id_for, submit_task
from tests.worker_calls import client_fixture as client_fixture

pytestmark = pytest.mark.django_db

DURATION = timedelta(seconds=600)


@pytest.fixture
def late(client, time_machine):
    """Through HTTP: alice takes the one unit and times out, bob takes it and
    submits, alice submits late. Her agent."""
    time_machine.move_to(timezone.now(), tick=False)
    run = TaskRunFactory(units=1)
    alice = agent_id_for(client, run, "alice")
    time_machine.shift(DURATION + timedelta(seconds=1))
    assert services.expire_overdue_agents() == 1
    bob = agent_id_for(client, run, "bob")
    assert submit_task(client, run, bob, {"rating": "good"}).status_code == 200

    answer = submit_task(client, run, alice, {"rating": "late but good"})

    assert answer.status_code == 200
    agent = Agent.objects.select_related("run", "unit").get(public_id=alice)
    assert (agent.status, agent.is_late) == (AgentStatus.TIMEOUT, True)
    assert agent.unit.worker.worker_name == "bob"
    return agent


def test_the_late_submission_awaits_review_in_the_admin_queue(late):
    reviewer = Client()
    reviewer.force_login(make_reviewer())

    page = reviewer.get(f"/admin/tasks_app/taskrun/{late.run_id}/review/")
    only_late = reviewer.get(
        f"/admin/tasks_app/taskrun/{late.run_id}/review/?status=pending&late=yes"
    )

    assert f'id="agent-{late.pk}"' in page.content.decode()
    assert f'value="{late.unit_id}:{late.pk}"' in only_late.content.decode()


def test_review_run_lists_it_and_run_status_counts_it(late):
    out = io.StringIO()
    call_command(
        "review_run", "--run", str(late.run_id), stdin=io.StringIO("q\n"), stdout=out
    )
    status = io.StringIO()
    call_command("run_status", "--run", str(late.run_id), "--json", stdout=status)

    assert "2 submission(s) awaiting review" in out.getvalue()
    assert f"agent {late.pk}, LATE" in out.getvalue()
    assert json.loads(status.getvalue())["awaiting_review"] == 2


def test_auto_approval_approves_it_once_its_delay_has_passed(late):
    later = timezone.now() + timedelta(days=8)

    assert services.auto_approve_due(now=later) == 2
    assert services.auto_approve_due(now=later) == 0

    late.refresh_from_db()
    assert late.status == AgentStatus.APPROVED
    assert late.payments.filter(kind=PaymentKind.REWARD).count() == 1


def test_the_export_has_a_row_for_it_marked_late(late):
    out = io.StringIO()

    call_command("export_results", "--run", str(late.run_id), stdout=out)

    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["worker"]["id"], r["late"]) for r in rows] == [
        ("bob", False),
        ("alice", True),
    ]
    assert rows[1]["outputs"] == {"rating": "late but good"}
