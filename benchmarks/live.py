"""Measure live-task calls (remote_procedure) over WebSockets, against a bare echo.

    python benchmarks/live.py                   # SQLite (a temporary file)
    python benchmarks/live.py --database-url postgres://postgres@127.0.0.1:5432/crowdsite_bench_live
    python benchmarks/live.py --seconds 5 --repeat 3 --json
    python benchmarks/live.py --echo-only       # the baseline alone (no run, no calls)
    python benchmarks/live.py --conn-max-age 0  # daphne as docs/deploy.md starts it

A remote_procedure run (benchmarks/conf/live.yaml) whose one function, `noop` in
benchmarks/live_hooks.py, answers `{}` at once, is launched on the mock provider
with one unit per socket, and --sockets workers arrive over HTTP
(`POST /request_agent`). Each worker then opens a WebSocket to the site root, says
it is alive, and calls `noop` in a closed loop, as a page built with mephisto-task
(`useMephistoRemoteProcedureTask`) does: a `mephisto_bound_live_update` packet out,
and the next call as soon as its `client_bound_live_update` answer is in. A call
is the whole path of the platform: the packet parsed and checked, the agent looked
up, the function run off the event loop, the call stored (a LiveCall row) and the
answer sent.

The baseline is the same loop, same packets, against a bare Channels
`AsyncWebsocketConsumer` that sends each frame back (WebSocket path /echo, see
benchmarks/live_asgi.py): the floor set by daphne and Channels on this machine.
Both are served by ONE daphne process (DEBUG off, production settings) and
measured in the same run, alternating when --repeat > 1, each for --warmup s
unmeasured and then --seconds s. The clients are --client-processes processes
running their share of the sockets on an asyncio loop each (the `websockets`
library), so one client's GIL does not queue the others; their CPU use is shown,
since they share the machine with the server.

Reported: round trips a second (all sockets together) and p50/p99 latency of
each, the ratio live/echo of round trips a second (target >= 0.5; the script
exits 1 below it or on errors) and of p99 (for information), and the LiveCall
rows stored, which should equal the calls answered (warm-up included).
The per-agent call limit is lifted for the server
(CROWDSITE_LIVE_CALLS_PER_MINUTE), or it would be what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import harness

CONFIG = Path(__file__).resolve().parent / "conf" / "live.yaml"
RATIO_TARGET = 0.5
LIVE_PATH = "/"
ECHO_PATH = "/echo"  # benchmarks/live_asgi.py
ANSWER_TIMEOUT = 30.0  # seconds a call may wait for its answer before it fails
KINDS = ("echo", "live")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    harness.add_database_url(parser)
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured seconds (default 10)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="unmeasured seconds before each measurement (default 1)",
    )
    parser.add_argument(
        "--sockets", type=int, default=64, help="concurrent sockets (default 64)"
    )
    parser.add_argument(
        "--client-processes",
        type=int,
        default=4,
        help="client processes the sockets are split among (default 4)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measurements of each, alternating echo and live (default 1)",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="CONN_MAX_AGE for daphne (default: the project's setting, 60 s; "
        "docs/deploy.md starts daphne with 0)",
    )
    parser.add_argument(
        "--echo-only", action="store_true", help="measure the echo baseline only"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the figures as JSON on stdout"
    )
    return parser.parse_args()


# ---------------------------------------------------------------------------
# The clients: processes with an asyncio loop each; they know only WebSockets.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What a client process does: one socket per subject, to `path`."""

    port: int
    path: str
    subjects: tuple[str, ...]  # agent ids (live), or names (echo)
    live: bool
    warmup: float
    seconds: float


@dataclass
class Tally:
    """One client process's samples."""

    latencies: list[float]  # ms, of the round trips ended in the window
    errors: list[str]
    sent: int = 0
    answered: int = 0  # warm-up and the calls ended after the window included


def call_packet(subject: str, request_id: str) -> str:
    """A page's call of `noop`, as mephisto-task sends it."""
    data = {"request_id": request_id, "target": "noop", "args": "{}"}
    data["update_id"] = str(uuid.uuid4())
    packet = {
        "packet_type": "mephisto_bound_live_update",
        "subject_id": subject,
        "data": data,
        "client_timestamp": time.time(),
    }
    return json.dumps(packet)


def answer_of(message: str | bytes, request_id: str, live: bool) -> dict | None:
    """The answer to `request_id` in `message` (live: the function's response),
    or None when the message is something else (heartbeat, status, ...)."""
    packet = json.loads(message)
    data = packet.get("data") or {}
    if not live:
        return {} if data.get("request_id") == request_id else None
    if packet.get("packet_type") != "client_bound_live_update":
        return None
    if data.get("handles") != request_id:
        return None
    response = data.get("response")
    if isinstance(response, str):
        response = json.loads(response)
    return response if isinstance(response, dict) else {"error": repr(response)}


async def _socket(ws, subject: str, load: Load, window: tuple, tally: Tally) -> None:
    """Call in a closed loop until the window ends; record what ended inside it."""
    start, end = window
    while time.monotonic() < end:
        request_id = str(uuid.uuid4())
        began = time.perf_counter()
        await ws.send(call_packet(subject, request_id))
        tally.sent += 1
        async with asyncio.timeout(ANSWER_TIMEOUT):
            answer = None
            while answer is None:
                answer = answer_of(await ws.recv(), request_id, load.live)
        elapsed = time.perf_counter() - began
        tally.answered += 1
        if "error" in answer:
            tally.errors.append(f"{subject}: {answer}")
            if len(tally.errors) > 100:
                return  # the server refuses: no figure to make of it
        elif start <= time.monotonic() < end:
            tally.latencies.append(elapsed * 1000)


async def _clients(load: Load, ready, go, begin) -> Tally:
    from websockets.asyncio.client import connect

    tally = Tally([], [])
    origin = f"http://{harness.HOST}:{load.port}"
    url = f"ws://{harness.HOST}:{load.port}{load.path}"
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for subject in load.subjects:
            ws = await stack.enter_async_context(
                connect(url, origin=origin, compression=None, open_timeout=30)
            )
            if load.live:
                alive = {
                    "packet_type": "alive",
                    "subject_id": subject,
                    "data": {"update_id": str(uuid.uuid4())},
                    "client_timestamp": time.time(),
                }
                await ws.send(json.dumps(alive))
            sockets.append((ws, subject))
        ready.put(os.getpid())
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        start = begin.value + load.warmup
        window = (start, start + load.seconds)

        async def run(ws, subject: str) -> None:
            try:
                await _socket(ws, subject, load, window, tally)
            except Exception as exc:  # counted; the socket stops
                tally.errors.append(f"{subject}: {exc!r}")

        await asyncio.gather(*(run(ws, subject) for ws, subject in sockets))
    return tally


def _client_process(load: Load, ready, go, begin, results) -> None:
    cpu = sum(os.times()[:2])
    try:
        tally = asyncio.run(_clients(load, ready, go, begin))
    except Exception as exc:  # e.g. a refused connection: reported, not hung
        ready.put(os.getpid())
        tally = Tally([], [f"client process: {exc!r}"])
    results.put((tally, sum(os.times()[:2]) - cpu))


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (Linux)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    except OSError:
        return 0, 0
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def process_cpu(pid: int) -> float:
    """CPU seconds used by process `pid`, all its threads (Linux)."""
    try:
        # Fields after the command name; utime and stime are the 12th and 13th.
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    kind: str, subjects: list[str], *, port: int, server_pid: int, args
) -> tuple[harness.Result, Tally]:
    """Run len(`subjects`) sockets of `kind` for --warmup + --seconds; figures."""
    ctx = multiprocessing.get_context("spawn")
    count = max(1, min(args.client_processes, len(subjects)))
    shares = [subjects[i::count] for i in range(count)]
    ready, go, results = ctx.Queue(), ctx.Event(), ctx.Queue()
    begin = ctx.Value("d", 0.0)
    live = kind == "live"
    path = LIVE_PATH if live else ECHO_PATH
    procs = [
        ctx.Process(
            target=_client_process,
            args=(
                Load(port, path, tuple(share), live, args.warmup, args.seconds),
                ready,
                go,
                begin,
                results,
            ),
        )
        for share in shares
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    begin.value = time.monotonic() + 0.05
    go.set()
    # Sampled over the measured window only, not the warm-up.
    time.sleep(max(0.0, begin.value + args.warmup - time.monotonic()))
    busy0, total0, server0 = *cpu_ticks(), process_cpu(server_pid)
    time.sleep(max(0.0, begin.value + args.warmup + args.seconds - time.monotonic()))
    busy1, total1, server1 = *cpu_ticks(), process_cpu(server_pid)
    parts = [results.get(timeout=ANSWER_TIMEOUT + 60) for _ in procs]
    for proc in procs:
        proc.join()
    result = harness.Result(kind=kind, clients=len(subjects), seconds=args.seconds)
    tally = Tally([], [])
    for part, cpu in parts:
        result.latencies += part.latencies
        result.errors += part.errors
        result.client_cpu += cpu
        tally.sent += part.sent
        tally.answered += part.answered
    result.server_cpu = server1 - server0
    if total1 > total0:
        result.machine_busy = (busy1 - busy0) / (total1 - total0)
    return result, tally


# ---------------------------------------------------------------------------
# The server side: database, run, arrivals, daphne.
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str, workdir: Path) -> Iterator[str]:
    """`url`'s PostgreSQL database, fresh and dropped after; or a SQLite file."""
    if not url:
        yield f"sqlite:///{workdir / 'live.sqlite3'}"
    elif url.startswith("postgres"):
        with harness.postgres_database(url) as fresh:
            yield fresh
    else:
        sys.exit(f"{url}: give a postgres:// URL, or none for SQLite")


def server_env(database_url: str, port: int, conn_max_age: int | None) -> dict:
    extra = {} if conn_max_age is None else {"CONN_MAX_AGE": str(conn_max_age)}
    return harness.project_env(
        **extra,
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS=harness.HOST,
        SITE_URL=f"http://{harness.HOST}:{port}",
        # Plain HTTP on 127.0.0.1: production's redirect to HTTPS would answer 301.
        SECURE_SSL_REDIRECT="false",
        # Each socket calls as fast as it is answered: far past a person's rate.
        CROWDSITE_LIVE_CALLS_PER_MINUTE="10000000",
    )


@contextlib.contextmanager
def daphne(env: dict, port: int, log: Path) -> Iterator[subprocess.Popen]:
    """daphne serving benchmarks/live_asgi.py on 127.0.0.1:`port`, once it answers."""
    command = [sys.executable, "-m", "daphne", "-b", harness.HOST, "-p", str(port)]
    command.append("benchmarks.live_asgi:application")
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=harness.PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while harness.request(port, "GET", "/task_config.json", timeout=2).status == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                sys.exit(f"daphne did not start:\n{tail}")
            time.sleep(0.2)
        yield process
    finally:
        harness.stop(process)
        text = log.read_text(errors="replace")
        if process.returncode not in (0, -signal.SIGTERM) or "Traceback" in text:
            print(f"daphne log:\n{text[-3000:]}", file=sys.stderr)


def arrive(port: int, run_id: int, count: int) -> list[str]:
    """`count` new workers ask for an agent of `run_id`; their agent ids."""
    agent_ids = []
    for index in range(count):
        name = f"live-{index}-{secrets.token_hex(3)}"
        path, body = harness.request_agent(run_id, name)
        body["provider_data"].update(assignment_id=name, provider_type="mock")
        answer = harness.request(
            port,
            "POST",
            path,
            json.dumps(body).encode(),
            {"Content-Type": harness.JSON},
        )
        packet = answer.json() if answer.status == 200 else None
        agent_id = packet and packet["data"].get("agent_id")
        if not agent_id:
            sys.exit(f"worker {index} got no agent: {answer.short()}")
        agent_ids.append(agent_id)
    return agent_ids


def stored_calls(env: dict) -> dict:
    """LiveCall rows in the database: all, those stored with an error, and the
    writes they took (the calls of one write share its time)."""
    code = (
        "import json; from tasks_app.models import LiveCall as C; "
        "times = lambda f: C.objects.values(f).distinct().count(); "
        "print(json.dumps({'rows': C.objects.count(), "
        "'errors': C.objects.exclude(error='').count(), "
        "'start_writes': times('requested_at'), "
        "'finish_writes': times('answered_at')}))"
    )
    done = harness.manage(env, "shell", "-c", code)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------


def figures(result: harness.Result, tally: Tally) -> dict:
    n = len(result.latencies) or 1
    return {
        "round_trips_per_second": round(result.rate, 1),
        "round_trips": len(result.latencies),
        "seconds": result.seconds,
        "p50_ms": round(result.percentile(0.5), 2),
        "p99_ms": round(result.percentile(0.99), 2),
        "errors": len(result.errors),
        "calls_sent": tally.sent,
        "calls_answered": tally.answered,
        "server_cpu_ms_per_round_trip": round(result.server_cpu / n * 1000, 3),
        "client_cpu_ms_per_round_trip": round(result.client_cpu / n * 1000, 3),
        "machine_busy": round(result.machine_busy, 3),
    }


def line(kind: str, row: dict) -> str:
    errors = f", {row['errors']} ERRORS" if row["errors"] else ""
    return (
        f"  {kind:4} {row['round_trips_per_second']:9.1f} round trips/s  "
        f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
        f"({row['round_trips']} in {row['seconds']:.0f} s{errors}; CPU a round "
        f"trip: daphne {row['server_cpu_ms_per_round_trip']:.2f} ms, clients "
        f"{row['client_cpu_ms_per_round_trip']:.2f} ms; machine "
        f"{row['machine_busy']:.0%} busy)"
    )


def main() -> int:
    args = parse_args()
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    kinds = ("echo",) if args.echo_only else KINDS
    results = {kind: harness.Result(kind=kind, clients=args.sockets) for kind in kinds}
    tallies = {kind: Tally([], []) for kind in kinds}
    stored = None
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.database_url, Path(tmp)) as url,
    ):
        port = harness.free_port()
        env = server_env(url, port, args.conn_max_age)
        harness.migrate(env)
        subjects = {"echo": [f"echo-{i}" for i in range(args.sockets)]}
        run_id = None
        if not args.echo_only:
            folder = harness.write_task(Path(tmp) / "task", [])
            launched = harness.launch(
                env, CONFIG, f"task_dir={folder}", f"units={args.sockets}"
            )
            run_id = launched["task_run_id"]
        say(
            f"database {url.split('@')[-1]}; daphne on {harness.HOST}:{port}; "
            f"CONN_MAX_AGE {env.get('CONN_MAX_AGE', 'default')}; {args.sockets} "
            f"sockets in {args.client_processes} client processes; "
            f"CPUs: {os.cpu_count()}"
        )
        with daphne(env, port, Path(tmp) / "daphne.log") as server:
            if run_id is not None:
                subjects["live"] = arrive(port, run_id, args.sockets)
                say(f"run {run_id}: {args.sockets} agents")
            pid = server.pid
            for round_ in range(args.repeat):
                # Alternating, so a slower spell of the machine weighs on both.
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    part, tally = measure(
                        kind, subjects[kind], port=port, server_pid=pid, args=args
                    )
                    say(f"[{round_ + 1}]" + line(kind, figures(part, tally))[1:])
                    results[kind].merge(part)
                    tallies[kind].sent += tally.sent
                    tallies[kind].answered += tally.answered
        if run_id is not None:
            stored = stored_calls(env)

    report = {kind: figures(results[kind], tallies[kind]) for kind in kinds}
    report["sockets"] = args.sockets
    report["database"] = "postgresql" if url.startswith("postgres") else "sqlite"
    report["conn_max_age"] = args.conn_max_age
    misses = [kind for kind in kinds if results[kind].errors]
    if not args.echo_only:
        live, echo = results["live"], results["echo"]
        rate_ratio = harness.ratio(live.rate, echo.rate)
        p99_ratio = harness.ratio(live.percentile(0.99), echo.percentile(0.99))
        report.update(
            ratio=round(rate_ratio, 3),
            ratio_target=RATIO_TARGET,
            p99_ratio=round(p99_ratio, 2),
            live_calls_stored=stored,
        )
        misses += [] if rate_ratio >= RATIO_TARGET else ["ratio"]
        if stored["rows"] != tallies["live"].answered:
            misses.append("stored")
    report["result"] = "MISSED TARGET" if misses else "within targets"

    if args.json:
        print(json.dumps(report))
        return 1 if misses else 0
    each = f"{args.repeat} x {args.seconds:.0f} s each"
    print(f"\nresults ({report['database']}, {each})")
    for kind in kinds:
        print(line(kind, report[kind]))
    for kind in kinds:
        for error in results[kind].errors[:3]:
            print(f"  error ({kind}): {error}")
    if not args.echo_only:
        print(
            f"  ratio live/echo, round trips/s: {report['ratio']:.2f} "
            f"(target >= {RATIO_TARGET}); p99: {report['p99_ratio']:.2f}x (info)"
        )
        print(
            f"  LiveCall rows stored: {stored['rows']} ({stored['errors']} with an "
            f"error); calls answered: {tallies['live'].answered} (warm-up included)"
        )
        print(
            f"  written in {stored['start_writes']} transactions kept and "
            f"{stored['finish_writes']} answered: "
            f"{harness.ratio(stored['rows'], stored['start_writes']):.1f} and "
            f"{harness.ratio(stored['rows'], stored['finish_writes']):.1f} calls each"
        )
    print("result:", report["result"])
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
