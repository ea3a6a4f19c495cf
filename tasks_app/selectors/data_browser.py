"""Results for analysis in Python, as Mephisto's DataBrowser gives them.

    from tasks_app.selectors import DataBrowser

    browser = DataBrowser()
    units = browser.get_units_for_task_name("sentence-rating-pilot-1")
    rows = [browser.get_data_from_unit(unit) for unit in units]

The method names and the keys of a unit's dict are those of Mephisto's
`mephisto.tools.data_browser.DataBrowser`, so an analysis ported from Mephisto
keeps working; what crowdsite knows beyond them (the worker as `PROVIDER:ID`,
the review, bonuses, work time, files, metadata, the late flag) is under keys of
its own. docs/results-in-python.md lists them, and where crowdsite differs.

It only reads, and each call takes a fixed number of queries whatever the
number of units: units come with their assignment and task name, and with their
submissions, each with its worker, review decision and bonuses, prefetched, so
`get_data_from_unit` on a unit from `get_units_for_*` makes no query at all.
`iter_results` reads the units a chunk at a time, in constant memory.

A unit's dict is about one submission. When the unit has more than one (a late
one beside its holder's), it is the export's choice (selectors.export): the
one its review decision is about, else its holder's (the worker the unit is
assigned to), else an on-time one, else the latest. `get_submissions_from_unit`
gives all of them, that one first.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet

from providers.registry import WorkerRef
from qualifications_app.models import (
    DECISION_ACTIONS,
    GrantedQualification,
    Qualification,
    WorkerReview,
)
from tasks_app.models import (
    Agent,
    Payment,
    PaymentKind,
    PaymentState,
    Task,
    Unit,
)
from tasks_app.selectors.export import ExportError, find_runs
from tasks_app.uploads import agent_files

# Units read from the database at a time by iter_results.
CHUNK_SIZE = 2000

# Where a unit read here keeps its task name and its submissions, and a
# submission its decision and bonuses (Prefetch to_attr).
_TASK_NAME = "browser_task_name"
_SUBMISSIONS = "browser_submissions"
_DECISIONS = "browser_decisions"
_BONUSES = "browser_bonuses"


class DataBrowserError(LookupError):
    """A run, task, qualification or submission that isn't there; the message
    names it (and, for a name, the closest names there are)."""


class DataBrowser:
    """Read-only access to results, with Mephisto's DataBrowser's methods."""

    def get_task_name_list(self) -> list[str]:
        """Every task name, in name order."""
        names = Task.objects.order_by("task_name").values_list("task_name", flat=True)
        return list(names)

    def get_units_for_task_name(self, task_name: str) -> list[Unit]:
        """The units with a submission of every run of `task_name`, by run, then
        unit."""
        return list(self._units(_run_ids(task_name=task_name)))

    def get_units_for_run_id(self, run_id: int | str) -> list[Unit]:
        """The units with a submission of run `run_id`, in unit order."""
        return list(self._units(_run_ids(run_id=_run_id(run_id))))

    def get_data_from_unit(self, unit: Unit) -> dict[str, Any]:
        """The unit's submission as a dict (Mephisto's keys, then crowdsite's);
        of several, the one the export picks (see the module docstring)."""
        return self.get_submissions_from_unit(unit)[0]

    def get_submissions_from_unit(self, unit: Unit) -> list[dict[str, Any]]:
        """Every submission of the unit as get_data_from_unit's dict, the one it
        returns first; raises DataBrowserError if nobody submitted."""
        if not hasattr(unit, _SUBMISSIONS):
            # A unit not read here: read it again with what the dicts need.
            found = self._with_submissions(Unit.objects.filter(pk=unit.pk)).first()
            if found is None:
                raise DataBrowserError(f"there is no unit {unit.pk}")
            unit = found
        agents = _ranked(unit)
        if not agents:
            raise DataBrowserError(
                f"unit {unit.pk} has no submission (status {unit.status})"
            )
        return [_as_dict(unit, agent, len(agents)) for agent in agents]

    def get_workers_with_qualification(
        self, qualification_name: str, value: int | None = 1
    ) -> list[str]:
        """The workers (`PROVIDER:ID`, in that order) holding the qualification
        with `value` (Mephisto's 1 by default; None: any value). A revoked
        grant is deleted, so every grant there is counts."""
        qualification = Qualification.objects.filter(name=qualification_name).first()
        if qualification is None:
            names = Qualification.objects.values_list("name", flat=True)
            raise DataBrowserError(
                f"there is no qualification named {qualification_name!r}"
                + _did_you_mean(qualification_name, names)
            )
        grants = GrantedQualification.objects.filter(qualification=qualification)
        if value is not None:
            grants = grants.filter(value=value)
        workers = grants.order_by(
            "worker__provider_type", "worker__worker_name"
        ).values_list("worker__provider_type", "worker__worker_name")
        return [WorkerRef(provider, name).label for provider, name in workers]

    def iter_results(
        self,
        run_id: int | str | None = None,
        task_name: str | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """get_data_from_unit's dict for each unit with a submission of run
        `run_id` or of every run of `task_name`, read `chunk_size` units at a
        time. An unknown run or task is refused here, before the first dict."""
        if (run_id is None) == (task_name is None):
            raise ValueError("give run_id or task_name (one of them)")
        if run_id is not None:
            run_ids = _run_ids(run_id=_run_id(run_id))
        else:
            run_ids = _run_ids(task_name=task_name)
        units = self._units(run_ids).iterator(chunk_size=chunk_size)
        return (self.get_data_from_unit(unit) for unit in units)

    def _units(self, run_ids: Iterable[int]) -> QuerySet[Unit]:
        submitted = Agent.objects.filter(
            unit=OuterRef("pk"), submitted_at__isnull=False
        )
        units = Unit.objects.filter(run_id__in=list(run_ids)).filter(Exists(submitted))
        return self._with_submissions(units).order_by("run_id", "pk")

    @staticmethod
    def _with_submissions(units: QuerySet[Unit]) -> QuerySet[Unit]:
        # The decision in force: a rejection overridden by a later approval
        # stays on record beside it, marked.
        decisions = WorkerReview.objects.filter(
            action__in=list(DECISION_ACTIONS), overridden_at__isnull=True
        ).only("agent_id", "action", "reason")
        # Bonuses not failed: paid, pending, or ambiguous (maybe paid), as the
        # export sums them.
        bonuses = (
            Payment.objects.filter(kind=PaymentKind.BONUS)
            .exclude(state=PaymentState.FAILED)
            .only("agent_id", "amount")
        )
        submissions = (
            Agent.objects.filter(submitted_at__isnull=False)
            .select_related("worker")
            .prefetch_related(
                Prefetch("reviews", queryset=decisions, to_attr=_DECISIONS),
                Prefetch("payments", queryset=bonuses, to_attr=_BONUSES),
            )
        )
        # The run (and its stored config) is not joined: only its task's name
        # is read, once per unit.
        return (
            units.select_related("assignment")
            .annotate(**{_TASK_NAME: F("run__task__task_name")})
            .prefetch_related(
                Prefetch("agents", queryset=submissions, to_attr=_SUBMISSIONS)
            )
        )


def _run_id(run_id: int | str) -> int:
    try:
        return int(run_id)
    except (TypeError, ValueError):
        raise DataBrowserError(f"{run_id!r} is not a run id") from None


def _run_ids(*, run_id: int | None = None, task_name: str | None = None) -> list[int]:
    try:
        return find_runs(run_id=run_id, task_name=task_name)
    except ExportError as exc:
        raise DataBrowserError(str(exc)) from None


def _did_you_mean(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=3)
    return f"; did you mean {', '.join(repr(n) for n in close)}?" if close else ""


def _ranked(unit: Unit) -> list[Agent]:
    """The unit's submissions, the one its dict is about first: decided, the
    holder's, on time, latest (the export's order)."""
    return sorted(
        getattr(unit, _SUBMISSIONS),
        key=lambda agent: (
            not getattr(agent, _DECISIONS),
            agent.worker_id != unit.worker_id,
            agent.is_late,
            -agent.pk,
        ),
    )


def _as_dict(unit: Unit, agent: Agent, submissions: int) -> dict[str, Any]:
    decisions: list[WorkerReview] = getattr(agent, _DECISIONS)
    # One decision in force per agent (workerreview_one_decision_per_agent).
    decision = decisions[0] if decisions else None
    bonuses: list[Payment] = getattr(agent, _BONUSES)
    bonus = sum((p.amount for p in bonuses), Decimal("0")) if bonuses else None
    started, submitted = agent.created_at, agent.submitted_at
    assert submitted is not None  # only submitted agents are read
    return {
        # Mephisto's keys.
        "worker_id": agent.worker_id,
        "unit_id": unit.pk,
        "assignment_id": unit.assignment_id,
        "status": agent.status,
        "data": {"inputs": unit.assignment.data, "outputs": agent.submission},
        "task_start": started.timestamp(),
        "task_end": submitted.timestamp(),
        # crowdsite's.
        "worker": WorkerRef(agent.worker.provider_type, agent.worker.worker_name).label,
        "agent_id": agent.pk,
        "task_run_id": unit.run_id,
        "task_name": getattr(unit, _TASK_NAME),
        "unit_index": unit.unit_index,
        "unit_status": unit.status,
        "review": {
            "decision": decision.action if decision else None,
            "feedback": decision.reason if decision else None,
            "bonus": bonus,
        },
        "accepted_at": started,
        "submitted_at": submitted,
        "work_time_s": round((submitted - started).total_seconds(), 3),
        "files": agent_files(agent),
        "metadata": agent.metadata,
        "late": agent.is_late,
        "submissions": submissions,
    }
