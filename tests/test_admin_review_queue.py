"""The admin's review queue for a run: what it shows, and its decisions, bonuses
and allowlist grant, each through the review services, confirmed where it pays."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from providers.models import ProviderCall
from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from qualifications_app.services import GRANT_PERMISSION
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import (
    AgentFactory,
    OnboardingAgentFactory,
    QualificationFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)
from tests.worker_calls import PNG_BYTES
from tests.worker_calls import media_root_fixture as media_root_fixture

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def reviewer(client) -> Client:
    client.force_login(make_reviewer())
    return client


@pytest.fixture
def run() -> TaskRun:
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


# --- what the page shows ----------------------------------------------------------


def test_the_queue_shows_inputs_and_submission_side_by_side_with_the_workers_standing(
    reviewer, run
):
    agent = submitted(
        run,
        "alice",
        {"answer": "A long answer " * 40, "choices": [1, 2]},
        inputs={"sentence": "Is this <b>good</b>?"},
    )
    UnitFactory(assignment__run=run, worker=agent.worker, status=UnitStatus.ACCEPTED)
    UnitFactory(assignment__run=run, worker=agent.worker, status=UnitStatus.REJECTED)
    OnboardingAgentFactory(run=run, worker=agent.worker, status="approved")

    response = reviewer.get(queue_url(run))

    assert response.status_code == 200
    content = response.content.decode()
    inputs, submission = content.split('class="review-inputs"')[1].split(
        'class="review-submission"'
    )
    assert "<dt>sentence</dt>" in inputs
    assert "Is this &lt;b&gt;good&lt;/b&gt;?" in inputs  # escaped, never markup
    assert "<dt>answer</dt>" in submission and "A long answer" in submission
    assert '<ol class="rv-list" start="0"><li><span class="rv-scalar">1</span>' in (
        submission
    )
    assert "approval rate 50% of 2 reviewed" in content
    assert "3 unit(s) done" in content
    assert "onboarding: approved" in content
    assert f'id="agent-{agent.pk}"' in content
    assert f'value="{key(agent)}"' in content


def test_uploaded_files_are_linked_images_shown_and_served_only_to_reviewers(
    reviewer, run, media_root, client
):
    agent = submitted(run, "alice")
    folder = f"submissions/run-{run.pk}/agent-{agent.pk}"
    photo = default_storage.save(f"{folder}/photo.png", ContentFile(PNG_BYTES))
    page = default_storage.save(f"{folder}/page.html", ContentFile(b"<script>"))
    agent.submission = {
        "final_data": {"caption": "a tree"},
        "files": [
            {
                "name": "photo.png",
                "path": photo,
                "size": 67,
                "content_type": "image/png",
            },
            {"name": "page.html", "path": page, "size": 8, "content_type": "text/html"},
        ],
    }
    agent.save()
    base = f"/admin/tasks_app/taskrun/{run.pk}/review/file/{agent.pk}"

    content = reviewer.get(queue_url(run)).content.decode()
    image = reviewer.get(f"{base}/0/")
    html = reviewer.get(f"{base}/1/")

    assert f'<img class="rv-image" src="{base}/0/"' in content
    assert f'<a class="rv-file" href="{base}/1/">page.html (text/html' in content
    assert f'src="{base}/1/"' not in content
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == PNG_BYTES
    assert image["X-Content-Type-Options"] == "nosniff"
    # HTML a worker uploaded is downloaded, never run in the admin's origin.
    assert html["Content-Type"] == "application/octet-stream"
    assert html["Content-Disposition"].startswith("attachment")
    assert reviewer.get(f"{base}/2/").status_code == 404
    reviewer.logout()
    client.force_login(User.objects.create_user("clerk", is_staff=True))
    assert client.get(f"{base}/0/").status_code == 403


def test_metadata_and_the_pages_errors_are_folded(reviewer, run):
    submitted(
        run,
        "alice",
        metadata={"browser": "Firefox", "errors": [{"message": "TypeError: x"}]},
    )

    content = reviewer.get(queue_url(run)).content.decode()

    errors = content.split('class="review-fold review-errors"')[1].split("</details>")
    assert "<summary>Errors reported by the page (1)</summary>" in errors[0]
    assert "TypeError: x" in errors[0]
    assert "<summary>Metadata</summary>" in content and "Firefox" in content


def test_filters_by_status_worker_and_late(reviewer, run):
    alice = submitted(run, "alice")
    bob = submitted(run, "bob", late=True)
    decided = submitted(run, "carol")
    decided.status = AgentStatus.APPROVED
    decided.save()

    def shown(query: str) -> set[int]:
        response = reviewer.get(queue_url(run) + query)
        return {item["agent"].pk for item in response.context["items"]}

    assert shown("") == {alice.pk, bob.pk}  # undecided by default
    assert shown("?status=approved") == {decided.pk}
    assert shown("?status=all") == {alice.pk, bob.pk, decided.pk}
    assert shown(f"?worker={bob.worker_id}") == {bob.pk}
    assert shown("?late=yes") == {bob.pk}
    assert shown("?late=no&status=all") == {alice.pk, decided.pk}


def test_the_queue_is_paginated(reviewer, run):
    agents = [submitted(run, f"w{i}") for i in range(23)]

    first = reviewer.get(queue_url(run))
    second = reviewer.get(queue_url(run) + "?page=2")

    assert [i["agent"].pk for i in first.context["items"]] == [
        a.pk for a in agents[:20]
    ]
    assert [i["agent"].pk for i in second.context["items"]] == [
        a.pk for a in agents[20:]
    ]
    assert "page 1 of 2 (23 submissions)" in first.content.decode()


@pytest.mark.parametrize("count", [2, 20])
def test_the_queue_page_takes_a_bounded_number_of_queries(
    reviewer, run, count, django_assert_max_num_queries
):
    for i in range(count):
        submitted(run, f"w{i}", metadata={"errors": [{"message": "e"}]})
        OnboardingAgentFactory(run=run, worker=Worker.objects.get(worker_name=f"w{i}"))

    with django_assert_max_num_queries(12):
        response = reviewer.get(queue_url(run))

    assert len(response.context["items"]) == count


def test_the_run_pages_link_to_the_queue(reviewer, run, admin_client):
    change = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/change/")
    listing = admin_client.get("/admin/tasks_app/taskrun/")

    assert f'href="{queue_url(run)}"' in change.content.decode()
    assert f'href="{queue_url(run)}"' in listing.content.decode()


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


def test_a_late_submission_is_approved_naming_its_agent(reviewer, run):
    own = submitted(run, "alice")
    late = AgentFactory(
        unit=own.unit,
        worker=WorkerFactory(worker_name="bob"),
        status=AgentStatus.COMPLETED,
        submitted_at=timezone.now(),
        submission={"rating": "late"},
        is_late=True,
    )

    reviewer.post(
        queue_url(run),
        {"action": "approve", "items": [key(own), key(late)], "confirm": "1"},
    )

    assert set(
        Agent.objects.filter(status=AgentStatus.APPROVED).values_list("pk", flat=True)
    ) == {own.pk, late.pk}
    assert Payment.objects.filter(kind=PaymentKind.REWARD).count() == 2


# --- reject, soft-reject, bonus ---------------------------------------------------


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


def test_a_bonus_confirms_the_amount_then_pays_it(reviewer, run):
    agent = submitted(run, "alice")
    form = {
        "action": "bonus",
        "items": [key(agent)],
        "amount": "1.25",
        "reason": "Careful work",
    }

    asked = reviewer.post(queue_url(run), form)
    assert '<strong id="review-total">1.25</strong>' in asked.content.decode()
    assert not Payment.objects.exists()

    done = reviewer.post(queue_url(run), {**form, "confirm": "1"})

    bonus = Payment.objects.get(kind=PaymentKind.BONUS)
    assert (bonus.amount, bonus.reason, bonus.agent_id) == (
        Decimal("1.25"),
        "Careful work",
        agent.pk,
    )
    assert said(done) == [
        f"Paid a bonus on 1 unit(s): {agent.unit_id}. 1.25 in bonuses to be paid "
        "through the provider."
    ]


@pytest.mark.parametrize(
    "amount, message",
    [
        ("-1", "the bonus amount must be more than 0 (got -1)"),
        ("0", "the bonus amount must be more than 0 (got 0)"),
        ("NaN", "the bonus amount must be a finite number (got NaN)"),
        (
            "lots",
            "the bonus amount 'lots' is not a number in plain decimal digits such "
            "as 12.50: 'l' is not allowed: use only the digits 0-9 and one '.'",
        ),
    ],
)
def test_a_bonus_that_is_not_a_positive_number_is_refused(
    reviewer, run, amount, message
):
    agent = submitted(run, "alice")
    before = written()

    done = reviewer.post(
        queue_url(run),
        {"action": "bonus", "items": [key(agent)], "amount": amount, "reason": "x"},
    )

    assert done.status_code == 302  # no confirmation page
    assert written() == before
    assert said(done) == [f"Nothing changed: {message}"]


@pytest.mark.parametrize(
    "amount, message",
    [
        (
            "1_000",
            "the bonus amount '1_000' is not a number in plain decimal digits such "
            "as 12.50: '_' is not allowed: write 1000, not 1_000",
        ),
        (
            "1" * 40,
            f"the bonus amount '{'1' * 40}' is too large: at most 12 digits before "
            "the '.'",
        ),
    ],
)
@pytest.mark.parametrize("confirm", [False, True])
def test_a_bonus_amount_not_in_plain_digits_is_refused_and_nothing_is_paid(
    reviewer, run, amount, message, confirm
):
    agent = submitted(run, "alice")
    before = written()
    form = {"action": "bonus", "items": [key(agent)], "amount": amount, "reason": "x"}

    done = reviewer.post(queue_url(run), {**form, "confirm": "1"} if confirm else form)

    assert done.status_code == 302
    assert said(done) == [f"Nothing changed: {message}"]
    assert written() == before
    assert not Payment.objects.filter(kind=PaymentKind.BONUS).exists()
    assert not ProviderCall.objects.exists()


def test_a_bonus_without_a_reason_is_refused(reviewer, run):
    agent = submitted(run, "alice")

    done = reviewer.post(
        queue_url(run), {"action": "bonus", "items": [key(agent)], "amount": "1"}
    )

    assert not Payment.objects.exists()
    assert "a bonus needs a reason" in said(done)[0]


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


def test_a_decision_on_a_unit_without_a_submission_is_refused(reviewer, run):
    unit = UnitFactory(assignment__run=run, status=UnitStatus.LAUNCHED)
    agent = AgentFactory(unit=unit, worker=WorkerFactory(), status=AgentStatus.IN_TASK)
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


# --- the allowlist grant ----------------------------------------------------------


@pytest.fixture
def allowlist_run() -> TaskRun:
    QualificationFactory(name="sentence-raters")
    return TaskRunFactory(
        task_reward=Decimal("0.50"),
        resolved_config={"mephisto": {}, "allowlist_qualification": "sentence-raters"},
    )


def test_the_workers_just_approved_get_the_runs_allowlist_in_one_action(
    client, allowlist_run
):
    client.force_login(make_reviewer("rita", GRANT_PERMISSION))
    alice, bob, carol = (submitted(allowlist_run, n) for n in ("alice", "bob", "cy"))
    client.post(
        queue_url(allowlist_run),
        {"action": "approve", "items": [key(alice), key(bob)], "confirm": "1"},
    )
    page = client.get(queue_url(allowlist_run))
    assert page.context["just_approved"] == [alice.unit_id, bob.unit_id]
    assert "Grant the run's allowlist 'sentence-raters'" in page.content.decode()

    done = client.post(
        queue_url(allowlist_run),
        {"action": "grant_allowlist", "units": page.context["just_approved"]},
    )

    granted = GrantedQualification.objects.filter(qualification__name="sentence-raters")
    assert {g.worker.worker_name for g in granted} == {"alice", "bob"}
    assert WorkerReview.objects.filter(action=ReviewAction.GRANT).count() == 2
    assert said(done) == ["Granted 'sentence-raters' to 2 worker(s)."]
    assert client.get(queue_url(allowlist_run)).context["just_approved"] == []
    assert carol.worker.granted_qualifications.count() == 0


def test_the_allowlist_grant_skips_units_that_are_not_approved(client, allowlist_run):
    client.force_login(make_reviewer("rita", GRANT_PERMISSION))
    pending = submitted(allowlist_run, "alice")

    done = client.post(
        queue_url(allowlist_run),
        {"action": "grant_allowlist", "units": [pending.unit_id]},
    )

    assert not GrantedQualification.objects.exists()
    assert said(done) == ["Nothing changed: none of these units is approved"]


def test_the_allowlist_grant_needs_the_grant_permission(reviewer, allowlist_run):
    agent = submitted(allowlist_run, "alice")
    reviewer.post(
        queue_url(allowlist_run),
        {"action": "approve", "items": [key(agent)], "confirm": "1"},
    )

    page = reviewer.get(queue_url(allowlist_run))
    done = reviewer.post(
        queue_url(allowlist_run),
        {"action": "grant_allowlist", "units": [agent.unit_id]},
    )

    assert "Grant the run" not in page.content.decode()
    assert done.status_code == 403
    assert not GrantedQualification.objects.exists()


def test_a_run_without_an_allowlist_flag_says_so(client, run):
    client.force_login(make_reviewer("rita", GRANT_PERMISSION))
    agent = submitted(run, "alice")
    client.post(
        queue_url(run), {"action": "approve", "items": [key(agent)], "confirm": "1"}
    )

    done = client.post(
        queue_url(run), {"action": "grant_allowlist", "units": [agent.unit_id]}
    )

    assert not GrantedQualification.objects.exists()
    assert "launched without an allowlist_qualification flag" in said(done)[-1]


# --- Mephisto's task_source_review bundle -----------------------------------------


def test_a_run_with_a_review_bundle_shows_each_unit_in_a_sandboxed_frame(
    reviewer, tmp_path
):
    bundle = tmp_path / "review.js"
    bundle.write_text('document.getElementById("app").textContent = "</script>";')
    run = TaskRunFactory(
        resolved_config={
            "mephisto": {"blueprint": {"task_source_review": "review.js"}},
            "task_dir": str(tmp_path),
        }
    )
    agent = submitted(run, "alice", {"final_data": {"rating": 3}, "files": []})
    frame_url = f"/admin/tasks_app/taskrun/{run.pk}/review/frame/"

    content = reviewer.get(queue_url(run)).content.decode()
    frame = reviewer.get(frame_url)

    assert (
        f'<iframe class="review-frame" sandbox="allow-scripts" src="{frame_url}"'
        in (content)
    )
    assert (
        f'<script id="review-data-{agent.pk}" type="application/json">'
        '{"inputs": {"text": "This text is good text!"}, "outputs": {"rating": 3}}'
    ) in content
    assert frame.status_code == 200
    assert frame["Content-Security-Policy"].startswith("sandbox allow-scripts;")
    assert "frame-ancestors 'self'" in frame["Content-Security-Policy"]
    # Worker HTML rendered by the bundle can't send data out through an image.
    directives = dict(
        d.strip().split(" ", 1) for d in frame["Content-Security-Policy"].split(";")
    )
    for kind in ("img-src", "media-src", "font-src", "default-src"):
        assert "*" not in directives[kind] and "http" not in directives[kind]
    body = frame.content.decode()
    assert '<div id="app"' in body
    assert 'textContent = "<\\/script>";</script>' in body


def test_a_run_without_a_review_bundle_has_no_frame(reviewer, run):
    submitted(run, "alice")

    content = reviewer.get(queue_url(run)).content.decode()

    assert "review-frame" not in content.split("<section", 1)[1]
    frame = reviewer.get(f"/admin/tasks_app/taskrun/{run.pk}/review/frame/")
    assert frame.status_code == 404
