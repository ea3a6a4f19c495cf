"""A Prolific run end to end, as a researcher and participants live it: launched
from a Mephisto config (task_reward in cents), participants arriving from the study
URL, the completion code only after their work is stored, review and a bonus
reaching Prolific once, a returned place freed, the study stopped at shutdown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from providers.models import CallStatus, ProviderCall
from providers.prolific.provider import completion_code
from tasks_app import services
from tasks_app.models import Agent, Payment, PaymentState, TaskRun, Unit, UnitStatus
from tasks_app.selectors import run_spec
from tests.mturk_fake import launch_task
from tests.prolific_fake import ProlificFake
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.worker_calls import arrive, submit_task

pytestmark = pytest.mark.django_db

FEEDBACK = (
    "LOW_EFFORT: every one of the ten sentences got the same rating within a few "
    "seconds, and the check sentence was rated as reading well."
)


CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: server
  - /mephisto/provider: prolific
mephisto:
  architect:
    public_url: https://crowd.example.org
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: 1
  provider:
    prolific_estimated_completion_time_in_minutes: 3
  task:
    task_name: prolific-flow
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 150
    assignment_duration_in_seconds: 600
"""


@pytest.fixture
def run(prolific: ProlificFake, settings, execute, tmp_path) -> TaskRun:
    """A 3-unit run on Prolific at task_reward 150 (cents, as Mephisto reads it)."""
    settings.PUBLIC_URL = "https://crowd.example.org"
    return launch_task(tmp_path, execute, CONFIG, rows=3)


def study_of(run: TaskRun) -> str:
    (study_id,) = set(Unit.objects.filter(run=run).values_list("provider_unit_id"))
    return study_id[0]


def arriving(run: TaskRun, participant: str, submission: str, study: str) -> dict:
    response = arrive(APIClient(), run, participant, submission, study)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def works(prolific: ProlificFake, run: TaskRun, participant: str) -> Unit:
    """`participant` starts the study, does the task on our page and finishes."""
    study = study_of(run)
    submission = prolific.submit(study, participant, status="ACTIVE")
    agent_id = arriving(run, participant, submission, study)["agent_id"]
    assert agent_id
    client = APIClient()
    assert submit_task(client, run, agent_id, {"rating": "good"}).status_code == 200
    code = client.post(
        f"/completion_code?task_run_id={run.pk}",
        {"worker_name": participant, "assignment_id": submission},
        format="json",
    ).json()["completion_code"]
    # Prolific takes the code back: the submission waits for review there.
    assert code == completion_code(run_spec(run))
    prolific.submissions[submission]["status"] = "AWAITING REVIEW"
    return Agent.objects.get(provider_assignment_id=submission).unit


def test_the_study_is_made_from_the_config_with_the_reward_in_cents(run, prolific):
    (study,) = prolific.studies.values()

    assert run.task_reward == Decimal("1.50")
    assert study["reward"] == 150
    assert study["total_available_places"] == 3
    assert study["status"] == "ACTIVE"
    assert study["external_study_url"].startswith(
        f"https://crowd.example.org/?task_run_id={run.pk}&participant_id="
    )
    assert [c["code"] for c in study["completion_codes"]] == [
        completion_code(run_spec(run))
    ]


def test_approval_and_a_bonus_reach_prolific_once(run, prolific, execute):
    unit = works(prolific, run, "P1")

    execute(lambda: services.approve_unit(unit_id=unit.pk))
    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.75", reason="Neat"))
    # Sent again (a redelivered task): nothing more happens on Prolific.
    for review in unit.reviews.all():
        execute(lambda r=review: services.send_review(review_id=r.pk))

    (submission,) = prolific.submissions.values()
    assert submission["status"] == "APPROVED"
    assert [p["amount"] for p in prolific.payments] == [Decimal("0.75")]
    states = set(Payment.objects.filter(unit=unit).values_list("state", flat=True))
    assert states == {PaymentState.PAID}


def test_a_rejection_reaches_prolific_with_its_category_and_message(
    run, prolific, execute
):
    unit = works(prolific, run, "P1")

    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback=FEEDBACK))

    (submission,) = prolific.submissions.values()
    assert submission["status"] == "REJECTED"
    (sent,) = [
        body
        for method, path, _, body in prolific.requests
        if method == "POST"
        and path.endswith(f"submissions/{submission['id']}/transition/")
    ]
    assert sent["rejection_category"] == "LOW_EFFORT"
    assert sent["message"].startswith("every one of the ten sentences")


def test_a_participant_claiming_someone_elses_submission_is_refused(run, prolific):
    study = study_of(run)
    theirs = prolific.submit(study, "P1", status="ACTIVE")

    data = arriving(run, "P2", theirs, study)

    assert data["agent_id"] is None
    assert data["failure_reason"]
    assert not Agent.objects.filter(run=run).exists()


def test_a_returned_place_frees_its_unit_for_the_next_participant(
    run, prolific, execute
):
    study = study_of(run)
    submission = prolific.submit(study, "P1", status="ACTIVE")
    assert arriving(run, "P1", submission, study)["agent_id"]
    prolific.submissions[submission]["status"] = "RETURNED"

    freed = execute(lambda: services.free_abandoned_units(run_id=run.pk))

    assert len(freed) == 1
    assert Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED).count() == 3


def test_shutting_the_run_down_stops_the_study(run, prolific, execute):
    works(prolific, run, "P1")

    execute(lambda: services.shutdown_run(run_id=run.pk, reason="enough data"))

    (study,) = prolific.studies.values()
    assert study["status"] != "ACTIVE"


@pytest.mark.parametrize(("fault", "paid"), [("drop", True), ("server_error", False)])
def test_a_lost_bonus_is_settled_with_every_call_log_row_it_left(
    run, prolific, execute, fault, paid
):
    unit = works(prolific, run, "P1")
    execute(lambda: services.approve_unit(unit_id=unit.pk))
    prolific.fail_next(1, fault, path=r"/pay/$")

    execute(lambda: services.pay_bonus(unit_id=unit.pk, amount="0.75", reason="Neat"))
    open_calls = ProviderCall.objects.filter(
        status__in=[CallStatus.PENDING, CallStatus.AMBIGUOUS]
    )
    assert open_calls.exists()

    later = timezone.now() + timedelta(minutes=31)
    (settled,) = services.reconcile_lost_bonuses(now=later)

    assert settled.paid is paid
    # The monitoring query of docs/deploy.md finds nothing left open.
    assert not open_calls.exists()
    review = unit.reviews.get(action="bonus")
    keys = {f"review:{review.pk}", f"prolific:bonus_pay:review:{review.pk}"}
    settled_as = CallStatus.SUCCEEDED if paid else CallStatus.FAILED
    assert set(
        ProviderCall.objects.filter(idempotency_key__in=keys).values_list(
            "status", flat=True
        )
    ) == {settled_as}
    assert prolific.count("POST", r"/pay/$") == 1
