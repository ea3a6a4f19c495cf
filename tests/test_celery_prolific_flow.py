"""One whole Prolific flow on real Celery workers: launch, a participant's work,
approval and bonus, with the worker killed inside a Prolific call after Prolific
acted, and the task delivered again to another worker. Nothing is lost and
nothing is paid twice: the approval is done again harmlessly (Prolific's
transition is idempotent and is looked up first), while the bonus pay call,
which Prolific can't deduplicate, is never sent again; its lost outcome is
settled from the submission's bonus payments.

The workers are separate processes on Redis, sharing the test's PostgreSQL
database and one Prolific account (tests.prolific_fake.SharedProlificFake, a
file). Skipped without PostgreSQL and a broker; a failure in CI instead
(CROWDSITE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from providers.models import CallStatus, ProviderCall
from providers.prolific.provider import completion_code, study_internal_name
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentKind,
    PaymentState,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
)
from tasks_app.selectors import run_spec
from tasks_app.services.review import RECONCILE_AFTER, Reconciled
from tests.celery_workers import celery_workers, launched_units, need_postgres
from tests.mturk_fake import launch_task
from tests.prolific_fake import FAKE_API_URL, TOKEN, SharedProlificFake
from tests.prolific_fake import shared_prolific_fixture as shared_prolific_fixture
from tests.test_celery_faults import broker, kill, wait_for
from tests.test_celery_faults import real_broker_url as real_broker_url
from tests.worker_calls import arrive, submit_task

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_URL = "https://crowd.example.org"
PARTICIPANT = "5f1e2d3c4b5a69788796a5b4"
BONUS = Decimal("0.75")
BONUS_REASON = "Thank you for the careful ratings."
# Long enough for any flow step on a loaded machine; waits end as soon as done.
PATIENCE = 60
APPROVE = ("POST", r"submissions/[^/]+/transition/")
PAY = ("POST", r"bulk-bonus-payments/[^/]+/pay/")

CONFIG = f"""\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: server
  - /mephisto/provider: prolific
mephisto:
  architect:
    public_url: {PUBLIC_URL}
  blueprint:
    task_source: ${{task_dir}}/bundle.js
    data_jsonl: ${{task_dir}}/rows.jsonl
    units_per_assignment: 1
  task:
    task_name: prolific-celery-flow
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 50
    assignment_duration_in_seconds: 600
"""

# The worker's Prolific calls all answer from the shared account.
PROLIFIC_INSTALL = """
from tests.prolific_fake import SharedProlificFake, answer_from

answer_from(SharedProlificFake(Path(os.environ["PROLIFIC_FAKE_STATE"])))
"""


@pytest.fixture
def prolific_workers(tmp_path, settings, real_broker_url, shared_prolific):
    """Start Celery worker processes on the broker, the test's database and the
    shared Prolific account; each is killed (SIGKILL, its whole group) at the end."""
    need_postgres()
    settings.PUBLIC_URL = PUBLIC_URL
    with celery_workers(
        tmp_path / "prolific_worker.py",
        install=PROLIFIC_INSTALL,
        env={
            "PUBLIC_URL": PUBLIC_URL,
            # Only the fake answers there; a call it doesn't know fails.
            "PROLIFIC_API_URL": FAKE_API_URL,
            "PROLIFIC_API_KEY": TOKEN,
            "PROLIFIC_FAKE_STATE": str(shared_prolific.path),
        },
        broker_url=real_broker_url,
    ) as start:
        yield start


def work(prolific: SharedProlificFake, run: TaskRun, study_id: str) -> Agent:
    """The participant starts the study on Prolific, arrives on our page from
    the study URL, submits, and takes the completion code back to Prolific."""
    submission_id = prolific.submit(study_id, PARTICIPANT, status="ACTIVE")
    client = APIClient()
    response = arrive(client, run, PARTICIPANT, submission_id, study_id)
    agent_id = response.json()["data"]["agent_id"]
    assert agent_id, response.json()
    assert submit_task(client, run, agent_id, {"rating": "good"}).status_code == 200
    response = client.post(
        f"/completion_code?task_run_id={run.pk}",
        {"worker_name": PARTICIPANT, "assignment_id": submission_id},
        format="json",
    )
    assert response.status_code == 200, response.content
    prolific.finish(submission_id, response.json()["completion_code"])
    return Agent.objects.select_related("unit").get(
        provider_assignment_id=submission_id
    )


def review_call(review_id: int) -> ProviderCall:
    return ProviderCall.objects.get(idempotency_key=f"review:{review_id}")


def launch_and_work(prolific, eager_celery, real_broker_url, tmp_path, execute):
    """A run of two units launched by a worker process, and one participant's
    work on it in review on Prolific; the run, its units and the agent."""
    with broker(eager_celery, real_broker_url):
        run = launch_task(tmp_path, execute, CONFIG, rows=2)
    units = wait_for(lambda: launched_units(run, 2), timeout=PATIENCE)
    (study_id,) = {unit.provider_unit_id for unit in units}
    agent = work(prolific, run, study_id)
    submission = prolific.snapshot().submissions[agent.provider_assignment_id]
    assert submission["status"] == "AWAITING REVIEW"
    return run, units, agent


def approve_and_pay_a_bonus(agent, eager_celery, real_broker_url):
    with broker(eager_celery, real_broker_url):
        approval = services.approve_unit(unit_id=agent.unit_id)
        bonus = services.pay_bonus(
            unit_id=agent.unit_id, amount=BONUS, reason=BONUS_REASON
        )
    return approval, bonus


def kill_inside(first, inside: Path, review_id: int) -> None:
    """Kill `first` once it is inside the hung Prolific call, which Prolific has
    done; the review's call is left in flight and nothing it pays is settled."""
    wait_for(inside.exists, timeout=PATIENCE)
    kill(first)
    assert review_call(review_id).status == CallStatus.PENDING
    assert (
        Payment.objects.filter(review_id=review_id)
        .exclude(state=PaymentState.PENDING)
        .count()
        == 0
    )


def start_a_second_worker(start) -> None:
    # The message was taken but never acknowledged (acks_late): with a short
    # visibility timeout Redis hands it to the next worker. kombu looks for
    # such messages when that worker starts, then seldom, so the message must
    # already be older than the timeout by then.
    time.sleep(3)
    start(visibility_timeout=2)


def assert_launched_once(prolific, run: TaskRun, units: list[Unit]) -> None:
    account = prolific.snapshot()
    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING
    (study,) = account.studies.values()
    assert study["internal_name"] == study_internal_name(run_spec(run))
    assert (study["status"], study["total_available_places"]) == ("ACTIVE", 2)
    assert [c["code"] for c in study["completion_codes"]] == [
        completion_code(run_spec(run))
    ]
    assert account.count("POST", r"^studies/$") == 1
    assert {unit.provider_unit_id for unit in units} == {study["id"]}
    launch = ProviderCall.objects.get(run=run, operation="launch_units")
    assert (launch.status, launch.attempts) == (CallStatus.SUCCEEDED, 1)


def assert_approved_and_paid_once(prolific, agent: Agent) -> None:
    """Prolific approved the submission once and paid one bonus; crowdsite's
    ledger has each payment once, paid."""
    account = prolific.snapshot()
    submission = account.submissions[agent.provider_assignment_id]
    assert submission["status"] == "APPROVED"
    assert account.count(*APPROVE) == 1
    assert account.bodies(*APPROVE) == [{"action": "APPROVE"}]
    assert account.count("POST", r"^submissions/bonus-payments/$") == 1
    assert account.count(*PAY) == 1
    assert account.paid_to(PARTICIPANT) == [BONUS]
    assert submission["bonus_payments"] == [75.0]

    agent.refresh_from_db()
    assert agent.submission is not None and agent.submitted_at is not None
    assert agent.status == AgentStatus.APPROVED
    assert Unit.objects.get(pk=agent.unit_id).status == UnitStatus.ACCEPTED
    assert sorted(WorkerReview.objects.values_list("action", flat=True)) == sorted(
        [ReviewAction.APPROVE, ReviewAction.BONUS]
    )
    # Prolific's fee (33.3%) is kept beside each payment.
    ledger = sorted(Payment.objects.values_list("kind", "amount", "state"))
    assert ledger == [
        (PaymentKind.BONUS, BONUS, PaymentState.PAID),
        (PaymentKind.FEE, Decimal("0.17"), PaymentState.PAID),
        (PaymentKind.FEE, Decimal("0.25"), PaymentState.PAID),
        (PaymentKind.REWARD, Decimal("0.50"), PaymentState.PAID),
    ]


def test_a_worker_killed_inside_the_approval_is_replaced_and_it_is_done_once(
    prolific_workers,
    shared_prolific,
    eager_celery,
    real_broker_url,
    tmp_path,
    execute,
):
    start = prolific_workers
    first = start(visibility_timeout=300)
    run, units, agent = launch_and_work(
        shared_prolific, eager_celery, real_broker_url, tmp_path, execute
    )

    inside = tmp_path / "inside-the-approval"
    shared_prolific.hang_after(*APPROVE, inside)
    approval, bonus = approve_and_pay_a_bonus(agent, eager_celery, real_broker_url)

    # Killed after Prolific approved, before the worker heard the answer.
    kill_inside(first, inside, approval.review_id)
    account = shared_prolific.snapshot()
    assert account.submissions[agent.provider_assignment_id]["status"] == "APPROVED"

    start_a_second_worker(start)

    def both_sent() -> bool:
        return (
            ProviderCall.objects.filter(
                idempotency_key__in=[
                    f"review:{approval.review_id}",
                    f"review:{bonus.review_id}",
                ],
                status=CallStatus.SUCCEEDED,
            ).count()
            == 2
        )

    wait_for(both_sent, timeout=PATIENCE)

    assert_launched_once(shared_prolific, run, units)
    assert_approved_and_paid_once(shared_prolific, agent)
    # The second attempt read the submission, found it approved and sent nothing.
    call = review_call(approval.review_id)
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 2)
    assert call.response["already"] is True
    call = review_call(bonus.review_id)
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 1)


def test_a_worker_killed_inside_the_bonus_payment_never_pays_it_again_and_prolifics_records_settle_it(  # noqa: E501
    prolific_workers,
    shared_prolific,
    eager_celery,
    real_broker_url,
    tmp_path,
    execute,
):
    start = prolific_workers
    first = start(visibility_timeout=300)
    run, units, agent = launch_and_work(
        shared_prolific, eager_celery, real_broker_url, tmp_path, execute
    )

    inside = tmp_path / "inside-the-payment"
    shared_prolific.hang_after(*PAY, inside)
    approval, bonus = approve_and_pay_a_bonus(agent, eager_celery, real_broker_url)

    # Killed after Prolific paid, before the worker heard the answer.
    kill_inside(first, inside, bonus.review_id)
    assert shared_prolific.snapshot().paid_to(PARTICIPANT) == [BONUS]

    start_a_second_worker(start)

    # The redelivered task finds the pay call attempted with no known outcome
    # and refuses to send it again: the bonus is ambiguous, not paid twice.
    def refused() -> list[Payment] | None:
        payments = list(Payment.objects.filter(review_id=bonus.review_id))
        ambiguous = all(p.state == PaymentState.AMBIGUOUS for p in payments)
        return payments if ambiguous else None

    payments = wait_for(refused, timeout=PATIENCE)
    assert all("not sent again" in payment.error for payment in payments)
    call = review_call(bonus.review_id)
    assert (call.status, call.attempts) == (CallStatus.PENDING, 1)
    assert shared_prolific.snapshot().count(*PAY) == 1
    approved = review_call(approval.review_id)
    assert (approved.status, approved.attempts) == (CallStatus.SUCCEEDED, 1)

    # Later, the sweep reads the submission's bonus payments on Prolific.
    later = timezone.now() + RECONCILE_AFTER + timedelta(minutes=1)
    settled = services.reconcile_lost_bonuses(now=later)

    assert settled == [Reconciled(review_id=bonus.review_id, paid=True)]
    assert services.reconcile_lost_bonuses(now=later) == []
    call.refresh_from_db()
    assert call.status == CallStatus.SUCCEEDED
    assert_launched_once(shared_prolific, run, units)
    assert_approved_and_paid_once(shared_prolific, agent)
