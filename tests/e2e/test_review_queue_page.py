"""The admin's review queue in a real browser: moving and deciding by keyboard,
the confirmation before money moves, and a run's review bundle in its frame."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from qualifications_app.models import WorkerReview
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    TaskRun,
    UnitStatus,
    Worker,
)
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory

pytestmark = pytest.mark.django_db(transaction=True)

# A review bundle as Mephisto's review app runs one: it asks for nothing, gets
# {REVIEW_DATA: {inputs, outputs}} by postMessage and reports its height.
REVIEW_BUNDLE = """
window.onmessage = function (event) {
  var data = JSON.parse(event.data)["REVIEW_DATA"];
  var app = document.getElementById("app");
  app.textContent = "Reviewing: " + data.inputs.text + " / " + data.outputs.rating;
  window.top.postMessage(JSON.stringify({IFRAME_DATA: {height: 120}}), "*");
};
"""


def submitted(run: TaskRun, name: str, text: str) -> Agent:
    worker = Worker.objects.create(provider_type="mock", worker_name=name)
    unit = UnitFactory(
        assignment__run=run,
        assignment__data={"text": text},
        status=UnitStatus.COMPLETED,
        worker=worker,
        pay_amount=run.task_reward,
    )
    return AgentFactory(
        unit=unit,
        worker=worker,
        status=AgentStatus.COMPLETED,
        submitted_at=timezone.now(),
        submission={"rating": f"{name}'s rating"},
    )


@pytest.fixture
def reviewer_session(page, live_server) -> None:
    """A staff user who may review, logged into the browser."""
    user = User.objects.create_user("rita", password="x" * 12, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="review_unit"))
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
                "httpOnly": True,
            }
        ]
    )


def queue(live_server, run: TaskRun) -> str:
    return f"{live_server.url}/admin/tasks_app/taskrun/{run.pk}/review/"


def current(page):
    return page.locator(".review-item.review-current")


def test_keys_move_between_units_reject_with_feedback_and_approve_after_confirming(
    page, live_server, reviewer_session, screenshot
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    first = submitted(run, "alice", "The first sentence.")
    second = submitted(run, "bob", "The second sentence.")
    page.goto(queue(live_server, run))
    expect(current(page)).to_have_attribute("data-agent", str(first.pk))

    page.keyboard.press("j")
    expect(current(page)).to_have_attribute("data-agent", str(second.pk))
    page.keyboard.press("k")
    expect(current(page)).to_have_attribute("data-agent", str(first.pk))

    # r opens the feedback box with the cursor in it; Ctrl+Enter sends it.
    page.keyboard.press("r")
    feedback = current(page).locator(".review-reject textarea")
    expect(feedback).to_be_focused()
    page.keyboard.type("The rating is missing.")
    screenshot("reject-feedback")
    page.keyboard.press("Control+Enter")

    expect(page.locator(".messagelist")).to_contain_text(
        f"Rejected 1 unit(s): {first.unit_id}."
    )
    first.refresh_from_db()
    assert first.status == AgentStatus.REJECTED
    assert WorkerReview.objects.get(agent=first).reason == "The rating is missing."
    # The rejected unit left the queue; the next one is current.
    expect(page.locator(".review-item")).to_have_count(1)
    expect(current(page)).to_have_attribute("data-agent", str(second.pk))

    # a asks to confirm the reward first; nothing is paid until then.
    page.keyboard.press("a")
    expect(page.locator("#review-total")).to_have_text("0.50")
    screenshot("approve-confirm")
    assert not Payment.objects.exists()
    expect(page.locator("#review-confirm-button")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator(".messagelist")).to_contain_text(
        f"Approved 1 unit(s): {second.unit_id}. 0.50 in rewards"
    )
    second.refresh_from_db()
    assert second.status == AgentStatus.APPROVED
    assert Payment.objects.get(kind=PaymentKind.REWARD).agent_id == second.pk
    expect(page.locator(".review-empty")).to_be_visible()


def test_escape_on_the_confirmation_goes_back_and_pays_nothing(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    agent = submitted(run, "alice", "A sentence.")
    page.goto(queue(live_server, run))

    page.keyboard.press("s")
    expect(page.locator("#review-confirm")).to_contain_text("Soft-reject 1 unit(s)")
    page.keyboard.press("Escape")

    expect(page.locator(".review-item")).to_have_count(1)
    agent.refresh_from_db()
    assert agent.status == AgentStatus.COMPLETED
    assert not Payment.objects.exists() and not WorkerReview.objects.exists()


def test_a_bonus_is_typed_by_keyboard_and_confirmed(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    agent = submitted(run, "alice", "A sentence.")
    page.goto(queue(live_server, run))

    page.keyboard.press("b")
    expect(current(page).locator("input[name=amount]")).to_be_focused()
    page.keyboard.type("0.75")
    page.keyboard.press("Tab")
    page.keyboard.type("Thorough answer")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#review-total")).to_have_text("0.75")
    page.locator("#review-confirm-button").click()

    expect(page.locator(".messagelist")).to_contain_text("0.75 in bonuses")
    bonus = Payment.objects.get(kind=PaymentKind.BONUS)
    assert (bonus.agent_id, bonus.amount, bonus.reason) == (
        agent.pk,
        Decimal("0.75"),
        "Thorough answer",
    )


def test_a_runs_review_bundle_shows_the_unit_in_a_sandboxed_frame(
    page, live_server, reviewer_session, tmp_path, screenshot
):
    (tmp_path / "review.js").write_text(REVIEW_BUNDLE)
    run = TaskRunFactory(
        resolved_config={
            "mephisto": {"blueprint": {"task_source_review": "review.js"}},
            "task_dir": str(tmp_path),
        }
    )
    submitted(run, "alice", "Framed sentence.")
    page.goto(queue(live_server, run))

    frame = page.frame_locator("iframe.review-frame")
    expect(frame.locator("#app")).to_have_text(
        "Reviewing: Framed sentence. / alice's rating"
    )
    expect(page.locator("iframe.review-frame")).to_have_attribute(
        "style", "height: 120px;"
    )
    screenshot("review-bundle")
    # The bundle runs in an opaque origin: the admin's cookies are out of reach.
    origin = page.frames[1].evaluate("() => window.origin")
    assert origin == "null"


def test_x_selects_units_and_approve_selected_confirms_them_together(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    agents = [submitted(run, name, "A sentence.") for name in ("alice", "bob", "cy")]
    page.goto(queue(live_server, run))

    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("#review-selected-count")).to_have_text("2")
    page.get_by_role("button", name="Approve selected…").click()
    expect(page.locator("#review-total")).to_have_text("1.00")
    page.keyboard.press("Enter")

    expect(page.locator(".messagelist")).to_contain_text("Approved 2 unit(s)")
    statuses = dict(Agent.objects.values_list("pk", "status"))
    assert statuses == {
        agents[0].pk: AgentStatus.APPROVED,
        agents[1].pk: AgentStatus.COMPLETED,
        agents[2].pk: AgentStatus.APPROVED,
    }


# --- where the keyboard lands after an action --------------------------------------


def test_after_a_bonus_the_same_submission_stays_current_and_a_approves_it(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    first = submitted(run, "alice", "The first sentence.")
    second = submitted(run, "bob", "The second sentence.")
    page.goto(queue(live_server, run))

    page.keyboard.press("b")
    page.keyboard.type("0.25")
    page.keyboard.press("Tab")
    page.keyboard.type("Careful work")
    page.keyboard.press("Control+Enter")
    page.locator("#review-confirm-button").click()

    expect(page.locator(".messagelist")).to_contain_text("0.25 in bonuses")
    # The bonus decided nothing: the unit is still pending, and still current.
    expect(current(page)).to_have_attribute("data-agent", str(first.pk))
    page.keyboard.press("a")
    expect(page.locator("#review-total")).to_have_text("0.50")
    page.keyboard.press("Enter")

    expect(page.locator(".messagelist")).to_contain_text(
        f"Approved 1 unit(s): {first.unit_id}."
    )
    statuses = dict(Agent.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: AgentStatus.APPROVED,
        second.pk: AgentStatus.COMPLETED,
    }
    # Approved: now the focus moves on.
    expect(current(page)).to_have_attribute("data-agent", str(second.pk))


def test_after_an_empty_rejection_is_refused_the_same_submission_stays_current(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    first = submitted(run, "alice", "The first sentence.")
    second = submitted(run, "bob", "The second sentence.")
    page.goto(queue(live_server, run))

    page.keyboard.press("r")
    page.keyboard.press("Control+Enter")

    expect(page.locator(".messagelist")).to_contain_text(
        "a rejection needs feedback for the worker"
    )
    expect(current(page)).to_have_attribute("data-agent", str(first.pk))
    page.keyboard.press("s")
    expect(page.locator("#review-confirm")).to_contain_text("Soft-reject 1 unit(s)")
    page.keyboard.press("Enter")

    expect(page.locator(".messagelist")).to_contain_text("Soft-rejected 1 unit(s)")
    statuses = dict(Agent.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: AgentStatus.SOFT_REJECTED,
        second.pk: AgentStatus.COMPLETED,
    }


def test_after_a_bad_bonus_amount_is_refused_the_same_submission_stays_current(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    first = submitted(run, "alice", "The first sentence.")
    submitted(run, "bob", "The second sentence.")
    page.goto(queue(live_server, run))

    page.keyboard.press("b")
    page.keyboard.type("lots")
    page.keyboard.press("Tab")
    page.keyboard.type("Careful work")
    page.keyboard.press("Control+Enter")

    expect(page.locator(".messagelist")).to_contain_text("Nothing changed: the bonus")
    expect(current(page)).to_have_attribute("data-agent", str(first.pk))
    assert not Payment.objects.exists()


def test_cancelling_a_confirmation_comes_back_to_the_same_submission(
    page, live_server, reviewer_session
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    first = submitted(run, "alice", "The first sentence.")
    submitted(run, "bob", "The second sentence.")
    page.goto(queue(live_server, run))

    page.keyboard.press("a")
    expect(page.locator("#review-total")).to_have_text("0.50")
    page.keyboard.press("Escape")

    expect(current(page)).to_have_attribute("data-agent", str(first.pk))
    assert not Payment.objects.exists()


def test_select_all_ticks_every_unit_on_the_page_and_approves_them_together(
    page, live_server, reviewer_session, screenshot
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    agents = [submitted(run, name, "A sentence.") for name in ("alice", "bob", "cy")]
    page.goto(queue(live_server, run))

    everything = page.locator("#review-select-all")
    everything.check()
    expect(page.locator("#review-selected-count")).to_have_text("3")
    expect(page.locator(".review-select:checked")).to_have_count(3)
    # Unticking one leaves the page's box half-ticked.
    page.locator(".review-select").nth(1).uncheck()
    expect(page.locator("#review-selected-count")).to_have_text("2")
    assert everything.evaluate("(box) => box.indeterminate")
    everything.check()
    screenshot("select-all")
    page.get_by_role("button", name="Approve selected…").click()
    expect(page.locator("#review-total")).to_have_text("1.50")
    page.keyboard.press("Enter")

    expect(page.locator(".messagelist")).to_contain_text("Approved 3 unit(s)")
    assert set(
        Agent.objects.filter(status=AgentStatus.APPROVED).values_list("pk", flat=True)
    ) == {a.pk for a in agents}
