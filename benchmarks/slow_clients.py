"""Does gunicorn keep answering while slow clients hold connections?

    python benchmarks/slow_clients.py                    # 6 slow clients
    python benchmarks/slow_clients.py --slow-clients 40  # past gthread's threads

Each slow client sends its request one byte a second, as a worker's phone on a
bad line does: half of them trickle their headers, half a POST /submit_metadata
body after complete headers. While they do, the script times ordinary
`GET /task_config.json` requests (--probes of them, one after another) and
compares them with the same requests measured just before, without slow clients,
on the same server: the ratio is printed, with the baseline. A probe that gets no
answer within --deadline seconds counts as blocked, and probing stops.

Two setups are measured in one run, one after the other:

- sync: `--workers 4`, the former production recipe. A sync worker is held by
  one connection until the whole request has arrived, so four slow clients stop
  the site (until gunicorn's --timeout kills the workers, 30 s by default).
- gthread: `--workers 4 --worker-class gthread --threads 8`, the README's
  recipe. A slow client holds one thread, not the process; the site stops only
  when slow clients hold all threads of the worker that accepted a request.

Neither replaces a buffering proxy (docs/deploy.md): nginx reads the whole
request before gunicorn sees it, so slow clients never reach a worker at all.

gunicorn runs with DEBUG off and production settings on a SQLite file of its
own (migrated, with the example task launched) in a temporary folder; each
gunicorn is stopped before the next starts and at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import harness

EXAMPLE = harness.PROJECT_DIR / "examples/static_react_task/conf/local_testing.yaml"
HOST = "tasks.example.org"
PROXY_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https"}
SETUPS = {
    "sync": ["--workers", "4"],
    "gthread": ["--workers", "4", "--worker-class", "gthread", "--threads", "8"],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--slow-clients", type=int, default=6, help="slow connections (default 6)"
    )
    parser.add_argument(
        "--probes",
        type=int,
        default=5,
        help="requests timed while the slow clients hold on (default 5)",
    )
    parser.add_argument(
        "--baseline-requests",
        type=int,
        default=20,
        help="requests timed without slow clients (default 20)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=15.0,
        help="seconds after which a probe counts as blocked (default 15)",
    )
    parser.add_argument(
        "--setups",
        nargs="+",
        choices=sorted(SETUPS),
        default=list(SETUPS),
        help="which gunicorn setups to measure (default: both)",
    )
    return parser.parse_args()


def server_env(workdir: Path) -> dict:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR")
    return harness.project_env(
        {k: v for k, v in os.environ.items() if k in keep},
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=HOST,
        PUBLIC_URL=f"https://{HOST}",
        DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}",
        STATIC_ROOT=str(workdir / "static"),
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )


def timed_get(port: int, path: str, timeout: float) -> float | None:
    """Seconds until a full 200 answer, or None when there was none in time."""
    answer = harness.request(port, "GET", path, headers=PROXY_HEADERS, timeout=timeout)
    if answer.status == 0:
        return None
    if answer.status != 200:
        raise RuntimeError(f"GET {path} answered {answer.status}")
    return answer.seconds


def slow_client(port: int, run_id: int, index: int, stop: threading.Event) -> None:
    """Trickle one request, a byte a second, until told to stop."""
    if index % 2 == 0:
        sent_at_once = ""
        trickled = f"GET /admin/login/ HTTP/1.1\r\nHost: {HOST}\r\n"
        trickled += "X-Padding: y\r\n" * 100
    else:
        body = json.dumps({"USED_AGENT_ID": "x", "metadata": {"pad": "y" * 600}})
        sent_at_once = (
            f"POST /submit_metadata?task_run_id={run_id} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"X-Forwarded-Proto: https\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        trickled = body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(sent_at_once.encode())
            for byte in trickled:
                sock.sendall(byte.encode())
                if stop.wait(1.0):
                    return
    except OSError:
        return  # the server gave up on this client: what a timeout is for


def measure(args: argparse.Namespace, env: dict, run_id: int, name: str) -> dict:
    path = f"/task_config.json?task_run_id={run_id}"
    port = harness.free_port()
    log = Path(env["STATIC_ROOT"]).parent / f"gunicorn-{name}.log"
    stop = threading.Event()
    clients: list[threading.Thread] = []
    with harness.server(
        "gunicorn",
        env,
        port,
        log=log,
        flags=SETUPS[name],
        ready=lambda: timed_get(port, path, timeout=5) is not None,
        wait=60,
    ):
        try:
            for _ in range(8):  # every worker has served, and is warm
                timed_get(port, path, timeout=args.deadline)
            baseline = [
                timed_get(port, path, timeout=args.deadline)
                for _ in range(args.baseline_requests)
            ]
            clients = [
                threading.Thread(target=slow_client, args=(port, run_id, n, stop))
                for n in range(args.slow_clients)
            ]
            for client in clients:
                client.start()
            time.sleep(2.0)  # accepted by the server and being read
            probes: list[float | None] = []
            for _ in range(args.probes):
                probes.append(timed_get(port, path, timeout=args.deadline))
                if probes[-1] is None:
                    break
        finally:
            stop.set()
            for client in clients:
                client.join()
    return {"baseline": baseline, "probes": probes}


def report(name: str, result: dict, args: argparse.Namespace) -> None:
    baseline = statistics.median(t for t in result["baseline"] if t is not None)
    answered = [t for t in result["probes"] if t is not None]
    blocked = len(result["probes"]) - len(answered)
    flags = " ".join(SETUPS[name])
    print(f"\n{name}: gunicorn {flags}")
    print(f"  without slow clients: median {baseline * 1000:.1f} ms")
    if blocked:
        print(
            f"  with {args.slow_clients} slow clients: {len(answered)} answered, "
            f"then no answer within {args.deadline:.0f} s: blocked "
            f"(ratio > {args.deadline / baseline:.0f}x)"
        )
        return
    median = statistics.median(answered)
    print(
        f"  with {args.slow_clients} slow clients: median {median * 1000:.1f} ms "
        f"over {len(answered)} requests, all answered "
        f"(ratio {median / baseline:.2f}x the baseline)"
    )


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="crowdsite-slow-") as tmp:
        workdir = Path(tmp)
        env = server_env(workdir)
        harness.migrate(env)
        harness.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        run_id = harness.launch(env, EXAMPLE)["task_run_id"]
        print(
            f"{args.slow_clients} slow clients (a byte a second), probes "
            f"GET /task_config.json, deadline {args.deadline:.0f} s"
        )
        for name in args.setups:
            report(name, measure(args, env, run_id, name), args)


if __name__ == "__main__":
    main()
