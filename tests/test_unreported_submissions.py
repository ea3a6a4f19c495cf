"""Work the task page never saw is never paid automatically.

A Prolific completion code is one per study, so it can be passed on: a
participant who never opened the task page can still finish the study, and the
recovery sweep then records their empty submission from Prolific's listing.
Such a submission is marked, shown with a warning, left out of auto-approval
and of every bulk approval, and paid only when a person approves it alone.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from tasks_app import services
from tasks_app.exceptions import ReviewError
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    TaskRun,
    Unit,
    UnitStatus,
)
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.prolific_fake import ProlificFake
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.review_queue_calls import make_reviewer
from tests.test_prolific_flow import run as run  # noqa: F401 (the run fixture)
from tests.test_prolific_flow import study_of, works
from tests.threads import race

pytestmark = pytest.mark.django_db

NO_CODE = (
    "NO_CODE: this submission reached us without the task ever being opened on our "
    "page, so there is no work to pay for; the completion code was not yours."
)


def finishes_without_the_page(prolific: ProlificFake, run: TaskRun, who: str) -> Unit:
    """`who` takes a place and finishes the study with a code passed on, never
    opening the task page; the recovery sweep records what Prolific lists."""
    prolific.submit(study_of(run), who, status="AWAITING REVIEW")
    (recovered,) = [
        r for r in services.recover_submissions(run_id=run.pk) if r.worker_name == who
    ]
    return Unit.objects.get(pk=recovered.unit_id)


def agent_of(unit: Unit) -> Agent:
    return Agent.objects.get(unit=unit, submitted_at__isnull=False)


def rewards(unit: Unit) -> int:
    return Payment.objects.filter(unit=unit, kind=PaymentKind.REWARD).count()


def test_a_submission_recorded_from_the_listing_is_marked_and_one_from_the_page_not(
    run, prolific
):
    seen = works(prolific, run, "P1")

    unseen = finishes_without_the_page(prolific, run, "P2")

    assert agent_of(unseen).from_provider_listing is True
    assert agent_of(seen).from_provider_listing is False
    assert agent_of(unseen).status == AgentStatus.COMPLETED


def test_auto_approval_pays_the_page_reported_work_and_leaves_the_unseen(
    run, prolific, execute
):
    seen = works(prolific, run, "P1")
    unseen = finishes_without_the_page(prolific, run, "P2")

    later = timezone.now() + timedelta(days=30)
    approved = execute(lambda: services.auto_approve_due(now=later))

    assert approved == 1
    assert rewards(seen) == 1 and rewards(unseen) == 0
    assert agent_of(unseen).status == AgentStatus.COMPLETED
    statuses = {s["participant"]: s["status"] for s in prolific.submissions.values()}
    assert statuses == {"P1": "APPROVED", "P2": "AWAITING REVIEW"}


def test_bulk_approval_leaves_the_unseen_submission_with_the_reason(run, prolific):
    seen = works(prolific, run, "P1")
    unseen = finishes_without_the_page(prolific, run, "P2")

    result = services.approve_units(unit_ids=[seen.pk, unseen.pk])

    assert result.approved == [seen.pk]
    assert "the task page never reported" in result.refused[unseen.pk]
    assert rewards(unseen) == 0


def test_approve_all_from_the_command_line_leaves_it_for_a_person(run, prolific):
    works(prolific, run, "P1")
    unseen = finishes_without_the_page(prolific, run, "P2")
    out = io.StringIO()

    call_command("review_run", "--run", str(run.pk), "--approve-all", stdout=out)

    assert f"Left for review one at a time: unit {unseen.pk}" in out.getvalue()
    assert rewards(unseen) == 0


def test_approving_it_by_id_is_refused_until_a_person_confirms_it_alone(
    run, prolific, execute
):
    unseen = finishes_without_the_page(prolific, run, "P2")

    with pytest.raises(ReviewError, match="never reported"):
        services.approve_unit(unit_id=unseen.pk)
    with pytest.raises(ReviewError, match="never reported"):
        services.soft_reject_unit(unit_id=unseen.pk)
    with pytest.raises(CommandError, match="never reported"):
        call_command("review_run", "--run", str(run.pk), "--approve", str(unseen.pk))
    assert rewards(unseen) == 0

    out = io.StringIO()
    execute(
        lambda: call_command(
            "review_run",
            "--run",
            str(run.pk),
            "--approve-unreported",
            str(unseen.pk),
            "--json",
            stdout=out,
        )
    )

    assert json.loads(out.getvalue())["decided"] == [unseen.pk]
    assert rewards(unseen) == 1
    (submission,) = prolific.submissions.values()
    assert submission["status"] == "APPROVED"


def test_the_interactive_review_warns_and_asks_before_paying(run, prolific):
    unseen = finishes_without_the_page(prolific, run, "P2")
    out = io.StringIO()

    call_command(
        "review_run", "--run", str(run.pk), stdin=io.StringIO("a\nno\nq\n"), stdout=out
    )
    assert "UNREPORTED" in out.getvalue()
    assert "Not decided." in out.getvalue()
    assert rewards(unseen) == 0

    call_command(
        "review_run", "--run", str(run.pk), stdin=io.StringIO("a\nyes\nq\n"), stdout=out
    )
    assert rewards(unseen) == 1


def test_on_prolific_it_can_be_rejected_as_no_code(run, prolific, execute):
    unseen = finishes_without_the_page(prolific, run, "P2")

    execute(lambda: services.reject_unit(unit_id=unseen.pk, feedback=NO_CODE))

    (submission,) = prolific.submissions.values()
    assert submission["status"] == "REJECTED"
    (sent,) = [
        body
        for method, path, _, body in prolific.requests
        if method == "POST"
        and path.endswith("/transition/")
        and body.get("action") == "REJECT"
    ]
    assert sent["rejection_category"] == "NO_CODE"
    assert agent_of(unseen).status == AgentStatus.REJECTED


def test_the_review_queue_warns_and_pays_it_only_alone_with_the_box_ticked(
    run, prolific
):
    seen = works(prolific, run, "P1")
    unseen = finishes_without_the_page(prolific, run, "P2")
    pair = f"{unseen.pk}:{agent_of(unseen).pk}"
    reviewer = Client()
    reviewer.force_login(make_reviewer())
    url = f"/admin/tasks_app/taskrun/{run.pk}/review/"

    page = reviewer.get(url).content.decode()
    both = reviewer.post(
        url,
        {
            "action": "approve",
            "items": [f"{seen.pk}:{agent_of(seen).pk}", pair],
            "confirm": "1",
        },
    )
    unticked = reviewer.post(
        url, {"action": "approve", "items": [pair], "confirm": "1"}
    )
    asked = reviewer.post(url, {"action": "approve", "items": [pair]})

    assert "UNREPORTED" in page and "never reported this submission" in page
    assert both.status_code == unticked.status_code == 302
    assert rewards(seen) == 1 and rewards(unseen) == 0
    assert 'name="confirm_unreported"' in asked.content.decode()

    reviewer.post(
        url,
        {
            "action": "approve",
            "items": [pair],
            "confirm": "1",
            "confirm_unreported": "1",
        },
    )

    assert rewards(unseen) == 1
    unseen.refresh_from_db()
    assert unseen.status == UnitStatus.ACCEPTED


def test_approving_it_again_or_sending_again_pays_once(run, prolific, execute):
    unseen = finishes_without_the_page(prolific, run, "P2")
    execute(lambda: services.approve_unit(unit_id=unseen.pk, confirm_unreported=True))

    with pytest.raises(ReviewError, match="already approved"):
        services.approve_unit(unit_id=unseen.pk, confirm_unreported=True)
    for review in unseen.reviews.all():
        execute(lambda r=review: services.send_review(review_id=r.pk))

    assert rewards(unseen) == 1
    assert prolific.count("POST", r"submissions/[^/]+/transition/$") == 1


@pytest.mark.django_db(transaction=True)
def test_people_and_a_bulk_approval_racing_on_it_pay_it_once(postgres, run, prolific):
    unseen = finishes_without_the_page(prolific, run, "P2")

    def confirmed():
        return services.approve_unit(unit_id=unseen.pk, confirm_unreported=True)

    outcomes = race(
        [
            confirmed,
            confirmed,
            lambda: services.approve_units(unit_ids=[unseen.pk]),
            lambda: services.auto_approve_due(now=timezone.now() + timedelta(days=30)),
        ]
    )

    decided = [o for o in outcomes if isinstance(o, services.Decision)]
    assert len(decided) == 1, outcomes
    assert "already approved" in str(next(o for o in outcomes[:2] if o not in decided))
    assert outcomes[2].approved == [] and outcomes[3] == 0
    assert rewards(unseen) == 1
