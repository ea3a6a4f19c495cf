"""What the admin's review queue shows beside each submission (work time, a blocked
worker, the page's metadata and errors), where it lands after an action, and the
note an approval carries to the worker."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import Agent, AgentStatus
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import TaskRunFactory
from tests.review_queue_calls import key, queue_url, said, submitted
from tests.review_queue_calls import reviewer_fixture as reviewer_fixture
from tests.review_queue_calls import run_fixture as run_fixture
from tests.worker_calls import agent_id_for, submit_late_beside_holder, submit_task

pytestmark = pytest.mark.django_db


def section(content: str, agent: Agent) -> str:
    """The page's part for one submission."""
    return content.split(f'id="agent-{agent.pk}"')[1].split("</section>")[0]


# --- what each submission shows ---------------------------------------------------


def test_each_submission_shows_how_long_the_worker_took(reviewer, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    run = TaskRunFactory(units=1, task_reward=Decimal("0.50"))
    client = APIClient()
    agent_id = agent_id_for(client, run, "alice")
    time_machine.shift(timedelta(minutes=4, seconds=12))
    assert submit_task(client, run, agent_id, {"rating": "good"}).status_code == 200
    agent = Agent.objects.get(public_id=agent_id)

    content = reviewer.get(queue_url(run)).content.decode()

    assert "worked 4 min 12 s" in section(content, agent)


def test_work_recorded_from_the_providers_listing_is_not_timed(reviewer, run):
    agent = submitted(run, "alice")
    Agent.objects.filter(pk=agent.pk).update(from_provider_listing=True)

    content = reviewer.get(queue_url(run)).content.decode()

    assert "worked – (not timed here)" in section(content, agent)


def test_a_blocked_worker_is_marked_blocked_beside_their_name(reviewer, run):
    blocked = submitted(run, "spammer")
    other = submitted(run, "alice")
    services.block_from_review(unit_id=blocked.unit_id, reason="copy-paste")

    content = reviewer.get(queue_url(run)).content.decode()

    worker_line = section(content, blocked).split('class="review-worker"')[1]
    assert '>spammer</a> <span class="review-blocked-badge"' in worker_line
    assert "BLOCKED" in worker_line.split("</p>")[0]
    assert "review-blocked-badge" not in section(content, other)


def test_the_workers_feedback_tips_and_logged_errors_are_shown_escaped(reviewer):
    # Through the worker API, as a task page stores them.
    run = TaskRunFactory(units=1, task_reward=Decimal("0.50"))
    client = APIClient()
    agent_id = agent_id_for(client, run, "alice")
    submit_task(client, run, agent_id, {"rating": "good"})
    client.post(
        f"/submit_metadata?task_run_id={run.pk}",
        {
            "USED_AGENT_ID": agent_id,
            "metadata": {
                "feedback": "Fun task, but <b>slow</b> & long",
                # One-key objects: jsonb on PostgreSQL orders keys its own way.
                "tips": [{"text": "<img src=x>"}, "Read twice"],
            },
        },
        format="json",
    )
    client.post(
        f"/log_error?task_run_id={run.pk}",
        {"USED_AGENT_ID": agent_id, "error_data": {"message": "<script>x</script>"}},
        format="json",
    )
    agent = Agent.objects.get(public_id=agent_id)

    shown = section(reviewer.get(queue_url(run)).content.decode(), agent)

    metadata = shown.split('class="review-metadata"')[1].split("</div>")[0]
    assert (
        '<dt>feedback</dt><dd><span class="rv-str">Fun task, but '
        "&lt;b&gt;slow&lt;/b&gt; &amp; long</span></dd>"
    ) in metadata
    assert (
        '<dt>tips</dt><dd><code class="rv-compact">[{&quot;text&quot;: '
        "&quot;&lt;img src=x&gt;&quot;}, &quot;Read twice&quot;]</code></dd>"
    ) in metadata
    errors = shown.split('class="review-fold review-errors" open>')[1]
    errors = errors.split("</details>")[0]
    assert "<summary>Errors reported by the page (1)</summary>" in errors
    assert (
        '<code class="rv-compact">{&quot;message&quot;: '
        "&quot;&lt;script&gt;x&lt;/script&gt;&quot;}</code>"
    ) in errors
    assert 'class="review-error-at"' in errors
    assert "<script>x" not in shown and "<img src=x>" not in shown


def test_many_errors_are_folded_away(reviewer, run):
    errors = [
        {"at": "2026-01-01T00:00:00+00:00", "error_data": f"e{i}"} for i in range(6)
    ]
    agent = submitted(run, "alice", metadata={"errors": errors})

    shown = section(reviewer.get(queue_url(run)).content.decode(), agent)

    assert '<details class="review-fold review-errors"><summary>' in shown
    assert "Errors reported by the page (6)" in shown


def test_a_late_submission_beside_the_holders_can_be_decided_on_the_page(
    reviewer, time_machine
):
    # Through the worker API: bob times out, alice takes the unit and submits,
    # bob submits late; his agent stays `timeout` and awaits a decision.
    run = TaskRunFactory(units=1, task_reward=Decimal("0.50"))
    late_id, _ = submit_late_beside_holder(
        APIClient(), time_machine, run, late="bob", holder="alice"
    )
    late = Agent.objects.get(public_id=late_id)
    assert late.status == AgentStatus.TIMEOUT

    shown = section(reviewer.get(queue_url(run)).content.decode(), late)

    assert 'class="review-approve"' in shown
    assert f'name="items" value="{key(late)}" form="review-bulk"' in shown


# --- where the page lands after an action -----------------------------------------


def posted(agent: Agent, after: Agent, **form) -> dict:
    """What a submission's own form posts: it, and the one after it."""
    return {"items": [key(agent)], "focus": agent.pk, "focus_next": after.pk, **form}


def test_after_a_decision_the_page_lands_on_the_next_submission(reviewer, run):
    first, second = submitted(run, "alice"), submitted(run, "bob")

    done = reviewer.post(
        queue_url(run), posted(first, second, action="reject", feedback="Empty.")
    )

    assert done["Location"] == queue_url(run) + f"#agent-{second.pk}"


@pytest.mark.parametrize(
    "form",
    [
        {"action": "reject", "feedback": ""},
        {"action": "bonus", "amount": "lots", "reason": "x"},
        {"action": "bonus", "amount": "0.25", "reason": "Careful", "confirm": "1"},
        {"action": "bonus", "amount": "0.25", "reason": ""},
        {"action": "approve"},  # the confirmation's Cancel
    ],
    ids=["empty-reject", "bad-amount", "bonus", "bonus-without-reason", "cancel"],
)
def test_after_a_bonus_or_a_refusal_the_page_stays_on_the_same_submission(
    reviewer, run, form
):
    first, second = submitted(run, "alice"), submitted(run, "bob")

    done = reviewer.post(queue_url(run), posted(first, second, **form))

    if done.status_code == 200:  # a confirmation: its Cancel goes back here
        assert f'href="{queue_url(run)}?status=pending#agent-{first.pk}"' in (
            done.content.decode()
        )
    else:
        assert done["Location"] == queue_url(run) + f"#agent-{first.pk}"
    first.refresh_from_db()
    assert first.status == AgentStatus.COMPLETED


def test_a_decision_the_service_refuses_stays_on_the_same_submission(reviewer, run):
    first, second = submitted(run, "alice"), submitted(run, "bob")
    services.approve_unit(unit_id=first.unit_id)

    done = reviewer.post(
        queue_url(run), posted(first, second, action="reject", feedback="Changed.")
    )

    assert done["Location"] == queue_url(run) + f"#agent-{first.pk}"
    assert "was already approved" in said(done)[-1]


def test_each_submissions_form_names_it_and_the_one_after_it(reviewer, run):
    first, second = submitted(run, "alice"), submitted(run, "bob")

    content = reviewer.get(queue_url(run)).content.decode()

    assert f'name="focus" value="{first.pk}"' in section(content, first)
    assert f'name="focus_next" value="{second.pk}"' in section(content, first)
    # The last one's neighbour is the one before it.
    assert f'name="focus_next" value="{first.pk}"' in section(content, second)


# --- a note with an approval ------------------------------------------------------


def test_an_approval_note_is_confirmed_then_kept_as_the_approvals_reason(reviewer, run):
    agent = submitted(run, "alice")
    form = {"action": "approve", "items": [key(agent)], "note": " Nice <work> "}

    asked = reviewer.post(queue_url(run), form)

    content = asked.content.decode()
    assert "Note to the worker: “Nice &lt;work&gt;”" in content
    assert '<input type="hidden" name="note" value="Nice &lt;work&gt;">' in content
    assert not WorkerReview.objects.exists()

    reviewer.post(queue_url(run), {**form, "note": "Nice <work>", "confirm": "1"})

    review = WorkerReview.objects.get(agent=agent, action=ReviewAction.APPROVE)
    assert review.reason == "Nice <work>"


def test_a_bulk_approval_carries_its_note_to_every_unit(reviewer, run):
    agents = [submitted(run, name) for name in ("alice", "bob")]

    reviewer.post(
        queue_url(run),
        {
            "action": "approve",
            "items": [key(a) for a in agents],
            "note": "Thanks, all good.",
            "confirm": "1",
        },
    )

    reasons = WorkerReview.objects.filter(action=ReviewAction.APPROVE).values_list(
        "reason", flat=True
    )
    assert list(reasons) == ["Thanks, all good.", "Thanks, all good."]


def test_an_approval_without_a_note_says_there_is_none(reviewer, run):
    agent = submitted(run, "alice")

    asked = reviewer.post(queue_url(run), {"action": "approve", "items": [key(agent)]})

    assert "No note to the worker." in asked.content.decode()


# --- the page's controls ----------------------------------------------------------


def test_the_select_all_box_waits_for_the_script_and_each_box_works_without_it(
    reviewer, run
):
    for name in ("alice", "bob"):
        submitted(run, name)

    content = reviewer.get(queue_url(run)).content.decode()

    # Hidden until the script shows it: without JS each box is ticked alone.
    assert '<label class="review-select-all" hidden>' in content
    assert content.count('class="review-select" name="items"') == 2
