"""A run's figures as its dashboard and `manage.py run_status` show them.

Everything is aggregated in the database, in a fixed number of queries whatever
the run's size (ten, and two more with screening or one with golds): units by
status, the money (spent, pending and committed against the budget),
submissions over time, work time (median and 90th percentile of submitted −
accepted), the workers with the most units, the provider calls that failed and
the screening or gold figures (quality_figures.py).

Units by status are the run's progress: its data units only. Screening and gold
units are work done and paid, so their submissions are in everything else
(money, work time, submissions over time, workers, awaiting review).

One SQL statement serves both databases for each figure, so SQLite and
PostgreSQL give the same numbers: percentiles are computed from ranks
(ROW_NUMBER) and interpolated as PostgreSQL's percentile_cont does, on
durations in whole microseconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Sum

from providers.models import CallStatus, ProviderCall
from providers.registry import get_provider_class
from tasks_app import selectors
from tasks_app.models import (
    Agent,
    Payment,
    PaymentState,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.selectors import quality
from tasks_app.selectors.quality_figures import (
    GoldRow,
    ScreeningFigures,
    gold_rows,
    screening_figures,
)

# The per-worker table shows this many workers (most units first), then a count.
TOP_WORKERS = 10
# The failed provider calls listed (all are counted).
RECENT_FAILURES = 5
# Submissions over time: the smallest of these bucket sizes (seconds) that
# draws the run's span in at most MAX_BUCKETS bars.
BUCKET_SIZES = (
    60,
    5 * 60,
    15 * 60,
    30 * 60,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
)
MAX_BUCKETS = 48
# Which units are done from a worker's side (submitted, decided or not).
SUBMITTED_STATUSES = (
    UnitStatus.COMPLETED,
    UnitStatus.ACCEPTED,
    UnitStatus.REJECTED,
    UnitStatus.SOFT_REJECTED,
)


@dataclass(frozen=True)
class Money:
    """Dollars: the ledger's payments by state, and the commitment and budget."""

    spent: Decimal  # payments paid (rewards, bonuses and fees)
    pending: Decimal  # payments not yet sent or not yet answered
    failed: Decimal
    ambiguous: Decimal  # the provider may or may not have paid: reconcile
    committed: Decimal  # selectors.run_commitment: what the budget is held to
    committed_rewards: Decimal
    committed_bonuses: Decimal
    budget: Decimal | None

    @property
    def budget_used(self) -> float | None:
        """Committed as a fraction of the budget (None without a budget)."""
        if self.budget is None:
            return None
        if self.budget == 0:
            return math.inf if self.committed else 0.0
        return float(self.committed / self.budget)

    @property
    def budget_left(self) -> Decimal | None:
        return None if self.budget is None else self.budget - self.committed


@dataclass(frozen=True)
class WorkTime:
    """Seconds from accepting a unit (the agent's creation) to submitting it."""

    submissions: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Bucket:
    start: datetime
    submissions: int
    late: int


@dataclass(frozen=True)
class Timeline:
    """Submissions per bucket of `bucket_seconds`, every bucket from the first
    submission's to the last's (empty ones too)."""

    bucket_seconds: int
    buckets: list[Bucket]
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class WorkerRow:
    worker_id: int
    provider_type: str
    worker_name: str
    units: int  # units of this run the worker holds (assigned or done)
    approved: int
    rejected: int
    late: int  # submissions after their agent had timed out
    median_seconds: float | None


@dataclass(frozen=True)
class FailedCall:
    call_id: int
    operation: str
    attempts: int
    error: str
    updated_at: datetime


@dataclass(frozen=True)
class RunStats:
    run_id: int
    task_name: str
    status: str
    provider_type: str
    units_by_status: dict[str, int]  # data units: quality units are not progress
    approval_rate: float | None  # accepted / (accepted + rejected)
    # Submissions without a decision (selectors.awaiting_review), late included.
    awaiting_review: int
    money: Money
    work_time: WorkTime
    timeline: Timeline
    workers: list[WorkerRow]
    workers_total: int
    provider_failures: int
    recent_failures: list[FailedCall] = field(default_factory=list)
    launched_at: datetime | None = None
    # When and why the run ended (`end_reason` names the rule, e.g.
    # no_submission_patience); None and "" while it runs.
    ended_at: datetime | None = None
    end_reason: str = ""
    # On a screening run, its figures; on a gold run, its tested workers.
    screening: ScreeningFigures | None = None
    golds: list[GoldRow] | None = None

    @property
    def units(self) -> int:
        return sum(self.units_by_status.values())

    @property
    def submitted(self) -> int:
        """Units done from the workers' side: submitted, decided or not."""
        return sum(self.units_by_status.get(s, 0) for s in SUBMITTED_STATUSES)

    @property
    def reviewed(self) -> int:
        """Units in the approval rate (soft-rejected ones are left out of it)."""
        return self.units_by_status.get(
            UnitStatus.ACCEPTED, 0
        ) + self.units_by_status.get(UnitStatus.REJECTED, 0)

    @property
    def other_workers(self) -> int:
        return self.workers_total - len(self.workers)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: money as strings of dollars, times in ISO 8601 (UTC).
        `screening` and `golds` are there only on runs that use them, so a
        script can test `"golds" in data`."""
        data = _jsonable(asdict(self))
        for key in ("screening", "golds"):
            if data[key] is None:
                del data[key]
        money = data["money"]
        money["budget_used"] = self.money.budget_used
        left = self.money.budget_left
        money["budget_left"] = None if left is None else str(left)
        data.update(
            units=self.units,
            submitted=self.submitted,
            reviewed=self.reviewed,
            other_workers=self.other_workers,
        )
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_stats(
    *, run: TaskRun, top_workers: int = TOP_WORKERS, failures: int = RECENT_FAILURES
) -> RunStats:
    """Every figure of `run`'s dashboard, in ten queries whatever its size (and
    two more on a screening run, one on a gold run)."""
    units_by_status = selectors.unit_counts(run=run)
    accepted = units_by_status.get(UnitStatus.ACCEPTED, 0)
    reviewed = accepted + units_by_status.get(UnitStatus.REJECTED, 0)
    work_time, first, last = _work_time(run)
    workers, workers_total = _top_workers(run, top_workers)
    failed, recent = _failures(run, failures)
    screening, golds = quality.screening_of(run), quality.golds_of(run)
    return RunStats(
        run_id=run.pk,
        task_name=run.task.task_name,
        status=run.status,
        provider_type=run.provider_type,
        units_by_status=units_by_status,
        approval_rate=accepted / reviewed if reviewed else None,
        awaiting_review=selectors.awaiting_review(run=run).count(),
        money=_money(run),
        work_time=work_time,
        timeline=_timeline(run, first, last),
        workers=workers,
        workers_total=workers_total,
        provider_failures=failed,
        recent_failures=recent,
        launched_at=run.launched_at,
        ended_at=run.ended_at,
        end_reason=run.end_reason,
        screening=None
        if screening is None
        else screening_figures(run=run, screening=screening),
        golds=None if golds is None else gold_rows(run=run, golds=golds),
    )


def _money(run: TaskRun) -> Money:
    """Payments by state (one query) and the commitment (two)."""
    by_state = dict(
        Payment.objects.filter(run=run)
        .order_by()
        .values_list("state")
        .annotate(total=Sum("amount"))
    )

    def total(state: str) -> Decimal:
        # Quantized: SQLite sums decimals as floats.
        return Decimal(by_state.get(state) or 0).quantize(selectors.CENT)

    fee_rate = get_provider_class(run.provider_type).fee_rate
    commitment = selectors.run_commitment(run=run, fee_rate=fee_rate)
    return Money(
        spent=total(PaymentState.PAID),
        pending=total(PaymentState.PENDING),
        failed=total(PaymentState.FAILED),
        ambiguous=total(PaymentState.AMBIGUOUS),
        committed=commitment.total,
        committed_rewards=commitment.rewards,
        committed_bonuses=commitment.bonuses,
        budget=selectors.run_budget(run),
    )


# --- durations and times in SQL ----------------------------------------------------


def _epoch_seconds(column: str) -> str:
    """SQL: whole seconds since 1970 of a datetime column (floored)."""
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"
    # Django stores a datetime on SQLite as 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC);
    # strftime of the first 19 characters reads the whole seconds exactly.
    return f"CAST(strftime('%%s', substr({column}, 1, 19)) AS INTEGER)"


def _microseconds_between(start: str, end: str) -> str:
    """SQL: whole microseconds from column `start` to column `end`, exactly."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) * 1000000 AS BIGINT)"
    # julianday() keeps milliseconds only: whole seconds, plus the stored
    # microsecond digits (none stored when zero; CAST('' AS INTEGER) is 0).
    return (
        f"(({_epoch_seconds(end)} - {_epoch_seconds(start)}) * 1000000"
        f" + CAST(substr({end}, 21, 6) AS INTEGER)"
        f" - CAST(substr({start}, 21, 6) AS INTEGER))"
    )


def _rank_picks(percent: int) -> str:
    """SQL over ranked rows (`i` from 0 of `n`, value `us`): the two values the
    `percent` percentile lies between, as p<percent>_low and p<percent>_high;
    `_interpolate` finishes it as percentile_cont does."""
    at = f"(n - 1) * {percent} / 100"  # integer division on both databases
    return (
        f"MAX(CASE WHEN i = {at} THEN us END) AS p{percent}_low, "
        f"MAX(CASE WHEN i = {at} + 1 THEN us END) AS p{percent}_high"
    )


def _interpolate(
    n: int | None, percent: int, low: int | None, high: int | None
) -> float | None:
    """percentile_cont's value from the ranked values around it, in seconds."""
    if not n or low is None:
        return None
    fraction = ((n - 1) * percent % 100) / 100
    value = low + (((high if high is not None else low) - low) * fraction)
    return round(value / 1_000_000, 3)


def _work_time(run: TaskRun) -> tuple[WorkTime, datetime | None, datetime | None]:
    """Median and p90 work time of the run's submissions, and the first and last
    submission times (one query)."""
    agent = Agent._meta.db_table
    sql = f"""
        WITH d AS (
            SELECT {_microseconds_between("created_at", "submitted_at")} AS us,
                   {_epoch_seconds("submitted_at")} AS at
            FROM {agent}
            WHERE run_id = %s AND submitted_at IS NOT NULL
        ), r AS (
            SELECT us, at, ROW_NUMBER() OVER (ORDER BY us) - 1 AS i,
                   COUNT(*) OVER () AS n
            FROM d
        )
        SELECT MAX(n), MIN(at), MAX(at), {_rank_picks(50)}, {_rank_picks(90)}
        FROM r
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk])
        n, first, last, m_lo, m_hi, p_lo, p_hi = cursor.fetchone()
    work = WorkTime(
        submissions=n or 0,
        median=_interpolate(n, 50, m_lo, m_hi),
        p90=_interpolate(n, 90, p_lo, p_hi),
    )
    return work, _from_epoch(first), _from_epoch(last)


def _from_epoch(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def bucket_size(first: datetime | None, last: datetime | None) -> int:
    """Seconds per bar of the submissions chart: the smallest of BUCKET_SIZES that
    shows the span from `first` to `last` in at most MAX_BUCKETS bars (whole
    days beyond them). Bars start at multiples of the size, so a span of under
    MAX_BUCKETS - 1 sizes touches at most MAX_BUCKETS of them."""
    span = (last - first).total_seconds() if first and last else 0
    fits = MAX_BUCKETS - 1
    for size in BUCKET_SIZES:
        if span < size * fits:
            return size
    return math.ceil(span / fits / 86400) * 86400


def _timeline(run: TaskRun, first: datetime | None, last: datetime | None) -> Timeline:
    """Submissions (and late ones) per bucket, from the first to the last (one
    query; none without submissions)."""
    size = bucket_size(first, last)
    if first is None or last is None:
        return Timeline(bucket_seconds=size, buckets=[], first=None, last=None)
    agent = Agent._meta.db_table
    sql = f"""
        SELECT {_epoch_seconds("submitted_at")} / %s AS bucket, COUNT(*),
               SUM(CASE WHEN is_late THEN 1 ELSE 0 END)
        FROM {agent}
        WHERE run_id = %s AND submitted_at IS NOT NULL
        GROUP BY bucket
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [size, run.pk])
        counts = {bucket: (n, late) for bucket, n, late in cursor.fetchall()}
    start = int(first.timestamp()) // size
    end = int(last.timestamp()) // size
    buckets = [
        Bucket(
            start=datetime.fromtimestamp(b * size, tz=UTC),
            submissions=counts.get(b, (0, 0))[0],
            late=counts.get(b, (0, 0))[1],
        )
        for b in range(start, end + 1)
    ]
    return Timeline(bucket_seconds=size, buckets=buckets, first=first, last=last)


def _top_workers(run: TaskRun, limit: int) -> tuple[list[WorkerRow], int]:
    """The `limit` (at least 1) workers holding most of the run's units, with
    their approved, rejected and late counts and median work time, and how many
    workers hold units in all (one query)."""
    unit, agent, worker = (
        Unit._meta.db_table,
        Agent._meta.db_table,
        Worker._meta.db_table,
    )
    sql = f"""
        WITH per_worker AS (
            SELECT worker_id, COUNT(*) AS units,
                   SUM(CASE WHEN status = %s THEN 1 ELSE 0 END) AS approved,
                   SUM(CASE WHEN status = %s THEN 1 ELSE 0 END) AS rejected
            FROM {unit}
            WHERE run_id = %s AND worker_id IS NOT NULL
            GROUP BY worker_id
        ), leaders AS (
            SELECT worker_id, units, approved, rejected,
                   COUNT(*) OVER () AS workers
            FROM per_worker
            ORDER BY units DESC, worker_id
            LIMIT %s
        ), d AS (
            SELECT a.worker_id,
                   {_microseconds_between("a.created_at", "a.submitted_at")} AS us,
                   CASE WHEN a.is_late THEN 1 ELSE 0 END AS late
            FROM {agent} a
            WHERE a.run_id = %s AND a.submitted_at IS NOT NULL
              AND a.worker_id IN (SELECT worker_id FROM leaders)
        ), r AS (
            SELECT worker_id, us, late,
                   ROW_NUMBER() OVER (PARTITION BY worker_id ORDER BY us) - 1 AS i,
                   COUNT(*) OVER (PARTITION BY worker_id) AS n
            FROM d
        ), times AS (
            SELECT worker_id, SUM(late) AS late, MAX(n) AS n, {_rank_picks(50)}
            FROM r
            GROUP BY worker_id
        )
        SELECT l.worker_id, w.provider_type, w.worker_name, l.units, l.approved,
               l.rejected, l.workers, t.late, t.n, t.p50_low, t.p50_high
        FROM leaders l
        JOIN {worker} w ON w.id = l.worker_id
        LEFT JOIN times t ON t.worker_id = l.worker_id
        ORDER BY l.units DESC, l.worker_id
    """
    params: list[int | str] = [
        UnitStatus.ACCEPTED.value,
        UnitStatus.REJECTED.value,
        run.pk,
        limit,
        run.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return [], 0
    workers = [
        WorkerRow(
            worker_id=pk,
            provider_type=provider,
            worker_name=name,
            units=units,
            approved=int(approved or 0),
            rejected=int(rejected or 0),
            late=int(late or 0),
            median_seconds=_interpolate(n, 50, low, high),
        )
        for (
            pk,
            provider,
            name,
            units,
            approved,
            rejected,
            _,
            late,
            n,
            low,
            high,
        ) in rows
    ]
    return workers, rows[0][6]


def _failures(run: TaskRun, limit: int) -> tuple[int, list[FailedCall]]:
    """How many of the run's provider calls failed, and the latest `limit` of
    them (two queries)."""
    failed = ProviderCall.objects.filter(run=run, status=CallStatus.FAILED)
    counted = failed.count()
    recent = [
        FailedCall(
            call_id=call.pk,
            operation=call.operation,
            attempts=call.attempts,
            error=call.error,
            updated_at=call.updated_at,
        )
        for call in failed.order_by("-updated_at", "-pk").only(
            "operation", "attempts", "error", "updated_at"
        )[:limit]
    ]
    return counted, recent


# --- words ------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """A duration for people: "48.2 s", "3 min 05 s", "2 h 10 min", "1 d 4 h";
    "–" for none."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def bucket_words(seconds: int) -> str:
    """A bucket size as the chart's axis names it: "per 15 minutes"."""
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600)):
        if seconds % size == 0:
            count = seconds // size
            return f"per {unit}" if count == 1 else f"per {count} {unit}s"
    minutes = seconds // 60
    return "per minute" if minutes == 1 else f"per {minutes} minutes"
