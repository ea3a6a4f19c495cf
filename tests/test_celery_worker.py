"""Provider tasks on a real Celery worker against the configured broker."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from tasks_app.models import Unit, UnitStatus
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.conftest import need

pytestmark = pytest.mark.django_db(transaction=True)


def broker_reachable(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "amqp", "pyamqp"):
        return False
    default_port = 6379 if parsed.scheme == "redis" else 5672
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False


@pytest.fixture
def real_worker(eager_celery):
    need(
        broker_reachable(settings.CELERY_BROKER_URL),
        "needs a broker: run with CELERY_BROKER_URL=redis://127.0.0.1:6379/0 "
        f"(got {settings.CELERY_BROKER_URL!r})",
    )
    app = eager_celery
    app.conf.task_always_eager = False
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        loglevel="WARNING",
    ) as worker:
        yield worker


def test_a_real_worker_launches_the_units_after_the_launch_commits(
    real_worker, example_config
):
    run = launch_run(config=load_run_config(example_config))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        launched = Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED).count()
        if launched == 6:
            break
        time.sleep(0.1)

    assert launched == 6
    run.refresh_from_db()
    assert run.status == "running"
