"""The admin's review queue approves a rejected submission anyway (overriding the
rejection) behind the confirmation that says what it pays, where the provider
can undo a rejection."""

from __future__ import annotations

from decimal import Decimal

import pytest

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import Agent, AgentStatus, Payment, PaymentKind, Worker
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import TaskRunFactory
from tests.review_queue_calls import key, queue_url, said, submitted, written
from tests.review_queue_calls import reviewer_fixture as reviewer_fixture
from tests.review_queue_calls import run_fixture as run_fixture

pytestmark = pytest.mark.django_db

# Prolific wants a rejection message of 100 characters or more.
FEEDBACK = (
    "The answers were copied from the example and do not rate the sentences "
    "shown; please read each sentence before rating it."
)


def rejected(run, worker) -> Agent:
    agent = submitted(run, worker)
    services.reject_unit(unit_id=agent.unit_id, feedback=FEEDBACK)
    agent.refresh_from_db()
    return agent


def test_a_rejected_submission_offers_approve_anyway_and_a_pending_one_does_not(
    reviewer, run
):
    agent = rejected(run, "alice")
    pending = submitted(run, "bob")

    content = reviewer.get(queue_url(run) + "?status=all").content.decode()

    shown = content.split(f'id="agent-{agent.pk}"')[1].split("</section>")[0]
    assert 'value="override"' in shown
    assert "Approve anyway (override the rejection)…" in shown
    other = content.split(f'id="agent-{pending.pk}"')[1].split("</section>")[0]
    assert 'value="override"' not in other


def test_approving_a_rejected_submission_anyway_confirms_then_pays_the_reward_once(
    reviewer, run
):
    agent = rejected(run, "alice")
    form = {
        "action": "override",
        "items": [key(agent)],
        "note": "Sorry, our checker was wrong.",
    }
    before = written()

    asked = reviewer.post(queue_url(run), form)

    assert asked.templates[0].name == "admin/tasks_app/taskrun/review_confirm.html"
    content = asked.content.decode()
    assert '<strong id="review-total">0.50</strong>' in content
    assert "overrides the rejection (kept on record) and pays the reward" in content
    assert "Note to the worker: “Sorry, our checker was wrong.”" in content
    assert written() == before

    done = reviewer.post(queue_url(run), {**form, "confirm": "1"})
    again = reviewer.post(queue_url(run), {**form, "confirm": "1"})

    agent.refresh_from_db()
    assert agent.status == AgentStatus.APPROVED
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 1
    approval = WorkerReview.objects.get(agent=agent, action=ReviewAction.APPROVE)
    assert (approval.overrides_rejection, approval.reason) == (
        True,
        "Sorry, our checker was wrong.",
    )
    assert approval.created_by.username == "rita"
    assert said(done) == [
        f"Approved, overriding the rejection, 1 unit(s): {agent.unit_id}. 0.50 in "
        "rewards to be paid through the provider."
    ]
    assert said(again)[-1].startswith(f"Unit {agent.unit_id} not changed: ")


def test_overriding_on_a_provider_that_cant_is_refused_naming_it(reviewer):
    run = TaskRunFactory(provider_type="prolific", task_reward=Decimal("0.50"))
    worker = Worker.objects.create(provider_type="prolific", worker_name="p1")
    agent = rejected(run, worker)
    before = written()

    done = reviewer.post(
        queue_url(run),
        {
            "action": "override",
            "items": [key(agent)],
            "confirm": "1",
            "focus": agent.pk,
            "focus_next": "999",
        },
    )

    assert written() == before
    assert (
        "prolific can't approve a submission after it was rejected" in (said(done)[-1])
    )
    # Refused: the page stays on it.
    assert done["Location"].endswith(f"#agent-{agent.pk}")


def test_overriding_a_submission_that_is_not_rejected_is_refused(reviewer, run):
    agent = submitted(run, "alice")

    done = reviewer.post(
        queue_url(run), {"action": "override", "items": [key(agent)], "confirm": "1"}
    )

    agent.refresh_from_db()
    assert agent.status == AgentStatus.COMPLETED
    assert f"unit {agent.unit_id} is not rejected" in said(done)[-1]
