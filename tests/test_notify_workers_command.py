"""`manage.py notify_workers`: messages reach workers on MTurk (NotifyWorkers, at
most 100 a call), each batch once, whatever is retried or run again."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from providers.models import CallStatus, ProviderCall
from tasks_app.models import AgentStatus, UnitStatus
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory
from tests.mturk_fake import mturk_fixture as mturk_fixture

# The command commits its batches, and reads back what the in-process tasks did.
pytestmark = pytest.mark.django_db(transaction=True)


def notify(execute, *args: str) -> str:
    out = io.StringIO()
    execute(lambda: call_command("notify_workers", *args, stdout=out))
    return out.getvalue()


def sandbox_workers(count: int) -> list:
    return [
        WorkerFactory(provider_type="mturk_sandbox", worker_name=f"A{i:03d}_sandbox")
        for i in range(count)
    ]


def test_a_runs_workers_get_the_message_on_mturk_by_their_mturk_ids(mturk, execute):
    run = TaskRunFactory(provider_type="mturk_sandbox")
    done, returned = sandbox_workers(2)
    for worker, status in ((done, AgentStatus.APPROVED), (returned, "returned")):
        unit = UnitFactory(
            run=run, assignment__run=run, status=UnitStatus.ASSIGNED, worker=worker
        )
        AgentFactory(unit=unit, worker=worker, status=status)

    out = notify(
        execute,
        "--run",
        str(run.pk),
        "--status",
        "approved",
        "--subject",
        "Bonus sent",
        "--message",
        "Thank you.",
    )

    assert mturk.params("NotifyWorkers") == [
        {"Subject": "Bonus sent", "MessageText": "Thank you.", "WorkerIds": ["A000"]}
    ]
    assert "1 workers, 1 calls" in out
    assert "call 1: succeeded" in out


def test_250_workers_are_sent_in_three_calls_of_at_most_100(mturk, execute):
    workers = sandbox_workers(250)

    notify(
        execute,
        *(f"mturk_sandbox:{w.worker_name.removesuffix('_sandbox')}" for w in workers),
        "--subject",
        "New batch",
        "--message",
        "Tomorrow at 9.",
    )

    sizes = [len(p["WorkerIds"]) for p in mturk.params("NotifyWorkers")]
    assert sizes == [100, 100, 50]
    sent = {w for p in mturk.params("NotifyWorkers") for w in p["WorkerIds"]}
    assert len(sent) == 250


def test_the_same_message_again_is_not_sent_twice(mturk, execute):
    sandbox_workers(3)
    args = ("mturk_sandbox:A000", "mturk_sandbox:A001", "--subject", "Hi")

    notify(execute, *args, "--message", "One")
    notify(execute, *args, "--message", "One")
    notify(execute, *args, "--message", "Two")

    assert [p["MessageText"] for p in mturk.params("NotifyWorkers")] == ["One", "Two"]


def test_a_throttled_call_is_retried_and_sent_once(mturk, execute):
    sandbox_workers(1)
    # botocore retries it (further failures retry the Celery task later).
    mturk.fail_next(2, "throttle", operation="NotifyWorkers")

    out = notify(execute, "mturk_sandbox:A000", "--subject", "Hi", "--message", "M")

    assert len(mturk.notifications) == 1
    assert "call 1: succeeded" in out


def test_workers_mturk_could_not_reach_are_reported(mturk, execute):
    sandbox_workers(2)
    mturk.unreachable.add("A001")

    out = notify(
        execute,
        "mturk_sandbox:A000",
        "mturk_sandbox:A001",
        "--subject",
        "Hi",
        "--message",
        "M",
        "--json",
    )

    (batch,) = json.loads(out)["providers"][0]["batches"]
    assert list(batch["failed"]) == ["A001"]
    assert mturk.notifications[0]["WorkerIds"] == ["A000"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--subject", "x" * 201, "--message", "M"), "at most 200"),
        (("--subject", "Hi", "--message", "x" * 4097), "at most 4096"),
        (("--subject", " ", "--message", "M"), "the subject is empty"),
    ],
)
def test_a_message_mturk_would_refuse_is_refused_before_sending(
    mturk, execute, args, says
):
    sandbox_workers(1)

    with pytest.raises(CommandError, match=says):
        notify(execute, "mturk_sandbox:A000", *args)

    assert mturk.count("NotifyWorkers") == 0
    assert not ProviderCall.objects.exists()


def test_a_provider_that_cant_send_messages_is_refused_by_name(execute, monkeypatch):
    from providers.base import Provider
    from providers.mock import MockProvider

    WorkerFactory(provider_type="mock", worker_name="w1")
    monkeypatch.setattr(MockProvider, "notify_workers", Provider.notify_workers)

    with pytest.raises(CommandError, match="mock can't send workers messages"):
        notify(execute, "mock:w1", "--subject", "Hi", "--message", "M")

    assert not ProviderCall.objects.exists()


def test_a_dry_run_names_the_workers_and_sends_nothing(mturk, execute):
    sandbox_workers(2)

    out = notify(
        execute,
        "mturk_sandbox:A000",
        "mturk_sandbox:A001",
        "--subject",
        "Hi",
        "--message",
        "M",
        "--dry-run",
    )

    assert "would send to 2 workers: A000_sandbox, A001_sandbox" in out
    assert mturk.count("NotifyWorkers") == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "no workers to notify"),
        (("mturk:ANOBODY",), "unknown worker mturk:ANOBODY"),
        (("--run", "999999"), "there is no task run 999999"),
        (("--status", "approved", "mturk:A"), "give --run too"),
    ],
)
def test_who_to_notify_is_checked_with_words(execute, args, says):
    with pytest.raises(CommandError, match=says):
        notify(execute, *args, "--subject", "Hi", "--message", "M")


def test_a_sent_batch_is_on_the_call_log(mturk, execute):
    sandbox_workers(1)

    notify(execute, "mturk_sandbox:A000", "--subject", "Hi", "--message", "M")

    call = ProviderCall.objects.get(operation="notify_workers")
    assert call.status == CallStatus.SUCCEEDED
    assert call.request == {"workers": ["A000_sandbox"], "subject": "Hi"}
