"""Shared fixtures. Service-backed tests skip with a reason where the service is
absent, and fail instead of skipping when CROWDSITE_REQUIRE_SERVICES=1 (CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXAMPLE_CONF = PROJECT_DIR / "examples" / "static_react_task" / "conf"
REQUIRE_SERVICES = os.environ.get("CROWDSITE_REQUIRE_SERVICES") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip the test unless `condition`; in CI a missing service is a failure."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"CROWDSITE_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def row_locks_need_a_transaction():
    """A row lock taken outside the code's own transaction fails every test, as
    PostgreSQL fails it in production (tests/transaction_guard.py)."""
    from tests.transaction_guard import row_locks_need_a_transaction as guard

    with guard():
        yield


@pytest.fixture
def postgres(db) -> None:
    """Tests of locking and concurrency run on PostgreSQL only."""
    need(
        connection.vendor == "postgresql",
        "needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/"
        "crowdsite (skip_locked is a no-op on SQLite)",
    )


@pytest.fixture
def execute(django_capture_on_commit_callbacks):
    """Run `action()` and the tasks it enqueues at commit (in-process)."""

    def _execute(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return _execute


@pytest.fixture
def example_config() -> Path:
    return EXAMPLE_CONF / "local_testing.yaml"


@pytest.fixture(autouse=True)
def fresh_process_state():
    """Each test starts and ends with the per-process state the code keeps reset:
    Celery runs tasks in-process, and the run cache, the sweep times, the claim
    positions and the providers' HTTP session are empty (ids repeat on SQLite after a
    rolled-back test). Yields the Celery app."""
    from django.core.cache import cache

    from crowdsite.celery import app
    from providers import http
    from tasks_app import services, worker_sql
    from tasks_app.live import rate
    from tasks_app.selectors import forget_cached_runs

    def forget() -> None:
        # What providers remember of assignments (fake ids repeat across tests).
        cache.clear()
        forget_cached_runs()
        services.forget_sweeps()
        worker_sql.forget_claim_positions()
        rate.forget_all()

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    forget()
    yield app
    forget()
    app.conf.task_always_eager = previous
    http.close_session()


@pytest.fixture(autouse=True)
def no_in_process_beat(settings):
    """Beat's work stays out of requests and submits without a broker, so a test
    decides when sweeps run; tests of the in-process beat and of settling a run at
    submit switch it on."""
    from tasks_app import in_process_beat

    settings.IN_PROCESS_BEAT = False
    in_process_beat.forget_runs()


@pytest.fixture
def eager_celery(fresh_process_state):
    """The Celery app, running tasks in-process unless a test switches that off."""
    return fresh_process_state


@pytest.fixture
def asgi_live_server(transactional_db, settings):
    """The ASGI application served on a free port (`.url`, `.ws_url`): HTTP and
    the live tasks' WebSocket. SITE_URL points at it."""
    from channels.layers import channel_layers
    from django.db import connections
    from django.db.backends.signals import connection_created

    from tests.asgi_server import AsgiLiveServer

    # Under ASGI each request's database work runs in a thread of its own, so
    # connections are not kept between requests (Django's advice for ASGI;
    # docs/deploy.md says the same for production).
    database = connections.settings["default"]
    kept_for = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    # SQLite's in-memory test database is shared by the threads' connections
    # through its shared cache, whose table locks refuse a read beside another
    # connection's write at once: reads skip them here, as WAL readers would.
    connection_created.connect(_read_uncommitted)
    _read_uncommitted(connection=connections["default"])
    # Pushes go through an in-memory layer here; `redis_channel_layer` puts
    # Redis back for a test of them. A layer instance serves one event loop at
    # a time: each server (a new loop) gets its own, as each process has.
    settings.CHANNEL_LAYER_URL = ""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    channel_layers.backends.clear()
    server = AsgiLiveServer().start()
    settings.SITE_URL = server.url
    try:
        yield server
    finally:
        server.stop()
        channel_layers.backends.clear()
        connection_created.disconnect(_read_uncommitted)
        database["CONN_MAX_AGE"] = kept_for


@pytest.fixture
def redis_channel_layer(asgi_live_server, settings):
    """The live server's sockets and pushes on the project's Redis channel
    layer (CHANNEL_LAYER_URL, or the broker's Redis)."""
    from channels.layers import channel_layers

    from crowdsite import settings as project

    need(
        bool(project.CHANNEL_LAYER_URL),
        "needs a Redis channel layer (CHANNEL_LAYER_URL, or CELERY_BROKER_URL=redis://)",
    )
    settings.CHANNEL_LAYER_URL = project.CHANNEL_LAYER_URL
    settings.CHANNEL_LAYERS = project.CHANNEL_LAYERS
    channel_layers.backends.clear()
    yield project.CHANNEL_LAYER_URL
    channel_layers.backends.clear()


def _read_uncommitted(*, connection, **kwargs) -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")
