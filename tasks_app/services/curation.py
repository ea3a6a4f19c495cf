"""Curating a qualification from a run's figures: grant it to the workers whose
agreement with the aggregate label (or gold accuracy) reaches a minimum over
enough units, or revoke it from those below it.

The figures are `selectors.agreement.run_agreement`'s, over the workers who
answered the field. A worker's units are, for agreement, their answers on rows
with two answers or more (the only ones an agreement can be measured on) and,
for gold accuracy, their judged golds (right + wrong in their gold record, the
counters under the run's `gold_qualification_base`, shared by the runs using
it). A worker with fewer than `min_units` is left alone either way: too little
to judge them on.

Grants and revokes go through the qualification services, so each leaves a
`WorkerReview` audit row whose reason carries the figures, and is mirrored to
the worker's provider after commit.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from qualifications_app.models import GrantedQualification, Qualification
from qualifications_app.services import grant_qualification, revoke_qualification
from tasks_app.models import TaskRun, Worker
from tasks_app.selectors import agreement
from tasks_app.selectors.answer_fields import answer_fields
from tasks_app.selectors.quality import Golds, golds_of, run_gold_records

if TYPE_CHECKING:
    from django.contrib.auth.models import User

GRANT, REVOKE, SKIP = "grant", "revoke", "skip"
AGREEMENT, GOLD_ACCURACY = "agreement", "gold accuracy"


class CurationError(Exception):
    """A curation that can't be made (unknown run or field, a bad threshold, a
    gold threshold on a run without golds), saying why; nothing was changed."""


@dataclass(frozen=True)
class WorkerDecision:
    """What curation does with one worker, and on which figures."""

    worker: str  # PROVIDER:ID
    action: str  # "grant", "revoke" or "skip"
    units: int  # answers on shared rows, or judged golds
    figure: float | None  # agreement or gold accuracy; None: no units
    why: str  # for a skip, why; for a grant or revoke, the audit reason

    @property
    def figure_shown(self) -> str:
        return figure_text(self.figure)


@dataclass(frozen=True)
class Curation:
    """A curation's plan, carried out unless `dry_run`."""

    run_id: int
    field: str
    measure: str  # "agreement" or "gold accuracy"
    minimum: float
    min_units: int
    action: str  # "grant" or "revoke"
    qualification: str
    dry_run: bool
    # A grant to a qualification that didn't exist creates it (as every grant does).
    creates_qualification: bool
    krippendorff_alpha: float | None
    items: int
    level: str
    method: str
    decisions: list[WorkerDecision] = dataclasses.field(default_factory=list)

    @property
    def alpha_shown(self) -> str:
        return figure_text(self.krippendorff_alpha)

    @property
    def units_name(self) -> str:
        return "judged golds" if self.measure == GOLD_ACCURACY else "units"

    def _of(self, action: str) -> list[str]:
        return [d.worker for d in self.decisions if d.action == action]

    @property
    def granted(self) -> list[str]:
        return self._of(GRANT)

    @property
    def revoked(self) -> list[str]:
        return self._of(REVOKE)

    @property
    def skipped(self) -> list[str]:
        return self._of(SKIP)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "granted": self.granted,
            "revoked": self.revoked,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class _Figure:
    worker: str
    units: int
    value: float | None


def figure_text(value: float | None) -> str:
    """A figure as the reasons show it: exact enough never to look equal to a
    minimum it misses."""
    return "none" if value is None else f"{value:.6g}"


def curate_workers(
    *,
    run_id: int,
    field: str,
    qualification: str,
    action: str,
    min_units: int,
    min_agreement: float | None = None,
    min_gold_accuracy: float | None = None,
    level: str = "nominal",
    method: str = "majority",
    dry_run: bool = False,
    created_by: User | None = None,
) -> Curation:
    """Grant `qualification` to the run's workers who reach the minimum on at
    least `min_units` units (`action` "grant"), or revoke it from those below
    it ("revoke"); everyone else is skipped, with why. All writes or none; with
    `dry_run`, the same plan and no write. Safe to run twice: a worker already
    holding (or no longer holding) the qualification is skipped."""
    measure, minimum = _threshold(min_agreement, min_gold_accuracy)
    if action not in (GRANT, REVOKE):
        raise CurationError(f"{action!r} is not an action; valid: grant, revoke")
    if min_units < 1:
        raise CurationError(f"--min-units must be at least 1, not {min_units}")
    if not qualification.strip():
        raise CurationError("the qualification name is blank")
    run = TaskRun.objects.filter(pk=run_id).first()
    if run is None:
        raise CurationError(f"there is no task run {run_id}")
    golds = golds_of(run)
    if measure == GOLD_ACCURACY and golds is None:
        raise CurationError(
            f"run {run_id} gives no golds (mephisto.blueprint.use_golds is not "
            "set), so --min-gold-accuracy has nothing to go on; use --min-agreement"
        )
    if (
        action == REVOKE
        and not Qualification.objects.filter(name=qualification).exists()
    ):
        raise CurationError(f"unknown qualification {qualification!r}")
    try:
        figures = agreement.run_agreement(
            run=run, field=field, level=level, method=method
        )
    except agreement.AgreementError as exc:
        raise CurationError(str(exc)) from exc
    if not figures.workers:
        raise CurationError(_no_answers(run, field))
    if measure == AGREEMENT:
        counted = [_Figure(w.worker, w.units, w.agreement) for w in figures.workers]
    else:
        assert golds is not None
        judged = _judged_golds(run, golds)
        counted = [
            _Figure(w.worker, judged.get(w.worker, 0), w.gold_accuracy)
            for w in figures.workers
        ]
    workers = _workers_of(run)
    # The figures are made before the transaction: crowd-kit may take seconds,
    # and no lock should be held meanwhile.
    with transaction.atomic():
        named = Qualification.objects.filter(name=qualification)
        if not dry_run:
            # The lock (when the qualification exists) makes two curations of
            # one qualification take turns, so the second sees what the first
            # granted; grants elsewhere aren't held up (no_key: a grant's
            # key-share lock doesn't wait for it).
            named = named.select_for_update(no_key=True)
        existing = named.first()
        held = _holders(existing, [workers[f.worker] for f in counted])
        context = _Context(run_id, field, measure, minimum, min_units, method)
        decisions = [
            _decide(f, action, qualification, held.get(workers[f.worker].pk), context)
            for f in counted
        ]
        if not dry_run:
            decisions = [
                _carry_out(d, workers[d.worker], qualification, created_by)
                for d in decisions
            ]
    return Curation(
        run_id=run_id,
        field=field,
        measure=measure,
        minimum=minimum,
        min_units=min_units,
        action=action,
        qualification=qualification,
        dry_run=dry_run,
        creates_qualification=existing is None
        and any(d.action == GRANT for d in decisions),
        krippendorff_alpha=figures.krippendorff_alpha,
        items=figures.items,
        level=figures.level,
        method=figures.method,
        decisions=decisions,
    )


def _threshold(
    min_agreement: float | None, min_gold_accuracy: float | None
) -> tuple[str, float]:
    if (min_agreement is None) == (min_gold_accuracy is None):
        raise CurationError("give one of --min-agreement and --min-gold-accuracy")
    if min_agreement is not None:
        measure, minimum, flag = AGREEMENT, min_agreement, "--min-agreement"
    else:
        assert min_gold_accuracy is not None
        measure, minimum, flag = GOLD_ACCURACY, min_gold_accuracy, "--min-gold-accuracy"
    if math.isnan(minimum) or not 0 <= minimum <= 1:
        raise CurationError(
            f"{flag} is a share between 0 and 1 (0.8 for 80%), not {minimum}"
        )
    return measure, minimum


def _no_answers(run: TaskRun, field: str) -> str:
    """Why there is nothing to curate on: the output fields the run's
    submissions do have."""
    seen = answer_fields(run=run)
    if not seen:
        return f"run {run.pk} has no submissions with output fields yet"
    return (
        f"run {run.pk} has no answers to field {field!r}; its submissions have "
        f"the output fields: {', '.join(seen)}"
    )


def _judged_golds(run: TaskRun, golds: Golds) -> dict[str, int]:
    """{PROVIDER:ID: right + wrong golds} of the run's workers, in one query."""
    return {
        worker: record.correct + record.wrong
        for worker, record in run_gold_records(run=run, golds=golds).items()
    }


def _workers_of(run: TaskRun) -> dict[str, Worker]:
    """The run's workers by PROVIDER:ID, as the figures name them."""
    return {
        f"{w.provider_type}:{w.worker_name}": w
        for w in Worker.objects.filter(agents__run=run).distinct()
    }


def _holders(
    qualification: Qualification | None, workers: list[Worker]
) -> dict[int, int]:
    """{worker pk: value} of those of `workers` who hold `qualification`."""
    if qualification is None:
        return {}
    return dict(
        GrantedQualification.objects.filter(
            qualification=qualification, worker__in=workers
        ).values_list("worker_id", "value")
    )


@dataclass(frozen=True)
class _Context:
    run_id: int
    field: str
    measure: str
    minimum: float
    min_units: int
    method: str


def _reason(figure: _Figure, c: _Context) -> str:
    """The audit reason: the figures the decision was made on."""
    value = figure_text(figure.value)
    if c.measure == AGREEMENT:
        return (
            f"curate_workers run {c.run_id}: agreement {value} with the {c.method} "
            f"label on {figure.units} units of field {c.field!r} (min "
            f"{c.minimum:g}, {c.min_units} units)"
        )
    return (
        f"curate_workers run {c.run_id}: gold accuracy {value} on {figure.units} "
        f"judged golds (min {c.minimum:g}, {c.min_units} golds)"
    )


def _decide(
    figure: _Figure,
    action: str,
    qualification: str,
    value_held: int | None,
    c: _Context,
) -> WorkerDecision:
    def skip(why: str) -> WorkerDecision:
        return WorkerDecision(figure.worker, SKIP, figure.units, figure.value, why)

    units = "judged golds" if c.measure == GOLD_ACCURACY else "units"
    if figure.units < c.min_units or figure.value is None:
        return skip(f"too few {units}: {figure.units} of the {c.min_units} needed")
    meets = figure.value >= c.minimum
    shown = f"{c.measure} {figure_text(figure.value)}"
    if action == GRANT:
        if not meets:
            return skip(f"{shown} is below the minimum {c.minimum:g}")
        if value_held is not None:
            return skip(f"already holds {qualification!r} (value {value_held})")
    else:
        if meets:
            return skip(f"{shown} meets the minimum {c.minimum:g}")
        if value_held is None:
            return skip(f"does not hold {qualification!r}")
    return WorkerDecision(
        figure.worker, action, figure.units, figure.value, _reason(figure, c)
    )


def _carry_out(
    decision: WorkerDecision,
    worker: Worker,
    qualification: str,
    created_by: User | None,
) -> WorkerDecision:
    if decision.action == GRANT:
        grant_qualification(
            worker=worker,
            name=qualification,
            value=1,
            reason=decision.why,
            created_by=created_by,
        )
    elif decision.action == REVOKE:
        revoked = revoke_qualification(
            worker=worker,
            name=qualification,
            reason=decision.why,
            created_by=created_by,
        )
        if not revoked:  # taken away since it was read
            return WorkerDecision(
                decision.worker,
                SKIP,
                decision.units,
                decision.figure,
                f"does not hold {qualification!r}",
            )
    return decision
