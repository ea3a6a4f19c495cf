"""The README's production recipe, run for real: gunicorn with DEBUG off.

One gunicorn, started as the README says (plus a port), serves a migrated
SQLite file and a collected STATIC_ROOT of its own, so this runs in every pass
of the suite whatever DATABASE_URL the suite itself uses. It sits behind an
imagined TLS proxy: requests carry the proxy's X-Forwarded-Proto.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import socket
import sys
import threading
import time

import pytest

from tests.conftest import EXAMPLE_CONF, PROJECT_DIR
from tests.servers import free_port, manage, running_server, server_env

# The README's command, word for word (a test below holds them together).
RECIPE = (
    "gunicorn crowdsite.wsgi:application --workers 4 --worker-class gthread --threads 8"
)
HOST = "tasks.example.org"
PROXY_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https"}
SLOW_CLIENTS = 8
# A liveness deadline, far above any normal answer; not a timing target.
DEADLINE_SECONDS = 10


def get(port: int, path: str, timeout: float = DEADLINE_SECONDS):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=PROXY_HEADERS)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """gunicorn as the README says, DEBUG off, after migrate and collectstatic."""
    workdir = tmp_path_factory.mktemp("production")
    env = server_env(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        PUBLIC_URL=f"https://{HOST}",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        STATIC_ROOT=str(workdir / "static"),
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    launched = manage(
        env,
        "launch_run",
        "--config",
        str(EXAMPLE_CONF / "local_testing.yaml"),
        "--json",
    )
    run_id = json.loads(launched)["task_run_id"]
    port = free_port()
    command = [sys.executable, "-m", *RECIPE.split(), "--bind", f"127.0.0.1:{port}"]
    with running_server(
        command,
        env=env,
        log=workdir / "gunicorn.log",
        ready=lambda: get(port, f"/task_config.json?task_run_id={run_id}", timeout=5),
    ):
        yield port, run_id


def test_the_readme_recipe_is_the_one_tested_here():
    readme = (PROJECT_DIR / "README.md").read_text()

    assert RECIPE in readme


def test_gunicorn_without_debug_serves_the_admins_static_files(production):
    port, _ = production

    status, headers, _ = get(port, "/static/admin/css/base.css")
    login_status, _, login_page = get(port, "/admin/login/")

    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert login_status == 200
    # The page links the collected file by its hashed name.
    hashed = re.search(
        rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login_page
    )
    assert hashed, login_page[:500]
    assert get(port, hashed.group(1).decode())[0] == 200


def test_gunicorn_without_debug_serves_the_task_pages_own_scripts(production):
    port, run_id = production

    status, headers, body = get(port, f"/task/{run_id}/wrap_crowd_source.js")

    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert body


def slow_client(port: int, opened: threading.Barrier, stop: threading.Event) -> None:
    """Send a request's headers one byte a second, as a stalled phone would."""
    request = f"GET /admin/login/ HTTP/1.1\r\nHost: {HOST}\r\n" + "X: y\r\n" * 100
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request[:1].encode())
        opened.wait(timeout=30)
        for byte in request[1:]:
            if stop.wait(1.0):
                return
            sock.sendall(byte.encode())


def test_the_recipe_still_answers_while_slow_clients_hold_connections(production):
    port, run_id = production
    opened = threading.Barrier(SLOW_CLIENTS + 1)
    stop = threading.Event()
    clients = [
        threading.Thread(target=slow_client, args=(port, opened, stop))
        for _ in range(SLOW_CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        opened.wait(timeout=30)
        time.sleep(1.5)  # every slow client has been accepted and is being read

        status, _, body = get(port, f"/task_config.json?task_run_id={run_id}")
    finally:
        stop.set()
        for client in clients:
            client.join()

    assert status == 200
    assert json.loads(body)["task_title"]
