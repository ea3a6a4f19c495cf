"""What the benchmarks share: databases, task files, servers, clients and figures.

The benchmarks run as scripts (`python benchmarks/X.py`), which puts this folder on
sys.path: they `import harness`. Each keeps its own workload, targets and report.
Every server and client here uses 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The one launch config of the benchmarks; each launch names its task folder.
CONFIG = Path(__file__).resolve().parent / "conf" / "bench.yaml"
HOST = "127.0.0.1"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
JSON = "application/json"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def database_name(url: str) -> str:
    """The database `url` names; exits unless letters, digits and '_' (it is quoted)."""
    name = urlparse(url).path.lstrip("/")
    if not name.replace("_", "").isalnum():
        sys.exit(f"database {name!r}: use letters, digits and '_'")
    return name


def _admin(url: str):
    """An autocommit connection to the `postgres` database of `url`'s server."""
    import psycopg

    admin = urlparse(url)._replace(path="/postgres", query="").geturl()
    return psycopg.connect(admin, autocommit=True)


def create_database(url: str, *, recreate: bool = False) -> None:
    """Create `url`'s PostgreSQL database if missing; drop it first if `recreate`."""
    name = database_name(url)
    with _admin(url) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if not conn.execute(query, [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    """Drop `url`'s PostgreSQL database, ending the connections it still has."""
    with _admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A fresh database on a PostgreSQL of this machine for the block; dropped after."""
    if urlparse(url).hostname not in LOCAL_HOSTS:
        sys.exit(f"{url}: the database must be on 127.0.0.1 or localhost")
    create_database(url, recreate=True)
    try:
        yield url
    finally:
        drop_database(url)


def add_database_url(parser: argparse.ArgumentParser) -> None:
    """--database-url of the in-process benchmarks (launch.py, review.py)."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="Database to measure on (default: a temporary SQLite file). "
        "A PostgreSQL database is created if missing.",
    )


def setup_measured_database(
    database_url: str, workdir: Path, *, recreate: bool = False
) -> str:
    """Django in this process on `database_url`, or a SQLite file in `workdir`
    when it is empty; a PostgreSQL database is created (afresh if `recreate`)."""
    if not database_url:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    elif database_url.startswith("postgres"):
        create_database(database_url, recreate=recreate)
    setup_django(database_url)
    return database_url


def setup_django(database_url: str) -> None:
    """Set Django up in this process on `database_url`, tasks in-process; migrate."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("CELERY_BROKER_URL", None)
    # Production has a broker and one beat: no sweeps in the measured requests.
    os.environ["IN_PROCESS_BEAT"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = "crowdsite.settings"
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def sentences(count: int) -> Iterator[dict]:
    """`count` data rows of the benchmarks' task."""
    return ({"text": f"Sentence number {i} reads well."} for i in range(count))


def write_task(folder: Path, rows: Iterable[dict | str]) -> Path:
    """Write `folder` for CONFIG: bundle.js and rows.jsonl (one row a line)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bundle.js").write_text("// bundle\n")
    with (folder / "rows.jsonl").open("w") as out:
        for row in rows:
            out.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return folder


def overrides(folder: Path, name: str, *more: str) -> list[str]:
    """The overrides that launch CONFIG on task folder `folder` as task `name`."""
    return [f"task_dir={folder}", f"mephisto.task.task_name={name}", *more]


def project_env(base: dict | None = None, **values: str) -> dict:
    """`base` (default: os.environ) with the project importable, no Celery broker."""
    env = dict(os.environ if base is None else base)
    env.pop("CELERY_BROKER_URL", None)  # tasks run in the server's process
    # ... but beat's work stays out of the measured requests, as in production.
    env["IN_PROCESS_BEAT"] = "false"
    paths = [str(PROJECT_DIR), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths), **values}


def manage(
    env: dict, *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `manage.py *args` with `env`; if `check`, exit with its output on failure."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode:
        sys.exit(
            f"manage.py {' '.join(args)} failed:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done


def migrate(env: dict) -> None:
    """Migrate the database of `env`."""
    manage(env, "migrate", "--noinput", "--verbosity", "0")


def launch(env: dict, config: Path, *extra: str) -> dict:
    """`launch_run --config config --json *extra`; the JSON it prints."""
    done = manage(env, "launch_run", "--config", str(config), "--json", *extra)
    return json.loads(done.stdout.strip().splitlines()[-1])


def stop(process: subprocess.Popen, wait: float = 15) -> None:
    """SIGTERM `process` (gunicorn stops its workers); SIGKILL its session if slow."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only its workers
        process.wait()


@contextlib.contextmanager
def server(
    kind: str,
    env: dict,
    port: int,
    *,
    log: Path,
    stdout: Path | None = None,
    flags: Iterable[str] = (),
    ready: Callable[[], object] | None = None,
    wait: float = 30,
    stop_wait: float = 15,
) -> Iterator[subprocess.Popen]:
    """gunicorn (crowdsite.wsgi) or runserver on 127.0.0.1:`port`, once `ready()`.

    stderr goes to `log` (stdout too, unless `stdout` names a file). Without
    `ready`, any answer to `GET /task_config.json` will do. Stopped after the block.
    """
    if kind == "gunicorn":
        app = ["-m", "gunicorn", "crowdsite.wsgi:application"]
        command = [*app, "--bind", f"{HOST}:{port}", *flags]
    else:
        command = ["manage.py", "runserver", "--noreload", f"{HOST}:{port}", *flags]
    if ready is None:

        def ready() -> bool:
            return request(port, "GET", "/task_config.json", timeout=2).status > 0

    with contextlib.ExitStack() as files:
        err = files.enter_context(log.open("w"))
        out = files.enter_context(stdout.open("w")) if stdout else err
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    answered = False
    try:
        deadline = time.monotonic() + wait
        while not answered:
            if process.poll() is not None:
                sys.exit(f"{kind} exited:\n{log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                sys.exit(f"{kind} did not answer in {wait:.0f} s:\n{tail}")
            with contextlib.suppress(OSError, RuntimeError, http.client.HTTPException):
                answered = bool(ready())
            if not answered:
                time.sleep(0.2)
        yield process
    finally:
        stop(process, stop_wait)
        if answered and process.returncode not in (0, -signal.SIGTERM):
            print(f"{kind} log:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Answer:
    """What the server answered, and how long it took."""

    status: int  # 0: no answer (the connection failed)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    error: str = ""

    @classmethod
    def read(cls, response: http.client.HTTPResponse, began: float) -> Answer:
        """The whole of `response`, timed from `began` (perf_counter)."""
        headers = {k.lower(): v for k, v in response.getheaders()}
        body = response.read()
        return cls(response.status, headers, body, time.perf_counter() - began)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def is_json(self) -> bool:
        return self.headers.get("content-type", "").startswith(
            "application/json"
        ) and isinstance(self.json(), dict)

    @property
    def proper_503(self) -> bool:
        """A JSON 503 with Retry-After, as the protocol promises."""
        return (
            self.status == 503
            and self.is_json
            and "error" in self.json()
            and self.headers.get("retry-after", "").isdigit()
        )

    def short(self) -> str:
        error = " " + self.error if self.error else ""
        return f"{self.status} {self.body[:200]!r}{error}"


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Answer:
    """One request on a connection of its own to 127.0.0.1:`port`."""
    began = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body, headers=headers or {})
        return Answer.read(conn.getresponse(), began)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, seconds=time.perf_counter() - began, error=repr(exc))
    finally:
        conn.close()


def post_json(conn: http.client.HTTPConnection, path: str, body: dict) -> dict:
    """POST `body` as JSON on a kept-alive `conn`; its JSON answer; raise unless 200."""
    conn.request("POST", path, json.dumps(body).encode(), {"Content-Type": JSON})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {data[:200]!r}")
    if response.will_close:
        conn.close()  # gunicorn's sync workers close after each response
    return json.loads(data)


def request_agent(run_id: int, name: str) -> tuple[str, dict]:
    """The path and body of a new worker `name` asking for an agent of `run_id`."""
    ids = {"worker_name": name, "agent_registration_id": name}
    return f"/request_agent?task_run_id={run_id}", {"provider_data": ids}


def submit_task(run_id: int, agent_id: str, final_data: dict) -> tuple[str, dict]:
    """The path and body of agent `agent_id` submitting `final_data`."""
    body = {"USED_AGENT_ID": agent_id, "final_data": final_data}
    return f"/submit_task?task_run_id={run_id}", body


def worker_cycle(conn: http.client.HTTPConnection, run_id: int, name: str) -> float:
    """A new worker's request_agent + submit_task; when the first was answered."""
    packet = post_json(conn, *request_agent(run_id, name))
    first = time.perf_counter()
    agent_id = packet["data"]["agent_id"]
    if not agent_id:
        raise RuntimeError(f"refused: {packet['data']['failure_reason']}")
    post_json(conn, *submit_task(run_id, agent_id, {"rating": 3}))
    return first


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (the sample at rank q * n), nan if none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when the denominator is."""
    return numerator / denominator if denominator else 0.0


@dataclass
class Result:
    """The samples of a load: cycle latencies, errors, time and CPU used."""

    kind: str
    clients: int
    latencies: list[float] = field(default_factory=list)  # ms a cycle
    # How long the cycle's first request took (ms).
    firsts: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu: float = 0.0
    machine_busy: float = 0.0
    # CPU seconds used by the server (gunicorn's master and workers).
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return ratio(len(self.latencies), self.seconds)

    def percentile(self, q: float, *, first: bool = False) -> float:
        return percentile(self.firsts if first else self.latencies, q)

    def merge(self, other: Result) -> None:
        """Add `other`'s samples and times, as if measured in one go."""
        seconds = self.seconds + other.seconds
        if seconds:
            self.machine_busy = (
                self.machine_busy * self.seconds + other.machine_busy * other.seconds
            ) / seconds
        self.latencies += other.latencies
        self.firsts += other.firsts
        self.errors += other.errors
        self.seconds = seconds
        self.client_cpu += other.client_cpu
        self.server_cpu += other.server_cpu
