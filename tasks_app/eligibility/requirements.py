"""Qualification requirements and the words an arrival is refused with: the
run's requirements (its own and the automatic block and onboarding ones), each
comparator's Python test, words and SQL term, and the counts the limits read."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from qualifications_app.models import GrantedQualification
from tasks_app.models import (
    UNIT_HELD_STATUSES,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)

NO_UNITS_LEFT = "There are no units left in this task for you right now."


NOT_RUNNING = "This task is not accepting work right now."


RUN_ENDED = "There are no units left in this task: it has ended."


FAILED_ONBOARDING = (
    "You did not pass the onboarding for this task, so you can't work on it."
)


NO_SCREENING_LEFT = (
    "This task is not taking new workers right now: its screening places are "
    "all in use. Please try again later."
)


NO_GOLDS_LEFT = (
    "This task is not taking new workers right now: it has no check units "
    "left to give. Please try again later."
)


DISQUALIFIED_BY_GOLDS = (
    "You answered too many of this task's check questions wrongly, so you can't "
    "work on it any more."
)


@dataclass(frozen=True)
class Verdict:
    rule: str
    passed: bool
    reason: str = ""
    # Passed, but the worker is given an onboarding before any unit.
    onboard: bool = False
    # Passed, but the worker is given a quality unit of this index (screening,
    # gold) made for them rather than a unit of the run's data.
    quality: int | None = None


def failed_onboarding_name(onboarding: str) -> str:
    """The qualification a worker who failed `onboarding` is given (Mephisto's
    `<onboarding_qualification>-failed`), which the automatic rule refuses."""
    return f"{onboarding}-failed"


def automatic_qualification_names(blueprint: dict[str, Any]) -> list[str]:
    """The qualifications the platform manages for a run of `blueprint` (its
    onboarding pass and fail, its block), created at launch."""
    names = []
    onboarding = blueprint.get("onboarding_qualification")
    if onboarding:
        names += [onboarding, failed_onboarding_name(onboarding)]
    block = blueprint.get("block_qualification")
    if block:
        names.append(block)
    return names


def onboarding_qualification(run: TaskRun) -> str | None:
    return (
        run.resolved_config.get("mephisto", {})
        .get("blueprint", {})
        .get("onboarding_qualification")
    )


def requirements(run: TaskRun) -> list[dict[str, Any]]:
    """The run's qualification requirements, with the automatic ones added."""
    blueprint = run.resolved_config.get("mephisto", {}).get("blueprint", {})
    automatic = []
    if blueprint.get("block_qualification"):
        automatic.append(
            {
                "qualification_name": blueprint["block_qualification"],
                "comparator": "DoesNotExist",
                "value": None,
                "applicable_providers": None,
                "automatic": "block",
            }
        )
    onboarding = blueprint.get("onboarding_qualification")
    if onboarding:
        automatic.append(
            {
                "qualification_name": failed_onboarding_name(onboarding),
                "comparator": "DoesNotExist",
                "value": None,
                "applicable_providers": None,
                "automatic": "onboarding",
            }
        )
    applicable = [
        r
        for r in run.qualifications
        if not r.get("applicable_providers")
        or run.provider_type in r["applicable_providers"]
    ]
    return automatic + applicable


def grant_values(*, worker: Worker, names: Iterable[str]) -> dict[str, int]:
    """The worker's values for the named qualifications (absent = not granted)."""
    names = list(names)
    if worker.pk is None or not names:  # a worker never seen holds nothing
        return {}
    return dict(
        GrantedQualification.objects.filter(
            worker=worker, qualification__name__in=names
        ).values_list("qualification__name", "value")
    )


@dataclass(frozen=True)
class Comparator:
    """A value comparator of a requirement: Python test, words, SQL on `g.value`."""

    words: str  # "Your '<name>' value (<v>) must be <words> <value>."
    passes: Callable[[Any, Any], bool]  # (the worker's value, the required value)
    sql: str  # %s is the required value
    listed: bool = False  # the required value is a list


def _is_in(mine: Any, value: Any) -> bool:
    return mine in value


def _is_not_in(mine: Any, value: Any) -> bool:
    return mine not in value


# MTurk's comparators that compare a value; a worker not holding the
# qualification fails each of them.
VALUE_COMPARATORS: dict[str, Comparator] = {
    "EqualTo": Comparator("equal to", operator.eq, "= %s"),
    "NotEqualTo": Comparator("different from", operator.ne, "<> %s"),
    "GreaterThan": Comparator("more than", operator.gt, "> %s"),
    "GreaterThanOrEqualTo": Comparator("at least", operator.ge, ">= %s"),
    "LessThan": Comparator("less than", operator.lt, "< %s"),
    "LessThanOrEqualTo": Comparator("at most", operator.le, "<= %s"),
    "In": Comparator("one of", _is_in, "= ANY(%s)", listed=True),
    "NotIn": Comparator("none of", _is_not_in, "<> ALL(%s)", listed=True),
}


COMPARATORS: tuple[str, ...] = ("Exists", "DoesNotExist", *VALUE_COMPARATORS)


def check_requirement(requirement: dict[str, Any], held: dict[str, int]) -> Verdict:
    name = requirement["qualification_name"]
    comparator = requirement["comparator"]
    # Launch checked that a comparator needing a value has one.
    value: Any = requirement.get("value")
    has = name in held
    mine: Any = held.get(name)
    rule = f"qualification {name} {comparator}" + (
        f" {value}" if value is not None else ""
    )
    if requirement.get("automatic") == "block":
        return Verdict(rule, not has, "You are blocked from working on this task.")
    if requirement.get("automatic") == "onboarding":
        return Verdict(
            rule,
            not has,
            FAILED_ONBOARDING,
        )
    if comparator == "Exists":
        return Verdict(rule, has, f"This task needs the qualification '{name}'.")
    if comparator == "DoesNotExist":
        return Verdict(
            rule,
            not has,
            f"This task is only for workers without the qualification '{name}'.",
        )
    if not has:
        return Verdict(rule, False, f"This task needs the qualification '{name}'.")
    compare = VALUE_COMPARATORS[comparator]
    shown = ", ".join(str(v) for v in value) if compare.listed else value
    return Verdict(
        rule,
        compare.passes(mine, value),
        f"Your '{name}' value ({mine}) must be {compare.words} {shown}.",
    )


def requirement_sql(requirement: dict[str, Any]) -> tuple[str, list[Any]]:
    """The SQL term that passes exactly when `check_requirement` does."""
    name, comparator = requirement["qualification_name"], requirement["comparator"]
    if requirement.get("automatic") or comparator == "DoesNotExist":
        return "NOT " + holds_sql(), [name]
    if comparator == "Exists":
        return holds_sql(), [name]
    compare = VALUE_COMPARATORS[comparator]
    value: Any = requirement.get("value")
    if compare.listed:
        value = list(value)
    return holds_sql(f" AND g.value {compare.sql}"), [name, value]


def holds_sql(condition: str = "") -> str:
    """SQL: worker `w` holds the qualification named by the next parameter."""
    return (
        "EXISTS (SELECT 1 FROM {granted} g"
        " JOIN {qualification} q ON q.id = g.qualification_id"
        f" WHERE g.worker_id = (SELECT id FROM w) AND q.name = %s{condition})"
    )


def live_units_in_run(*, run: TaskRun, worker: Worker) -> int:
    if worker.pk is None:
        return 0
    return Unit.objects.filter(
        run=run, worker=worker, status=UnitStatus.ASSIGNED
    ).count()


def units_in_task(*, run: TaskRun, worker: Worker) -> int:
    """Units this worker holds or finished in every run sharing the task_name."""
    if worker.pk is None:
        return 0
    return Unit.objects.filter(
        run__task_id=run.task_id,
        worker=worker,
        status__in=UNIT_HELD_STATUSES,
        unit_index__gte=0,  # quality units are not the task's data
    ).count()


def onboarding_state(name: str, held: dict[str, int]) -> str:
    """'passed', 'failed' or 'needed', from the worker's values for `name`."""
    if failed_onboarding_name(name) in held or held.get(name) == 0:
        return "failed"
    if held.get(name, 0) >= 1:
        return "passed"
    return "needed"


def first_failure(verdicts: Iterable[Verdict]) -> Verdict | None:
    return next((v for v in verdicts if not v.passed), None)
