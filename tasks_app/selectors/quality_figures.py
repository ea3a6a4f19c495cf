"""A run's screening and gold figures, as its dashboard and `run_status` show
them: how many of the workers it screened passed, failed or wait for a verdict,
and each gold-tested worker's record: two queries for screening, one for
golds, whatever the number of workers.

A run's progress leaves quality units out (selectors.unit_counts); these
figures are where they are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from providers.registry import WorkerRef
from qualifications_app.models import GrantedQualification
from tasks_app.models import Agent, TaskRun, Unit, UnitStatus, Worker
from tasks_app.selectors.quality import (
    GOLD_UNIT_INDEX,
    SCREENING_UNIT_INDEX,
    Golds,
    Screening,
)


@dataclass(frozen=True)
class ScreeningFigures:
    """The workers the run screened, by verdict, and its screening units.

    A screened worker is one who submitted a screening unit of the run (with
    `max_screening_units` 0, any unit of it: they are screened on real units).
    Failed: holds `block_qualification`; passed: holds
    `passed_qualification_name` and not it; pending: holds neither (the hook
    has not decided yet)."""

    passed: int
    failed: int
    pending: int
    units: int  # screening units made, not expired
    max_units: int  # max_screening_units; 0: screened on real units


@dataclass(frozen=True)
class GoldRow:
    """A worker who took a gold unit of the run, with their gold record (the
    counters under `gold_qualification_base`, shared by every run using it)."""

    worker: str  # PROVIDER:ID
    correct: int
    wrong: int
    disqualified: bool


def _holds(name: str) -> Exists:
    """Whether the worker of the outer query holds qualification `name`."""
    return Exists(
        GrantedQualification.objects.filter(
            worker=OuterRef("pk"), qualification__name=name
        )
    )


def screening_figures(*, run: TaskRun, screening: Screening) -> ScreeningFigures:
    """`run`'s screening figures (two queries)."""
    index = (
        Q(unit__unit_index__gte=0)
        if screening.on_real_units
        else Q(unit__unit_index=SCREENING_UNIT_INDEX)
    )
    screened = Agent.objects.filter(index, run=run, submitted_at__isnull=False)
    passed, blocked = _holds(screening.passed_name), _holds(screening.blocked_name)
    # Counted over the screened workers, each once: the verdict is the
    # worker's, however many screening units they submitted.
    figures = Worker.objects.filter(pk__in=screened.values("worker")).aggregate(
        failed=Count("pk", filter=Q(blocked)),
        passed=Count("pk", filter=Q(passed) & ~Q(blocked)),
        pending=Count("pk", filter=~Q(passed) & ~Q(blocked)),
    )
    made = (
        Unit.objects.filter(run=run, unit_index=SCREENING_UNIT_INDEX)
        .exclude(status=UnitStatus.EXPIRED)
        .count()
    )
    return ScreeningFigures(
        passed=figures["passed"],
        failed=figures["failed"],
        pending=figures["pending"],
        units=made,
        max_units=screening.max_units,
    )


def gold_rows(*, run: TaskRun, golds: Golds) -> list[GoldRow]:
    """Every worker who took a gold unit of `run`, by PROVIDER:ID, with their
    gold record (one query)."""

    def value(name: str) -> Coalesce:
        held = GrantedQualification.objects.filter(
            worker=OuterRef("pk"), qualification__name=name
        )
        return Coalesce(Subquery(held.values("value")[:1]), 0)

    tested = Agent.objects.filter(run=run, unit__unit_index=GOLD_UNIT_INDEX)
    rows = (
        Worker.objects.filter(pk__in=tested.values("worker"))
        .annotate(
            correct=value(golds.correct_name),
            wrong=value(golds.wrong_name),
            disqualified=_holds(golds.disqualified_name),
        )
        .order_by("provider_type", "worker_name")
        .values_list("provider_type", "worker_name", "correct", "wrong", "disqualified")
    )
    return [
        GoldRow(
            worker=WorkerRef(provider, name).label,
            correct=correct,
            wrong=wrong,
            disqualified=bool(disqualified),
        )
        for provider, name, correct, wrong, disqualified in rows
    ]
