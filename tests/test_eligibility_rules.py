"""Every rule of `eligibility.ARRIVAL_RULES`, both ways, on every path that reads it.

The cases are generated from the rule list: each entry of ARRIVAL_RULES (and each
comparator a requirement may use) must have a way here to make a worker pass it
and one to make them fail it, or a test fails. Each case then runs through the
Python path (`_arrive_under_lock`), the one-statement path on PostgreSQL
(`_arrive_in_one_statement`, which must claim exactly when the rule passes
without a word to the worker, and otherwise leave the arrival to the Python
path), the whole arrival (`register_agent`) and `explain()`. A rule that one
path checks and another doesn't fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tasks_app import eligibility, services
from tasks_app.models import Agent, TaskRun, TaskRunStatus, Unit, UnitStatus, Worker
from tasks_app.run_config.schema import QUALIFICATION_COMPARATORS
from tasks_app.selectors import quality
from tasks_app.services import arrival
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db

WORKER = "w1"
CLAIM = "gets a unit"
ONBOARD = "gets an onboarding first"
SCREEN = "gets a screening unit made for them"
GOLD = "gets a gold unit made for them"
PASSES = (CLAIM, ONBOARD, SCREEN, GOLD)
QUALITY = {SCREEN: quality.SCREENING_UNIT_INDEX, GOLD: quality.GOLD_UNIT_INDEX}

NEEDS = "This task needs the qualification 'skill'."
WITHOUT = "This task is only for workers without the qualification 'skill'."
BLOCKED = "You are blocked from working on this requester's tasks."


@dataclass(frozen=True)
class Case:
    label: str
    arrange: Callable[[], TaskRun]  # the run, and the worker WORKER's record
    expect: str  # CLAIM, ONBOARD or the failure_reason


def worker(**fields: Any) -> Worker:
    return WorkerFactory(worker_name=WORKER, **fields)


def grant(name: str, value: int) -> None:
    held_by, _ = Worker.objects.get_or_create(provider_type="mock", worker_name=WORKER)
    qualification = QualificationFactory(name=name)
    GrantedQualificationFactory(
        worker=held_by, qualification=qualification, value=value
    )


def with_blueprint(**blueprint: Any) -> TaskRun:
    return TaskRunFactory(
        units=1, resolved_config={"mephisto": {"blueprint": blueprint}}
    )


# --- how to make each rule pass and fail --------------------------------------------


def stopped(**worker_fields: Any) -> Callable[[], TaskRun]:
    def arrange() -> TaskRun:
        worker(**worker_fields)
        return TaskRunFactory(units=1, status=TaskRunStatus.SHUT_DOWN)

    return arrange


def plain(**worker_fields: Any) -> Callable[[], TaskRun]:
    def arrange() -> TaskRun:
        worker(**worker_fields)
        return TaskRunFactory(units=1)

    return arrange


def stopped_before_onboarding() -> TaskRun:
    worker()
    return TaskRunFactory(
        units=1,
        status=TaskRunStatus.COMPLETED,
        resolved_config={
            "mephisto": {"blueprint": {"onboarding_qualification": "intro"}}
        },
    )


def open_units(allowed: int) -> Callable[[], TaskRun]:
    """The worker holds one open unit of a run allowing `allowed` at once."""

    def arrange() -> TaskRun:
        run = TaskRunFactory(units=2, allowed_concurrent=allowed)
        held = Unit.objects.filter(run=run).order_by("pk").first()
        Unit.objects.filter(pk=held.pk).update(
            status=UnitStatus.ASSIGNED, worker=worker()
        )
        return run

    return arrange


def done_in_task(maximum: int) -> Callable[[], TaskRun]:
    """The worker finished one unit of an earlier run of the task."""

    def arrange() -> TaskRun:
        task = TaskFactory()
        earlier = TaskRunFactory(task=task)
        UnitFactory(
            assignment__run=earlier, worker=worker(), status=UnitStatus.COMPLETED
        )
        return TaskRunFactory(task=task, units=1, maximum_units_per_worker=maximum)

    return arrange


def onboarding(grants: dict[str, int]) -> Callable[[], TaskRun]:
    def arrange() -> TaskRun:
        worker()
        for name, value in grants.items():
            grant(name, value)
        return with_blueprint(onboarding_qualification="intro")

    return arrange


def requiring(
    comparator: str, value: Any, held: int | None, **requirement: Any
) -> Callable[[], TaskRun]:
    def arrange() -> TaskRun:
        QualificationFactory(name="skill")
        worker()
        if held is not None:
            grant("skill", held)
        needed = {"qualification_name": "skill", "comparator": comparator}
        return TaskRunFactory(
            units=1, qualifications=[{**needed, "value": value, **requirement}]
        )

    return arrange


def block_qualification(held: bool) -> Callable[[], TaskRun]:
    def arrange() -> TaskRun:
        QualificationFactory(name="bad")
        worker()
        if held:
            grant("bad", 1)
        return with_blueprint(block_qualification="bad")

    return arrange


SCREENING = {
    "use_screening_task": True,
    "passed_qualification_name": "screened",
    "block_qualification": "screen-failed",
    "max_screening_units": 1,
    "hooks": "tests.quality_hooks",
}
GOLDS = {
    "use_golds": True,
    "gold_qualification_base": "gq",
    "max_gold_units": 1,
    "min_golds": 1,
    "max_incorrect_golds": 1,
    "hooks": "tests.quality_hooks",
}


def quality_run(
    blueprint: dict[str, Any], kind: int, grants: dict[str, int], others: int
) -> Callable[[], TaskRun]:
    """A run of `blueprint` (one quality unit of `kind` at most); `others`
    workers already hold one."""

    def arrange() -> TaskRun:
        worker()
        for name, value in grants.items():
            grant(name, value)
        run = TaskRunFactory(
            units=1,
            allowed_concurrent=1,
            resolved_config={"mephisto": {"blueprint": blueprint}},
        )
        for n in range(others):
            services.give_quality_unit(
                run=run, worker=WorkerFactory(worker_name=f"other-{n}"), kind=kind
            )
        return run

    return arrange


def screening(grants: dict[str, int], *, others: int = 0) -> Callable[[], TaskRun]:
    return quality_run(SCREENING, quality.SCREENING_UNIT_INDEX, grants, others)


def golds(grants: dict[str, int], *, others: int = 0) -> Callable[[], TaskRun]:
    return quality_run(GOLDS, quality.GOLD_UNIT_INDEX, grants, others)


# Each comparator, as (required value, the worker's value or None for not held,
# what the worker gets).
COMPARATOR_CASES: dict[str, list[tuple[Any, int | None, str]]] = {
    "Exists": [(None, 0, CLAIM), (None, None, NEEDS)],
    "DoesNotExist": [(None, None, CLAIM), (None, 1, WITHOUT)],
    "EqualTo": [
        (3, 3, CLAIM),
        (3, 2, "Your 'skill' value (2) must be equal to 3."),
        (3, None, NEEDS),
    ],
    "NotEqualTo": [
        (3, 2, CLAIM),
        (3, 3, "Your 'skill' value (3) must be different from 3."),
        (3, None, NEEDS),
    ],
    "GreaterThan": [
        (3, 4, CLAIM),
        (3, 3, "Your 'skill' value (3) must be more than 3."),
        (3, None, NEEDS),
    ],
    "GreaterThanOrEqualTo": [
        (3, 3, CLAIM),
        (3, 2, "Your 'skill' value (2) must be at least 3."),
        (3, None, NEEDS),
    ],
    "LessThan": [
        (3, 2, CLAIM),
        (3, 3, "Your 'skill' value (3) must be less than 3."),
        (3, None, NEEDS),
    ],
    "LessThanOrEqualTo": [
        (3, 3, CLAIM),
        (3, 4, "Your 'skill' value (4) must be at most 3."),
        (3, None, NEEDS),
    ],
    "In": [
        ([1, 3], 3, CLAIM),
        ([1, 3], 2, "Your 'skill' value (2) must be one of 1, 3."),
        ([], 2, "Your 'skill' value (2) must be one of ."),
        ([1, 3], None, NEEDS),
    ],
    "NotIn": [
        ([1, 3], 2, CLAIM),
        ([1, 3], 3, "Your 'skill' value (3) must be none of 1, 3."),
        ([], 2, CLAIM),
        ([1, 3], None, NEEDS),
    ],
}


def requirement_cases() -> list[Case]:
    cases = [
        Case(
            f"{comparator}-{value}-held-{held}",
            requiring(comparator, value, held),
            expect,
        )
        for comparator, rows in COMPARATOR_CASES.items()
        for value, held, expect in rows
    ]
    return cases + [
        Case("block_qualification-not-held", block_qualification(False), CLAIM),
        Case(
            "block_qualification-held",
            block_qualification(True),
            "You are blocked from working on this task.",
        ),
        Case(
            "onboarding-failed-held",
            onboarding({"intro": 1, "intro-failed": 1}),
            eligibility.FAILED_ONBOARDING,
        ),
        Case(
            "for-another-provider",
            requiring("Exists", None, None, applicable_providers=["mturk"]),
            CLAIM,
        ),
        Case(
            "for-this-provider",
            requiring("Exists", None, None, applicable_providers=["mock"]),
            NEEDS,
        ),
    ]


# Keyed by the name of each entry of eligibility.ARRIVAL_RULES.
CASES: dict[str, list[Case]] = {
    "running": [
        Case("running", plain(), CLAIM),
        Case("stopped", stopped(), eligibility.RUN_ENDED),
        # Checked first: a stopped run says so whatever else fails.
        Case("stopped-and-blocked", stopped(is_blocked=True), eligibility.RUN_ENDED),
        Case(
            "stopped-before-onboarding",
            stopped_before_onboarding,
            eligibility.RUN_ENDED,
        ),
    ],
    "blocklist": [
        Case("not-blocked", plain(), CLAIM),
        Case("blocked", plain(is_blocked=True), BLOCKED),
    ],
    "qualification": requirement_cases(),
    "allowed_concurrent": [
        Case("below", open_units(allowed=2), CLAIM),
        Case(
            "reached",
            open_units(allowed=1),
            "You already have 1 unit(s) of this task open; submit them first.",
        ),
    ],
    "maximum_units_per_worker": [
        Case("below", done_in_task(maximum=2), CLAIM),
        Case(
            "reached",
            done_in_task(maximum=1),
            "You have reached the maximum of 1 units for this task.",
        ),
    ],
    "onboarding": [
        Case("none", plain(), CLAIM),
        Case("passed", onboarding({"intro": 1}), CLAIM),
        Case("passed-higher", onboarding({"intro": 2}), CLAIM),
        Case("needed", onboarding({}), ONBOARD),
        Case("failed", onboarding({"intro": 0}), eligibility.FAILED_ONBOARDING),
    ],
    "screening": [
        Case("none", plain(), CLAIM),
        Case("passed", screening({"screened": 1}), CLAIM),
        Case("needed", screening({}), SCREEN),
        Case(
            "needed-no-place-left",
            screening({}, others=1),
            eligibility.NO_SCREENING_LEFT,
        ),
    ],
    "golds": [
        Case("none", plain(), CLAIM),
        Case("first-gold", golds({}), GOLD),
        Case("enough-right", golds({"gq-correct-golds": 1}), CLAIM),
        Case(
            "enough-right-after-units",
            golds({"gq-correct-golds": 1, "gq-completed-count": 5}, others=1),
            CLAIM,
        ),
        Case("first-gold-none-left", golds({}, others=1), eligibility.NO_GOLDS_LEFT),
        Case(
            "too-many-wrong",
            golds({"gq-correct-golds": 3, "gq-wrong-golds": 2}),
            eligibility.DISQUALIFIED_BY_GOLDS,
        ),
        Case(
            "disqualified",
            golds({"gq-correct-golds": 3, "gq-disqualified": 1}),
            eligibility.DISQUALIFIED_BY_GOLDS,
        ),
    ],
}


def generated() -> Iterator[Any]:
    """(rule, case) for every rule both ways; a missing way is a failing param."""
    for kind in eligibility.ARRIVAL_RULES:
        for passes in (True, False):
            way = "passes" if passes else "fails"
            found = [
                case
                for case in CASES.get(kind.name, [])
                if (case.expect in PASSES) is passes
            ]
            if not found:
                yield pytest.param(kind.name, None, id=f"{kind.name}-{way}-MISSING")
            for case in found:
                yield pytest.param(kind.name, case, id=f"{kind.name}-{case.label}")


GENERATED = list(generated())


def arranged(rule: str, case: Case | None) -> TaskRun:
    assert case is not None, (
        f"CASES['{rule}'] needs a way to make a worker pass it and one to fail it"
    )
    return case.arrange()


def arrival_args(run: TaskRun) -> dict[str, Any]:
    return {
        "run": run,
        "worker_name": WORKER,
        "registration_id": "a-new-registration",
        "provider_assignment_id": "",
        "provider_unit_id": "",
    }


def assert_answer(details: arrival.AgentDetails, expect: str) -> None:
    if expect == CLAIM:
        assert details.failure_reason is None
        assert Agent.objects.filter(public_id=details.agent_id).exists()
    elif expect == ONBOARD:
        assert details.failure_reason is None
        assert details.agent_id is not None
        assert details.agent_id.startswith("onboarding")
    elif expect in QUALITY:
        assert details.failure_reason is None
        agent = Agent.objects.select_related("unit").get(public_id=details.agent_id)
        assert agent.unit.unit_index == QUALITY[expect]
    else:
        assert details.agent_id is None
        assert details.failure_reason == expect
        assert not Agent.objects.filter(registration_id="a-new-registration").exists()


# --- the generated tests --------------------------------------------------------------


def test_every_rule_and_comparator_has_cases_and_no_case_names_an_unknown_one():
    assert set(CASES) == {kind.name for kind in eligibility.ARRIVAL_RULES}
    assert set(COMPARATOR_CASES) == set(eligibility.COMPARATORS)
    assert set(eligibility.COMPARATORS) == set(QUALIFICATION_COMPARATORS)
    for comparator, rows in COMPARATOR_CASES.items():
        outcomes = {expect == CLAIM for _, _, expect in rows}
        assert outcomes == {True, False}, f"{comparator} needs a pass and a fail"


@pytest.mark.parametrize("rule, case", GENERATED)
def test_the_python_path_answers_as_the_rule_says(rule, case):
    run = arranged(rule, case)

    details = arrival._arrive_under_lock(**arrival_args(run))

    assert_answer(details, case.expect)


@pytest.mark.parametrize("rule, case", GENERATED)
def test_the_one_statement_path_claims_exactly_when_the_rule_passes_without_a_word(
    postgres, rule, case
):
    run = arranged(rule, case)
    launched = Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED).count()

    details = arrival._arrive_in_one_statement(**arrival_args(run))

    if case.expect == CLAIM and arrival.one_statement_applies(run):
        assert details is not None
        assert_answer(details, CLAIM)
    else:
        # Left to the Python path, which says why (or offers the onboarding).
        assert details is None
        assert not Agent.objects.filter(run=run, worker__worker_name=WORKER).exists()
        assert Unit.objects.filter(run=run, status=UnitStatus.LAUNCHED).count() == (
            launched
        )


@pytest.mark.parametrize("rule, case", GENERATED)
def test_the_whole_arrival_answers_as_the_rule_says(rule, case):
    run = arranged(rule, case)

    details = services.register_agent(
        run=run, worker_name=WORKER, registration_id="a-new-registration"
    )

    assert_answer(details, case.expect)


@pytest.mark.parametrize("rule, case", GENERATED)
def test_explain_fails_that_rule_first_with_the_same_reason(rule, case):
    run = arranged(rule, case)
    held_by = Worker.objects.get(worker_name=WORKER)
    check = eligibility.Eligibility(run=run, worker=held_by)
    failing = [r.kind for r in check.rules if not r.verdict(check.facts).passed]

    verdicts = eligibility.explain(run=run, worker=held_by)
    failed = eligibility.first_failure(verdicts)

    if case.expect in PASSES:
        assert failing == []
        assert failed is None
        assert any(v.onboard for v in verdicts) is (case.expect == ONBOARD)
        kinds = [v.quality for v in verdicts if v.quality is not None]
        assert kinds == ([QUALITY[case.expect]] if case.expect in QUALITY else [])
    else:
        assert failing[0] == rule
        assert failed is not None
        assert failed.reason == case.expect
