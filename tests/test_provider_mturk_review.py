"""Review and money on MTurk, end to end: a run launched on the sandbox, workers
accepting and submitting through the MTurk fake and our API, and decisions and
bonuses reaching MTurk once, whatever is retried, throttled or lost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from crowdsite.config_errors import ConfigError
from providers.base import ProviderError, WorkRef
from providers.models import CallStatus, ProviderCall
from providers.mturk import MTurkProvider, MTurkSandboxProvider
from qualifications_app.models import WorkerReview
from tasks_app import services
from tasks_app.models import Agent, Payment, PaymentState, TaskRun, Unit, UnitStatus
from tasks_app.services.review import send_review
from tests.mturk_fake import MTurkFake, launch_task
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.worker_calls import arrive, submit_task

pytestmark = pytest.mark.django_db

# What one boto3 call makes at most: the request and botocore's three retries.
ATTEMPTS = 4

CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: server
  - /mephisto/provider: mturk_sandbox
mephisto:
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: 1
  task:
    task_name: mturk-review
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 0.50
    assignment_duration_in_seconds: 600
"""


@pytest.fixture
def launch(tmp_path, settings, execute, mturk):
    """Launch a run of `rows` units on the MTurk sandbox (the fake)."""
    settings.PUBLIC_URL = "https://crowd.example.org"

    def _launch(rows: int = 1) -> TaskRun:
        return launch_task(tmp_path, execute, CONFIG, rows)

    return _launch


def work(
    mturk: MTurkFake,
    run: TaskRun,
    worker_id: str,
    *,
    assignment_id: str | None = None,
) -> Unit:
    """`worker_id` accepts a HIT of `run` on MTurk, does it on our page, submits.

    `assignment_id` forges the assignment the page reports (another worker's).
    """
    unit = Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED).order_by("pk")[0]
    hit_id = unit.provider_unit_id
    accepted = mturk.accept(hit_id, worker_id)
    reported = assignment_id or accepted
    client = APIClient()
    response = arrive(client, run, worker_id, reported, hit_id)
    agent_id = response.json()["data"]["agent_id"]
    assert agent_id, response.json()
    assert submit_task(client, run, agent_id, {"rating": "good"}).status_code == 200
    mturk.submit(hit_id, worker_id, assignment_id=accepted)
    return Unit.objects.get(pk=unit.pk)


def assignment_of(unit: Unit) -> str:
    return Agent.objects.get(unit=unit).provider_assignment_id


def reward(unit: Unit) -> Payment:
    return Payment.objects.get(unit=unit, kind="reward")


def bonus(unit: Unit) -> Payment:
    return Payment.objects.get(unit=unit, kind="bonus")


# --- launch -----------------------------------------------------------------------


def test_a_sandbox_launch_posts_one_hit_per_unit_to_mturk(launch, mturk):
    run = launch(rows=2)

    units = Unit.objects.filter(run=run)
    assert {u.status for u in units} == {UnitStatus.LAUNCHED}
    assert {u.provider_unit_id for u in units} == set(mturk.hits)
    assert mturk.count("CreateHITWithHITType") == 2


def test_a_launch_reads_the_balance_first_and_goes_ahead_when_it_covers_the_cost(
    launch, mturk
):
    mturk.balance = Decimal("1.20")  # 2 × $0.50 plus MTurk's 20%: exactly enough

    run = launch(rows=2)

    assert run.units.count() == 2
    operations = [operation for operation, _ in mturk.requests]
    assert operations.count("GetAccountBalance") == 1
    assert operations.index("GetAccountBalance") < operations.index("CreateHITType")


def test_a_launch_the_account_cannot_pay_is_refused_with_the_figures(launch, mturk):
    mturk.balance = Decimal("1.19")

    with pytest.raises(ConfigError) as raised:
        launch(rows=2)

    message = str(raised.value)
    assert message.startswith("mephisto.provider: the mturk_sandbox account's")
    assert "balance is $1.19, less than this launch's $1.20" in message
    assert "2 units at $0.50, plus $0.20 provider fee" in message
    assert not TaskRun.objects.exists()
    assert not Unit.objects.exists()
    assert mturk.count("CreateHITType") == 0
    assert not mturk.hits


def test_a_launch_whose_balance_cannot_be_read_is_refused_and_writes_nothing(
    launch, mturk
):
    # Every attempt botocore makes is throttled.
    mturk.fail_next(ATTEMPTS, "throttle", operation="GetAccountBalance")

    with pytest.raises(ConfigError) as raised:
        launch(rows=1)

    assert "could not read the mturk_sandbox account's balance" in str(raised.value)
    assert "ThrottlingException" in str(raised.value)
    assert not TaskRun.objects.exists()
    assert not mturk.hits


def test_the_balance_is_read_from_mturk_as_a_decimal(mturk):
    mturk.balance = Decimal("123.45")

    assert MTurkSandboxProvider().account_balance() == Decimal("123.45")


# --- approve and reject -----------------------------------------------------------


def test_approving_approves_the_assignment_on_mturk_once_and_pays_the_reward(
    launch, mturk, execute
):
    run = launch()
    unit = work(mturk, run, "AWORKER1")

    execute(lambda: services.approve_unit(unit_id=unit.pk))

    assert mturk.params("ApproveAssignment") == [{"AssignmentId": assignment_of(unit)}]
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Approved"
    assert reward(unit).state == PaymentState.PAID
    unit.refresh_from_db()
    assert unit.status == UnitStatus.ACCEPTED


def test_replaying_an_approval_sends_nothing_more(launch, mturk, execute):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    execute(lambda: services.approve_unit(unit_id=unit.pk))
    review = WorkerReview.objects.get(unit=unit)

    send_review(review_id=review.pk)
    ProviderCall.objects.filter(idempotency_key=f"review:{review.pk}").update(
        status=CallStatus.AMBIGUOUS
    )
    send_review(review_id=review.pk)  # the log lost its success: MTurk says done

    assert mturk.count("ApproveAssignment") == 1
    assert reward(unit).state == PaymentState.PAID


def test_an_approval_whose_answer_was_lost_counts_as_done(launch, mturk, execute):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    mturk.fail_next(1, "drop", operation="ApproveAssignment")

    execute(lambda: services.approve_unit(unit_id=unit.pk))

    # botocore retried; MTurk refused the second approval, GetAssignment settled it.
    assert mturk.count("ApproveAssignment") == 2
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Approved"
    assert reward(unit).state == PaymentState.PAID


def test_brief_throttling_is_absorbed_and_the_approval_made_once(
    launch, mturk, execute
):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    mturk.fail_next(2, "throttle", operation="ApproveAssignment")

    execute(lambda: services.approve_unit(unit_id=unit.pk))

    # Two throttled attempts and the third, within botocore's retries.
    assert mturk.count("ApproveAssignment") == 3
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Approved"
    assert reward(unit).state == PaymentState.PAID


def test_lasting_throttling_is_transient_and_a_later_retry_approves_once(launch, mturk):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    services.approve_unit(unit_id=unit.pk)  # the task is not run: sent below
    review = WorkerReview.objects.get(unit=unit)
    mturk.fail_next(ATTEMPTS, "throttle", operation="ApproveAssignment")

    with pytest.raises(ProviderError) as raised:
        send_review(review_id=review.pk)
    assert raised.value.transient
    assert reward(unit).state == PaymentState.AMBIGUOUS

    send_review(review_id=review.pk)  # Celery's retry, with backoff

    assert mturk.count("ApproveAssignment") == ATTEMPTS + 1
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Approved"
    assert reward(unit).state == PaymentState.PAID


def test_server_errors_are_transient(launch, mturk):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    mturk.fail_next(ATTEMPTS, "server_error")

    with pytest.raises(ProviderError) as raised:
        MTurkSandboxProvider().approve_work(
            work=WorkRef(
                worker_name="AWORKER1_sandbox",
                provider_unit_id=unit.provider_unit_id,
                provider_assignment_id=assignment_of(unit),
            ),
            token="review:1",
        )

    assert raised.value.transient
    assert mturk.count("ApproveAssignment") == 0


def test_rejecting_sends_the_feedback_and_pays_nothing(launch, mturk, execute):
    run = launch()
    unit = work(mturk, run, "AWORKER1")

    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback="Empty answer"))

    assert mturk.params("RejectAssignment") == [
        {"AssignmentId": assignment_of(unit), "RequesterFeedback": "Empty answer"}
    ]
    assert mturk.assignments[assignment_of(unit)]["AssignmentStatus"] == "Rejected"
    assert not Payment.objects.exists()
    review = WorkerReview.objects.get(unit=unit)
    assert ProviderCall.objects.get(idempotency_key=f"review:{review.pk}").status == (
        CallStatus.SUCCEEDED
    )


def test_rejecting_work_mturk_already_approved_is_refused_and_says_why(
    launch, mturk, execute
):
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    mturk.assignments[assignment_of(unit)]["AssignmentStatus"] = "Approved"

    execute(lambda: services.reject_unit(unit_id=unit.pk, feedback="Empty answer"))

    review = WorkerReview.objects.get(unit=unit)
    call = ProviderCall.objects.get(idempotency_key=f"review:{review.pk}")
    assert call.status == CallStatus.FAILED
    assert "already approved on MTurk" in call.error
    assert mturk.count("RejectAssignment") == 0


def test_a_forged_worker_is_refused_and_nothing_paid(launch, mturk, execute):
    run = launch(rows=2)
    # AOTHER accepts the first HIT on MTurk; AFORGER reports its assignment
    # while MTurk can't show it yet (not submitted), so arrival can't tell.
    first = Unit.objects.filter(run=run).order_by("pk")[0]
    theirs = mturk.accept(first.provider_unit_id, "AOTHER")
    Unit.objects.filter(pk=first.pk).update(status=UnitStatus.EXPIRED)
    unit = work(mturk, run, "AFORGER", assignment_id=theirs)
    mturk.submit(first.provider_unit_id, "AOTHER", assignment_id=theirs)

    execute(lambda: services.approve_unit(unit_id=unit.pk))

    assert mturk.count("ApproveAssignment") == 0
    assert mturk.assignments[theirs]["AssignmentStatus"] == "Submitted"
    payment = reward(unit)
    assert payment.state == PaymentState.FAILED
    assert "belongs to worker AOTHER_sandbox" in payment.error
    assert "not to AFORGER_sandbox" in payment.error


# --- identity at arrival ----------------------------------------------------------


def arriving(run: TaskRun, worker_id: str, assignment_id: str, hit_id: str) -> dict:
    """The agent_details data of `worker_id` arriving with that assignment."""
    response = arrive(APIClient(), run, worker_id, assignment_id, hit_id)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_arriving_with_another_workers_submitted_assignment_is_refused(launch, mturk):
    run = launch(rows=2)
    first, second = Unit.objects.filter(run=run).order_by("pk")
    theirs = mturk.submit(first.provider_unit_id, "AOTHER")

    data = arriving(run, "AFORGER", theirs, first.provider_unit_id)

    assert data["agent_id"] is None
    assert "belongs to another MTurk worker" in data["failure_reason"]
    assert not Agent.objects.filter(run=run).exists()
    # The real owner, or the same assignment on another HIT, is told apart.
    assert (
        "belongs"
        in arriving(run, "AOTHER", theirs, second.provider_unit_id)["failure_reason"]
    )
    assert arriving(run, "AOTHER", theirs, first.provider_unit_id)["agent_id"]


def test_an_assignment_another_worker_arrived_with_is_refused_without_asking_mturk(
    launch, mturk
):
    run = launch()
    hit_id = Unit.objects.get(run=run).provider_unit_id
    theirs = mturk.accept(hit_id, "AOTHER")
    assert arriving(run, "AOTHER", theirs, hit_id)["agent_id"]
    asked = mturk.count("GetAssignment")

    data = arriving(run, "AFORGER", theirs, hit_id)

    assert data["agent_id"] is None
    assert "opened by another worker" in data["failure_reason"]
    assert mturk.count("GetAssignment") == asked
    assert Agent.objects.get(run=run).worker.worker_name == "AOTHER_sandbox"


def test_an_arrival_asks_mturk_once_and_remembers_the_answer(launch, mturk):
    run = launch(rows=2)
    first = Unit.objects.filter(run=run).order_by("pk")[0]
    theirs = mturk.submit(first.provider_unit_id, "AOTHER")

    for _ in range(3):
        assert arriving(run, "AFORGER", theirs, first.provider_unit_id)[
            "failure_reason"
        ]

    assert mturk.count("GetAssignment") == 1


def test_an_arrival_mturk_cant_answer_is_let_in_and_checked_before_money(
    launch, mturk, execute
):
    run = launch(rows=2)
    first = Unit.objects.filter(run=run).order_by("pk")[0]
    theirs = mturk.submit(first.provider_unit_id, "AOTHER")
    Unit.objects.filter(pk=first.pk).update(status=UnitStatus.EXPIRED)
    # Throttled past botocore's own retries: arrival can't ask MTurk.
    mturk.fail_next(ATTEMPTS, "throttle", operation="GetAssignment")

    unit = work(mturk, run, "AFORGER", assignment_id=theirs)
    execute(lambda: services.approve_unit(unit_id=unit.pk))

    assert mturk.count("ApproveAssignment") == 0
    assert reward(unit).state == PaymentState.FAILED


# --- bonuses ----------------------------------------------------------------------


def approved(launch, mturk, execute) -> Unit:
    run = launch()
    unit = work(mturk, run, "AWORKER1")
    execute(lambda: services.approve_unit(unit_id=unit.pk))
    return unit


def test_a_bonus_is_sent_once_with_its_amount_reason_and_token(launch, mturk, execute):
    unit = approved(launch, mturk, execute)

    execute(
        lambda: services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="Careful")
    )
    review = WorkerReview.objects.get(unit=unit, action="bonus")
    send_review(review_id=review.pk)  # a replay: the log says it is done

    [sent] = mturk.params("SendBonus")
    assert sent["WorkerId"] == "AWORKER1"
    assert sent["AssignmentId"] == assignment_of(unit)
    assert (sent["BonusAmount"], sent["Reason"]) == ("0.25", "Careful")
    stamp = int(review.created_at.timestamp())
    assert sent["UniqueRequestToken"] == f"crowdsite-review-{review.pk}-{stamp}"
    assert len(mturk.bonuses_for(assignment_of(unit))) == 1
    assert bonus(unit).state == PaymentState.PAID


def test_a_bonus_whose_answer_was_lost_is_reconciled_not_sent_again(
    launch, mturk, execute
):
    unit = approved(launch, mturk, execute)
    services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="Careful")
    review = WorkerReview.objects.get(unit=unit, action="bonus")
    # Every one of botocore's attempts loses its answer; the first paid.
    mturk.fail_next(ATTEMPTS, "drop", operation="SendBonus")

    with pytest.raises(ProviderError) as raised:
        send_review(review_id=review.pk)
    assert raised.value.transient
    assert bonus(unit).state == PaymentState.AMBIGUOUS

    send_review(review_id=review.pk)  # Celery's retry

    assert len(mturk.bonuses_for(assignment_of(unit))) == 1
    assert mturk.count("ListBonusPayments") == 1
    assert bonus(unit).state == PaymentState.PAID
    assert bonus(unit).provider_response["reconciled"] is True


def test_a_bonus_retried_after_mturk_forgot_its_token_is_looked_up_not_resent(
    launch, mturk, execute
):
    unit = approved(launch, mturk, execute)
    services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="Careful")
    review = WorkerReview.objects.get(unit=unit, action="bonus")
    mturk.fail_next(ATTEMPTS, "drop", operation="SendBonus")
    with pytest.raises(ProviderError):
        send_review(review_id=review.pk)
    # A day later MTurk would take the token as new and pay again.
    mturk.advance(timedelta(hours=25))
    WorkerReview.objects.filter(pk=review.pk).update(
        created_at=review.created_at - timedelta(hours=25)
    )
    sends = mturk.count("SendBonus")

    send_review(review_id=review.pk)

    assert mturk.count("SendBonus") == sends
    assert len(mturk.bonuses_for(assignment_of(unit))) == 1
    assert bonus(unit).state == PaymentState.PAID


def test_an_old_bonus_that_mturk_never_paid_is_sent(launch, mturk, execute):
    unit = approved(launch, mturk, execute)
    services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="Careful")
    review = WorkerReview.objects.get(unit=unit, action="bonus")
    WorkerReview.objects.filter(pk=review.pk).update(
        created_at=review.created_at - timedelta(hours=25)
    )

    send_review(review_id=review.pk)

    assert mturk.count("ListBonusPayments") == 1
    assert len(mturk.bonuses_for(assignment_of(unit))) == 1
    assert bonus(unit).state == PaymentState.PAID


def test_a_bonus_on_another_workers_assignment_is_refused(launch, mturk, execute):
    run = launch(rows=2)
    first = Unit.objects.filter(run=run).order_by("pk")[0]
    theirs = mturk.accept(first.provider_unit_id, "AOTHER")
    Unit.objects.filter(pk=first.pk).update(status=UnitStatus.EXPIRED)
    unit = work(mturk, run, "AFORGER", assignment_id=theirs)
    mturk.submit(first.provider_unit_id, "AOTHER", assignment_id=theirs)

    execute(
        lambda: services.pay_bonus(unit_id=unit.pk, amount="0.25", reason="Careful")
    )

    assert mturk.count("SendBonus") == 0
    assert not mturk.bonuses
    assert bonus(unit).state == PaymentState.FAILED


# --- block, notify ----------------------------------------------------------------


def test_blocking_blocks_the_worker_on_mturk_with_the_reason(launch, mturk, execute):
    run = launch()
    unit = work(mturk, run, "AWORKER1")

    execute(lambda: services.block_from_review(unit_id=unit.pk, reason="Spam"))

    assert mturk.params("CreateWorkerBlock") == [
        {"WorkerId": "AWORKER1", "Reason": "Spam"}
    ]
    assert mturk.blocks == {"AWORKER1": "Spam"}


def test_notifying_many_workers_sends_batches_of_100(mturk):
    names = [f"AW{i:04d}_sandbox" for i in range(250)]
    mturk.unreachable = {"AW0007"}

    result = MTurkSandboxProvider().notify_workers(
        worker_names=names, subject="New HITs", message="More work is up."
    )

    assert [len(p["WorkerIds"]) for p in mturk.params("NotifyWorkers")] == [
        100,
        100,
        50,
    ]
    assert mturk.params("NotifyWorkers")[0]["WorkerIds"][0] == "AW0000"
    assert result["notified"] == 249
    assert list(result["failed"]) == ["AW0007"]


def test_live_worker_names_are_mturk_worker_ids(mturk):
    MTurkProvider().block_worker(worker_name="AWORKER9", reason="Spam", token="t")

    assert mturk.blocks == {"AWORKER9": "Spam"}
