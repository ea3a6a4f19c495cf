"""Screening and gold runs and their quality units, arranged directly: a unit
with a negative unit_index under an assignment of its own, as the arrival path
makes them for one worker (tests of the figures and the export)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from tasks_app.models import (
    AgentStatus,
    Assignment,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.selectors.quality import GOLD_UNIT_INDEX, SCREENING_UNIT_INDEX
from tests.factories import (
    AgentFactory,
    GrantedQualificationFactory,
    QualificationFactory,
    TaskRunFactory,
)

PASSED = "sentence-screened"
BLOCKED = "sentence-screen-failed"
GOLD_BASE = "sentence-golds"

AGENT_STATUS = {
    UnitStatus.ASSIGNED: AgentStatus.IN_TASK,
    UnitStatus.COMPLETED: AgentStatus.COMPLETED,
    UnitStatus.ACCEPTED: AgentStatus.APPROVED,
    UnitStatus.REJECTED: AgentStatus.REJECTED,
    UnitStatus.SOFT_REJECTED: AgentStatus.SOFT_REJECTED,
    UnitStatus.EXPIRED: AgentStatus.RETURNED,
}


def screening_run(*, max_units: int = 10, **fields: Any) -> TaskRun:
    """A running mock run that screens its workers (Mephisto's keys)."""
    blueprint = {
        "use_screening_task": True,
        "passed_qualification_name": PASSED,
        "block_qualification": BLOCKED,
        "max_screening_units": max_units,
    }
    return _run(blueprint, fields)


def gold_run(**fields: Any) -> TaskRun:
    """A running mock run that tests its workers with golds (Mephisto's keys)."""
    blueprint = {
        "use_golds": True,
        "gold_qualification_base": GOLD_BASE,
        "max_gold_units": 5,
        "min_golds": 1,
        "max_incorrect_golds": 0,
    }
    return _run(blueprint, fields)


def _run(blueprint: dict[str, Any], fields: dict[str, Any]) -> TaskRun:
    config = {"mephisto": {"blueprint": blueprint, "task": {"allowed_concurrent": 1}}}
    return TaskRunFactory(resolved_config=config, allowed_concurrent=1, **fields)


def quality_unit(
    run: TaskRun,
    kind: str = "screening",
    *,
    worker: Worker | None = None,
    status: str = UnitStatus.COMPLETED,
    inputs: dict[str, Any] | None = None,
    submission: dict[str, Any] | None = None,
) -> Unit:
    """A screening or gold unit of `run` (`kind`), under an assignment of its
    own; held by `worker` (with an agent, submitted when `status` says so) or
    open."""
    rows = Assignment.objects.filter(run=run, row_index__lt=0).count()
    assignment = Assignment.objects.create(
        run=run,
        row_index=-(rows + 1),
        data=inputs if inputs is not None else {"text": "A known answer."},
    )
    unit = Unit.objects.create(
        assignment=assignment,
        run=run,
        unit_index=SCREENING_UNIT_INDEX if kind == "screening" else GOLD_UNIT_INDEX,
        status=status,
        worker=worker if status != UnitStatus.EXPIRED else None,
        pay_amount=run.task_reward,
    )
    if worker is not None:
        done = status not in (UnitStatus.ASSIGNED, UnitStatus.EXPIRED)
        AgentFactory(
            unit=unit,
            worker=worker,
            status=AGENT_STATUS[UnitStatus(status)],
            submission=(submission or {"rating": "good"}) if done else None,
            submitted_at=timezone.now() if done else None,
        )
    return unit


def grant(worker: Worker, name: str, value: int = 1) -> None:
    GrantedQualificationFactory(
        worker=worker, qualification=QualificationFactory(name=name), value=value
    )


def gold_record(worker: Worker, *, correct: int = 0, wrong: int = 0) -> None:
    """`worker`'s gold counters under GOLD_BASE (absent when 0, as never
    granted)."""
    for suffix, value in (("correct-golds", correct), ("wrong-golds", wrong)):
        if value:
            grant(worker, f"{GOLD_BASE}-{suffix}", value)
