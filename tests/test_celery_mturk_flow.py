"""One whole MTurk flow on real Celery workers: launch, work, approval and bonus,
with the worker killed inside an MTurk call after MTurk acted, and the task
delivered again to another worker. Nothing is lost and nothing is paid twice.

The workers are separate processes on Redis, sharing the test's PostgreSQL
database and one MTurk account (tests.mturk_fake.SharedMTurkFake, a file).
Skipped without PostgreSQL and a broker; a failure in CI instead
(CROWDSITE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from providers.models import CallStatus, ProviderCall
from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app import services
from tasks_app.models import (
    Agent,
    AgentStatus,
    Payment,
    PaymentState,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
)
from tests.celery_workers import celery_workers, launched_units, need_postgres
from tests.mturk_fake import SharedMTurkFake, launch_task
from tests.mturk_fake import shared_mturk_fixture as shared_mturk_fixture
from tests.test_celery_faults import broker, kill, wait_for
from tests.test_celery_faults import real_broker_url as real_broker_url
from tests.worker_calls import arrive, submit_task

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC_URL = "https://crowd.example.org"
WORKER_ID = "AWORKER1"
BONUS = Decimal("0.75")
BONUS_REASON = "Thank you for the careful ratings."
# Long enough for any flow step on a loaded machine; waits end as soon as done.
PATIENCE = 60

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
    task_name: mturk-celery-flow
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 0.50
    assignment_duration_in_seconds: 600
"""

# The worker's MTurk clients all answer from the shared account.
MTURK_INSTALL = """
from tests.mturk_fake import SharedMTurkFake, answer_every_client

answer_every_client(SharedMTurkFake(Path(os.environ["MTURK_FAKE_STATE"])))
"""


@pytest.fixture
def mturk_workers(tmp_path, settings, real_broker_url, shared_mturk):
    """Start Celery worker processes on the broker, the test's database and the
    shared MTurk account; each is killed (SIGKILL, its whole group) at the end."""
    need_postgres()
    settings.PUBLIC_URL = PUBLIC_URL
    # os.environ carries the fake AWS environment the shared_mturk fixture set:
    # no credentials, no endpoint but one that can't resolve.
    with celery_workers(
        tmp_path / "mturk_worker.py",
        install=MTURK_INSTALL,
        env={"PUBLIC_URL": PUBLIC_URL, "MTURK_FAKE_STATE": str(shared_mturk.path)},
        broker_url=real_broker_url,
    ) as start:
        yield start


def work(mturk: SharedMTurkFake, run: TaskRun, unit: Unit) -> str:
    """The worker accepts the unit's HIT on MTurk, does it on our page and
    submits; the assignment's id."""
    hit_id = unit.provider_unit_id
    assignment_id = mturk.accept(hit_id, WORKER_ID)
    client = APIClient()
    response = arrive(client, run, WORKER_ID, assignment_id, hit_id)
    agent_id = response.json()["data"]["agent_id"]
    assert agent_id, response.json()
    assert submit_task(client, run, agent_id, {"rating": "good"}).status_code == 200
    mturk.submit(hit_id, WORKER_ID, assignment_id=assignment_id)
    return assignment_id


def review_call(review_id: int) -> ProviderCall:
    return ProviderCall.objects.get(idempotency_key=f"review:{review_id}")


@pytest.mark.parametrize("killed_inside", ["SendBonus", "ApproveAssignment"])
def test_a_worker_killed_inside_an_mturk_payment_is_replaced_and_nothing_is_paid_twice(
    mturk_workers,
    shared_mturk,
    eager_celery,
    real_broker_url,
    tmp_path,
    execute,
    killed_inside,
):
    start = mturk_workers
    first = start(visibility_timeout=300)

    # The launch commits here; the worker posts the HITs.
    with broker(eager_celery, real_broker_url):
        run = launch_task(tmp_path, execute, CONFIG, rows=2)
    units = wait_for(lambda: launched_units(run, 2), timeout=PATIENCE)
    unit = units[0]
    assignment_id = work(shared_mturk, run, unit)

    inside = tmp_path / "inside-the-call"
    shared_mturk.hang_after(killed_inside, inside)
    with broker(eager_celery, real_broker_url):
        approval = services.approve_unit(unit_id=unit.pk)
        bonus = services.pay_bonus(unit_id=unit.pk, amount=BONUS, reason=BONUS_REASON)
    killed_review = bonus if killed_inside == "SendBonus" else approval

    # Killed after MTurk acted, before the worker heard the answer.
    wait_for(inside.exists, timeout=PATIENCE)
    kill(first)

    assert review_call(killed_review.review_id).status == CallStatus.PENDING
    assert (
        Payment.objects.filter(review_id=killed_review.review_id)
        .exclude(state=PaymentState.PENDING)
        .count()
        == 0
    )

    # The message was taken but never acknowledged (acks_late): with a short
    # visibility timeout Redis hands it to the next worker. kombu looks for
    # such messages when that worker starts, then seldom, so the message must
    # already be older than the timeout by then.
    time.sleep(3)
    start(visibility_timeout=2)

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

    account = shared_mturk.snapshot()
    # Each HIT was created once, for the unit it belongs to.
    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING
    assert account.count("CreateHITWithHITType") == 2
    assert set(account.hits) == {u.provider_unit_id for u in units}
    launch = ProviderCall.objects.get(run=run, operation="launch_units")
    assert (launch.status, launch.attempts) == (CallStatus.SUCCEEDED, 1)

    # The submission was stored once.
    agent = Agent.objects.get(unit=unit)
    assert agent.provider_assignment_id == assignment_id
    assert agent.submission is not None and agent.submitted_at is not None
    assert agent.status == AgentStatus.APPROVED
    unit.refresh_from_db()
    assert unit.status == UnitStatus.ACCEPTED

    # MTurk approved once and paid one bonus of the amount asked for.
    assert account.count("ApproveAssignment") == 1
    assert account.assignments[assignment_id]["AssignmentStatus"] == "Approved"
    paid = account.bonuses_for(assignment_id)
    assert [(b["WorkerId"], b["BonusAmount"], b["Reason"]) for b in paid] == [
        (WORKER_ID, "0.75", BONUS_REASON)
    ]
    assert account.balance == Decimal("10000.00") - Decimal("0.50") - BONUS
    tokens = [p["UniqueRequestToken"] for p in account.params("SendBonus")]
    if killed_inside == "SendBonus":
        # Sent again under the same token; MTurk refused it as a repeat.
        assert len(tokens) == 2 and tokens[0] == tokens[1]
    else:
        assert len(tokens) == 1

    # Each review is one logical call, succeeded; the killed one took two tries.
    for decision in (approval, bonus):
        call = review_call(decision.review_id)
        assert call.status == CallStatus.SUCCEEDED
        assert call.attempts == (2 if decision is killed_review else 1)
    assert sorted(WorkerReview.objects.values_list("action", flat=True)) == sorted(
        [ReviewAction.APPROVE, ReviewAction.BONUS]
    )

    # The ledger: each payment once, each paid.
    ledger = sorted(Payment.objects.values_list("kind", "amount", "state"))
    assert ledger == [
        ("bonus", BONUS, PaymentState.PAID),
        ("fee", Decimal("0.10"), PaymentState.PAID),
        ("fee", Decimal("0.15"), PaymentState.PAID),
        ("reward", Decimal("0.50"), PaymentState.PAID),
    ]
