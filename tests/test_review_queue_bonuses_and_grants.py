"""The admin's review queue pays bonuses (confirmed, amounts checked, a bonus far
above the reward confirmed twice over) and grants the run's allowlist to the
workers it just approved or whose approved units are selected."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from providers.models import ProviderCall
from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from qualifications_app.services import GRANT_PERMISSION
from tasks_app import services
from tasks_app.models import Agent, Payment, PaymentKind, TaskRun
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import QualificationFactory, TaskRunFactory
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
from tests.worker_calls import submit_late_beside_holder

pytestmark = pytest.mark.django_db


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


def test_approved_units_are_selected_on_the_page_and_granted_the_allowlist(
    client, allowlist_run
):
    client.force_login(make_reviewer("rita", GRANT_PERMISSION))
    alice, bob = (submitted(allowlist_run, n) for n in ("alice", "bob"))
    pending = submitted(allowlist_run, "cy")
    client.post(
        queue_url(allowlist_run),
        {"action": "approve", "items": [key(alice), key(bob)], "confirm": "1"},
    )

    page = client.get(queue_url(allowlist_run) + "?status=all")

    content = page.content.decode()
    boxes = [
        value
        for value in (key(alice), key(bob), key(pending))
        if f'name="items" value="{value}" form="review-bulk"' in content
    ]
    assert boxes == [key(alice), key(bob), key(pending)]
    assert "Grant 'sentence-raters' to the selected approved units' workers" in (
        content
    )

    done = client.post(
        queue_url(allowlist_run),
        {"action": "grant_allowlist", "items": boxes, "next": "status=all"},
    )

    granted = GrantedQualification.objects.filter(qualification__name="sentence-raters")
    assert {g.worker.worker_name for g in granted} == {"alice", "bob"}
    assert said(done) == [
        "Granted 'sentence-raters' to 2 worker(s). 1 unit(s) skipped: not approved."
    ]
    assert done["Location"] == queue_url(allowlist_run) + "?status=all"


def test_the_allowlist_goes_to_a_late_submitter_approved_not_the_units_holder(
    client, time_machine
):
    QualificationFactory(name="sentence-raters")
    run = TaskRunFactory(
        units=1,
        task_reward=Decimal("0.50"),
        resolved_config={"mephisto": {}, "allowlist_qualification": "sentence-raters"},
    )
    # Through the worker API: bob times out, alice takes the unit and submits,
    # bob submits late beside her.
    late_id, _ = submit_late_beside_holder(
        APIClient(), time_machine, run, late="bob", holder="alice"
    )
    late = Agent.objects.get(public_id=late_id)
    client.force_login(make_reviewer("rita", GRANT_PERMISSION))
    client.post(
        queue_url(run), {"action": "approve", "items": [key(late)], "confirm": "1"}
    )

    client.post(queue_url(run), {"action": "grant_allowlist", "items": [key(late)]})

    granted = GrantedQualification.objects.get(qualification__name="sentence-raters")
    assert granted.worker.worker_name == "bob"


def test_approved_units_get_no_box_without_an_allowlist_or_the_grant_permission(
    reviewer, run, allowlist_run
):
    approved = submitted(allowlist_run, "alice")
    without_flag = submitted(run, "bob")
    for agent in (approved, without_flag):
        services.approve_unit(unit_id=agent.unit_id)
    client = Client()
    client.force_login(make_reviewer("gus", GRANT_PERMISSION))

    no_permission = reviewer.get(queue_url(allowlist_run) + "?status=approved")
    no_flag = client.get(queue_url(run) + "?status=approved")

    assert 'class="review-select"' not in no_permission.content.decode()
    assert 'class="review-select"' not in no_flag.content.decode()


def test_a_soft_rejected_unit_is_not_granted_the_allowlist(client, allowlist_run):
    client.force_login(make_reviewer("rita", GRANT_PERMISSION))
    agent = submitted(allowlist_run, "alice")
    services.soft_reject_unit(unit_id=agent.unit_id)

    page = client.get(queue_url(allowlist_run) + "?status=soft_rejected")
    done = client.post(
        queue_url(allowlist_run), {"action": "grant_allowlist", "items": [key(agent)]}
    )

    assert 'class="review-select"' not in page.content.decode()
    assert said(done) == ["Nothing changed: none of these units is approved"]
    assert not GrantedQualification.objects.exists()


# --- a bonus far above the reward --------------------------------------------------


def test_a_bonus_above_ten_times_the_reward_says_so_and_needs_its_own_box(client):
    client.force_login(make_reviewer())
    run = TaskRunFactory(task_reward=Decimal("0.10"))
    agent = submitted(run, "alice")
    form = {
        "action": "bonus",
        "items": [key(agent)],
        "amount": "1000",
        "reason": "Great",
    }

    asked = client.post(queue_url(run), form)
    unticked = client.post(queue_url(run), {**form, "confirm": "1"})

    content = asked.content.decode()
    assert (
        "$1,000.00 is 10,000 times this unit&#x27;s reward of $0.10 — check the amount"
    ) in content
    assert '<input type="checkbox" name="confirm_large" value="1"' in content
    assert not Payment.objects.exists()
    assert "is 10000 times the unit's reward of $0.10" in said(unticked)[-1]

    client.post(queue_url(run), {**form, "confirm": "1", "confirm_large": "1"})

    bonus = Payment.objects.get(kind=PaymentKind.BONUS)
    assert (bonus.amount, bonus.agent_id) == (Decimal("1000.00"), agent.pk)


def test_a_bonus_of_ten_times_the_reward_needs_no_extra_box(reviewer, run):
    agent = submitted(run, "alice")  # a reward of 0.50
    form = {"action": "bonus", "items": [key(agent)], "amount": "5", "reason": "Good"}

    asked = reviewer.post(queue_url(run), form)
    reviewer.post(queue_url(run), {**form, "confirm": "1"})

    assert "confirm_large" not in asked.content.decode()
    assert Payment.objects.get(kind=PaymentKind.BONUS).amount == Decimal("5.00")
