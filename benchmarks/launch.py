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
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RATIO_TARGET = 3.0
QUERY_TARGET = 50

CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: local
  - /mephisto/provider: mock
mephisto:
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: %(per)d
  task:
    task_name: benchmark-launch
    task_title: Rate a sentence
    task_description: Say whether a sentence reads well.
    task_reward: 0.05
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--units-per-assignment", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="Database to measure on (default: a temporary SQLite file). "
        "A PostgreSQL database is created if missing.",
    )
    return parser.parse_args()


def setup_django(database_url: str, workdir: Path) -> str:
    if not database_url:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    elif database_url.startswith("postgres"):
        ensure_postgres_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("CELERY_BROKER_URL", None)  # launch tasks run in-process
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdsite.settings")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return database_url


def ensure_postgres_database(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def write_task(workdir: Path, *, rows: int, per: int) -> Path:
    (workdir / "bundle.js").write_text("// bundle\n")
    with (workdir / "rows.jsonl").open("w") as out:
        for i in range(rows):
            out.write(json.dumps({"text": f"Sentence number {i} reads well."}) + "\n")
    path = workdir / "launch.yaml"
    path.write_text(CONFIG % {"per": per})
    return path


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


def launch(config_path: Path) -> tuple[float, int]:
    """Load the config and launch it, as `launch_run --config` does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        launch_run(config=load_run_config(config_path))
        elapsed = time.perf_counter() - start
    return elapsed, len(queries)


def main() -> int:
    args = parse_args()
    per = args.units_per_assignment
    rows_count = args.units // per
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = setup_django(args.database_url, workdir)
        config_path = write_task(workdir, rows=rows_count, per=per)
        rows = [json.loads(line) for line in (workdir / "rows.jsonl").open()]

        from django.db import connection

        base_times, launch_times, query_counts = [], [], []
        clear()
        launch(config_path)  # warm-up: imports, Hydra's first compose
        for _ in range(args.repeat):
            clear()
            base_times.append(baseline(rows, per))
            clear()
            elapsed, queries = launch(config_path)
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
