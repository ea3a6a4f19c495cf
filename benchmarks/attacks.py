"""Re-run a set of attacks and faults against a real crowdsite server; print figures.

    python benchmarks/attacks.py                      # gunicorn + PostgreSQL
    python benchmarks/attacks.py --server runserver   # runserver + a fresh SQLite file
    python benchmarks/attacks.py --database-url postgres://postgres@127.0.0.1:5432/x_attacks

The script starts its own server on a free port of 127.0.0.1, launches a few small
mock-provider runs with `manage.py launch_run`, and then sends each attack over HTTP
to 127.0.0.1 only. After each attack it reads the server's database directly
(psycopg or sqlite3) and prints what the server answered (counts by status) and
what the database holds. Every loop has a fixed count or a fixed duration; a run
takes 30 seconds to 2 minutes on a 2-core machine (gunicorn's is the longer one:
attack 9 runs for 20 s and needs a run of 10,000 units: at 250 submissions a
second 5,000 ran out).

  1  metadata growth      50 x 900 KB /submit_metadata under new keys; 80 x 100 KB
                          and 80 small /log_error: 413 past the agent's metadata
                          limit or its error report limit, stored size within the
                          limit, and a later metadata post still fast
  2  onboarding log flood 200 x 100 KB /log_error from an onboarding agent (and 200
                          small ones from another): 413 past the limits, and the
                          server's stderr grows a bounded amount
  3  uploads not enabled  5 MB and 10 KB files to a run without uploads: 413 and
                          nothing stored; a declared 200 MB body refused unread
  4  file names           names that can't be stored are refused 400 (nothing
                          stored); `../../x.png` is stored as `x.png` in MEDIA_ROOT
  5  task source          `task_source=/etc/passwd` is refused at launch, no run
  7  charsets             `charset=rot13|zlib|base64|bz2|hex|uu|quopri` on every
                          endpoint and the admin: 415 JSON
  8  unstorable rows      data rows with NUL or a lone surrogate refused at launch,
                          naming the file and row; nothing written
  9  backend terminated   (gunicorn only) 16 clients run request_agent+submit_task
                          while every backend of the database is terminated each
                          0.2 s: only JSON 503s with Retry-After, no acknowledged
                          submission lost, no unit held twice
  10 form-urlencoded      `final_data` as urlencoded JSON text is stored as an object
  11 submit vs return     100 agents each fire submit_task and return_unit at once:
                          a 200 return means a late submission, a 409 return an
                          on-time one; every submission stored
  12 SQLite concurrency   (runserver only) 8 threads x 20 /submit_metadata: no 500
  13-18                   the findings of the attack on wave 2: see
                          benchmarks/attacks_hardening.py

(Attack 6, spreadsheet formulas in exports, is checked elsewhere.)

gunicorn runs `crowdsite.wsgi:application` with --workers 4 --worker-class gthread
--threads 4 (the README deploys gthread workers; --threads changes the count), DEBUG
off, a random SECRET_KEY and SECURE_SSL_REDIRECT off, against PostgreSQL: the
database (default crowdsite_attacks; its name must contain "attacks") is dropped and
created afresh, and dropped again at the end. runserver runs with --noreload and
DEBUG on, on a SQLite file in a temporary folder. No Celery broker: tasks run
in-process. The storage limits are set to their defaults (1 MB of metadata, 50
error reports, 1 MB per value) whatever the environment says. MEDIA_ROOT, the task
folders, the SQLite file and the server's logs live in a temporary folder that is
removed at the end (--keep-temp keeps it); apart from that folder and the
PostgreSQL database, nothing is written.

Exit status: 0 when every check holds, 1 when one doesn't (each is named).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode, urlparse

import harness
from attacks_common import Outcome, multipart
from attacks_hardening import HardeningAttacks

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crowdsite_attacks"
HOST = harness.HOST

# The server's defaults (docs/worker-protocol.md, "Limits and their settings").
METADATA_LIMIT = 1_000_000
ERROR_REPORTS_LIMIT = 50
CHARSETS = ["rot13", "zlib", "base64", "bz2", "hex", "uu", "quopri"]
LIVE_OR_DONE = ("none", "accepted", "in_task", "completed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--server",
        choices=["gunicorn", "runserver"],
        default="gunicorn",
        help="gunicorn on PostgreSQL (default) or runserver on SQLite",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="PostgreSQL database for --server gunicorn, on 127.0.0.1 or "
        "localhost; dropped, created and dropped again at the end, so its name "
        f"must contain 'attacks' (default: {DEFAULT_DATABASE_URL})",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="gunicorn workers (default 4)"
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per gthread worker (default 4)"
    )
    parser.add_argument(
        "--terminate-seconds",
        type=float,
        default=20.0,
        help="how long attack 9 runs its clients (default 20)",
    )
    parser.add_argument(
        "--keep-temp",
        action="store_true",
        help="keep the temporary folder (server logs, SQLite file, MEDIA_ROOT)",
    )
    return parser.parse_args()


# ---------------------------------------------------------------------------
# HTTP to the server under attack (127.0.0.1 only).
# ---------------------------------------------------------------------------


Answer = harness.Answer


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, *args, **kwargs) -> Answer:
        return harness.request(self.port, method, path, *args, **kwargs)

    def post(self, path: str, payload, content_type: str = "application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body, {"Content-Type": content_type})

    def streamed(
        self, path: str, content_type: str, length: int, chunks, timeout: float = 30
    ) -> Answer:
        """POST declaring `length`, sending `chunks` while the answer is read.

        The server may answer (and close) before it has read the body: sending
        from another thread lets the answer be read whatever the server does.
        """
        began = time.perf_counter()
        sock = socket.create_connection((HOST, self.port), timeout=timeout)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()

        def send() -> None:
            try:
                sock.sendall(head)
                for chunk in chunks:
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered and closed: expected for a refusal

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Answer.read(response, began)
        except (OSError, http.client.HTTPException) as exc:
            return Answer(0, seconds=time.perf_counter() - began, error=repr(exc))
        finally:
            sock.close()
            sender.join(timeout=5)

    def agent(self, run_id: int, name: str) -> str:
        """A new agent id of a new worker (`name`) on `run_id`."""
        answer = self.post(*harness.request_agent(run_id, name))
        data = answer.json() or {}
        agent_id = (data.get("data") or {}).get("agent_id")
        if answer.status != 200 or not agent_id:
            raise RuntimeError(f"request_agent for {name}: {answer.short()}")
        return agent_id


def statuses(answers: list[Answer]) -> str:
    counts = Counter(a.status for a in answers)
    return ", ".join(f"{n} x {s or 'no answer'}" for s, n in sorted(counts.items()))


def count_5xx(answers: list[Answer]) -> int:
    return sum(1 for a in answers if a.status >= 500 or a.status == 0)


# ---------------------------------------------------------------------------
# The server's database, read directly.
# ---------------------------------------------------------------------------


class Database:
    def __init__(self, *, postgres_url: str | None = None, sqlite_path=None):
        self.postgres_url = postgres_url
        self.sqlite_path = sqlite_path

    def rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        if self.postgres_url:
            import psycopg

            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                return conn.execute(sql, params).fetchall()
        conn = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()
        finally:
            conn.close()

    def value(self, sql: str, params: tuple | list = ()):
        return self.rows(sql, params)[0][0]

    def agent(self, public_id: str) -> dict:
        """The agent's status, submission, metadata, is_late and unit status."""
        table = (
            "tasks_app_onboardingagent"
            if public_id.startswith("onboarding")
            else "tasks_app_agent"
        )
        if table == "tasks_app_agent":
            sql = (
                "SELECT a.status, a.submission, a.metadata, a.is_late, u.status "
                "FROM tasks_app_agent a JOIN tasks_app_unit u ON u.id = a.unit_id "
                "WHERE a.public_id = %s"
            )
        else:
            sql = (
                "SELECT status, submission, metadata, false, '' "
                "FROM tasks_app_onboardingagent WHERE public_id = %s"
            )
        [(status, submission, metadata, is_late, unit_status)] = self.rows(
            sql, [public_id]
        )
        return {
            "status": status,
            "submission": as_json(submission),
            "metadata": as_json(metadata),
            "is_late": bool(is_late),
            "unit_status": unit_status,
        }

    def counts(self) -> dict[str, int]:
        tables = ["taskrun", "task", "unit", "assignment"]
        return {t: self.value(f"SELECT COUNT(*) FROM tasks_app_{t}") for t in tables}


def as_json(value):
    """A JSON column's value: SQLite gives text, psycopg gives Python values."""
    return json.loads(value) if isinstance(value, str) else value


def compact_size(value) -> int:
    """Bytes of `value` as compact JSON, measured as the server measures it."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


# ---------------------------------------------------------------------------
# Setup: database, runs, server.
# ---------------------------------------------------------------------------


class Site:
    """A server under attack: its environment, runs, process and logs."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.port = harness.free_port()
        self.media = tmp / "media"
        self.media.mkdir()
        self.stderr_path = tmp / "server.stderr"
        self.stdout_path = tmp / "server.stdout"
        env = {
            "DJANGO_SETTINGS_MODULE": "crowdsite.settings",
            "SITE_URL": f"http://{HOST}:{self.port}",
            "MEDIA_ROOT": str(self.media),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The limits the checks expect: the defaults, whatever the shell says.
            "CROWDSITE_MAX_SUBMISSION_BYTES": "1000000",
            "CROWDSITE_MAX_AGENT_METADATA_BYTES": str(METADATA_LIMIT),
            "CROWDSITE_MAX_ERROR_REPORTS": str(ERROR_REPORTS_LIMIT),
        }
        if args.server == "gunicorn":
            self.database_url = args.database_url
            env.update(
                DATABASE_URL=self.database_url,
                DEBUG="false",
                SECRET_KEY=secrets.token_urlsafe(50),
                SECURE_SSL_REDIRECT="false",
            )
            self.db = Database(postgres_url=self.database_url)
        else:
            sqlite_path = tmp / "db.sqlite3"
            self.database_url = f"sqlite:///{sqlite_path}"
            env.update(DATABASE_URL=self.database_url, DEBUG="true")
            self.db = Database(sqlite_path=sqlite_path)
        self.env = harness.project_env(**env)
        self.client = Client(self.port)

    def manage(self, *argv: str) -> subprocess.CompletedProcess:
        return harness.manage(self.env, *argv, check=False, timeout=300)

    def database(self) -> contextlib.AbstractContextManager:
        """For gunicorn, its PostgreSQL database afresh, dropped at the end."""
        if self.args.server != "gunicorn":
            return contextlib.nullcontext()
        name = urlparse(self.database_url).path.lstrip("/")
        if "attacks" not in name:
            sys.exit(
                f"database {name!r}: its name must contain 'attacks' (it is dropped)"
            )
        return harness.postgres_database(self.database_url)

    def task_folder(self, name: str, rows: Iterable[dict | str]) -> Path:
        return harness.write_task(self.tmp / "tasks" / name, rows)

    def launch(self, name: str, units: int, *extra: str) -> int:
        folder = self.task_folder(name, harness.sentences(units))
        overrides = harness.overrides(folder, name, *extra)
        return harness.launch(self.env, harness.CONFIG, *overrides)["task_run_id"]

    def launch_run(self, folder: Path, *extra: str) -> subprocess.CompletedProcess:
        """`launch_run` on `folder` that may fail: its exit status and output."""
        overrides = harness.overrides(folder, folder.name, *extra)
        config = ["--config", str(harness.CONFIG), "--json"]
        return self.manage("launch_run", *config, *overrides)

    def serve(self) -> contextlib.AbstractContextManager:
        """The server, answering on its port; stopped when the block ends."""
        flags = []
        if self.args.server == "gunicorn":
            flags = ["--workers", str(self.args.workers), "--worker-class", "gthread"]
            flags += ["--threads", str(self.args.threads), "--log-level", "warning"]
            flags += ["--graceful-timeout", "10"]
        return harness.server(
            self.args.server,
            self.env,
            self.port,
            log=self.stderr_path,
            stdout=self.stdout_path,
            flags=flags,
            stop_wait=20,
        )

    def stderr_size(self) -> int:
        return self.stderr_path.stat().st_size

    def media_files(self) -> list[Path]:
        return sorted(p for p in self.media.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------
# The attacks. Each returns (figures line, failures).
# ---------------------------------------------------------------------------


class Attacks(HardeningAttacks):
    def __init__(self, site: Site, runs: dict[str, int]) -> None:
        self.site = site
        self.c = site.client
        self.db = site.db
        self.runs = runs
        self.names = 0

    def new_agent(self, run: str = "plain") -> str:
        self.names += 1
        return self.c.agent(self.runs[run], f"attacker-{self.names}")

    # 1 --------------------------------------------------------------------
    def metadata_growth(self) -> Outcome:
        failures: list[str] = []
        big = self.new_agent()
        answers = [
            self.c.post(
                "/submit_metadata",
                {"USED_AGENT_ID": big, "metadata": {f"key{i}": "m" * 900_000}},
            )
            for i in range(50)
        ]
        stored = compact_size(self.db.agent(big)["metadata"])
        accepted = sum(a.status == 200 for a in answers)
        refused = sum(a.status == 413 for a in answers)
        late = self.c.post(
            "/submit_metadata", {"USED_AGENT_ID": big, "metadata": {"later": 1}}
        )
        if accepted != 1 or refused != 49:
            failures.append(
                f"metadata: {statuses(answers)} (expected 1 x 200, 49 x 413)"
            )
        if stored > METADATA_LIMIT:
            failures.append(f"metadata stored {stored} bytes > {METADATA_LIMIT}")
        if late.status != 200 or late.seconds >= 1.0:
            failures.append(
                f"later metadata post: {late.short()} in {late.seconds:.2f} s"
            )

        # 100 KB reports: the byte limit stops them before the count does.
        heavy = self.new_agent()
        heavy_answers = [
            self.c.post(
                "/log_error",
                {"USED_AGENT_ID": heavy, "error_data": {"stack": "e" * 100_000}},
            )
            for _ in range(80)
        ]
        heavy_meta = self.db.agent(heavy)["metadata"] or {}
        heavy_kept = len(heavy_meta.get("errors", []))
        heavy_ok = sum(a.status == 200 for a in heavy_answers)
        # Small reports: the count limit stops them.
        small = self.new_agent()
        small_answers = [
            self.c.post("/log_error", {"USED_AGENT_ID": small, "error_data": {"n": i}})
            for i in range(80)
        ]
        small_meta = self.db.agent(small)["metadata"] or {}
        small_kept = len(small_meta.get("errors", []))
        small_ok = sum(a.status == 200 for a in small_answers)
        if not monotone(heavy_answers) or heavy_ok != heavy_kept:
            failures.append(
                f"100 KB reports: {statuses(heavy_answers)}, {heavy_kept} kept"
            )
        if compact_size(heavy_meta) > METADATA_LIMIT or heavy_ok > ERROR_REPORTS_LIMIT:
            failures.append(f"100 KB reports stored {compact_size(heavy_meta)} bytes")
        if small_ok != ERROR_REPORTS_LIMIT or small_kept != ERROR_REPORTS_LIMIT:
            failures.append(
                f"small reports: {statuses(small_answers)}, {small_kept} kept "
                f"(expected {ERROR_REPORTS_LIMIT})"
            )
        every = answers + heavy_answers + small_answers + [late]
        fives = count_5xx(every)
        if fives:
            failures.append(f"{fives} x 5xx")
        line = (
            f"50 x 900 KB metadata posts -> {accepted} accepted, {refused} refused "
            f"413, stored {stored / 1e6:.2f} MB (limit {METADATA_LIMIT / 1e6:.2f} MB)"
            f"; a later post answered {late.status} in {late.seconds * 1000:.0f} ms"
            f"\n      80 x 100 KB log_error -> {heavy_ok} accepted, "
            f"{sum(a.status == 413 for a in heavy_answers)} refused 413, stored "
            f"{compact_size(heavy_meta) / 1e6:.2f} MB"
            f"\n      80 x small log_error -> {small_ok} accepted, "
            f"{sum(a.status == 413 for a in small_answers)} refused 413 "
            f"(limit {ERROR_REPORTS_LIMIT} reports); {fives} x 5xx"
        )
        summary = (
            f"metadata {accepted} ok/{refused} x 413, {stored / 1e6:.2f} MB kept; "
            f"reports {heavy_ok}+{small_ok} ok; later post "
            f"{late.seconds * 1000:.0f} ms; {fives} x 5xx"
        )
        return Outcome("1", "metadata growth", line, failures, summary=summary)

    # 2 --------------------------------------------------------------------
    def onboarding_flood(self) -> Outcome:
        failures: list[str] = []
        agent_id, other_id = self.onboarding_agent(), self.onboarding_agent()
        if not (
            agent_id.startswith("onboarding") and other_id.startswith("onboarding")
        ):
            return Outcome(
                "2", "onboarding log flood", "no onboarding agent", [agent_id]
            )
        time.sleep(0.5)
        before = self.site.stderr_size()
        answers = [
            self.c.post(
                "/log_error",
                {"USED_AGENT_ID": agent_id, "error_data": {"stack": "o" * 100_000}},
            )
            for _ in range(200)
        ]
        time.sleep(1.0)  # let the server's log reach the file
        growth = self.site.stderr_size() - before
        meta = self.db.agent(agent_id)["metadata"] or {}
        kept = len(meta.get("errors", []))
        accepted = sum(a.status == 200 for a in answers)
        refused = sum(a.status == 413 for a in answers)
        bound = 200 * 1024  # at most a short log line per request
        if not monotone(answers) or accepted + refused != 200 or accepted != kept:
            failures.append(f"100 KB reports: {statuses(answers)}, {kept} kept")
        if accepted > ERROR_REPORTS_LIMIT or compact_size(meta) > METADATA_LIMIT:
            failures.append(f"stored {accepted} reports, {compact_size(meta)} bytes")
        if growth > bound:
            failures.append(f"server stderr grew {growth} bytes (bound {bound})")
        # Small reports from another onboarding agent: the count limit.
        small = [
            self.c.post(
                "/log_error", {"USED_AGENT_ID": other_id, "error_data": {"n": i}}
            )
            for i in range(200)
        ]
        small_ok = sum(a.status == 200 for a in small)
        small_kept = len((self.db.agent(other_id)["metadata"] or {}).get("errors", []))
        if not monotone(small) or small_ok != ERROR_REPORTS_LIMIT or small_kept != 50:
            failures.append(f"small reports: {statuses(small)}, {small_kept} kept")
        fives = count_5xx(answers + small)
        if fives:
            failures.append(f"{fives} x 5xx")
        line = (
            f"200 x 100 KB log_error from an onboarding agent -> {accepted} "
            f"accepted, {refused} refused 413 (stored {compact_size(meta) / 1e6:.2f}"
            f" MB, the byte limit); server stderr grew {growth / 1024:.1f} KB for "
            f"20 MB sent (bound {bound / 1024:.0f} KB)\n      200 x small log_error "
            f"from another -> {small_ok} accepted, {200 - small_ok} refused 413 "
            f"(limit {ERROR_REPORTS_LIMIT} reports); {fives} x 5xx"
        )
        summary = (
            f"100 KB: {accepted} ok/{refused} x 413; small: {small_ok} ok/"
            f"{200 - small_ok} x 413; stderr +{growth / 1024:.0f} KB; {fives} x 5xx"
        )
        return Outcome("2", "onboarding log flood", line, failures, summary=summary)

    def onboarding_agent(self) -> str:
        """A new onboarding agent id, or the answer when there is none."""
        self.names += 1
        name = f"attacker-{self.names}"
        answer = self.c.post(
            f"/request_agent?task_run_id={self.runs['onboarding']}",
            {"provider_data": {"worker_name": name, "agent_registration_id": name}},
        )
        agent_id = ((answer.json() or {}).get("data") or {}).get("agent_id") or ""
        return agent_id if agent_id.startswith("onboarding") else answer.short()

    # 3 --------------------------------------------------------------------
    def uploads_not_enabled(self) -> Outcome:
        failures: list[str] = []
        run = self.runs["plain"]
        files_before = self.site.media_files()
        rows = []
        answers = []
        for label, size in (("5 MB", 5_000_000), ("10 KB", 10_000)):
            agent_id = self.new_agent()
            content_type, body = multipart(
                {"USED_AGENT_ID": agent_id, "final_data": '{"rating": "good"}'},
                [(b"photo.png", b"\x89PNG" + b"p" * (size - 4))],
            )
            chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
            answer = self.c.streamed(
                f"/submit_task?task_run_id={run}", content_type, len(body), chunks
            )
            answers.append(answer)
            agent = self.db.agent(agent_id)
            rows.append(
                f"{label} file -> {answer.status}, unit {agent['unit_status']}, "
                f"submission {'stored' if agent['submission'] is not None else 'none'}"
            )
            if answer.status != 413 or not answer.is_json:
                failures.append(f"{label} file: {answer.short()}")
            if agent["unit_status"] != "assigned" or agent["submission"] is not None:
                failures.append(f"{label} file: stored, unit {agent['unit_status']}")
        new_files = len(self.site.media_files()) - len(files_before)
        if new_files:
            failures.append(f"{new_files} files written to MEDIA_ROOT")

        # A declared 200 MB body: headers and the first field only.
        agent_id = self.new_agent()
        content_type, head = multipart({"USED_AGENT_ID": agent_id}, [])
        head = head.rsplit(b"--", 2)[0]  # leave the body open
        declared = 200_000_000
        answer = self.c.streamed(
            f"/submit_task?task_run_id={run}", content_type, declared, [head], 15
        )
        answers.append(answer)
        agent = self.db.agent(agent_id)
        if answer.status != 413 or answer.seconds > 2.0:
            failures.append(
                f"200 MB declared: {answer.short()} in {answer.seconds:.1f} s"
            )
        if agent["unit_status"] != "assigned" or agent["submission"] is not None:
            failures.append("200 MB declared: something was stored")
        fives = count_5xx(answers)
        if fives:
            failures.append(f"{fives} x 5xx")
        line = (
            "; ".join(rows)
            + f"; {new_files} files in MEDIA_ROOT\n      200 MB declared "
            f"Content-Length ({len(head)} bytes sent) -> {answer.status} in "
            f"{answer.seconds * 1000:.0f} ms, unit {agent['unit_status']}; "
            f"{fives} x 5xx"
        )
        summary = (
            f"5 MB/10 KB -> {answers[0].status}/{answers[1].status}, "
            f"{new_files} files; 200 MB declared -> {answer.status} in "
            f"{answer.seconds * 1000:.0f} ms; {fives} x 5xx"
        )
        return Outcome("3", "uploads not enabled", line, failures, summary=summary)

    # 4 --------------------------------------------------------------------
    def file_names(self) -> Outcome:
        failures: list[str] = []
        run = self.runs["uploads"]
        names = [b"caf\xe9.png", b"dir/", b"dir\\", b"..", b""]
        refused = 0
        answers = []
        for filename in names:
            agent_id = self.new_agent("uploads")
            content_type, body = multipart(
                {"USED_AGENT_ID": agent_id, "final_data": '{"rating": "good"}'},
                [(filename, b"\x89PNG drawing")],
            )
            answer = self.c.post(f"/submit_task?task_run_id={run}", body, content_type)
            answers.append(answer)
            agent = self.db.agent(agent_id)
            if (
                answer.status == 400
                and answer.is_json
                and agent["submission"] is None
                and agent["unit_status"] == "assigned"
            ):
                refused += 1
            else:
                failures.append(
                    f"name {filename!r}: {answer.short()}, unit {agent['unit_status']}"
                )
        stray = self.site.media_files()
        if stray:
            failures.append(f"files stored after refusals: {stray}")
        agent_id = self.new_agent("uploads")
        content_type, body = multipart(
            {"USED_AGENT_ID": agent_id, "final_data": '{"rating": "good"}'},
            [(b"../../x.png", b"\x89PNG drawing")],
        )
        answer = self.c.post(f"/submit_task?task_run_id={run}", body, content_type)
        answers.append(answer)
        stored = self.site.media_files()
        agent = self.db.agent(agent_id)
        inside = [p for p in stored if self.site.media in p.parents]
        ok = (
            answer.status == 200
            and len(stored) == 1
            and stored[0].name == "x.png"
            and inside == stored
            and agent["status"] == "completed"
        )
        if not ok:
            failures.append(f"'../../x.png': {answer.short()}, stored {stored}")
        where = stored[0].relative_to(self.site.media) if stored else "nothing"
        fives = count_5xx(answers)
        if fives:
            failures.append(f"{fives} x 5xx")
        line = (
            f"{len(names)} unstorable names -> {refused} refused 400 with nothing "
            f"stored (units still assigned); '../../x.png' -> {answer.status}, "
            f"stored MEDIA_ROOT/{where}; {fives} x 5xx"
        )
        summary = (
            f"{refused}/{len(names)} refused 400, '../../x.png' -> {answer.status} "
            f"as {where.name if stored else 'nothing'}; {fives} x 5xx"
        )
        return Outcome("4", "file names", line, failures, summary=summary)

    # 5 --------------------------------------------------------------------
    def task_source_outside(self) -> Outcome:
        failures: list[str] = []
        rows = [json.dumps({"text": "a sentence"})]
        folder = self.site.task_folder("attacks-outside", rows)
        before = self.db.counts()
        done = self.site.launch_run(
            folder, "mephisto.blueprint.task_source=/etc/passwd"
        )
        after = self.db.counts()
        message = from_key(done.stderr + done.stdout, "mephisto.blueprint.task_source")
        if done.returncode == 0:
            failures.append(f"launch exited 0: {done.stdout[-300:]}")
        if "mephisto.blueprint.task_source" not in done.stderr:
            failures.append(f"message does not name the key: {message}")
        if after != before:
            failures.append(f"rows written: {before} -> {after}")
        line = (
            f"launch_run task_source=/etc/passwd -> exit {done.returncode}, "
            f"runs {before['taskrun']} -> {after['taskrun']}, units "
            f"{before['unit']} -> {after['unit']}\n      {message}"
        )
        summary = (
            f"exit {done.returncode}, key named: "
            f"{'yes' if 'mephisto.blueprint.task_source' in done.stderr else 'NO'}, "
            f"runs {before['taskrun']} -> {after['taskrun']}"
        )
        return Outcome("5", "task source outside", line, failures, summary=summary)

    # 7 --------------------------------------------------------------------
    def charsets(self) -> Outcome:
        run = self.runs["plain"]
        targets = [
            ("GET", f"/task_config.json?task_run_id={run}"),
            ("POST", f"/request_agent?task_run_id={run}"),
            ("POST", "/submit_onboarding"),
            ("POST", f"/submit_task?task_run_id={run}"),
            ("POST", "/submit_metadata"),
            ("POST", "/log_error"),
            ("POST", "/return_unit"),
            ("GET", "/admin/login/"),
        ]
        answers = []
        failures: list[str] = []
        for charset in CHARSETS:
            headers = {"Content-Type": f"application/json; charset={charset}"}
            for method, path in targets:
                body = b'{"USED_AGENT_ID": "x"}' if method == "POST" else None
                answer = self.c.request(method, path, body, headers)
                answers.append(answer)
                if answer.status != 415 or not answer.is_json:
                    failures.append(
                        f"{method} {path} charset={charset}: {answer.short()}"
                    )
        good = sum(a.status == 415 and a.is_json for a in answers)
        fives = count_5xx(answers)
        line = (
            f"{len(targets)} URLs x {len(CHARSETS)} charsets = {len(answers)} "
            f"requests -> {good} x 415 JSON ({statuses(answers)}); {fives} x 5xx"
        )
        summary = f"{good}/{len(answers)} x 415 JSON; {fives} x 5xx"
        return Outcome("7", "charsets", line, failures[:8], summary=summary)

    # 8 --------------------------------------------------------------------
    def unstorable_rows(self) -> Outcome:
        failures: list[str] = []
        parts, short = [], []
        initial = self.db.counts()
        for label, bad in (
            ("NUL", '"bad \\u0000 row"'),
            ("lone surrogate", '"\\ud800"'),
        ):
            rows = ['{"text": "a fine row"}', '{"text": ' + bad + "}"]
            slug = "nul" if label == "NUL" else "surrogate"
            folder = self.site.task_folder(f"attacks-rows-{slug}", rows)
            before = self.db.counts()
            done = self.site.launch_run(folder)
            after = self.db.counts()
            data = str(folder / "rows.jsonl")
            message = from_key(done.stderr, "mephisto.blueprint.data_jsonl", 250)
            if done.returncode == 0:
                failures.append(f"{label}: launch exited 0")
            if data not in done.stderr or "row 2" not in done.stderr:
                failures.append(f"{label}: message names no file and row: {message}")
            if after != before:
                failures.append(f"{label}: rows written: {before} -> {after}")
            short.append(f"{label}: exit {done.returncode}")
            parts.append(
                f"{label} in row 2 -> exit {done.returncode}, runs "
                f"{before['taskrun']} -> {after['taskrun']}, units {before['unit']} "
                f"-> {after['unit']}\n        {message}"
            )
        summary = ", ".join(short) + f"; runs written: {after != initial}"
        return Outcome(
            "8", "unstorable rows", "\n      ".join(parts), failures, summary=summary
        )

    # 9 --------------------------------------------------------------------
    def backend_terminated(self, seconds: float) -> Outcome:
        if self.site.args.server != "gunicorn":
            return Outcome(
                "9", "backend terminated", "skipped (PostgreSQL only)", [], True
            )
        import psycopg

        run = self.runs["load"]
        database = urlparse(self.site.database_url).path.lstrip("/")
        lock = threading.Lock()
        answers: list[Answer] = []
        acknowledged: list[str] = []
        refusals: list[str] = []
        stop = threading.Event()
        terminated = [0, 0]  # backends terminated, rounds
        retried: Counter = Counter()  # the answers to the repeats after a 503

        def call(path: str, payload: dict) -> Answer:
            answer = self.c.post(path, payload)
            mine = [answer]
            if answer.proper_503:  # the worker's page asks once more
                time.sleep(float(answer.headers["retry-after"]))
                answer = self.c.post(path, payload)
                mine.append(answer)
            with lock:
                answers.extend(mine)
                if len(mine) == 2:
                    retried[answer.status] += 1
            return answer

        def worker(index: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                name = f"load-{index}-{n}"
                answer = call(*harness.request_agent(run, name))
                data = (answer.json() or {}).get("data") or {}
                if answer.status != 200:
                    continue
                if not data.get("agent_id"):
                    with lock:
                        refusals.append(str(data.get("failure_reason")))
                    continue
                answer = call(*harness.submit_task(run, data["agent_id"], {"n": name}))
                if answer.status == 200:
                    with lock:
                        acknowledged.append(data["agent_id"])

        def terminator() -> None:
            conn = None
            while not stop.wait(0.2):
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.site.database_url, autocommit=True)
                    killed = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        [database],
                    ).fetchall()
                    terminated[0] += sum(1 for (ok,) in killed if ok)
                    terminated[1] += 1
                except psycopg.Error:
                    conn = None
            if conn is not None:
                conn.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        killer = threading.Thread(target=terminator)
        began = time.time()
        for thread in [*threads, killer]:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in [*threads, killer]:
            thread.join()
        elapsed = time.time() - began

        failures: list[str] = []
        bad = [
            a
            for a in answers
            if (a.status >= 500 or a.status == 0) and not a.proper_503
        ]
        unexpected = [a for a in answers if a.status not in (200, 503)]
        proper = sum(a.proper_503 for a in answers)
        agents = {
            public_id: (status, submission is not None)
            for public_id, status, submission in self.db.rows(
                "SELECT public_id, status, submission FROM tasks_app_agent "
                "WHERE run_id = %s",
                [run],
            )
        }
        lost = [
            a for a in acknowledged if agents.get(a, ("", False)) != ("completed", True)
        ]
        doubly = self.db.rows(
            "SELECT unit_id FROM tasks_app_agent WHERE run_id = %s AND status IN "
            "(%s, %s, %s, %s) GROUP BY unit_id HAVING COUNT(*) > 1",
            [run, *LIVE_OR_DONE],
        )
        unit_mismatch = self.db.value(
            "SELECT COUNT(*) FROM tasks_app_unit u WHERE u.run_id = %s AND "
            "u.status = 'completed' AND NOT EXISTS (SELECT 1 FROM tasks_app_agent a "
            "WHERE a.unit_id = u.id AND a.status = 'completed')",
            [run],
        )
        if bad:
            failures.append(f"{len(bad)} x 5xx other than JSON 503: {bad[0].short()}")
        if unexpected and not bad:
            failures.append(f"{len(unexpected)} unexpected: {unexpected[0].short()}")
        if lost:
            failures.append(f"{len(lost)} acknowledged submissions lost: {lost[:3]}")
        if doubly:
            failures.append(f"{len(doubly)} units held by two workers")
        if unit_mismatch:
            failures.append(
                f"{unit_mismatch} completed units without a completed agent"
            )
        if refusals:
            failures.append(f"{len(refusals)} refused: {refusals[0]}")
        if not acknowledged:
            failures.append("no submission was acknowledged")
        line = (
            f"16 clients for {elapsed:.0f} s, {terminated[0]} backends terminated in "
            f"{terminated[1]} rounds -> {statuses(answers)}; {proper} JSON 503s "
            f"with Retry-After (their repeats: "
            f"{', '.join(f'{n} x {k}' for k, n in sorted(retried.items())) or 'none'}"
            f"), {len(bad)} other 5xx\n      {len(acknowledged)} "
            f"submissions acknowledged ({len(acknowledged) / elapsed:.0f}/s), "
            f"{len(lost)} lost; {len(doubly)} units held by two workers"
        )
        summary = (
            f"{len(answers)} answers, {proper} JSON 503, {len(bad)} other 5xx; "
            f"{len(acknowledged)} acked, {len(lost)} lost; {len(doubly)} held twice"
        )
        return Outcome("9", "backend terminated", line, failures, summary=summary)

    # 10 -------------------------------------------------------------------
    def form_urlencoded(self) -> Outcome:
        agent_id = self.new_agent()
        final = {"rating": "good", "n": 3, "nested": {"ok": True}}
        body = urlencode({"USED_AGENT_ID": agent_id, "final_data": json.dumps(final)})
        answer = self.c.post(
            f"/submit_task?task_run_id={self.runs['plain']}",
            body.encode(),
            "application/x-www-form-urlencoded",
        )
        stored = self.db.agent(agent_id)["submission"]
        failures = []
        if answer.status != 200 or stored != final:
            failures.append(f"{answer.short()}, stored {stored!r}")
        line = (
            f"urlencoded final_data -> {answer.status}, stored as "
            f"{type(stored).__name__} {json.dumps(stored)[:80]}"
        )
        summary = f"{answer.status}, stored as {type(stored).__name__}"
        return Outcome("10", "form-urlencoded", line, failures, summary=summary)

    # 11 -------------------------------------------------------------------
    def submit_vs_return(self) -> Outcome:
        pairs = []
        answers: list[Answer] = []
        for i in range(100):
            agent_id = self.new_agent()
            barrier = threading.Barrier(2)
            result: dict[str, Answer] = {}

            def fire(
                kind: str,
                path: str,
                payload: dict,
                barrier: threading.Barrier = barrier,
                result: dict[str, Answer] = result,
            ) -> None:
                conn = http.client.HTTPConnection(HOST, self.c.port, timeout=60)
                conn.connect()
                body = json.dumps(payload).encode()
                barrier.wait()
                began = time.perf_counter()
                try:
                    conn.request(
                        "POST", path, body, {"Content-Type": "application/json"}
                    )
                    result[kind] = Answer.read(conn.getresponse(), began)
                except (OSError, http.client.HTTPException) as exc:
                    result[kind] = Answer(0, error=repr(exc))
                finally:
                    conn.close()

            payload = {"USED_AGENT_ID": agent_id, "final_data": {"pair": i}}
            threads = [
                threading.Thread(target=fire, args=("submit", "/submit_task", payload)),
                threading.Thread(
                    target=fire,
                    args=("return", "/return_unit", {"USED_AGENT_ID": agent_id}),
                ),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            pairs.append((agent_id, result["submit"], result["return"]))
            answers += [result["submit"], result["return"]]

        failures: list[str] = []
        won = Counter()
        stored = 0
        for agent_id, submit, returned in pairs:
            agent = self.db.agent(agent_id)
            stored += agent["submission"] is not None
            if submit.status != 200:
                failures.append(f"submit {agent_id}: {submit.short()}")
            if returned.status == 200:
                won["return"] += 1
                if not agent["is_late"]:
                    failures.append(f"{agent_id}: return 200 but is_late false")
            elif returned.status == 409:
                won["submit"] += 1
                if agent["is_late"]:
                    failures.append(f"{agent_id}: return 409 but is_late true")
            else:
                failures.append(f"return {agent_id}: {returned.short()}")
        if stored != len(pairs):
            failures.append(f"{len(pairs) - stored} submissions not stored")
        fives = count_5xx(answers)
        line = (
            f"100 agents, submit_task and return_unit at once -> return first "
            f"{won['return']} (200, stored late), submit first {won['submit']} "
            f"(return 409, on time), {len(failures)} contradictions; "
            f"{stored}/100 submissions stored; {fives} x 5xx"
        )
        summary = (
            f"return first {won['return']}, submit first {won['submit']}, "
            f"{len(failures)} contradictions, {stored}/100 stored; {fives} x 5xx"
        )
        return Outcome("11", "submit vs return", line, failures[:8], summary=summary)

    # 12 -------------------------------------------------------------------
    def sqlite_concurrency(self) -> Outcome:
        if self.site.args.server != "runserver":
            return Outcome(
                "12", "SQLite concurrency", "skipped (SQLite only)", [], True
            )
        agents = [self.new_agent() for _ in range(8)]
        answers: list[Answer] = []
        lock = threading.Lock()

        def worker(agent_id: str) -> None:
            mine = [
                self.c.post(
                    "/submit_metadata",
                    {"USED_AGENT_ID": agent_id, "metadata": {f"k{j}": j}},
                )
                for j in range(20)
            ]
            with lock:
                answers.extend(mine)

        threads = [threading.Thread(target=worker, args=(a,)) for a in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = sum(len(self.db.agent(a)["metadata"] or {}) for a in agents)
        failures = []
        fives = count_5xx(answers)
        if fives or any(a.status != 200 for a in answers):
            bad = next(a for a in answers if a.status != 200)
            failures.append(f"{statuses(answers)}: {bad.short()}")
        if kept != 160:
            failures.append(f"{kept} of 160 metadata keys stored")
        line = (
            f"8 threads x 20 submit_metadata -> {statuses(answers)}; {kept}/160 "
            f"keys stored; {fives} x 5xx"
        )
        summary = f"{statuses(answers)}; {kept}/160 stored"
        return Outcome("12", "SQLite concurrency", line, failures, summary=summary)


def from_key(text: str, key: str, width: int = 300) -> str:
    """The part of a launch error from the key it names, or its last line."""
    at = text.find(key)
    if at < 0:
        lines = text.strip().splitlines()
        return lines[-1][:width] if lines else ""
    return text[at:].splitlines()[0][:width]


def monotone(answers: list[Answer]) -> bool:
    """200s first, then only 413s: once refused, refused for good."""
    seen_refusal = False
    for answer in answers:
        if answer.status == 413:
            seen_refusal = True
        elif answer.status != 200 or seen_refusal:
            return False
    return True


def main() -> int:
    args = parse_args()
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="crowdsite-attacks-"))
    site = Site(args, tmp)
    outcomes: list[Outcome] = []
    stack = contextlib.ExitStack()
    try:
        print(
            f"server: {args.server} on {HOST}:{site.port}; database {site.database_url}"
        )
        stack.enter_context(site.database())
        harness.migrate(site.env)
        tag = secrets.token_hex(3)
        onboarding = f"attacks-onboarding-{tag}"
        runs = {
            "plain": site.launch("attacks-plain", 300),
            "onboarding": site.launch(
                "attacks-onboarding",
                5,
                f"mephisto.blueprint.onboarding_qualification={onboarding}",
            ),
            "uploads": site.launch(
                "attacks-uploads", 20, "mephisto.blueprint.uploads.enabled=true"
            ),
            "uploads-small": site.launch(
                "attacks-uploads-small",
                5,
                "mephisto.blueprint.uploads.enabled=true",
                "mephisto.blueprint.uploads.max_agent_bytes=5000000",
            ),
            "export": site.launch("attacks-export", 10),
        }
        if args.server == "gunicorn":
            runs["load"] = site.launch("attacks-load", 10_000)
        print(f"runs launched: {runs}  ({time.time() - started:.0f} s)")
        stack.enter_context(site.serve())
        if args.server == "gunicorn":
            print(
                f"gunicorn: {args.workers} workers, gthread x {args.threads} threads, "
                "DEBUG off"
            )
        attacks = Attacks(site, runs)

        def backend_terminated() -> Outcome:
            return attacks.backend_terminated(args.terminate_seconds)

        steps = [
            attacks.metadata_growth,
            attacks.onboarding_flood,
            attacks.uploads_not_enabled,
            attacks.file_names,
            attacks.task_source_outside,
            attacks.charsets,
            attacks.unstorable_rows,
            backend_terminated,
            attacks.form_urlencoded,
            attacks.submit_vs_return,
            attacks.sqlite_concurrency,
            attacks.metadata_on_server,
            attacks.unseen_work,
            attacks.forged_file_records,
            attacks.bonus_amounts,
            attacks.export_escaping,
            attacks.many_form_fields,
        ]
        for step in steps:
            began = time.time()
            try:
                outcome = step()
            except Exception as exc:  # reported as a failed check, then go on
                outcome = Outcome("?", getattr(step, "__name__", "attack"), "", [])
                outcome.failures.append(f"the attack itself failed: {exc!r}")
            verdict = (
                "skip" if outcome.skipped else ("FAIL" if outcome.failures else "ok")
            )
            print(
                f"\n[{verdict}] {outcome.number:>2} {outcome.name} "
                f"({time.time() - began:.1f} s): {outcome.line}"
            )
            for failure in outcome.failures:
                print(f"      FAILED: {failure}")
            outcomes.append(outcome)
    finally:
        stack.close()  # the server stops, then its database is dropped
        log = site.stderr_path.read_text(errors="replace") if tmp.exists() else ""
        tracebacks = log.count("Traceback (most recent call last)")
        if tracebacks:
            first = log.index("Traceback (most recent call last)")
            print(f"\nserver stderr holds {tracebacks} tracebacks; the first:")
            print(log[max(0, first - 300) : first + 3000])
        if args.keep_temp:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nsummary ({args.server}, {time.time() - started:.0f} s)")
    print(f"  {'#':>2}  {'attack':21} {'check':5} figures")
    for outcome in outcomes:
        verdict = "skip" if outcome.skipped else ("FAIL" if outcome.failures else "ok")
        figures = outcome.summary or outcome.line.split("\n")[0]
        print(f"  {outcome.number:>2}  {outcome.name:21} {verdict:5} {figures}")
    failed = [o for o in outcomes if o.failures]
    if failed:
        print("\nchecks that do not hold: " + ", ".join(o.name for o in failed))
        return 1
    print("\nevery check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
