"""Who may work on a run, and why not (DESIGN §6, steps 3-5).

Each rule answers with a `Verdict`: whether it passed and, in plain words a worker
can read, why not. `failure_reason` on the task page is the first failed verdict;
`explain()` lists every rule for requesters wondering why a worker sees no work.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from qualifications_app.models import GrantedQualification
from tasks_app.models import (
    UNIT_HELD_STATUSES,
    OnboardingAgent,
    OnboardingStatus,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)

NO_UNITS_LEFT = "There are no units left in this task for you right now."
NOT_RUNNING = "This task is not accepting work right now."
FAILED_ONBOARDING = (
    "You did not pass the onboarding for this task, so you can't work on it."
)


@dataclass(frozen=True)
class Verdict:
    rule: str
    passed: bool
    reason: str = ""


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
                "qualification_name": f"{onboarding}-failed",
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
    words = {
        "EqualTo": ("==", "equal to"),
        "NotEqualTo": ("!=", "different from"),
        "GreaterThan": (">", "more than"),
        "GreaterThanOrEqualTo": (">=", "at least"),
        "LessThan": ("<", "less than"),
        "LessThanOrEqualTo": ("<=", "at most"),
    }
    if comparator in ("In", "NotIn"):
        passed = (mine in value) == (comparator == "In")
        relation = "one of" if comparator == "In" else "none of"
        listed = ", ".join(str(v) for v in value)
        reason = f"Your '{name}' value ({mine}) must be {relation} {listed}."
        return Verdict(rule, passed, reason)
    passed = {
        "EqualTo": mine == value,
        "NotEqualTo": mine != value,
        "GreaterThan": mine > value,
        "GreaterThanOrEqualTo": mine >= value,
        "LessThan": mine < value,
        "LessThanOrEqualTo": mine <= value,
    }[comparator]
    return Verdict(
        rule,
        passed,
        f"Your '{name}' value ({mine}) must be {words[comparator][1]} {value}.",
    )


def qualification_verdicts(*, run: TaskRun, worker: Worker) -> list[Verdict]:
    needed = requirements(run)
    held = grant_values(worker=worker, names={r["qualification_name"] for r in needed})
    return [check_requirement(r, held) for r in needed]


def block_verdict(worker: Worker) -> Verdict:
    return Verdict(
        "not on the local blocklist",
        not worker.is_blocked,
        "You are blocked from working on this requester's tasks.",
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
        run__task_id=run.task_id, worker=worker, status__in=UNIT_HELD_STATUSES
    ).count()


def limit_verdicts(*, run: TaskRun, worker: Worker) -> list[Verdict]:
    verdicts = []
    if run.allowed_concurrent:
        live = live_units_in_run(run=run, worker=worker)
        verdicts.append(
            Verdict(
                f"allowed_concurrent {run.allowed_concurrent} (has {live} open)",
                live < run.allowed_concurrent,
                f"You already have {live} unit(s) of this task open; "
                "submit them first.",
            )
        )
    if run.maximum_units_per_worker:
        done = units_in_task(run=run, worker=worker)
        verdicts.append(
            Verdict(
                f"maximum_units_per_worker {run.maximum_units_per_worker} "
                f"(has {done} in task '{run.task.task_name}')",
                done < run.maximum_units_per_worker,
                f"You have reached the maximum of {run.maximum_units_per_worker} "
                "units for this task.",
            )
        )
    return verdicts


def onboarding_state(*, run: TaskRun, worker: Worker) -> str:
    """'none' (no onboarding), 'passed', 'failed' or 'needed'."""
    name = onboarding_qualification(run)
    if not name:
        return "none"
    held = grant_values(worker=worker, names=[name, f"{name}-failed"])
    if f"{name}-failed" in held or held.get(name) == 0:
        return "failed"
    if held.get(name, 0) >= 1:
        return "passed"
    return "needed"


def first_failure(verdicts: Iterable[Verdict]) -> Verdict | None:
    return next((v for v in verdicts if not v.passed), None)


def explain(*, run: TaskRun, worker: Worker) -> list[Verdict]:
    """Every rule of DESIGN §6 for this worker and run, passed or not."""
    verdicts = [
        Verdict(f"run status {run.status}", run.status == "running", NOT_RUNNING),
        Verdict(
            f"worker's provider {worker.provider_type} is the run's "
            f"({run.provider_type})",
            worker.provider_type == run.provider_type,
            f"This worker is on {worker.provider_type}; the run recruits on "
            f"{run.provider_type}, so they can never reach it.",
        ),
        block_verdict(worker),
        *qualification_verdicts(run=run, worker=worker),
        *limit_verdicts(run=run, worker=worker),
    ]
    state = onboarding_state(run=run, worker=worker)
    verdicts.append(
        Verdict(
            f"onboarding: {state}",
            state in ("none", "passed", "needed"),
            FAILED_ONBOARDING,
        )
    )
    if state == "needed":
        pending = (
            worker.pk is not None
            and OnboardingAgent.objects.filter(
                run=run, worker=worker, status=OnboardingStatus.ONBOARDING
            ).exists()
        )
        verdicts.append(
            Verdict(
                "onboarding will be shown first"
                + (" (in progress)" if pending else ""),
                True,
            )
        )
    units = Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED, unit_index__gte=0)
    if worker.pk is not None:
        units = units.exclude(assignment__units__worker=worker)
    available = units.exists()
    verdicts.append(
        Verdict("a launched unit this worker hasn't done", available, NO_UNITS_LEFT)
    )
    return verdicts
