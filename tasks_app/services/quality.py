"""Screening and gold units: made on demand for one worker, and judged when
submitted (DESIGN §8, quality units).

An arrival whose worker needs screening or a gold (the `screening` and
`golds` rules of `eligibility`) gets a quality unit made for them here, under
the run's row lock, so the run's cap (`max_screening_units`,
`max_gold_units`) holds whatever number of workers arrive at once. Its inputs
come from the hooks (`screening_data_factory`, `get_gold_for_worker`) or the
run's gold data file. On a provider where the worker arrived through a slot of
a real unit (an MTurk HIT, a Prolific place), that unit becomes the quality
unit, keeping its slot, and a new unit takes its place in its data row, to be
posted by the top-up.

Its submission is judged after commit (`judge_submission`): screening grants
`passed_qualification_name` or `block_qualification` through the qualification
services (mirrored to the provider); a gold counts right or wrong in local
qualifications and disqualifies past `max_incorrect_golds`. A quality unit
that is not submitted (returned, timed out) expires and frees its place under
the cap.
"""

from __future__ import annotations

import itertools
import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction

from providers.outbox import enqueue_on_commit
from providers.registry import get_provider_class
from qualifications_app import services as qualification_services
from tasks_app import selectors
from tasks_app.eligibility import NO_GOLDS_LEFT, NO_SCREENING_LEFT, grant_values
from tasks_app.hooks import run_hooks
from tasks_app.models import (
    Agent,
    Assignment,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from tasks_app.selectors.quality import (
    GOLD_UNIT_INDEX,
    SCREENING_UNIT_INDEX,
    Golds,
    Screening,
    gold_record,
    gold_rules,
    golds_of,
    screening_of,
)
from tasks_app.worker_sql import ClaimedUnit

logger = logging.getLogger(__name__)

QUALITY_NOT_AFFORDABLE = (
    "This task is not taking new workers right now. Please try again later."
)


class HookWorker(dict):
    """The worker as the hooks see it: `worker["worker_id"]` ("PROVIDER:ID") or
    Mephisto's attributes (`worker.db_id`, `worker.worker_name`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def hook_worker(worker: Worker) -> HookWorker:
    return HookWorker(
        worker_id=f"{worker.provider_type}:{worker.worker_name}",
        worker_name=worker.worker_name,
        provider_type=worker.provider_type,
        db_id=worker.pk,
    )


@transaction.atomic
def give_quality_unit(
    *, run: TaskRun, worker: Worker, kind: int, provider_unit_id: str = ""
) -> ClaimedUnit | str:
    """Make a screening (`kind` SCREENING_UNIT_INDEX) or gold unit for
    `worker`, assigned to them; or the reason there is none to give.

    The arrival calls it under the worker's row lock, in its transaction: the
    run's row is locked here, so two arrivals can't both take the last place
    under the cap.
    """
    TaskRun.objects.select_for_update().filter(pk=run.pk).values_list("pk").get()
    units = Unit.objects.filter(run=run, unit_index=kind)
    screening, golds = screening_of(run), golds_of(run)
    if kind == SCREENING_UNIT_INDEX:
        assert screening is not None, "a screening unit on a run that screens"
        cap, refusal = screening.max_units, NO_SCREENING_LEFT
    else:
        assert golds is not None, "a gold unit on a run that gives golds"
        cap, refusal = golds.max_units, NO_GOLDS_LEFT
    # Expired ones (returned, timed out) gave their place back.
    if units.exclude(status=UnitStatus.EXPIRED).count() >= cap:
        return refusal
    if kind == SCREENING_UNIT_INDEX:
        inputs = _screening_inputs(run, made=units.count())
    else:
        inputs = _gold_inputs(run, worker)
    if inputs is None:
        return refusal
    if not _affordable(run):
        return QUALITY_NOT_AFFORDABLE
    lowest = (
        Assignment.objects.filter(run=run, row_index__lt=0)
        .order_by("row_index")
        .values_list("row_index", flat=True)
        .first()
    )
    assignment = Assignment.objects.create(
        run=run, row_index=(lowest or 0) - 1, data=inputs
    )
    unit = _take_over_slot(run, worker, kind, assignment, provider_unit_id)
    if unit is None:
        unit = Unit.objects.create(
            assignment=assignment,
            run=run,
            unit_index=kind,
            status=UnitStatus.ASSIGNED,
            worker=worker,
            pay_amount=run.task_reward,
        )
    return ClaimedUnit(unit_id=unit.pk, assignment_data=inputs)


def _screening_inputs(run: TaskRun, *, made: int) -> dict[str, Any] | None:
    """The next screening unit's inputs: item `made` of the hooks' generator
    (a fresh one each time, so every process agrees on the sequence)."""
    factory = run_hooks(run).get("screening_data_factory")
    if factory is None:
        return None
    try:
        found = next(itertools.islice(factory(), made, None), None)
    except Exception:
        logger.exception("screening_data_factory failed for run %s", run.pk)
        return None
    return found if isinstance(found, dict) else None


def _gold_inputs(run: TaskRun, worker: Worker) -> dict[str, Any] | None:
    """A gold's inputs for `worker`: from `get_gold_for_worker`, or the next of
    the gold data file's rows this worker has seen least in this run."""
    factory = run_hooks(run).get("get_gold_for_worker")
    if factory is not None:
        try:
            found = factory(hook_worker(worker))
        except Exception:
            logger.exception("get_gold_for_worker failed for run %s", run.pk)
            return None
        return found if isinstance(found, dict) else None
    rows = run.shared_state.get("gold_data") or []
    if not rows:
        return None
    done = Unit.objects.filter(
        run=run, unit_index=GOLD_UNIT_INDEX, worker=worker
    ).count()
    # A different starting row per worker, then each row in turn.
    return rows[(worker.pk + done) % len(rows)]["inputs"]


def _affordable(run: TaskRun) -> bool:
    """Whether one more unit's reward (with the fee) fits `mephisto.task.budget`."""
    budget = selectors.run_budget(run)
    if budget is None:
        return True
    rate = get_provider_class(run.provider_type).fee_rate
    committed = selectors.run_commitment(run=run, fee_rate=rate).total
    cost = (run.task_reward * (1 + rate)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return committed + cost <= budget


def _take_over_slot(
    run: TaskRun,
    worker: Worker,
    kind: int,
    assignment: Assignment,
    provider_unit_id: str,
) -> Unit | None:
    """The unit whose provider slot the worker arrived through (an MTurk HIT, a
    Prolific place), made the quality unit: it keeps its slot, so the worker is
    paid through it, and a new unit takes its place in its data row, posted by
    the top-up on a slot of its own (a new unit id is a new HIT: MTurk's request
    token is the unit's). None when the arrival named no slot."""
    if not provider_unit_id:
        return None
    slot = (
        Unit.objects.filter(
            run=run,
            status=UnitStatus.LAUNCHED,
            unit_index__gte=0,
            provider_unit_id=provider_unit_id,
        )
        .order_by("-pk")
        .select_for_update(skip_locked=True)
        .first()
    )
    if slot is None:
        return None
    row, index = slot.assignment_id, slot.unit_index
    if not Unit.objects.filter(pk=slot.pk, status=UnitStatus.LAUNCHED).update(
        assignment=assignment,
        unit_index=kind,
        status=UnitStatus.ASSIGNED,
        worker=worker,
    ):
        return None
    Unit.objects.create(
        assignment_id=row,
        run=run,
        unit_index=index,
        status=UnitStatus.CREATED,
        pay_amount=slot.pay_amount,
    )
    enqueue_on_commit(task="tasks_app.tasks.launch_units", kwargs={"run_id": run.pk})
    slot.refresh_from_db()
    return slot


# --- judging what was submitted ----------------------------------------------------


def judge_submission(*, public_id: str) -> str | None:
    """Judge a submitted agent's work if its run screens or gives golds: what
    was recorded ("passed", "blocked", "undecided", "right", "wrong",
    "counted"), or None when there is nothing to judge. Called once per stored
    submission, after its commit; a hook that fails leaves it undecided."""
    agent = (
        Agent.objects.select_related("unit__assignment", "worker", "run")
        .filter(public_id=public_id)
        .first()
    )
    if agent is None or agent.submitted_at is None:
        return None
    run, unit = agent.run, agent.unit
    screening, golds = screening_of(run), golds_of(run)
    if screening is not None:
        return _judge_screening(agent, unit, screening)
    if golds is not None:
        return _judge_gold(agent, unit, golds)
    return None


def _unit_data(agent: Agent, unit: Unit) -> dict[str, Any]:
    outputs = agent.submission
    if isinstance(outputs, dict) and set(outputs) == {"final_data", "files"}:
        outputs = outputs["final_data"]
    return {"inputs": unit.assignment.data, "outputs": outputs}


def _call(run: TaskRun, name: str, *args: Any) -> Any:
    hook = run_hooks(run).get(name)
    if hook is None:
        return None
    try:
        return hook(*args)
    except Exception:
        logger.exception("%s failed for run %s", name, run.pk)
        return None


def _judge_screening(agent: Agent, unit: Unit, screening: Screening) -> str | None:
    worker = agent.worker
    held = grant_values(
        worker=worker, names=[screening.passed_name, screening.blocked_name]
    )
    if unit.unit_index != SCREENING_UNIT_INDEX:
        # Screening on real units: only a worker not yet judged is judged.
        if not screening.on_real_units or held:
            return None
    elif held:
        return None  # judged already (a late second screening, say)
    result = _call(agent.run, "validate_screening_unit", _unit_data(agent, unit))
    if result is True:
        name = screening.passed_name
    elif result is False:
        name = screening.blocked_name
    else:
        return "undecided"
    qualification_services.grant_qualification(
        worker=worker,
        name=name,
        value=1,
        reason=f"screening unit {unit.pk} of run {agent.run_id}",
        unit=unit,
    )
    return "passed" if result else "blocked"


def _judge_gold(agent: Agent, unit: Unit, golds: Golds) -> str:
    """Count a real unit, or a gold right or wrong (undecided: not counted)."""
    worker, run = agent.worker, agent.run
    reason = f"unit {unit.pk} of run {run.pk}"
    if unit.unit_index != GOLD_UNIT_INDEX:
        qualification_services.count_qualification(
            worker=worker, name=golds.completed_name, reason=reason, unit=unit
        )
        return "counted"
    right = _gold_is_right(run, agent, unit)
    if right is None:
        return "undecided"  # the hook said None or failed: nothing is counted
    qualification_services.count_qualification(
        worker=worker,
        name=golds.correct_name if right else golds.wrong_name,
        reason=reason,
        unit=unit,
    )
    record = gold_record(worker=worker, golds=golds)
    _, qualifies = gold_rules(run)
    if not record.disqualified and not qualifies(
        record.completed, record.correct, record.wrong, golds.max_incorrect
    ):
        qualification_services.grant_qualification(
            worker=worker,
            name=golds.disqualified_name,
            value=1,
            reason=(
                f"{record.wrong} wrong golds of {record.correct + record.wrong}, "
                f"more than max_incorrect_golds {golds.max_incorrect} ({reason})"
            ),
            unit=unit,
            mirror=False,
        )
    return "right" if right else "wrong"


def _gold_is_right(run: TaskRun, agent: Agent, unit: Unit) -> bool | None:
    """True or False; None when `validate_gold_unit` can't tell (returned None,
    or failed), as Mephisto leaves such a gold uncounted."""
    data = _unit_data(agent, unit)
    if "validate_gold_unit" in run_hooks(run):
        result = _call(run, "validate_gold_unit", data)
        return result if isinstance(result, bool) else None
    expected = next(
        (
            row["expected"]
            for row in run.shared_state.get("gold_data") or []
            if row["inputs"] == data["inputs"]
        ),
        None,
    )
    outputs = data["outputs"]
    if expected is None or not isinstance(outputs, dict):
        return False
    return all(
        _as_text(outputs.get(field)) == _as_text(value)
        for field, value in expected.items()
    )


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()
