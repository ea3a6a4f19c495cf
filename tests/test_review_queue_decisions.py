"""The admin's review queue decides: approving (confirmed where it pays), rejecting,
blocking and soft-rejecting through the review services, and what it refuses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from providers.models import ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    Unit,
    UnitStatus,
    Worker,
)
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import TaskRunFactory
from tests.review_queue_calls import (
    key,
    make_reviewer,
    queue_url,
    said,
    submitted,
    written,
)
from tests.review_queue_calls import reviewer_fixture as reviewer_fixture
from tests.review_queue_calls import run_fixture as run_fixture
from tests.worker_calls import agent_id_for, submit_late_beside_holder

pytestmark = pytest.mark.django_db


# --- approving, and the confirmation before money moves ---------------------------


def test_approving_asks_to_confirm_the_reward_first_and_then_approves(reviewer, run):
    agent = submitted(run, "alice")
    before = written()

    asked = reviewer.post(queue_url(run), {"action": "approve", "items": [key(agent)]})

    assert asked.status_code == 200
    assert asked.templates[0].name == "admin/tasks_app/taskrun/review_confirm.html"
    assert '<strong id="review-total">0.50</strong>' in asked.content.decode()
    assert written() == before

    done = reviewer.post(
        queue_url(run), {"action": "approve", "items": [key(agent)], "confirm": "1"}
    )

    assert done.status_code == 302
    agent.refresh_from_db()
    assert agent.status == AgentStatus.APPROVED
    assert Unit.objects.get(pk=agent.unit_id).status == UnitStatus.ACCEPTED
    review = WorkerReview.objects.get(agent=agent)
    assert review.action == ReviewAction.APPROVE
    assert review.created_by.username == "rita"
    reward = Payment.objects.get(agent=agent, kind=PaymentKind.REWARD)
    assert reward.amount == Decimal("0.50")
    assert said(done) == [
        f"Approved 1 unit(s): {agent.unit_id}. 0.50 in rewards to be paid through "
        "the provider."
    ]


def test_after_a_decision_the_workers_page_shows_the_right_approval_rate(
    reviewer, run, admin_client
):
    approved = submitted(run, "alice")
    rejected = submitted(run, approved.worker)
    reviewer.post(
        queue_url(run), {"action": "approve", "items": [key(approved)], "confirm": "1"}
    )
    reviewer.post(
        queue_url(run),
        {"action": "reject", "items": [key(rejected)], "feedback": "Off topic."},
    )

    page = admin_client.get(f"/admin/tasks_app/worker/{approved.worker_id}/change/")

    assert page.context["approval_rate"] == 0.5
    assert "Approval rate: 50% of 2 reviewed unit(s)" in page.content.decode()


def test_approving_selected_units_approves_them_all_in_one_go(reviewer, run):
    agents = [submitted(run, name) for name in ("alice", "bob", "carol")]

    done = reviewer.post(
        queue_url(run),
        {"action": "approve", "items": [key(a) for a in agents[:2]], "confirm": "1"},
    )

    statuses = dict(Agent.objects.values_list("pk", "status"))
    assert statuses == {
        agents[0].pk: AgentStatus.APPROVED,
        agents[1].pk: AgentStatus.APPROVED,
        agents[2].pk: AgentStatus.COMPLETED,
    }
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 2
    assert said(done)[0].startswith("Approved 2 unit(s)")
    assert "1.00 in rewards" in said(done)[0]


def test_approving_all_of_one_workers_units_confirms_exactly_those(reviewer, run):
    alice = [submitted(run, "alice") for _ in range(3)]
    bob = submitted(run, "bob")

    asked = reviewer.post(
        queue_url(run),
        {"action": "approve", "scope": "worker", "worker": alice[0].worker_id},
    )
    listed = [row["agent"].pk for row in asked.context["rows"]]
    assert listed == [a.pk for a in alice]
    assert asked.context["total"] == Decimal("1.50")
    assert not WorkerReview.objects.exists()

    reviewer.post(
        queue_url(run),
        {"action": "approve", "items": [key(a) for a in alice], "confirm": "1"},
    )

    assert set(
        Agent.objects.filter(status=AgentStatus.APPROVED).values_list("pk", flat=True)
    ) == {a.pk for a in alice}
    bob.refresh_from_db()
    assert bob.status == AgentStatus.COMPLETED


def test_rejecting_all_of_one_workers_units_rejects_only_theirs(reviewer, run):
    alice = [submitted(run, "alice") for _ in range(2)]
    bob = submitted(run, "bob")

    done = reviewer.post(
        queue_url(run),
        {
            "action": "reject",
            "scope": "worker",
            "worker": alice[0].worker_id,
            "feedback": "Copied answers.",
        },
    )

    assert set(
        Agent.objects.filter(status=AgentStatus.REJECTED).values_list("pk", flat=True)
    ) == {a.pk for a in alice}
    assert set(WorkerReview.objects.values_list("reason", flat=True)) == {
        "Copied answers."
    }
    bob.refresh_from_db()
    assert bob.status == AgentStatus.COMPLETED
    assert said(done) == [
        f"Rejected 2 unit(s): {alice[0].unit_id}, {alice[1].unit_id}."
    ]


def test_a_late_submission_is_approved_naming_its_agent(reviewer, time_machine):
    # Through the worker API: bob takes the unit and times out, alice takes it and
    # submits, bob submits late; his agent stays `timeout` beside her unit.
    run = TaskRunFactory(units=1, task_reward=Decimal("0.50"))
    late_id, own_id = submit_late_beside_holder(
        APIClient(), time_machine, run, late="bob", holder="alice"
    )
    own = Agent.objects.get(public_id=own_id)
    late = Agent.objects.get(public_id=late_id)
    assert (late.unit_id, late.status, late.is_late) == (
        own.unit_id,
        AgentStatus.TIMEOUT,
        True,
    )

    reviewer.post(
        queue_url(run),
        {"action": "approve", "items": [key(own), key(late)], "confirm": "1"},
    )

    assert set(
        Agent.objects.filter(status=AgentStatus.APPROVED).values_list("pk", flat=True)
    ) == {own.pk, late.pk}
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 2


# --- reject, block, soft-reject ---------------------------------------------------


def test_rejecting_with_feedback_rejects_without_a_confirmation(reviewer, run):
    agent = submitted(run, "alice")

    done = reviewer.post(
        queue_url(run),
        {
            "action": "reject",
            "items": [key(agent)],
            "feedback": "The answer is empty.",
            "focus": "77",
            "next": "status=pending&page=1",
        },
    )

    assert done.status_code == 302
    assert done["Location"] == queue_url(run) + "?status=pending&page=1#agent-77"
    agent.refresh_from_db()
    assert agent.status == AgentStatus.REJECTED
    assert WorkerReview.objects.get(agent=agent).reason == "The answer is empty."
    assert not Payment.objects.exists()
    assert said(done) == [f"Rejected 1 unit(s): {agent.unit_id}."]


def test_rejecting_without_feedback_is_refused_and_changes_nothing(reviewer, run):
    agent = submitted(run, "alice")
    before = written()

    done = reviewer.post(
        queue_url(run), {"action": "reject", "items": [key(agent)], "feedback": "  "}
    )

    assert written() == before
    assert said(done) == [
        "Nothing changed: a rejection needs feedback for the worker (why the work "
        "was refused); nothing was rejected"
    ]


def test_blocking_from_the_queue_blocks_the_worker_and_tells_the_provider(
    client, run, django_capture_on_commit_callbacks
):
    client.force_login(make_reviewer("rita", "tasks_app.change_worker"))
    agent = submitted(run, "spammer")
    assert "Block this worker" in client.get(queue_url(run)).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            queue_url(run),
            {"action": "block", "items": [key(agent)], "block_reason": "copy-paste"},
        )
    again = client.post(
        queue_url(run),
        {"action": "block", "items": [key(agent)], "block_reason": "again"},
    )

    assert Worker.objects.get(pk=agent.worker_id).is_blocked
    review = WorkerReview.objects.get(action=ReviewAction.BLOCK)
    assert (review.reason, review.unit_id, review.created_by.username) == (
        "copy-paste",
        agent.unit_id,
        "rita",
    )
    assert ProviderCall.objects.filter(operation="block_worker").count() == 1
    assert said(done) == [
        f"Blocked worker spammer (from unit {agent.unit_id}): they get no more "
        "units, and their provider is told."
    ]
    assert said(again)[-1] == "Worker spammer was already blocked."
    assert WorkerReview.objects.filter(action=ReviewAction.BLOCK).count() == 1
    agent.refresh_from_db()
    assert agent.status == AgentStatus.COMPLETED  # still to be decided on


def test_blocking_needs_a_reason_and_the_worker_change_permission(
    client, reviewer, run
):
    agent = submitted(run, "alice")
    before = written()

    page = reviewer.get(queue_url(run))
    refused = reviewer.post(
        queue_url(run), {"action": "block", "items": [key(agent)], "block_reason": "x"}
    )
    client.force_login(make_reviewer("bea", "tasks_app.change_worker"))
    no_reason = client.post(queue_url(run), {"action": "block", "items": [key(agent)]})

    assert "Block this worker" not in page.content.decode()
    assert refused.status_code == 403
    assert said(no_reason) == [
        "Nothing changed: blocking a worker needs a reason; nobody was blocked"
    ]
    assert written() == before
    assert not Worker.objects.get(pk=agent.worker_id).is_blocked


def test_soft_rejecting_confirms_then_pays_the_reward(reviewer, run):
    agent = submitted(run, "alice")

    asked = reviewer.post(
        queue_url(run), {"action": "soft_reject", "items": [key(agent)]}
    )
    assert asked.context["total"] == Decimal("0.50")
    assert not WorkerReview.objects.exists()

    reviewer.post(
        queue_url(run),
        {"action": "soft_reject", "items": [key(agent)], "confirm": "1"},
    )

    agent.refresh_from_db()
    assert agent.status == AgentStatus.SOFT_REJECTED
    assert Payment.objects.get(kind=PaymentKind.REWARD).amount == Decimal("0.50")


# --- refusals ---------------------------------------------------------------------


def test_a_decision_on_a_unit_already_decided_is_refused_with_the_services_words(
    reviewer, run
):
    agent = submitted(run, "alice")
    reviewer.post(
        queue_url(run), {"action": "approve", "items": [key(agent)], "confirm": "1"}
    )
    before = written()

    done = reviewer.post(
        queue_url(run),
        {"action": "reject", "items": [key(agent)], "feedback": "Changed my mind"},
    )

    assert written() == before
    message = said(done)[-1]  # after the approval's own message
    assert message.startswith(f"Unit {agent.unit_id} not changed: unit ")
    assert "was already approved by rita" in message


def test_a_decision_on_a_unit_without_a_submission_is_refused(reviewer):
    # Through the worker API: a worker takes the unit and is still working on it.
    run = TaskRunFactory(units=1, task_reward=Decimal("0.50"))
    agent = Agent.objects.get(public_id=agent_id_for(APIClient(), run, "alice"))
    unit = agent.unit
    assert (unit.status, agent.submitted_at) == (UnitStatus.ASSIGNED, None)
    before = written()

    done = reviewer.post(
        queue_url(run), {"action": "approve", "items": [key(agent)], "confirm": "1"}
    )

    assert written() == before
    assert said(done) == [
        f"Nothing changed: there is no unit {unit.pk} with a submission by agent "
        f"{agent.pk} in run {run.pk}"
    ]


@pytest.mark.parametrize("item", ["999999:1", "abc", ""])
def test_an_unknown_unit_is_refused_and_changes_nothing(reviewer, run, item):
    submitted(run, "alice")
    before = written()

    done = reviewer.post(
        queue_url(run), {"action": "approve", "items": [item], "confirm": "1"}
    )

    assert written() == before
    (message,) = said(done)
    assert message.startswith("Nothing changed: ")
    if item == "999999:1":
        assert "there is no unit 999999" in message


def test_a_unit_of_another_run_is_refused_here(reviewer, run):
    other = submitted(TaskRunFactory(), "alice")

    done = reviewer.post(
        queue_url(run), {"action": "approve", "items": [key(other)], "confirm": "1"}
    )

    other.refresh_from_db()
    assert other.status == AgentStatus.COMPLETED
    assert f"in run {run.pk}" in said(done)[0]


def test_a_user_without_the_review_permission_gets_403_and_changes_nothing(client, run):
    agent = submitted(run, "alice")
    clerk = User.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_taskrun"))
    client.force_login(clerk)
    before = written()

    page = client.get(queue_url(run))
    post = client.post(
        queue_url(run), {"action": "approve", "items": [key(agent)], "confirm": "1"}
    )
    frame = client.get(f"/admin/tasks_app/taskrun/{run.pk}/review/frame/")

    assert (page.status_code, post.status_code, frame.status_code) == (403, 403, 403)
    assert written() == before


def test_a_post_without_the_csrf_token_is_refused(run):
    agent = submitted(run, "alice")
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_reviewer())

    response = client.post(
        queue_url(run), {"action": "reject", "items": [key(agent)], "feedback": "x"}
    )

    assert response.status_code == 403
    agent.refresh_from_db()
    assert agent.status == AgentStatus.COMPLETED


def test_an_unknown_action_is_refused(reviewer, run):
    agent = submitted(run, "alice")

    done = reviewer.post(queue_url(run), {"action": "delete", "items": [key(agent)]})

    assert said(done) == ["There is no review action 'delete'; nothing changed."]
