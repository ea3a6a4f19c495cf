"""Export 100,000 results with `export_results`, against the database's own bare read.

    python benchmarks/export.py                       # SQLite (a temporary file)
    python benchmarks/export.py --database-url postgres://postgres@127.0.0.1:5432/crowdsite_bench

A run of --results units is launched on the mock provider and every unit is given a
submitted agent (100 workers) and provider ids, as MTurk's HIT and assignment ids;
half are approved, a tenth get a bonus (audit and payment rows), a tenth sent
metadata (the worker's feedback and an error report), one in a hundred has
uploaded-file records. Then, for JSONL and CSV:

Throughput: `export_results --run N --format F --output FILE`, in this process,
against the baseline measured in the same run on the same database: the same
SELECT (the same joins and the same rows, ResultsExport.rows_sql) written to a
file by the database's own fastest path, PostgreSQL's
`COPY (SELECT ...) TO STDOUT` through psycopg's `cursor.copy`, or on SQLite a
plain `sqlite3` cursor (no Django, no type converters) whose rows the C csv
writer writes. On PostgreSQL the COPY runs in the export's own transaction
(tasks_app.selectors.export.snapshot: its isolation and planner settings, JIT
off), so both read the same way. Times are the median of --repeat; target: the
export's rows per second >= 0.3x the baseline's.

Memory: the export runs in a fresh child process (the command, writing its
file), and so does a child that does the same setup (Django, the database
connection, the command loaded, the run found) and then nothing. Each child
resets its peak resident set size once set up (writing 5 to
/proc/self/clear_refs restarts VmHWM: setting up peaks higher than it stays,
which would hide the export's peak), and reports how far it then peaked above
its resident size (VmHWM - VmRSS, /proc/self/status). The growth is the
export child's figure less the idle child's. Resident memory counts everything
the process holds, the database driver's C buffers included (libpq's result
sets, SQLite's page cache), which tracemalloc would not see. Target: <= 50 MiB.
Linux only. (The rows are fetched CHUNK_SIZE at a time and written a chunk at
a time, so the growth does not follow --results.)

Measured on this 2-core machine (shared, so times vary by ~20%), 100,000
results (65 MiB of JSONL, 24 MiB of CSV), --repeat 5:
  PostgreSQL: COPY baseline 1.0 s. JSONL 1.9 s, 0.54x its throughput, +11.3 MiB;
              CSV 2.6 s, 0.41x, +8.2 MiB.
  SQLite:     sqlite3 baseline 1.4 s. JSONL 1.5 s, 0.94x, +18.3 MiB;
              CSV 2.5 s, 0.56x, +14.6 MiB.
The CSV costs more than the JSONL: its values are parsed to split them into
Input./Answer. columns, the text from outside goes through the formula
escaping, and the header's keys are read first (about 0.2 s); JSONL writes the
stored JSON text as it is.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

RATIO_TARGET = 0.3
MEMORY_TARGET_MIB = 50
WORKERS = 100
FORMATS = ("jsonl", "csv")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    harness.add_database_url(parser)
    # The memory children (run by this script itself).
    parser.add_argument("--child", choices=["setup", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--format", choices=FORMATS, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    return parser.parse_args()


def launch_and_submit(workdir: Path, results: int) -> int:
    """A launched run whose every unit has a submitted agent, half of them
    approved and a tenth with a bonus; its id."""
    from datetime import timedelta
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from qualifications_app.models import ReviewAction, WorkerReview
    from tasks_app.models import (
        Agent,
        AgentStatus,
        Payment,
        PaymentKind,
        Unit,
        UnitStatus,
        Worker,
    )
    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run
    from tasks_app.worker_sql import table

    harness.write_task(workdir, harness.sentences(results))
    config = harness.overrides(workdir, "benchmark-export")
    run = launch_run(config=load_run_config(harness.CONFIG, config))
    now = timezone.now()
    upload = {
        "name": "photo.png",
        "path": "submissions/photo.png",
        "size": 68,
        "content_type": "image/png",
    }
    with transaction.atomic():
        workers = Worker.objects.bulk_create(
            [Worker(provider_type="mock", worker_name=f"w{n}") for n in range(WORKERS)]
        )
        worker_ids = [worker.pk for worker in workers]
        unit_ids = list(
            Unit.objects.filter(run=run).order_by("pk").values_list("pk", flat=True)
        )
        with connection.cursor() as cursor:
            # Worker of unit i: worker_ids[i % WORKERS] (the ids are consecutive).
            assert worker_ids[-1] - worker_ids[0] == WORKERS - 1
            cursor.execute(
                f"UPDATE {table(Unit)} SET status = %s, "
                f"worker_id = %s + (id - %s) %% {WORKERS}, "
                "provider_unit_id = '3HIT' || id WHERE run_id = %s",
                [UnitStatus.COMPLETED, worker_ids[0], unit_ids[0], run.pk],
            )
        agents = []
        for index, unit_id in enumerate(unit_ids):
            submission: dict = {
                "rating": index % 5,
                "comment": f"Reads well, sentence {index}.",
            }
            if index % 100 == 0:
                submission = {"final_data": submission, "files": [upload]}
            metadata = None
            if index % 10 == 0:
                metadata = {
                    "feedback": f"Clear instructions ({index}).",
                    "errors": [{"at": now.isoformat(), "error_data": "timeout"}],
                }
            agents.append(
                Agent(
                    public_id=f"bench-{unit_id}",
                    unit_id=unit_id,
                    worker_id=worker_ids[index % WORKERS],
                    run=run,
                    status=AgentStatus.COMPLETED,
                    registration_id=f"r-{unit_id}",
                    provider_assignment_id=f"3ASG{unit_id}",
                    submission=submission,
                    metadata=metadata,
                    deadline_at=now + timedelta(hours=1),
                    submitted_at=now,
                    is_late=index % 50 == 0,
                )
            )
        agents = Agent.objects.bulk_create(agents, batch_size=2000)
        # created_at is set on insert: accepted 90 s before submitting.
        Agent.objects.filter(run=run).update(created_at=now - timedelta(seconds=90))
        approved = agents[::2]
        WorkerReview.objects.bulk_create(
            [
                WorkerReview(
                    worker_id=a.worker_id,
                    action=ReviewAction.APPROVE,
                    unit_id=a.unit_id,
                    agent_id=a.pk,
                )
                for a in approved
            ],
            batch_size=2000,
        )
        Unit.objects.filter(pk__in=[a.unit_id for a in approved]).update(
            status=UnitStatus.ACCEPTED
        )
        Agent.objects.filter(pk__in=[a.pk for a in approved]).update(
            status=AgentStatus.APPROVED
        )
        bonused = approved[::5]
        reviews = WorkerReview.objects.bulk_create(
            [
                WorkerReview(
                    worker_id=a.worker_id,
                    action=ReviewAction.BONUS,
                    unit_id=a.unit_id,
                    agent_id=a.pk,
                    amount=Decimal("0.25"),
                    reason="Careful work",
                )
                for a in bonused
            ],
            batch_size=2000,
        )
        Payment.objects.bulk_create(
            [
                Payment(
                    kind=PaymentKind.BONUS,
                    amount=Decimal("0.25"),
                    run=run,
                    unit_id=a.unit_id,
                    agent_id=a.pk,
                    worker_id=a.worker_id,
                    review=review,
                    idempotency_key=f"bonus:agent={a.pk}:bench",
                    reason="Careful work",
                )
                for a, review in zip(bonused, reviews, strict=True)
            ],
            batch_size=2000,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return run.pk


def export(run_id: int, format: str, output: Path) -> tuple[float, int]:
    """`export_results` to `output`; (seconds, rows)."""
    from django.core.management import call_command

    out = io.StringIO()
    start = time.perf_counter()
    call_command(
        "export_results",
        "--run",
        str(run_id),
        "--format",
        format,
        "--output",
        str(output),
        "--json",
        stdout=out,
    )
    elapsed = time.perf_counter() - start
    return elapsed, json.loads(out.getvalue())["rows"]


def baseline(run_id: int, output: Path, database_url: str) -> float:
    """The export's SELECT written to `output` by the database's own fast path."""
    from django.db import connection

    from tasks_app.selectors.export import ResultsExport, snapshot

    sql, params = ResultsExport(run_ids=[run_id]).rows_sql()
    start = time.perf_counter()
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        # In the export's own transaction, with its planner settings.
        with (
            snapshot(),
            raw.cursor() as cursor,
            output.open("wb") as file,
            cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy,
        ):
            for data in copy:
                file.write(data)
    else:
        import csv
        import sqlite3

        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as raw, output.open("w", newline="") as file:
            # Django-style SQL (%s placeholders, %% for a literal %) in
            # sqlite3's own style (? placeholders, a bare %).
            query = sql.replace("%s", "?").replace("%%", "%")
            cursor = raw.execute(query, params)
            csv.writer(file).writerows(cursor)
    return time.perf_counter() - start


def growth_mib(database_url: str, mode: str, run_id: int, format: str, out: Path):
    """How far a fresh child's RSS peaked above its RSS after setup (MiB), while
    exporting (mode "export") or doing nothing more (mode "setup")."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--database-url",
            database_url,
            "--run",
            str(run_id),
            "--format",
            format,
            "--output",
            str(out),
        ],
        env=harness.project_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(f"the {mode} child failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["peak_mib"] - figures["before_mib"], figures["peak_mib"]


def child(args: argparse.Namespace) -> int:
    """One memory measurement: the same setup, then the export or nothing."""
    # Django without harness.setup_django's migrate (the database is migrated).
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "crowdsite.settings"
    sys.path.insert(0, str(harness.PROJECT_DIR))
    import django

    django.setup()
    from django.core.management import call_command, load_command_class
    from django.db import connection

    from tasks_app.selectors.export import ResultsExport, find_runs

    connection.ensure_connection()
    load_command_class("tasks_app", "export_results")
    ResultsExport(run_ids=find_runs(run_id=args.run))
    # Setting up peaks higher than it stays (imports, settings): start the peak
    # (VmHWM) afresh from here, so that it is the export's.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mib("VmRSS")
    if args.child == "export":
        call_command(
            "export_results",
            "--run",
            str(args.run),
            "--format",
            args.format,
            "--output",
            args.output,
            stdout=io.StringIO(),
        )
    print(json.dumps({"before_mib": before, "peak_mib": _status_mib("VmHWM")}))
    return 0


def _status_mib(field: str) -> float:
    """A memory figure of /proc/self/status (VmRSS: now, VmHWM: peak), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> int:
    args = parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = harness.setup_measured_database(args.database_url, workdir, recreate=True)
        from django.db import connection

        began = time.perf_counter()
        run_id = launch_and_submit(workdir / "task", args.results)
        print(f"set up {args.results} results in {time.perf_counter() - began:.1f} s")
        output = workdir / "export.out"
        base_times = []
        baseline(run_id, output, url)  # warm-up
        for _ in range(args.repeat):
            base_times.append(baseline(run_id, output, url))
        base = statistics.median(base_times)
        base_size = output.stat().st_size
        report, ok = [], True
        for format in FORMATS:
            target = workdir / f"results.{format}"
            export(run_id, format, target)  # warm-up
            times = []
            for _ in range(args.repeat):
                elapsed, rows = export(run_id, format, target)
                if rows != args.results:
                    print(f"{format}: exported {rows} of {args.results} rows")
                    return 1
                times.append(elapsed)
            elapsed = statistics.median(times)
            ratio = base / elapsed
            idle, _ = growth_mib(url, "setup", run_id, format, target)
            grown, peak = growth_mib(url, "export", run_id, format, target)
            growth = grown - idle
            ok = ok and ratio >= RATIO_TARGET and growth <= MEMORY_TARGET_MIB
            report.append((format, elapsed, ratio, peak, growth, target.stat().st_size))
        os.remove(output)

    kind = "COPY ... TO STDOUT" if connection.vendor == "postgresql" else "sqlite3"
    print(f"database:        {connection.vendor} ({url.split('@')[-1]})")
    print(f"results:         {args.results} (units with a submitted agent)")
    print(
        f"baseline ({kind}): {base * 1000:8.1f} ms, "
        f"{args.results / base:,.0f} rows/s, {base_size / 2**20:.1f} MiB "
        f"(median of {args.repeat})"
    )
    for format, elapsed, ratio, peak, growth, size in report:
        print(
            f"export {format:5}    {elapsed * 1000:8.1f} ms, "
            f"{args.results / elapsed:,.0f} rows/s, {size / 2**20:.1f} MiB; "
            f"throughput {ratio:.2f}x the baseline (target >= {RATIO_TARGET}); "
            f"memory growth {growth:.1f} MiB, peak RSS {peak:.1f} MiB "
            f"(target <= {MEMORY_TARGET_MIB} MiB growth)"
        )
    print("result:", "within targets" if ok else "MISSED TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
