"""Celery faults: a broker that is down, a worker killed mid-task (DESIGN §7).

The broker-down tests point the app at a dead port and run anywhere. Those that
need the broker back, or a real worker process, skip without Redis and
PostgreSQL, and fail instead in CI (CROWDSITE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from providers.models import CallStatus, OutboxMessage, ProviderCall
from providers.outbox import send_outbox
from qualifications_app.models import GrantedQualification
from tasks_app.models import TaskRun, TaskRunStatus, Unit, UnitStatus
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tasks_app.tasks import finish_stuck_launches
from tasks_app.tasks import launch_units as launch_units_task
from tests.conftest import PROJECT_DIR, need
from tests.test_celery_worker import broker_reachable

pytestmark = pytest.mark.django_db(transaction=True)

# Nothing listens on port 1: connecting is refused at once.
DEAD_BROKER = "redis://:s3cret@127.0.0.1:1/0"
ONBOARDING_QUAL = "sentence-rating-onboarding-local"


@contextmanager
def broker(app, url: str):
    """Publish to `url` (tasks no longer in-process) for the duration."""
    # The write URL: the CELERY_BROKER_URL variable wins over `broker_url`.
    saved = app.conf.get("broker_write_url"), app.conf.task_always_eager

    def point_at(broker_url: str | None, eager: bool) -> None:
        app.conf.broker_write_url, app.conf.task_always_eager = broker_url, eager
        # Connections are pooled per URL; forget ours so the next publish asks for
        # the pool of the URL now configured.
        app._pool = None
        app.amqp._producer_pool = None

    point_at(url, False)
    try:
        yield
    finally:
        point_at(*saved)


@pytest.fixture
def broker_down(eager_celery):
    with broker(eager_celery, DEAD_BROKER):
        yield eager_celery


@pytest.fixture
def real_broker_url(eager_celery) -> str:
    """The configured broker, emptied of messages other tests left."""
    url = settings.CELERY_BROKER_URL
    need(
        broker_reachable(url),
        "needs a broker: run with CELERY_BROKER_URL=redis://127.0.0.1:6379/0 "
        f"(got {url!r})",
    )
    with broker(eager_celery, url):
        eager_celery.control.purge()
    return url


def launch_cmd(*args: str) -> tuple[str, str]:
    out, err = _Buffer(), _Buffer()
    call_command("launch_run", *args, stdout=out, stderr=err)
    return out.text, err.text


class _Buffer:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


# --- the broker is down at launch_run ----------------------------------------------


def test_launch_run_with_the_broker_down_is_refused_clearly_and_writes_nothing(
    broker_down, example_config
):
    started = time.monotonic()
    with pytest.raises(CommandError) as refused:
        launch_cmd("--config", str(example_config))

    message = str(refused.value)
    assert "redis://:**@127.0.0.1:1/0" in message
    assert "s3cret" not in message
    assert "unset CELERY_BROKER_URL" in message
    assert "Nothing was written." in message
    assert TaskRun.objects.count() == 0
    assert Unit.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert time.monotonic() - started < 10


def test_a_broker_lost_after_the_check_leaves_a_run_that_resume_launches(
    broker_down, example_config, monkeypatch
):
    # The broker answers the check, then is gone by the time the run commits.
    monkeypatch.setattr("providers.outbox.check_broker", lambda: None)

    out, err = launch_cmd("--config", str(example_config), "--json")

    run = TaskRun.objects.get()
    assert json.loads(out)["task_run_id"] == run.pk
    assert run.status == TaskRunStatus.LAUNCHING
    assert f"--resume {run.pk}" in err
    assert "redis://:**@127.0.0.1:1/0" in err and "s3cret" not in err
    message = OutboxMessage.objects.get()
    assert message.sent_at is None
    assert message.kwargs == {"run_id": run.pk}
    assert "Connection refused" in message.last_error

    # With the broker still down, resuming refuses and leaves the run as it was.
    monkeypatch.undo()
    with pytest.raises(CommandError, match="is still launching"):
        launch_cmd("--resume", str(run.pk))

    # With no broker (tasks in-process), --resume launches the units now.
    broker_down.conf.task_always_eager = True
    out, _ = launch_cmd("--resume", str(run.pk))

    assert f"Resumed run {run.pk}" in out and "6 pending units" in out
    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING
    assert run.units.filter(status=UnitStatus.LAUNCHED).count() == 6
    assert TaskRun.objects.count() == 1


def test_resume_refuses_a_run_with_nothing_to_launch_or_that_does_not_exist(
    example_config,
):
    run = launch_run(config=load_run_config(example_config))

    with pytest.raises(
        CommandError,
        match=f"Run {run.pk} is running and every unit is launched: nothing to resume",
    ):
        launch_cmd("--resume", str(run.pk))
    with pytest.raises(CommandError, match="There is no run 999999"):
        launch_cmd("--resume", "999999")


def test_the_stuck_launch_sweep_launches_a_run_whose_launch_was_lost(
    broker_down, example_config, settings, time_machine
):
    settings.LAUNCH_STUCK_AFTER_SECONDS = 120
    time_machine.move_to(timezone.now())
    run = launch_run(config=load_run_config(example_config))
    broker_down.conf.task_always_eager = True

    assert finish_stuck_launches() == 0  # too young: its launch may be on its way
    time_machine.shift(timedelta(seconds=121))
    assert finish_stuck_launches() == 1

    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING
    assert run.units.filter(status=UnitStatus.LAUNCHED).count() == 6
    assert finish_stuck_launches() == 0


# --- the broker is down during /submit_onboarding ----------------------------------


def onboard_a_worker(run) -> dict:
    client = APIClient(raise_request_exception=False)
    provider_data = {
        "worker_name": "worker-1",
        "assignment_id": "assignment-1",
        "agent_registration_id": "worker-1-assignment-1",
        "provider_type": run.provider_type,
    }
    agent = client.post(
        f"/request_agent?task_run_id={run.pk}",
        {"provider_data": provider_data, "client_timestamp": 1700000000.0},
        format="json",
    ).json()["data"]
    assert (agent["agent_id"] or "").startswith("onboarding"), agent
    response = client.post(
        f"/submit_onboarding?task_run_id={run.pk}",
        {
            "provider_data": {
                "USED_AGENT_ID": agent["agent_id"],
                "onboarding_data": {"answer": "good"},
            },
            "client_timestamp": 1700000001.0,
        },
        format="json",
    )
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def assert_onboarded_with_the_mirror_waiting(packet: dict) -> OutboxMessage:
    assert packet["packet_type"] == "agent_details"
    assert packet["data"]["failure_reason"] is None
    assert not packet["data"]["agent_id"].startswith("onboarding")
    grant = GrantedQualification.objects.get(
        worker__worker_name="worker-1", qualification__name=ONBOARDING_QUAL
    )
    assert grant.value == 1
    message = OutboxMessage.objects.get(
        task_name="qualifications_app.tasks.mirror_qualification"
    )
    assert message.sent_at is None and message.attempts == 1
    assert not ProviderCall.objects.filter(operation="grant_qualification").exists()
    return message


def test_onboarding_with_the_broker_down_answers_normally_and_keeps_the_mirror(
    eager_celery, example_config
):
    run = launch_run(config=load_run_config(example_config))
    with broker(eager_celery, DEAD_BROKER):
        packet = onboard_a_worker(run)

        message = assert_onboarded_with_the_mirror_waiting(packet)
        assert "Connection refused" in message.last_error
        # The sweep, too, fails quietly while the broker is down.
        assert send_outbox() == 0
        message.refresh_from_db()
        assert message.sent_at is None and message.attempts == 2


def test_the_mirror_recorded_while_the_broker_was_down_is_sent_when_it_is_back(
    eager_celery, real_broker_url, example_config
):
    run = launch_run(config=load_run_config(example_config))
    with broker(eager_celery, DEAD_BROKER):
        packet = onboard_a_worker(run)
    message = assert_onboarded_with_the_mirror_waiting(packet)

    with (
        broker(eager_celery, real_broker_url),
        start_worker(
            eager_celery, pool="solo", perform_ping_check=False, loglevel="WARNING"
        ),
    ):
        assert send_outbox() == 1
        call = wait_for(
            lambda: ProviderCall.objects.filter(
                operation="grant_qualification", status=CallStatus.SUCCEEDED
            ).first()
        )

    assert (
        call.idempotency_key
        == f"mirror_qualification:review={message.kwargs['review_id']}"
    )
    assert call.response["qualification"] == ONBOARDING_QUAL
    message.refresh_from_db()
    assert message.sent_at is not None
    assert send_outbox() == 0


def wait_for(find, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


# --- a worker killed with -9 during launch_units -----------------------------------


def test_a_launch_that_dies_before_marking_its_units_is_not_logged_as_succeeded(
    example_config, monkeypatch
):
    def died(**kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr("tasks_app.services.launch.mark_units_launched", died)
    with pytest.raises(RuntimeError, match="worker died"):
        launch_run(config=load_run_config(example_config))
    run = TaskRun.objects.get()
    assert ProviderCall.objects.get(run=run).status == CallStatus.PENDING

    monkeypatch.undo()
    launch_units_task.apply(args=[run.pk]).get()

    run.refresh_from_db()
    assert run.status == TaskRunStatus.RUNNING
    assert run.units.filter(status=UnitStatus.LAUNCHED).count() == 6
    call = ProviderCall.objects.get(run=run)
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 2)


# A real worker process whose mock provider is slow and keeps a ledger, as a
# provider with idempotency tokens would (MTurk's UniqueRequestToken): a unit
# posted twice is created once. The ledger is the test's view of the provider.
FAKE_PROVIDER_WORKER = """
import json, os, sys, time
import django

django.setup()
from providers.mock import MockProvider

LEDGER, DELAY = os.environ["FAKE_LEDGER"], float(os.environ["FAKE_DELAY"])

def launch_units(self, *, run, unit_ids, task_url, launched_before=(), requirements=()):
    with open(LEDGER, "a") as ledger:
        ledger.write(json.dumps({"call": unit_ids}) + "\\n")
    time.sleep(DELAY)
    with open(LEDGER) as ledger:
        created = {u for line in ledger for u in json.loads(line).get("created", [])}
    with open(LEDGER, "a") as ledger:
        new = [u for u in unit_ids if u not in created]
        ledger.write(json.dumps({"created": new}) + "\\n")
    return {}

MockProvider.launch_units = launch_units
from celery.bin.celery import main
sys.argv = ["celery", "-A", "crowdsite", "worker", "--pool", "prefork",
            "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat",
            "--without-gossip", "--without-mingle"]
main()
"""


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def worker_process(tmp_path, real_broker_url):
    need(
        connection.vendor == "postgresql",
        "needs PostgreSQL, shared with a worker process: run with "
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/crowdsite",
    )
    script = tmp_path / "worker.py"
    script.write_text(FAKE_PROVIDER_WORKER)
    ledger = tmp_path / "ledger.jsonl"
    started: list[subprocess.Popen] = []

    def start(*, delay: float, visibility_timeout: int) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crowdsite.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": real_broker_url,
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "FAKE_LEDGER": str(ledger),
            "FAKE_DELAY": str(delay),
            "PYTHONPATH": str(PROJECT_DIR),
        }
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=PROJECT_DIR,
            env=env,
            start_new_session=True,  # its own group: SIGKILL reaches the children
        )
        started.append(process)
        return process

    yield start, ledger
    for process in started:
        kill(process)
    # The killed worker's message stays unacknowledged in Redis: drop it, so no
    # later test's worker gets it.
    from crowdsite.celery import app

    with broker(app, real_broker_url), app.connection_for_write() as conn:
        conn.default_channel.client.delete("unacked", "unacked_index")
        app.control.purge()


def kill(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def ledger_lines(ledger: Path) -> list[dict]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines()]


@pytest.mark.parametrize("recovered_by", ["stuck-launch sweep", "redelivery"])
def test_a_launch_whose_worker_is_killed_is_finished_once_by_another_worker(
    worker_process,
    eager_celery,
    real_broker_url,
    example_config,
    settings,
    recovered_by,
):
    start, ledger = worker_process
    first = start(delay=30, visibility_timeout=300)
    with broker(eager_celery, real_broker_url):
        run = launch_run(config=load_run_config(example_config))
    unit_ids = sorted(run.units.values_list("pk", flat=True))

    # Killed while the provider call is in flight.
    wait_for(lambda: ledger_lines(ledger), timeout=30)
    kill(first)

    run.refresh_from_db()
    assert run.status == TaskRunStatus.LAUNCHING
    assert run.units.filter(status=UnitStatus.CREATED).count() == 6
    assert ProviderCall.objects.get(run=run).status == CallStatus.PENDING

    if recovered_by == "redelivery":
        # A short visibility timeout: Redis hands the unacknowledged message on.
        # kombu's scan for such messages is throttled (it runs at the new
        # worker's start, then seldom), so the message must already be older
        # than the timeout when that first scan runs.
        time.sleep(3)
        start(delay=0, visibility_timeout=2)
    else:
        start(delay=0, visibility_timeout=300)
        settings.LAUNCH_STUCK_AFTER_SECONDS = 0
        with broker(eager_celery, real_broker_url):
            assert finish_stuck_launches.apply().get() == 1

    def finished():
        run.refresh_from_db()
        return run.status == TaskRunStatus.RUNNING

    wait_for(finished, timeout=40)
    assert (
        sorted(
            run.units.filter(status=UnitStatus.LAUNCHED).values_list("pk", flat=True)
        )
        == unit_ids
    )
    call = ProviderCall.objects.get(run=run)  # one logical call, one row
    assert call.status == CallStatus.SUCCEEDED
    assert call.attempts == 2
    lines = ledger_lines(ledger)
    # Posted twice (the first answer was lost with its worker), created once.
    assert [line["call"] for line in lines if "call" in line] == [unit_ids, unit_ids]
    assert [line["created"] for line in lines if "created" in line] == [unit_ids]
