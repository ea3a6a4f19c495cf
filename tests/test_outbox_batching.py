"""One action over many items publishes its tasks in one pass at its end
(`providers.outbox.publishing_together`): with the broker down, the action
waits for one failed publish, not one per item, and the outbox sweep sends the
rest when the broker is back.

The broker is the edge: `Task.apply_async` is wrapped to count the attempts (a
dead broker still refuses them), or replaced where the broker is up.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.app.task import Task
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from providers.models import OutboxMessage
from providers.outbox import publishing_together, send_outbox
from qualifications_app.models import ReviewAction, WorkerReview
from qualifications_app.services import grant_qualification
from tasks_app.models import (
    Payment,
    PaymentKind,
    TaskRun,
    TaskRunStatus,
    UnitStatus,
    Worker,
)
from tasks_app.tasks import end_runs
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import (
    QualificationFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)
from tests.review_queue_calls import make_reviewer, submitted
from tests.test_celery_faults import broker_down as broker_down

# on_commit must really run: each item commits on its own, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

N = 20
MIRROR = "qualifications_app.tasks.mirror_qualification"


@pytest.fixture
def attempts(monkeypatch) -> list[tuple[str, dict]]:
    """Each publish attempt (task name, kwargs), passed on to the broker as it is."""
    seen: list[tuple[str, dict]] = []
    publish = Task.apply_async

    def apply_async(self, args=None, kwargs=None, **options):
        seen.append((self.name, kwargs))
        return publish(self, args, kwargs, **options)

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return seen


def broker_is_up(monkeypatch) -> list[tuple[str, dict]]:
    """From now on every publish succeeds; returns what is published, in order."""
    published: list[tuple[str, dict]] = []

    def apply_async(self, args=None, kwargs=None, **options):
        published.append((self.name, kwargs))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return published


@pytest.fixture
def broker_up(broker_down, monkeypatch) -> list[tuple[str, dict]]:
    """A broker configured (tasks not in-process) that takes every publish."""
    return broker_is_up(monkeypatch)


def grant_one_by_one(workers: list[Worker]) -> None:
    """The shape of the finding: a loop of services, each its own transaction."""
    for worker in workers:
        grant_qualification(worker=worker, name="allowlist")


def review_ids(messages: list[tuple[str, dict]]) -> list[int]:
    assert {name for name, _ in messages} <= {MIRROR}
    return [kwargs["review_id"] for _, kwargs in messages]


def reviews() -> list[int]:
    return list(WorkerReview.objects.order_by("pk").values_list("pk", flat=True))


def unsent() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()


def publish_attempts_on_rows() -> int:
    return OutboxMessage.objects.aggregate(n=Sum("attempts"))["n"] or 0


@pytest.fixture
def workers() -> list[Worker]:
    QualificationFactory(name="allowlist")
    return WorkerFactory.create_batch(N)


# --- the broker is down -------------------------------------------------------------


def test_with_the_broker_down_the_block_tries_once_and_the_sweep_sends_all_later(
    broker_down, attempts, workers, monkeypatch
):
    with publishing_together():
        grant_one_by_one(workers)

    assert len(attempts) == 1
    assert publish_attempts_on_rows() == 1
    assert OutboxMessage.objects.count() == N
    assert unsent() == N

    published = broker_is_up(monkeypatch)
    assert send_outbox() == N

    assert review_ids(published) == reviews()
    assert unsent() == 0


# --- the broker is up ---------------------------------------------------------------


def test_with_the_broker_up_each_task_is_published_once_when_the_block_ends(
    broker_up, workers
):
    with publishing_together():
        grant_one_by_one(workers)

        assert broker_up == []
        assert unsent() == N

    assert review_ids(broker_up) == reviews()
    assert len(reviews()) == N
    assert unsent() == 0
    assert send_outbox() == 0


def test_a_task_whose_transaction_rolled_back_in_the_block_is_never_published(
    broker_up, workers
):
    first, failed, last = workers[:3]

    with publishing_together():
        grant_qualification(worker=first, name="allowlist")
        with pytest.raises(RuntimeError), transaction.atomic():
            grant_qualification(worker=failed, name="allowlist")
            raise RuntimeError("this item fails after enqueueing")
        with transaction.atomic():
            grant_qualification(worker=last, name="allowlist")
            # A savepoint rolled back inside a transaction that commits.
            with pytest.raises(RuntimeError), transaction.atomic():
                grant_qualification(worker=failed, name="allowlist")
                raise RuntimeError("so does this one")

    granted = reviews()
    assert WorkerReview.objects.filter(worker=failed).count() == 0
    assert review_ids(broker_up) == granted
    assert len(granted) == 2
    assert OutboxMessage.objects.count() == 2


def test_what_committed_is_published_even_when_the_block_raises(broker_up, workers):
    with pytest.raises(RuntimeError), publishing_together():
        grant_one_by_one(workers[:3])
        raise RuntimeError("the action fails half way")

    assert review_ids(broker_up) == reviews()
    assert len(broker_up) == 3
    assert unsent() == 0


def test_nested_blocks_publish_once_when_the_outermost_ends(broker_up, workers):
    with publishing_together():
        with publishing_together():
            grant_one_by_one(workers[:2])
        assert broker_up == []
        grant_one_by_one(workers[2:4])

    assert review_ids(broker_up) == reviews()
    assert len(broker_up) == 4


def test_a_block_ended_inside_a_transaction_publishes_when_it_commits(
    broker_up, workers
):
    with transaction.atomic():
        with publishing_together():
            grant_one_by_one(workers[:3])
        assert broker_up == []

    assert review_ids(broker_up) == reviews()
    assert len(broker_up) == 3

    with pytest.raises(RuntimeError), transaction.atomic():
        with publishing_together():
            grant_one_by_one(workers[3:5])
        raise RuntimeError("rolled back")

    assert len(broker_up) == 3
    assert OutboxMessage.objects.count() == 3


def test_a_block_holds_back_only_its_own_threads_tasks(broker_up, workers):
    def grant_elsewhere() -> None:
        try:
            grant_qualification(worker=workers[1], name="allowlist")
        finally:
            connection.close()

    with publishing_together():
        grant_qualification(worker=workers[0], name="allowlist")
        other = threading.Thread(target=grant_elsewhere)
        other.start()
        other.join()

        # The other thread's commit published its task at once.
        elsewhere = WorkerReview.objects.get(worker=workers[1]).pk
        assert review_ids(broker_up) == [elsewhere]

    assert review_ids(broker_up) == [elsewhere, reviews()[0]]


def test_with_tasks_in_process_they_still_run_at_each_commit(
    eager_celery, attempts, workers
):
    with publishing_together():
        grant_qualification(worker=workers[0], name="allowlist")
        assert len(attempts) == 1
        grant_qualification(worker=workers[1], name="allowlist")
        assert len(attempts) == 2

    assert review_ids(attempts) == reviews()
    assert OutboxMessage.objects.count() == 0


# --- through the admin, with the broker down ----------------------------------------


def test_the_units_grant_action_for_20_workers_tries_the_dead_broker_once(
    broker_down, attempts, admin_client, workers
):
    run = TaskRunFactory()
    units = [
        UnitFactory(assignment__run=run, worker=w, status=UnitStatus.COMPLETED)
        for w in workers
    ]

    response = admin_client.post(
        "/admin/tasks_app/unit/",
        {
            "action": "grant_qualification_action",
            "_selected_action": [u.pk for u in units],
            "confirm": "1",
            "qualification": "allowlist",
            "value": "1",
        },
    )

    assert response.status_code == 302
    assert WorkerReview.objects.filter(action=ReviewAction.GRANT).count() == N
    assert len(attempts) == 1
    assert publish_attempts_on_rows() == 1
    assert unsent() == N


def test_shutting_down_5_runs_in_the_admin_tries_the_dead_broker_once(
    broker_down, attempts, admin_client
):
    runs = [TaskRunFactory(units=2) for _ in range(5)]

    response = admin_client.post(
        "/admin/tasks_app/taskrun/",
        {
            "action": "shutdown_runs",
            "_selected_action": [run.pk for run in runs],
            "confirm": "1",
        },
    )

    assert response.status_code == 302
    assert TaskRun.objects.filter(status=TaskRunStatus.SHUT_DOWN).count() == 5
    assert len(attempts) == 1
    assert unsent() == 10  # each run's expire_units and end_run, for the sweep


def test_a_bonus_on_20_units_in_the_review_queue_tries_the_dead_broker_once(
    broker_down, attempts, client
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    agents = [submitted(run, f"worker-{i}") for i in range(N)]
    client.force_login(make_reviewer())

    response = client.post(
        f"/admin/tasks_app/taskrun/{run.pk}/review/",
        {
            "action": "bonus",
            "items": [f"{a.unit_id}:{a.pk}" for a in agents],
            "amount": "0.10",
            "reason": "thorough answers",
            "confirm": "1",
        },
    )

    assert response.status_code == 302
    assert Payment.objects.filter(kind=PaymentKind.BONUS).count() == N
    assert len(attempts) == 1
    assert unsent() == N


def test_soft_rejecting_20_units_from_the_command_line_tries_the_dead_broker_once(
    broker_down, attempts
):
    run = TaskRunFactory(task_reward=Decimal("0.50"))
    units = [str(submitted(run, f"worker-{i}").unit_id) for i in range(N)]

    call_command("review_run", "--run", str(run.pk), "--soft-reject", *units)

    assert WorkerReview.objects.filter(action=ReviewAction.SOFT_REJECT).count() == N
    assert len(attempts) == 1
    assert unsent() == N


def test_beats_end_runs_sweep_shutting_down_5_runs_tries_the_dead_broker_once(
    broker_down, attempts
):
    for _ in range(5):
        TaskRunFactory(
            units=2,
            status=TaskRunStatus.RUNNING,
            no_submission_patience=60,
            launched_at=timezone.now() - timedelta(minutes=5),
        )

    ended = end_runs()

    assert len(ended["shut_down"]) == 5
    assert len(attempts) == 1
    assert unsent() == 10  # each run's expire_units and end_run, for the sweep
