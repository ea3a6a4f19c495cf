"""Approve 10,000 submitted units of one run in one action, against a bare UPDATE.

    python benchmarks/review.py                       # SQLite (a temporary file)
    python benchmarks/review.py --database-url postgres://postgres@127.0.0.1:5432/crowdsite_bench

A run of --units units is launched on the mock provider and every unit is given a
submitted agent (100 workers). The baseline, measured in the same process against
the same database, is the bare bulk UPDATE of the same unit and agent rows to
accepted/approved. Then `approve_units` approves them as the admin's action and
`review_run --approve-all` do: row locks, statuses, an audit row and a reward row
per unit, and the provider calls queued for Celery (published to an in-memory
broker, so they are counted in the action but not made in it). Prints both times
(median of --repeat), their ratio and the queries the action issued.
Targets: ratio <= 5, and no query per unit: every id list is one parameter and
every insert one INSERT ... SELECT, and the provider calls are one outbox row
that Celery splits, so the action runs the same 16 statements for 10 units or
10,000 (at most 25 per 1,000 units allowed). Then the reviews are sent to the
provider (the mock's calls, in batches of SEND_BATCH as the send_reviews tasks
make them), counting the statements per 1,000 sent.

Measured on this 2-core machine: PostgreSQL 3.1-3.6x; SQLite 4.8-6.6x (noisy),
around the target: there the two inserts (an audit and a reward row per unit,
with their indexes) alone take about 1.5x the bare UPDATE, and reading the rows
the decision is made on about 1x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness

RATIO_TARGET = 5.0
# Statements per 1,000 units (they don't grow with the units: 16 for any number).
QUERIES_PER_1000_TARGET = 25
# Statements per 1,000 reviews sent to the provider: a bounded number per batch
# of SEND_BATCH (500), not per review (it was 14 per review: 14,000).
SENT_QUERIES_PER_1000_TARGET = 40
WORKERS = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    harness.add_database_url(parser)
    return parser.parse_args()


def launch_and_submit(workdir: Path, units: int) -> tuple[int, list[int]]:
    """A launched run whose every unit has a submitted agent; (run id, unit ids)."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus, Worker
    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run

    harness.write_task(workdir, harness.sentences(units))
    config = harness.overrides(workdir, "benchmark-review")
    run = launch_run(config=load_run_config(harness.CONFIG, config))
    now = timezone.now()
    with transaction.atomic():
        workers = Worker.objects.bulk_create(
            [Worker(provider_type="mock", worker_name=f"w{n}") for n in range(WORKERS)]
        )
        units = list(Unit.objects.filter(run=run).order_by("pk"))
        for index, unit in enumerate(units):
            unit.status = UnitStatus.COMPLETED
            unit.worker = workers[index % WORKERS]
        Unit.objects.bulk_update(units, ["status", "worker"], batch_size=1000)
        unit_ids = [unit.pk for unit in units]
        agents = []
        for index, unit_id in enumerate(unit_ids):
            worker = workers[index % WORKERS]
            agents.append(
                Agent(
                    public_id=f"bench-{unit_id}",
                    unit_id=unit_id,
                    worker=worker,
                    run=run,
                    status=AgentStatus.COMPLETED,
                    registration_id=f"r-{unit_id}",
                    submission={"rating": "good"},
                    deadline_at=now + timedelta(hours=1),
                    submitted_at=now,
                )
            )
        Agent.objects.bulk_create(agents, batch_size=2000)
    return run.pk, unit_ids


def reset(run_id: int) -> None:
    """Back to "submitted, not reviewed" for the next measurement."""
    from django.db import transaction

    from providers.models import OutboxMessage
    from qualifications_app.models import WorkerReview
    from tasks_app.models import Agent, AgentStatus, Payment, Unit, UnitStatus

    with transaction.atomic():
        Payment.objects.filter(run_id=run_id).delete()
        WorkerReview.objects.filter(unit__run_id=run_id).delete()
        OutboxMessage.objects.all().delete()
        Unit.objects.filter(run_id=run_id).update(status=UnitStatus.COMPLETED)
        Agent.objects.filter(run_id=run_id).update(status=AgentStatus.COMPLETED)


def baseline(run_id: int) -> float:
    """The same status changes as one bare UPDATE per table: the floor."""
    from django.db import transaction

    from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus

    start = time.perf_counter()
    with transaction.atomic():
        Unit.objects.filter(run_id=run_id, status=UnitStatus.COMPLETED).update(
            status=UnitStatus.ACCEPTED
        )
        Agent.objects.filter(run_id=run_id, status=AgentStatus.COMPLETED).update(
            status=AgentStatus.APPROVED
        )
    return time.perf_counter() - start


def approve(unit_ids: list[int]) -> tuple[float, int, int]:
    """`approve_units` on every unit; (seconds, queries, units approved)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from tasks_app.services import approve_units

    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = approve_units(unit_ids=unit_ids)
        elapsed = time.perf_counter() - start
    return elapsed, len(queries), len(result.approved)


def send(run_id: int) -> tuple[float, int, int]:
    """Make the approvals' provider calls (the mock's) in batches of SEND_BATCH,
    as the send_reviews tasks do; (seconds, queries, reviews sent)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from qualifications_app.models import WorkerReview
    from tasks_app.services import SEND_BATCH, send_reviews

    ids = list(
        WorkerReview.objects.filter(unit__run_id=run_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        for first in range(0, len(ids), SEND_BATCH):
            send_reviews(review_ids=ids[first : first + SEND_BATCH])
        elapsed = time.perf_counter() - start
    return elapsed, len(queries), len(ids)


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = harness.setup_measured_database(args.database_url, workdir, recreate=True)

        from celery import current_app
        from django.db import connection

        # Queue the provider calls as a web request does, to a broker that
        # keeps them (in memory) instead of making them in the action.
        current_app.conf.task_always_eager = False
        current_app.conf.broker_url = "memory://"

        run_id, unit_ids = launch_and_submit(workdir, args.units)
        approve(unit_ids)  # warm-up
        base_times, action_times, query_counts = [], [], []
        for _ in range(args.repeat):
            reset(run_id)
            base_times.append(baseline(run_id))
            reset(run_id)
            elapsed, queries, approved = approve(unit_ids)
            if approved != len(unit_ids):
                print(f"approved {approved} of {len(unit_ids)} units: not comparable")
                return 1
            action_times.append(elapsed)
            query_counts.append(queries)
        sent_seconds, sent_queries, sent = send(run_id)

    base = statistics.median(base_times)
    action = statistics.median(action_times)
    ratio = action / base
    queries = max(query_counts)
    per_1000 = queries * 1000 / len(unit_ids)
    sent_per_1000 = sent_queries * 1000 / sent
    ok = (
        ratio <= RATIO_TARGET
        and per_1000 <= QUERIES_PER_1000_TARGET
        and sent_per_1000 <= SENT_QUERIES_PER_1000_TARGET
    )
    print(f"database:             {connection.vendor} ({url.split('@')[-1]})")
    print(f"units:                {len(unit_ids)} ({WORKERS} workers)")
    print(f"baseline bare UPDATE: {base * 1000:8.1f} ms (median of {args.repeat})")
    print(f"approve_units:        {action * 1000:8.1f} ms (median of {args.repeat})")
    print(f"ratio action/baseline: {ratio:.2f}  (target <= {RATIO_TARGET})")
    print(
        f"queries by the action: {queries}, {per_1000:.1f} per 1,000 units "
        f"(target <= {QUERIES_PER_1000_TARGET})"
    )
    print(
        f"sending to the provider: {sent} reviews in {sent_seconds * 1000:.0f} ms, "
        f"{sent_queries} queries, {sent_per_1000:.1f} per 1,000 sent "
        f"(target <= {SENT_QUERIES_PER_1000_TARGET})"
    )
    print("result:", "within targets" if ok else "MISSED TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
