"""Real server processes for the tests that need one: a free port, `manage.py`
in a subprocess, an environment of the server's own, and a server started and
waited for."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import PROJECT_DIR

# All a server inherits from the suite's environment: not its database, and not
# the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE.
INHERITED = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR")


def server_env(**settings: str) -> dict[str, str]:
    """The suite's PATH and friends, plus `settings`, and nothing else."""
    env = {k: v for k, v in os.environ.items() if k in INHERITED}
    env.update(settings)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    """Run `manage.py args` with `env`; its standard output, or RuntimeError."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)}: {result.stderr[-2000:]}")
    return result.stdout


@contextmanager
def running_server(
    command: list[str],
    *,
    env: dict,
    log: Path,
    ready: Callable[[], object],
    startup_seconds: float = 60,
) -> Iterator[subprocess.Popen]:
    """Start `command`, wait until `ready()` stops raising OSError, stop it after."""
    with log.open("w") as out:
        server = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"{command[2]} exited: {log.read_text()[-2000:]}")
            try:
                ready()
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"{command[2]} is silent: {tail}") from error
                time.sleep(0.2)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
