"""A run's quality units as Mephisto configures them: screening (its
`ScreenTaskRequired`) and golds (its `UseGoldUnit`), read from the frozen config,
and what a worker's record says about them.

Quality units are made on demand for one worker and are not data: a screening
unit has `unit_index` SCREENING_UNIT_INDEX (-1), a gold unit GOLD_UNIT_INDEX
(-2), as Mephisto numbers them, each under an assignment of its own with a
negative `row_index`. They never count toward a run's progress or completion.

A worker's gold record is kept in local qualifications (never mirrored to a
provider), named from `gold_qualification_base` as Mephisto names them:
`<base>-correct-golds`, `<base>-wrong-golds`, `<base>-completed-count` (real
units submitted) and `<base>-disqualified`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qualifications_app.models import GrantedQualification
from tasks_app.models import TaskRun, Worker

SCREENING_UNIT_INDEX = -1
GOLD_UNIT_INDEX = -2
QUALITY_UNIT_KINDS = {SCREENING_UNIT_INDEX: "screening", GOLD_UNIT_INDEX: "gold"}


@dataclass(frozen=True)
class Screening:
    """`mephisto.blueprint`'s screening settings of a run."""

    passed_name: str  # passed_qualification_name: granted on a pass
    blocked_name: str  # block_qualification: granted on a fail
    max_units: int  # max_screening_units; 0: screen on real units
    # With max_screening_units 0 (Mephisto's screening_data_factory False) a
    # worker not yet screened gets a real unit, judged when submitted.
    on_real_units: bool


@dataclass(frozen=True)
class Golds:
    """`mephisto.blueprint`'s gold settings of a run."""

    base: str  # gold_qualification_base
    max_units: int  # max_gold_units
    min_golds: int
    max_incorrect: int  # max_incorrect_golds

    @property
    def correct_name(self) -> str:
        return f"{self.base}-correct-golds"

    @property
    def wrong_name(self) -> str:
        return f"{self.base}-wrong-golds"

    @property
    def completed_name(self) -> str:
        return f"{self.base}-completed-count"

    @property
    def disqualified_name(self) -> str:
        return f"{self.base}-disqualified"

    @property
    def counter_names(self) -> tuple[str, str, str, str]:
        return (
            self.correct_name,
            self.wrong_name,
            self.completed_name,
            self.disqualified_name,
        )


def _blueprint(run: TaskRun) -> dict[str, Any]:
    return (run.resolved_config or {}).get("mephisto", {}).get("blueprint", {})


def screening_of(run: TaskRun) -> Screening | None:
    """The run's screening settings, or None when it screens nobody."""
    blueprint = _blueprint(run)
    if blueprint.get("use_screening_task") is not True:
        return None
    max_units = int(blueprint.get("max_screening_units") or 0)
    return Screening(
        passed_name=str(blueprint["passed_qualification_name"]),
        blocked_name=str(blueprint["block_qualification"]),
        max_units=max_units,
        on_real_units=max_units == 0,
    )


def golds_of(run: TaskRun) -> Golds | None:
    """The run's gold settings, or None when it gives no golds."""
    blueprint = _blueprint(run)
    if blueprint.get("use_golds") is not True:
        return None
    return Golds(
        base=str(blueprint["gold_qualification_base"]),
        max_units=int(blueprint.get("max_gold_units") or 0),
        min_golds=int(blueprint.get("min_golds", 1)),
        max_incorrect=int(blueprint.get("max_incorrect_golds", 0)),
    )


def uses_quality_units(run: TaskRun) -> bool:
    return screening_of(run) is not None or golds_of(run) is not None


@dataclass(frozen=True)
class GoldRecord:
    """A worker's gold counters, as the local qualifications hold them."""

    completed: int  # real units submitted
    correct: int
    wrong: int
    disqualified: bool


def gold_record(*, worker: Worker, golds: Golds) -> GoldRecord:
    """`worker`'s record on `golds` (zeros for a worker never seen)."""
    held = (
        dict(
            GrantedQualification.objects.filter(
                worker=worker, qualification__name__in=golds.counter_names
            ).values_list("qualification__name", "value")
        )
        if worker.pk is not None
        else {}
    )
    return record_from(held, golds)


def record_from(held: dict[str, int], golds: Golds) -> GoldRecord:
    """The record from a worker's qualification values (name -> value)."""
    return GoldRecord(
        completed=held.get(golds.completed_name, 0),
        correct=held.get(golds.correct_name, 0),
        wrong=held.get(golds.wrong_name, 0),
        disqualified=golds.disqualified_name in held,
    )


def gold_rules(run: TaskRun) -> tuple[Any, Any]:
    """(worker_needs_gold, worker_qualifies) for `run`: its hooks' own, as
    Mephisto's GoldUnitSharedState takes them, else the defaults below."""
    from tasks_app.hooks import run_hooks

    hooks = run_hooks(run)
    return (
        hooks.get("worker_needs_gold", worker_needs_gold),
        hooks.get("worker_qualifies", worker_qualifies),
    )


def worker_needs_gold(
    units_completed: int, num_correct: int, num_incorrect: int, min_golds: int
) -> bool:
    """Mephisto's schedule: golds until `min_golds` are correct, then one more
    whenever the correct golds beyond those (less the wrong ones) fall behind
    ceil(log10(n + 1) ** 2.2) - 1 after n real units (about one gold in the
    first 10 units, 5% at 100, 1% at 1,000)."""
    if num_correct < min_golds:
        return True
    excess = num_correct - (min_golds + num_incorrect)
    target = math.ceil(math.pow(math.log10(units_completed + 1), 2.2)) - 1
    return excess < target


def worker_qualifies(
    units_completed: int, num_correct: int, num_incorrect: int, max_incorrect: int
) -> bool:
    """Mephisto's strikes: a worker qualifies while their wrong golds are at
    most `max_incorrect_golds` (its documented rule; its code blocked after the
    first wrong gold whatever the setting)."""
    return num_incorrect <= max_incorrect


def run_gold_records(*, run: TaskRun, golds: Golds) -> dict[str, GoldRecord]:
    """{PROVIDER:ID: gold record} of every worker who has an agent in `run` and
    holds a gold counter, in one query."""
    from collections import defaultdict

    held: dict[str, dict[str, int]] = defaultdict(dict)
    grants = GrantedQualification.objects.filter(
        worker__agents__run=run, qualification__name__in=golds.counter_names
    ).values_list(
        "worker__provider_type", "worker__worker_name", "qualification__name", "value"
    )
    for provider, name, qualification, value in grants.distinct():
        held[f"{provider}:{name}"][qualification] = value
    return {worker: record_from(values, golds) for worker, values in held.items()}
