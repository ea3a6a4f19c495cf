"""A one-laptop pilot on SQLite holds a handful of concurrent workers.

The server runs as its own process (`manage.py runserver`, threaded) on a
SQLite file of its own, so this runs in every pass of the suite whatever
DATABASE_URL the suite itself uses: the in-memory test database can't show
two connections contending for one file.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading

import pytest

from tests.conftest import EXAMPLE_CONF
from tests.servers import free_port, manage, running_server, server_env

THREADS = 8
CYCLES_PER_THREAD = 20


def call(port: int, method: str, path: str, body: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def sqlite_server(tmp_path):
    """A threaded runserver on a migrated SQLite file with a 200-unit run."""
    env = server_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    rows = tmp_path / "rows.csv"
    rows.write_text("text\n" + "".join(f"sentence {i}\n" for i in range(200)))
    manage(env, "migrate", "--verbosity", "0")
    launched = manage(
        env,
        "launch_run",
        "--config",
        str(EXAMPLE_CONF / "local_testing.yaml"),
        "--json",
        f"mephisto.blueprint.data_csv={rows}",
        # No onboarding: every arrival gets a unit at once.
        "mephisto.blueprint.onboarding_qualification=''",
    )
    run_id = json.loads(launched)["task_run_id"]
    port = free_port()
    with running_server(
        [sys.executable, "manage.py", "runserver", "--noreload", str(port)],
        env=env,
        log=tmp_path / "runserver.log",
        ready=lambda: call(port, "GET", f"/task_config.json?task_run_id={run_id}"),
        startup_seconds=30,
    ):
        yield port, run_id


def worker_cycles(port: int, run_id: int, thread: int, statuses: list) -> None:
    for cycle in range(CYCLES_PER_THREAD):
        name = f"w{thread}-{cycle}"
        status, body = call(
            port,
            "POST",
            f"/request_agent?task_run_id={run_id}",
            {
                "provider_data": {
                    "worker_name": name,
                    "agent_registration_id": f"{name}-r",
                    "assignment_id": f"{name}-a",
                    "provider_type": "mock",
                },
                "client_timestamp": 0,
            },
        )
        statuses.append(("request_agent", status, body[:200]))
        if status != 200:
            continue
        agent_id = json.loads(body)["data"]["agent_id"]
        for path, extra in (
            ("/submit_metadata", {"metadata": {"browser": f"thread {thread}"}}),
            ("/submit_task", {"final_data": {"rating": "good"}}),
        ):
            status, body = call(
                port,
                "POST",
                f"{path}?task_run_id={run_id}",
                {"USED_AGENT_ID": agent_id, "client_timestamp": 0, **extra},
            )
            statuses.append((path, status, body[:200]))


def test_eight_concurrent_workers_on_sqlite_are_all_answered(sqlite_server):
    port, run_id = sqlite_server
    statuses: list = []

    threads = [
        threading.Thread(target=worker_cycles, args=(port, run_id, n, statuses))
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    refused = [entry for entry in statuses if entry[1] != 200]
    assert not refused, f"{len(refused)} of {len(statuses)} refused: {refused[:5]}"
    assert len(statuses) == THREADS * CYCLES_PER_THREAD * 3
