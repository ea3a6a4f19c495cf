"""Screening and gold units through the worker API: a new worker is screened
first and admitted or blocked by the hook; the caps hold and a unit not
submitted gives its place back; golds come first, are counted locally, and
disqualify past max_incorrect_golds; quality units never hold a run open."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from qualifications_app import services as qualification_services
from qualifications_app.models import GrantedQualification
from tasks_app import eligibility, services
from tasks_app.models import Agent, TaskRun, TaskRunStatus, Unit, UnitStatus
from tasks_app.selectors.quality import GOLD_UNIT_INDEX, SCREENING_UNIT_INDEX
from tests.factories import TaskRunFactory
from tests.threads import race
from tests.worker_calls import request_agent, return_unit, submit_task

pytestmark = pytest.mark.django_db

SCREENING = {
    "use_screening_task": True,
    "passed_qualification_name": "screened",
    "block_qualification": "screen-failed",
    "max_screening_units": 2,
    "hooks": "tests.quality_hooks",
}
GOLDS = {
    "use_golds": True,
    "gold_qualification_base": "gq",
    "max_gold_units": 10,
    "min_golds": 1,
    "max_incorrect_golds": 1,
    "hooks": "tests.quality_hooks",
}


def quality_run(blueprint: dict[str, Any], *, units: int = 3, **fields) -> TaskRun:
    return TaskRunFactory(
        units=units,
        allowed_concurrent=1,
        resolved_config={"mephisto": {"blueprint": blueprint}},
        **fields,
    )


def arrive(run: TaskRun, worker: str, visit: int = 1) -> dict[str, Any]:
    response = request_agent(APIClient(), run, worker, registration=f"{worker}-{visit}")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def unit_of(data: dict[str, Any]) -> Unit:
    return Agent.objects.select_related("unit").get(public_id=data["agent_id"]).unit


def submit(execute, run: TaskRun, data: dict[str, Any], answer: dict) -> None:
    response = execute(lambda: submit_task(APIClient(), run, data["agent_id"], answer))
    assert response.status_code == 200, response.content


def held(worker: str) -> dict[str, int]:
    return dict(
        GrantedQualification.objects.filter(worker__worker_name=worker).values_list(
            "qualification__name", "value"
        )
    )


# --- screening --------------------------------------------------------------------


def test_a_new_worker_is_screened_first_then_gets_real_units_once_passed(execute):
    run = quality_run(SCREENING)

    first = arrive(run, "alice")
    screening_unit = unit_of(first)
    submit(execute, run, first, {"rating": "bad"})
    second = arrive(run, "alice", visit=2)

    assert screening_unit.unit_index == SCREENING_UNIT_INDEX
    assert first["init_task_data"]["is_screen"] is True
    assert held("alice") == {"screened": 1}
    assert unit_of(second).unit_index >= 0
    assert second["init_task_data"] == unit_of(second).assignment.data


def test_a_worker_who_fails_screening_is_blocked(execute):
    run = quality_run(SCREENING)
    first = arrive(run, "bob")

    submit(execute, run, first, {"rating": "good"})
    again = arrive(run, "bob", visit=2)

    assert held("bob") == {"screen-failed": 1}
    assert again["agent_id"] is None
    assert again["failure_reason"] == "You are blocked from working on this task."


def test_an_undecided_screening_grants_nothing_and_the_worker_is_screened_again(
    execute,
):
    run = quality_run(SCREENING)
    first = arrive(run, "carol")

    submit(execute, run, first, {"rating": "unsure"})
    again = arrive(run, "carol", visit=2)

    assert held("carol") == {}
    assert unit_of(again).unit_index == SCREENING_UNIT_INDEX
    assert unit_of(again).pk != unit_of(first).pk


def test_the_screening_cap_holds_and_a_returned_unit_gives_its_place_back(execute):
    run = quality_run(SCREENING)  # max_screening_units 2
    first, second = arrive(run, "w1"), arrive(run, "w2")

    third = arrive(run, "w3")
    assert third["failure_reason"] == eligibility.NO_SCREENING_LEFT

    execute(lambda: return_unit(APIClient(), first["agent_id"]))
    fourth = arrive(run, "w3", visit=2)

    assert Unit.objects.get(pk=unit_of(first).pk).status == UnitStatus.EXPIRED
    assert unit_of(fourth).unit_index == SCREENING_UNIT_INDEX
    assert unit_of(second).status == UnitStatus.ASSIGNED


def test_screening_units_take_their_inputs_in_the_generators_order():
    run = quality_run(SCREENING)

    texts = [arrive(run, f"w{n}")["init_task_data"]["text"] for n in (1, 2)]

    assert texts == [
        "SCREENING UNIT 1: press the red button",
        "SCREENING UNIT 2: press the red button",
    ]


def test_with_max_screening_units_0_a_worker_is_screened_on_a_real_unit(execute):
    run = quality_run({**SCREENING, "max_screening_units": 0})

    first = arrive(run, "dave")
    submit(execute, run, first, {"rating": "bad"})
    second = arrive(run, "dave", visit=2)
    submit(execute, run, second, {"rating": "good"})

    assert unit_of(first).unit_index >= 0
    # Judged once, on the first unit: the second answer is data, not a screen.
    assert held("dave") == {"screened": 1}


def test_passed_and_blocked_are_mirrored_to_the_provider(execute, monkeypatch):
    mirrored: list[str] = []
    monkeypatch.setattr(
        qualification_services,
        "_mirror",
        lambda review: mirrored.append(review.qualification.name),
    )
    run = quality_run(SCREENING)

    submit(execute, run, arrive(run, "erin"), {"rating": "bad"})
    submit(execute, run, arrive(run, "fay"), {"rating": "good"})

    assert mirrored == ["screened", "screen-failed"]


def test_screening_units_never_hold_the_run_open(execute):
    run = quality_run(SCREENING, units=1)
    screening = arrive(run, "gina")  # holds a screening unit, not submitted
    passed = arrive(run, "hal")
    submit(execute, run, passed, {"rating": "bad"})
    real = arrive(run, "hal", visit=2)
    submit(execute, run, real, {"rating": "good"})

    assert services.complete_finished_runs() == [run.pk]
    assert TaskRun.objects.get(pk=run.pk).status == TaskRunStatus.COMPLETED
    assert unit_of(screening).status == UnitStatus.ASSIGNED


# --- golds ------------------------------------------------------------------------


def test_a_new_worker_gets_a_gold_first_and_a_right_answer_admits_them(execute):
    run = quality_run(GOLDS)

    first = arrive(run, "ivan")
    submit(execute, run, first, {"rating": "good"})
    second = arrive(run, "ivan", visit=2)
    submit(execute, run, second, {"rating": "bad"})

    assert unit_of(first).unit_index == GOLD_UNIT_INDEX
    assert first["init_task_data"] == {"text": "GOLD for mock:ivan", "answer": "good"}
    assert unit_of(second).unit_index >= 0
    assert held("ivan") == {"gq-correct-golds": 1, "gq-completed-count": 1}


def test_a_worker_past_max_incorrect_golds_is_disqualified_and_told_why(execute):
    run = quality_run(GOLDS)  # max_incorrect_golds 1

    for visit in (1, 2):
        data = arrive(run, "jo", visit)
        assert unit_of(data).unit_index == GOLD_UNIT_INDEX
        submit(execute, run, data, {"rating": "bad"})
    refused = arrive(run, "jo", visit=3)

    assert held("jo") == {"gq-wrong-golds": 2, "gq-disqualified": 1}
    assert refused["failure_reason"] == eligibility.DISQUALIFIED_BY_GOLDS


def test_one_wrong_gold_within_max_incorrect_golds_is_not_disqualifying(execute):
    run = quality_run(GOLDS)  # max_incorrect_golds 1: Mephisto blocked here

    submit(execute, run, arrive(run, "kim"), {"rating": "bad"})
    second = arrive(run, "kim", visit=2)

    assert held("kim") == {"gq-wrong-golds": 1}
    assert unit_of(second).unit_index == GOLD_UNIT_INDEX  # still needs a right one


def test_gold_counters_stay_local(execute, monkeypatch):
    mirrored: list[str] = []
    monkeypatch.setattr(
        qualification_services,
        "_mirror",
        lambda review: mirrored.append(review.qualification.name),
    )
    run = quality_run(GOLDS)

    for visit in (1, 2, 3):
        submit(execute, run, arrive(run, "lee", visit), {"rating": "good"})

    assert mirrored == []
    assert held("lee")["gq-correct-golds"] == 1


def test_golds_from_a_data_file_are_judged_by_their_expected_fields(execute):
    blueprint = {key: value for key, value in GOLDS.items() if key != "hooks"}
    run = quality_run(
        blueprint,
        shared_state={
            "gold_data": [
                {"inputs": {"text": "A gold."}, "expected": {"rating": "good"}}
            ]
        },
    )

    first = arrive(run, "max")
    submit(execute, run, first, {"rating": " good ", "note": "anything"})

    assert first["init_task_data"] == {"text": "A gold."}
    assert held("max") == {"gq-correct-golds": 1}


def test_explain_says_why_a_worker_is_disqualified_by_golds(execute):
    run = quality_run(GOLDS)
    for visit in (1, 2):
        submit(execute, run, arrive(run, "ned", visit), {"rating": "bad"})
    worker = Agent.objects.filter(run=run).first().worker

    verdicts = eligibility.explain(run=run, worker=worker)

    failed = eligibility.first_failure(verdicts)
    assert failed is not None
    assert failed.rule == "disqualified by golds: 2 wrong of 2"


# --- races (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_many_new_workers_at_once_never_exceed_max_screening_units(postgres):
    run = quality_run({**SCREENING, "max_screening_units": 3}, units=5)

    outcomes = race(
        [
            lambda n=n: services.register_agent(
                run=run, worker_name=f"new-{n}", registration_id=f"r-{n}"
            )
            for n in range(16)
        ]
    )

    given = [o for o in outcomes if getattr(o, "agent_id", None)]
    refused = [o for o in outcomes if getattr(o, "failure_reason", None)]
    assert len(given) == 3 and len(refused) == 13, outcomes
    assert {o.failure_reason for o in refused} == {eligibility.NO_SCREENING_LEFT}
    assert Unit.objects.filter(run=run, unit_index=SCREENING_UNIT_INDEX).count() == 3


@pytest.mark.django_db(transaction=True)
def test_many_new_workers_at_once_never_exceed_max_gold_units(postgres):
    run = quality_run({**GOLDS, "max_gold_units": 2}, units=5)

    outcomes = race(
        [
            lambda n=n: services.register_agent(
                run=run, worker_name=f"new-{n}", registration_id=f"r-{n}"
            )
            for n in range(12)
        ]
    )

    given = [o for o in outcomes if getattr(o, "agent_id", None)]
    assert len(given) == 2, outcomes
    assert Unit.objects.filter(run=run, unit_index=GOLD_UNIT_INDEX).count() == 2


def test_the_hooks_may_replace_the_gold_strikes_as_in_mephisto(execute, monkeypatch):
    from tests import quality_hooks

    # Mephisto's GoldUnitSharedState.worker_qualifies: never disqualify.
    monkeypatch.setattr(
        quality_hooks, "worker_qualifies", lambda *counts: True, raising=False
    )
    run = quality_run(GOLDS)  # max_incorrect_golds 1

    for visit in (1, 2, 3):
        submit(execute, run, arrive(run, "ola", visit), {"rating": "bad"})
    fourth = arrive(run, "ola", visit=4)

    assert held("ola") == {"gq-wrong-golds": 3}
    assert unit_of(fourth).unit_index == GOLD_UNIT_INDEX


def test_a_gold_the_hook_cant_judge_is_not_counted(execute, monkeypatch):
    from tests import quality_hooks

    monkeypatch.setattr(quality_hooks, "validate_gold_unit", lambda unit_data: None)
    run = quality_run(GOLDS)

    submit(execute, run, arrive(run, "pia"), {"rating": "good"})

    assert held("pia") == {}


def test_explain_says_a_worker_failed_screening(execute):
    run = quality_run(SCREENING)
    submit(execute, run, arrive(run, "quinn"), {"rating": "good"})
    worker = Agent.objects.filter(run=run).first().worker

    verdicts = {v.rule: v for v in eligibility.explain(run=run, worker=worker)}

    assert verdicts["screening: failed"].passed is False
    assert not any("will be made" in rule for rule in verdicts)
