"""eligibility.explain(): each rule of a worker's arrival on a run, passed or not."""

from __future__ import annotations

import pytest

from tasks_app import eligibility
from tasks_app.models import Worker
from tests.eligibility_calls import (
    NO_UNITS_LEFT,
    RUN_ENDED,
    register,
    run_requiring,
    worker_holding,
)
from tests.factories import (
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


def test_explain_lists_every_rule_with_pass_or_fail():
    QualificationFactory(name="skill")
    run = TaskRunFactory(
        task=TaskFactory(task_name="rate-sentences"),
        units=1,
        allowed_concurrent=1,
        maximum_units_per_worker=2,
        qualifications=[{"qualification_name": "skill", "comparator": "Exists"}],
        resolved_config={
            "mephisto": {
                "blueprint": {
                    "block_qualification": "bad",
                    "onboarding_qualification": "onb",
                }
            }
        },
    )
    worker = WorkerFactory()

    verdicts = eligibility.explain(run=run, worker=worker)

    assert [(v.rule, v.passed) for v in verdicts] == [
        ("run status running", True),
        ("worker's provider mock is the run's (mock)", True),
        ("not on the local blocklist", True),
        ("qualification bad DoesNotExist", True),
        ("qualification onb-failed DoesNotExist", True),
        ("qualification skill Exists", False),
        ("allowed_concurrent 1 (has 0 open)", True),
        ("maximum_units_per_worker 2 (has 0 in task 'rate-sentences')", True),
        ("onboarding: needed", True),
        ("onboarding will be shown first", True),
        ("a launched unit this worker hasn't done", True),
    ]
    failed = [v for v in verdicts if not v.passed]
    assert failed[0].reason == "This task needs the qualification 'skill'."


def test_explain_flags_a_stopped_run_a_blocked_worker_and_no_units():
    run = TaskRunFactory(units=0, status="shut_down")
    worker = WorkerFactory(is_blocked=True)

    verdicts = {v.rule: v for v in eligibility.explain(run=run, worker=worker)}

    assert verdicts["run status shut_down"].passed is False
    assert verdicts["run status shut_down"].reason == RUN_ENDED
    assert verdicts["not on the local blocklist"].passed is False
    assert verdicts["a launched unit this worker hasn't done"].passed is False
    assert verdicts["a launched unit this worker hasn't done"].reason == NO_UNITS_LEFT
    assert verdicts["onboarding: none"].passed is True


def test_explains_first_failure_is_the_reason_the_worker_is_given():
    run = run_requiring("GreaterThan", 3)
    worker = worker_holding(2)

    verdicts = eligibility.explain(run=run, worker=worker)
    details = register(run, worker.worker_name)

    assert eligibility.first_failure(verdicts).reason == details.failure_reason


def test_explain_counts_the_workers_open_units():
    run = TaskRunFactory(units=2, allowed_concurrent=1)
    register(run, "worker-1")
    worker = Worker.objects.get(worker_name="worker-1")

    verdicts = {v.rule: v for v in eligibility.explain(run=run, worker=worker)}

    assert verdicts["allowed_concurrent 1 (has 1 open)"].passed is False
