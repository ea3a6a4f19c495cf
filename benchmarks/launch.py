"""Launch 10,000 units through `launch_run` and compare with inserting the same rows.

    python benchmarks/launch.py                       # SQLite (a temporary file)
    python benchmarks/launch.py --database-url postgres://postgres@127.0.0.1:5432/crowdsite_bench

The baseline, measured in the same process against the same database, creates the
same Task, TaskRun, Assignment and Unit rows with plain `bulk_create` (no config,
no validation). Prints both times (median of --repeat), their ratio and the number
of queries the launch issued. Targets: ratio <= 3 and <= 50 queries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import harness

RATIO_TARGET = 3.0
QUERY_TARGET = 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--units-per-assignment", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    harness.add_database_url(parser)
    return parser.parse_args()


def clear() -> None:
    from providers.models import ProviderCall
    from tasks_app.models import Assignment, Task, TaskRun, Unit

    Unit.objects.all().delete()
    Assignment.objects.all().delete()
    ProviderCall.objects.all().delete()
    TaskRun.objects.all().delete()
    Task.objects.all().delete()


def baseline(rows: list[dict], per: int) -> float:
    """Insert the same rows directly: the floor that `launch_run` is compared to."""
    from decimal import Decimal

    from django.db import transaction

    from tasks_app.models import Assignment, Requester, Task, TaskRun, Unit

    start = time.perf_counter()
    with transaction.atomic():
        requester, _ = Requester.objects.get_or_create(
            name="MOCK_REQUESTER", provider_type="mock"
        )
        task = Task.objects.create(task_name="benchmark-baseline", task_type="x")
        run = TaskRun.objects.create(
            task=task,
            requester=requester,
            blueprint_type="static_react_task",
            architect_type="local",
            provider_type="mock",
            config_yaml="",
            resolved_config={},
            config_hash="",
            task_title="t",
            task_description="d",
            task_reward=Decimal("0.05"),
            assignment_duration_in_seconds=1800,
            allowed_concurrent=0,
            maximum_units_per_worker=0,
            max_num_concurrent_units=0,
            no_submission_patience=43200,
        )
        assignments = Assignment.objects.bulk_create(
            [Assignment(run=run, row_index=i, data=row) for i, row in enumerate(rows)]
        )
        Unit.objects.bulk_create(
            [
                Unit(assignment=a, run=run, unit_index=k, pay_amount=Decimal("0.05"))
                for a in assignments
                for k in range(per)
            ]
        )
    return time.perf_counter() - start


def launch(overrides: list[str]) -> tuple[float, int]:
    """Load the config and launch it, as `launch_run --config` does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        launch_run(config=load_run_config(harness.CONFIG, overrides))
        elapsed = time.perf_counter() - start
    return elapsed, len(queries)


def main() -> int:
    args = parse_args()
    per = args.units_per_assignment
    rows_count = args.units // per
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = harness.setup_measured_database(args.database_url, workdir, recreate=True)
        harness.write_task(workdir, harness.sentences(rows_count))
        config = harness.overrides(
            workdir,
            "benchmark-launch",
            f"mephisto.blueprint.units_per_assignment={per}",
        )
        rows = [json.loads(line) for line in (workdir / "rows.jsonl").open()]

        from django.db import connection

        base_times, launch_times, query_counts = [], [], []
        clear()
        launch(config)  # warm-up: imports, Hydra's first compose
        for _ in range(args.repeat):
            clear()
            base_times.append(baseline(rows, per))
            clear()
            elapsed, queries = launch(config)
            launch_times.append(elapsed)
            query_counts.append(queries)
        clear()

    base = statistics.median(base_times)
    launched = statistics.median(launch_times)
    ratio = launched / base
    queries = max(query_counts)
    ok = ratio <= RATIO_TARGET and queries <= QUERY_TARGET
    vendor = connection.vendor
    print(f"database:           {vendor} ({url.split('@')[-1]})")
    print(f"units:              {rows_count * per} ({rows_count} assignments x {per})")
    print(f"baseline bulk insert: {base * 1000:8.1f} ms (median of {args.repeat})")
    print(f"launch_run:           {launched * 1000:8.1f} ms (median of {args.repeat})")
    print(f"ratio launch/baseline: {ratio:.2f}  (target <= {RATIO_TARGET})")
    print(f"queries by launch:     {queries}  (target <= {QUERY_TARGET})")
    print("result:", "within targets" if ok else "MISSED TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
