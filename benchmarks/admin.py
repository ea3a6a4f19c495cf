"""The run dashboard and the units list on a 100,000-unit run, against plain SQL.

    python benchmarks/admin.py                       # SQLite (a temporary file)
    python benchmarks/admin.py --database-url postgres://postgres@127.0.0.1:5432/crowdsite_bench

A run of --units units is launched on the mock provider and filled as a big
batch looks part-way through its review, with 500 workers: of all its units 50%
approved, 5% rejected, 5% soft-rejected, 20% submitted and not yet reviewed, 5%
being worked on, 15% open; a submitted agent per submitted unit (2% late),
spread over three days; an audit row per decision, a reward payment per paid
unit (80% paid, 20% pending), 1,000 bonuses, 20 failed provider calls. A second
run of 100 units is filled the same way.

Measured in the same process against the same database (median of --repeat):

- the dashboard's figures (`run_stats.run_stats`) against the baseline: the same
  aggregates as the fewest plain SQL statements (GROUP BY, SUM, percentile_cont
  on PostgreSQL, a ranking window on SQLite, which has no percentile function);
- the run's admin page with its dashboard, rendered through Django's test client
  logged in as a superuser, against that same baseline;
- the units list of the run (`/admin/tasks_app/unit/?run=N`): the time its
  queries take against the plain SQL of the same page (its COUNT and its 100
  rows with their assignment, worker and submission), and the whole page against
  the same page of the 100-unit run. The whole page is also printed against the
  plain SQL, but not held to a target: the admin takes some 90 ms to render 100
  rows (the action checkbox's widget, each cell's lookup), the same for a run of
  any size, which plain SQL never pays.

Targets: each ratio <= 3; the dashboard's figures <= 10 queries, the units list
<= 8 and the same for both runs.

Measured on this 2-core machine (shared with other work, so +-20%), 100,000
units, median of 5:

                                  SQLite              PostgreSQL 15
    aggregates, plain SQL         360 ms              212 ms
    run_stats                     395 ms  1.10x        280 ms  1.33x   9 queries
    run page with dashboard       455 ms  1.26x        330 ms  1.56x  17 queries
    (measured before the agreement form's field list, one more query: 18 now)
    units list, plain SQL           6.1 ms              14.1 ms
    units list, its queries         5.6 ms  0.92x       19.0 ms  1.35x   6 queries
    units list, the page          106 ms  1.11x of     97 ms  0.76x of the
                                  the 100-unit run's   100-unit run's page
                                  (17x its plain SQL)  (6.9x its plain SQL)

Before unit_run_list_idx (run, id), the units list of a run sorted all of the
run's units on SQLite, computing every submission first (87-127 ms for the rows
alone with 40 other runs present); before TaskRunAdmin counted units by subquery,
its change page spent 1.3 s in one join grouped by every run column.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness

RATIO_TARGET = 3.0
STATS_QUERY_TARGET = 10
UNITS_QUERY_TARGET = 8
WORKERS = 500
# The units list is also timed on a run of this size: its fixed cost.
SMALL_RUN = 100
BONUSES = 1_000
FAILED_CALLS = 20
# Unit status by id % 20: 10 approved, 1 rejected, 1 soft-rejected, 4 submitted,
# 1 being worked on, 3 open.
STATUS_BY_REMAINDER = (
    ["accepted"] * 10
    + ["rejected", "soft_rejected"]
    + ["completed"] * 4
    + ["assigned"]
    + ["launched"] * 3
)
AGENT_STATUS = {
    "accepted": "approved",
    "rejected": "rejected",
    "soft_rejected": "soft_rejected",
    "completed": "completed",
    "assigned": "in_task",
}
DECISION = {
    "accepted": "approve",
    "rejected": "reject",
    "soft_rejected": "soft_reject",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    harness.add_database_url(parser)
    return parser.parse_args()


def fill(workdir: Path, units: int, name: str) -> int:
    """Launch and fill a run of task `name` (see the module's docstring); its
    id. Its task folder is `workdir`/`name`."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from django.db import connection, transaction

    from providers.models import ProviderCall
    from qualifications_app.models import WorkerReview
    from tasks_app.models import Agent, Payment, Unit, Worker
    from tasks_app.run_config import load_run_config
    from tasks_app.services import launch_run

    folder = harness.write_task(workdir / name, harness.sentences(units))
    config = harness.overrides(folder, name, "mephisto.task.budget=100000")
    run = launch_run(config=load_run_config(harness.CONFIG, config))
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with transaction.atomic():
        Worker.objects.bulk_create(
            [Worker(provider_type="mock", worker_name=f"w{n}") for n in range(WORKERS)],
            ignore_conflicts=True,  # the second run's workers are the first's
        )
        first_worker = Worker.objects.order_by("pk").values_list("pk", flat=True)[0]
        cases = " ".join(
            f"WHEN {n} THEN '{status}'" for n, status in enumerate(STATUS_BY_REMAINDER)
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Unit._meta.db_table} SET"
                f" status = CASE id %% 20 {cases} END,"
                " worker_id = CASE WHEN id %% 20 >= 17 THEN NULL"
                " ELSE %s + id %% %s END"
                " WHERE run_id = %s",
                [first_worker, WORKERS, run.pk],
            )
        taken = list(
            Unit.objects.filter(run=run, worker__isnull=False)
            .order_by("pk")
            .values_list("pk", "status", "worker_id")
        )
        agents = []
        for n, (unit_id, status, worker_id) in enumerate(taken):
            accepted = start + timedelta(seconds=n * 259_200 / len(taken))
            agents.append(
                Agent(
                    public_id=f"bench-{unit_id}",
                    unit_id=unit_id,
                    worker_id=worker_id,
                    run=run,
                    status=AGENT_STATUS[status],
                    registration_id=f"r-{unit_id}",
                    submission=None
                    if status == "assigned"
                    else {"rating": "good", "text": f"Sentence {unit_id} reads well."},
                    is_late=status != "assigned" and unit_id % 50 == 0,
                    created_at=accepted,
                    deadline_at=accepted + timedelta(hours=1),
                    submitted_at=None
                    if status == "assigned"
                    else accepted + timedelta(seconds=30 + unit_id % 600),
                )
            )
        # created_at is auto_now_add, which would stamp every agent "now": the
        # accepted times above are kept by switching that off for the insert.
        created_at = Agent._meta.get_field("created_at")
        created_at.auto_now_add = False  # type: ignore[attr-defined]
        try:
            Agent.objects.bulk_create(agents, batch_size=5000)
        finally:
            created_at.auto_now_add = True  # type: ignore[attr-defined]
        agent_ids = dict(
            Agent.objects.filter(run=run).values_list("unit_id", "pk").order_by()
        )
        decided = [(u, s, w) for u, s, w in taken if s in DECISION]
        reviews = WorkerReview.objects.bulk_create(
            [
                WorkerReview(
                    worker_id=w,
                    action=DECISION[s],
                    unit_id=u,
                    agent_id=agent_ids[u],
                    reason="" if s != "rejected" else "empty answer",
                )
                for u, s, w in decided
            ],
            batch_size=5000,
        )
        paid = [
            (review, u, w)
            for review, (u, s, w) in zip(reviews, decided, strict=True)
            if s != "rejected"
        ]
        payments = [
            Payment(
                kind="reward",
                amount=Decimal("0.05"),
                run=run,
                unit_id=u,
                agent_id=agent_ids[u],
                worker_id=w,
                review=review,
                state="pending" if u % 5 == 0 else "paid",
                idempotency_key=f"reward:agent={agent_ids[u]}",
            )
            for review, u, w in paid
        ]
        bonus_reviews = WorkerReview.objects.bulk_create(
            [
                WorkerReview(
                    worker_id=w,
                    action="bonus",
                    unit_id=u,
                    agent_id=agent_ids[u],
                    amount=Decimal("0.10"),
                    reason="thorough",
                )
                for _, u, w in paid[:BONUSES]
            ]
        )
        payments += [
            Payment(
                kind="bonus",
                amount=Decimal("0.10"),
                run=run,
                unit_id=review.unit_id,
                agent_id=review.agent_id,
                worker_id=review.worker_id,
                review=review,
                state="paid",
                idempotency_key=f"bonus:{review.pk}",
            )
            for review in bonus_reviews
        ]
        Payment.objects.bulk_create(payments, batch_size=5000)
        ProviderCall.objects.bulk_create(
            [
                ProviderCall(
                    provider_type="mock",
                    operation="approve",
                    idempotency_key=f"bench-approve:{run.pk}:{n}",
                    run=run,
                    status="failed",
                    attempts=5,
                    error="ServiceUnavailable: try again later",
                )
                for n in range(FAILED_CALLS)
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh planner statistics, as autovacuum would
    return run.pk


# --- the baselines: the same figures in the fewest plain statements ---------------


def baseline_figures(run_id: int) -> list:
    """The dashboard's aggregates, each as one plain statement (no Python but
    fetching): the floor run_stats is compared to."""
    from django.db import connection

    pg = connection.vendor == "postgresql"
    if pg:
        seconds = "EXTRACT(EPOCH FROM (submitted_at - created_at))"
        work = (
            f"SELECT COUNT(*), MIN(submitted_at), MAX(submitted_at),"
            f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}),"
            f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {seconds})"
            " FROM tasks_app_agent WHERE run_id = %s AND submitted_at IS NOT NULL"
        )
        bucket = "CAST(FLOOR(EXTRACT(EPOCH FROM submitted_at)) AS BIGINT) / 10800"
        worker_times = (
            f"SELECT worker_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds})"
            " FROM tasks_app_agent WHERE run_id = %s AND submitted_at IS NOT NULL"
            " AND worker_id IN (SELECT worker_id FROM tasks_app_unit WHERE run_id = %s"
            " AND worker_id IS NOT NULL GROUP BY worker_id ORDER BY COUNT(*) DESC"
            " LIMIT 10) GROUP BY worker_id"
        )
    else:
        seconds = "(julianday(submitted_at) - julianday(created_at)) * 86400"
        work = (
            "WITH r AS (SELECT s, ROW_NUMBER() OVER (ORDER BY s) - 1 AS i,"
            " COUNT(*) OVER () AS n FROM (SELECT"
            f" {seconds} AS s FROM tasks_app_agent"
            " WHERE run_id = %s AND submitted_at IS NOT NULL))"
            " SELECT MAX(n), MAX(CASE WHEN i = (n - 1) / 2 THEN s END),"
            " MAX(CASE WHEN i = (n - 1) * 9 / 10 THEN s END) FROM r"
        )
        bucket = "CAST(strftime('%%s', submitted_at) AS INTEGER) / 10800"
        worker_times = (
            "WITH r AS (SELECT worker_id, s, ROW_NUMBER() OVER (PARTITION BY"
            " worker_id ORDER BY s) - 1 AS i, COUNT(*) OVER (PARTITION BY worker_id)"
            f" AS n FROM (SELECT worker_id, {seconds} AS s FROM tasks_app_agent"
            " WHERE run_id = %s AND submitted_at IS NOT NULL AND worker_id IN"
            " (SELECT worker_id FROM tasks_app_unit WHERE run_id = %s AND worker_id"
            " IS NOT NULL GROUP BY worker_id ORDER BY COUNT(*) DESC LIMIT 10)))"
            " SELECT worker_id, MAX(CASE WHEN i = (n - 1) / 2 THEN s END) FROM r"
            " GROUP BY worker_id"
        )
    statements = [
        (
            "SELECT status, COUNT(*) FROM tasks_app_unit WHERE run_id = %s"
            " GROUP BY status",
            [run_id],
        ),
        (
            "SELECT state, SUM(amount) FROM tasks_app_payment WHERE run_id = %s"
            " GROUP BY state",
            [run_id],
        ),
        (
            "SELECT SUM(pay_amount) FROM tasks_app_unit WHERE run_id = %s"
            " AND status NOT IN ('rejected', 'expired')",
            [run_id],
        ),
        (
            "SELECT SUM(p.amount) FROM tasks_app_payment p"
            " JOIN qualifications_app_workerreview r ON r.id = p.review_id"
            " WHERE p.run_id = %s AND r.action = 'bonus' AND p.state <> 'failed'",
            [run_id],
        ),
        (work, [run_id]),
        (
            f"SELECT {bucket} AS b, COUNT(*),"
            " SUM(CASE WHEN is_late THEN 1 ELSE 0 END) FROM tasks_app_agent"
            " WHERE run_id = %s AND submitted_at IS NOT NULL GROUP BY b",
            [run_id],
        ),
        (
            "SELECT worker_id, COUNT(*),"
            " SUM(CASE WHEN status = 'accepted' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END)"
            " FROM tasks_app_unit WHERE run_id = %s AND worker_id IS NOT NULL"
            " GROUP BY worker_id ORDER BY 2 DESC LIMIT 10",
            [run_id],
        ),
        (worker_times, [run_id, run_id]),
        (
            "SELECT COUNT(*) FROM providers_providercall WHERE run_id = %s"
            " AND status = 'failed'",
            [run_id],
        ),
        (
            "SELECT id, operation, attempts, error, updated_at"
            " FROM providers_providercall WHERE run_id = %s AND status = 'failed'"
            " ORDER BY updated_at DESC, id DESC LIMIT 5",
            [run_id],
        ),
    ]
    rows = []
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            rows.append(cursor.fetchall())
    return rows


def baseline_units_page(run_id: int) -> list:
    """The units list's COUNT and its 100 rows with what they show, plain SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM tasks_app_unit WHERE run_id = %s", [run_id]
        )
        count = cursor.fetchone()
        cursor.execute(
            "SELECT u.id, u.run_id, u.assignment_id, a.row_index, u.unit_index,"
            " u.status, w.worker_name, w.provider_type, u.pay_amount, u.updated_at,"
            " COALESCE((SELECT g.submission FROM tasks_app_agent g"
            " WHERE g.unit_id = u.id AND g.submitted_at IS NOT NULL"
            " AND g.worker_id = u.worker_id ORDER BY g.id DESC LIMIT 1),"
            " (SELECT g.submission FROM tasks_app_agent g WHERE g.unit_id = u.id"
            " AND g.submitted_at IS NOT NULL ORDER BY g.id DESC LIMIT 1))"
            " FROM tasks_app_unit u"
            " JOIN tasks_app_assignment a ON a.id = u.assignment_id"
            " LEFT JOIN tasks_app_worker w ON w.id = u.worker_id"
            " WHERE u.run_id = %s ORDER BY u.id LIMIT 100",
            [run_id],
        )
        return [count, cursor.fetchall()]


# --- measuring ---------------------------------------------------------------------


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float, int]:
    """Median seconds of `repeat` runs of `action` (after one warm-up), the median
    of the seconds it spent in the database, and the statements one run sent."""
    from django.db import connection

    # Counted and timed as they are sent: a request through the test client
    # empties Django's query log when it starts (request_started).
    spent: list[float] = []

    def timing(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - start)

    action()
    times, in_database, statements = [], [], 0
    with connection.execute_wrapper(timing):
        for _ in range(repeat):
            spent.clear()
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
            in_database.append(sum(spent))
            statements = len(spent)
    return statistics.median(times), statistics.median(in_database), statements


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = harness.setup_measured_database(args.database_url, workdir, recreate=True)

        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client

        from tasks_app.models import TaskRun
        from tasks_app.selectors import stats as run_stats

        started = time.perf_counter()
        run_id = fill(workdir, args.units, "benchmark-admin-live-batch-1")
        small_id = fill(workdir, SMALL_RUN, "benchmark-admin-pilot-1")
        print(f"filled in {time.perf_counter() - started:.0f} s")
        run = TaskRun.objects.select_related("task").get(pk=run_id)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.create_superuser("bench", password="x" * 12))

        def page(url: str) -> Callable[[], object]:
            def get() -> object:
                response = client.get(url)
                assert response.status_code == 200, response.status_code
                return response.content

            return get

        def units_page(pk: int) -> Callable[[], object]:
            return page(f"/admin/tasks_app/unit/?run={pk}")

        base, _, base_queries = timed(lambda: baseline_figures(run_id), args.repeat)
        stats, _, stats_queries = timed(
            lambda: run_stats.run_stats(run=run), args.repeat
        )
        dashboard, _, dashboard_queries = timed(
            page(f"/admin/tasks_app/taskrun/{run_id}/change/"), args.repeat
        )
        units_base, _, _ = timed(lambda: baseline_units_page(run_id), args.repeat)
        units, units_sql, units_queries = timed(units_page(run_id), args.repeat)
        small, _, small_queries = timed(units_page(small_id), args.repeat)

    checks = [
        ("dashboard figures (run_stats)", stats, base, "the aggregates' plain SQL"),
        ("run page with its dashboard", dashboard, base, "the aggregates' plain SQL"),
        ("units list: its queries", units_sql, units_base, "the page's plain SQL"),
        ("units list: the page", units, small, f"a {SMALL_RUN}-unit run's"),
    ]
    ok = (
        stats_queries <= STATS_QUERY_TARGET
        and units_queries == small_queries <= UNITS_QUERY_TARGET
    )
    print(f"database:   {connection.vendor} ({url.split('@')[-1]})")
    print(
        f"run:        {args.units} units, {WORKERS} workers (median of {args.repeat})"
    )
    print(
        f"baselines:  the dashboard's aggregates as {base_queries} plain statements "
        f"{base * 1000:.1f} ms; the units list's COUNT and 100 rows in plain SQL "
        f"{units_base * 1000:.1f} ms"
    )
    for name, measured, floor, against in checks:
        ratio = measured / floor
        ok = ok and ratio <= RATIO_TARGET
        print(
            f"{name:<32}{measured * 1000:8.1f} ms  {ratio:5.2f}x {against} "
            f"(target <= {RATIO_TARGET})"
        )
    print(
        f"the units list's page against its plain SQL: {units / units_base:.1f}x "
        f"(rendering 100 rows in the admin, the same for any run size: "
        f"{small * 1000:.1f} ms for the {SMALL_RUN}-unit run)"
    )
    print(
        f"queries: dashboard figures {stats_queries} (target <= "
        f"{STATS_QUERY_TARGET}), run page {dashboard_queries}, units list "
        f"{units_queries} ({small_queries} for the {SMALL_RUN}-unit run; target "
        f"<= {UNITS_QUERY_TARGET}, the same)"
    )
    print("result:", "within targets" if ok else "MISSED TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
