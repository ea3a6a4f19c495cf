"""The live tasks' servers run for real, as the docs say: daphne with DEBUG off
(docs/deploy.md), and `manage.py runserver` (daphne's) for local testing.

Each serves a migrated SQLite file of its own, so this runs in every pass of
the suite whatever DATABASE_URL the suite uses. A worker arrives over HTTP and
calls a function over the WebSocket at the site root.
"""

from __future__ import annotations

import http.client
import json
import secrets
import sys
import time
import uuid
from pathlib import Path

from websockets.sync.client import connect

from tests.conftest import PROJECT_DIR
from tests.live_calls import write_live_config
from tests.servers import free_port, manage, running_server, server_env

# docs/deploy.md's command, word for word (a test below holds them together).
RECIPE = "daphne -b 127.0.0.1 -p 8001 crowdsite.asgi:application"
HOST = "tasks.example.org"


def request(port: int, method: str, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            method,
            path,
            body=None if body is None else json.dumps(body),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def launch(env: dict, folder: Path) -> int:
    manage(env, "migrate", "--verbosity", "0")
    config = write_live_config(folder)
    return json.loads(manage(env, "launch_run", "--config", str(config), "--json"))[
        "task_run_id"
    ]


def call_through(port: int, run_id: int, *, headers: dict, origin: str) -> dict:
    """A worker's arrival over HTTP and one call over the WebSocket: the answer."""
    status, body = request(
        port,
        "POST",
        f"/request_agent?task_run_id={run_id}",
        {
            "provider_data": {
                "worker_name": "alice",
                "agent_registration_id": "alice-1",
                "assignment_id": "a-1",
                "provider_type": "mock",
            },
            "client_timestamp": time.time(),
        },
        headers,
    )
    assert status == 200, body
    agent_id = json.loads(body)["data"]["agent_id"]
    with connect(f"ws://127.0.0.1:{port}/", origin=origin, open_timeout=10) as ws:
        request_id = str(uuid.uuid4())
        ws.send(
            json.dumps(
                {
                    "packet_type": "mephisto_bound_live_update",
                    "subject_id": agent_id,
                    "data": {
                        "request_id": request_id,
                        "target": "echo",
                        "args": json.dumps({"text": "hello"}),
                        "update_id": str(uuid.uuid4()),
                    },
                    "client_timestamp": time.time(),
                }
            )
        )
        while True:
            packet = json.loads(ws.recv(timeout=10))
            if packet["packet_type"] == "client_bound_live_update":
                assert packet["data"]["handles"] == request_id
                return json.loads(packet["data"]["response"])


def test_the_deploy_docs_recipe_is_the_one_tested_here():
    assert RECIPE in (PROJECT_DIR / "docs" / "deploy.md").read_text(encoding="utf-8")


def test_daphne_as_deployed_serves_the_page_and_the_live_socket(tmp_path):
    env = server_env(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        PUBLIC_URL=f"https://{HOST}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CONN_MAX_AGE="0",
        IN_PROCESS_BEAT="false",
    )
    run_id = launch(env, tmp_path)
    port = free_port()
    command = [sys.executable, "-m", *RECIPE.replace("8001", str(port)).split()]
    proxy = {"Host": HOST, "X-Forwarded-Proto": "https"}
    with running_server(
        command,
        env=env,
        log=tmp_path / "daphne.log",
        ready=lambda: request(
            port, "GET", "/task_config.json?task_run_id=1", None, proxy
        ),
    ):
        answer = call_through(port, run_id, headers=proxy, origin=f"https://{HOST}")
    assert answer["args"] == {"text": "hello"}
    assert answer["index"] == 0


def test_runserver_is_daphnes_and_serves_the_live_socket(tmp_path):
    env = server_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        IN_PROCESS_BEAT="false",
    )
    run_id = launch(env, tmp_path)
    port = free_port()
    command = [
        sys.executable,
        "manage.py",
        "runserver",
        "--noreload",
        f"127.0.0.1:{port}",
    ]
    with running_server(
        command,
        env=env,
        log=tmp_path / "runserver.log",
        ready=lambda: request(port, "GET", "/task_config.json?task_run_id=1"),
    ):
        answer = call_through(
            port, run_id, headers={}, origin=f"http://127.0.0.1:{port}"
        )
    assert answer["args"] == {"text": "hello"}
    assert "daphne" in (tmp_path / "runserver.log").read_text().lower()


def test_manage_py_runserver_is_daphnes():
    from django.core.management import get_commands

    assert get_commands()["runserver"] == "daphne"
