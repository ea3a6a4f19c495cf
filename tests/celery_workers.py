"""Real Celery worker processes for whole-flow tests: each answers its provider
from a fake account shared through a file, and is SIGKILLed when asked or at the
end, its unacknowledged messages dropped so no later test's worker gets them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from crowdsite.celery import app as celery_app
from tasks_app.models import TaskRun, Unit, UnitStatus
from tests.conftest import PROJECT_DIR, need
from tests.test_celery_faults import broker, database_url, kill

# `{install}` runs after django.setup() and before Celery forks its pool, so the
# pool inherits whatever it hooks (the provider's fake).
WORKER_SCRIPT = """
import os, sys
from pathlib import Path
import django

django.setup()
{install}
from celery.bin.celery import main
sys.argv = ["celery", "-A", "crowdsite", "worker", "--pool", "prefork",
            "--concurrency", "1", "--loglevel", "WARNING", "--without-heartbeat",
            "--without-gossip", "--without-mingle"]
main()
"""


def need_postgres() -> None:
    need(
        connection.vendor == "postgresql",
        "needs PostgreSQL, shared with a worker process: run with "
        "DATABASE_URL=postgres://postgres@127.0.0.1:5432/crowdsite",
    )


@contextmanager
def celery_workers(
    script: Path, *, install: str, env: dict[str, str], broker_url: str
) -> Iterator[Callable[..., subprocess.Popen]]:
    """`start(visibility_timeout=...)` starts one more worker on `broker_url`
    and the test's database, running `install` first, with `env` added."""
    script.write_text(WORKER_SCRIPT.format(install=install))
    started: list[subprocess.Popen] = []

    def start(*, visibility_timeout: int) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=PROJECT_DIR,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "crowdsite.settings",
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": broker_url,
                "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
                "PYTHONPATH": str(PROJECT_DIR),
                **env,
            },
            start_new_session=True,  # its own group: SIGKILL reaches the pool too
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            kill(process)
        # A message left unacknowledged must not reach a later test's worker.
        with (
            broker(celery_app, broker_url),
            celery_app.connection_for_write() as conn,
        ):
            conn.default_channel.client.delete("unacked", "unacked_index")
            celery_app.control.purge()


def launched_units(run: TaskRun, count: int) -> list[Unit] | None:
    """The run's units once `count` of them are launched on the provider."""
    units = list(
        Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED)
        .exclude(provider_unit_id="")
        .order_by("pk")
    )
    return units if len(units) == count else None
