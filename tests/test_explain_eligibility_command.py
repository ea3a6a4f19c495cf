"""`manage.py explain_eligibility`: why a worker does or doesn't get work on a run."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from qualifications_app.models import Qualification
from tasks_app.models import UnitStatus, Worker
from tests.command_calls import run, run_json
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def allowlist_run():
    """A running run that needs `allowlist` and allows 2 units per worker."""
    QualificationFactory(name="allowlist")
    return TaskRunFactory(
        task=TaskFactory(task_name="rate-sentences"),
        units=3,
        maximum_units_per_worker=2,
        qualifications=[{"qualification_name": "allowlist", "comparator": "Exists"}],
    )


def test_explain_shows_why_a_blocked_unlisted_worker_at_the_maximum_gets_no_work(
    allowlist_run,
):
    worker = WorkerFactory(provider_type="mock", worker_name="bob", is_blocked=True)
    for row in (10, 11):
        UnitFactory(
            assignment__run=allowlist_run,
            assignment__row_index=row,
            worker=worker,
            status=UnitStatus.COMPLETED,
        )

    out = run(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:bob"
    )

    lines = out.splitlines()
    assert lines[0] == f"Run {allowlist_run.pk} (rate-sentences), worker mock:bob"
    assert "  [pass] run status running" in lines
    assert (
        "  [FAIL] not on the local blocklist — "
        "You are blocked from working on this requester's tasks." in lines
    )
    assert (
        "  [FAIL] qualification allowlist Exists — "
        "This task needs the qualification 'allowlist'." in lines
    )
    assert (
        "  [FAIL] maximum_units_per_worker 2 (has 2 in task 'rate-sentences') — "
        "You have reached the maximum of 2 units for this task." in lines
    )
    assert "  [pass] a launched unit this worker hasn't done" in lines
    assert lines[-1] == f"=> mock:bob gets no work in run {allowlist_run.pk}."


def test_explain_json_lists_every_rule_with_pass_fail_and_reason(allowlist_run):
    worker = WorkerFactory(worker_name="bob", is_blocked=True)
    UnitFactory(
        assignment__run=allowlist_run,
        assignment__row_index=10,
        worker=worker,
        status=UnitStatus.ACCEPTED,
    )

    data = run_json(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:bob"
    )

    assert (data["run"], data["worker"]) == (allowlist_run.pk, "mock:bob")
    assert (data["known_worker"], data["eligible"]) == (True, False)
    assert data["rules"] == [
        {"rule": "run status running", "passed": True, "reason": ""},
        {
            "rule": "worker's provider mock is the run's (mock)",
            "passed": True,
            "reason": "",
        },
        {
            "rule": "not on the local blocklist",
            "passed": False,
            "reason": "You are blocked from working on this requester's tasks.",
        },
        {
            "rule": "qualification allowlist Exists",
            "passed": False,
            "reason": "This task needs the qualification 'allowlist'.",
        },
        {
            "rule": "maximum_units_per_worker 2 (has 1 in task 'rate-sentences')",
            "passed": True,
            "reason": "",
        },
        {"rule": "onboarding: none", "passed": True, "reason": ""},
        {
            "rule": "a launched unit this worker hasn't done",
            "passed": True,
            "reason": "",
        },
    ]


def test_explain_says_an_allowlisted_worker_can_get_work(allowlist_run):
    GrantedQualificationFactory(
        qualification=Qualification.objects.get(name="allowlist"),
        worker__worker_name="alice",
    )

    out = run(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:alice"
    )

    assert "[FAIL]" not in out
    assert (
        out.splitlines()[-1] == f"=> mock:alice can get work in run {allowlist_run.pk}."
    )


def test_explain_for_a_worker_never_seen_treats_them_as_a_newcomer(allowlist_run):
    out = run(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:new"
    )
    data = run_json(
        "explain_eligibility", "--run", str(allowlist_run.pk), "--worker", "mock:new"
    )

    assert "(never seen: explained as a newcomer)" in out.splitlines()[0]
    assert "  [pass] not on the local blocklist" in out.splitlines()
    assert data["known_worker"] is False
    failed = [rule for rule in data["rules"] if not rule["passed"]]
    assert failed == [
        {
            "rule": "qualification allowlist Exists",
            "passed": False,
            "reason": "This task needs the qualification 'allowlist'.",
        }
    ]
    assert Worker.objects.count() == 0  # explaining creates nobody


def test_explain_names_an_mturk_sandbox_worker_by_their_sandbox_name(allowlist_run):
    data = run_json(
        "explain_eligibility", "--run", str(allowlist_run.pk),
        "--worker", "mturk_sandbox:A1",
    )  # fmt: skip

    assert data["worker"] == "mturk_sandbox:A1_sandbox"


def test_explain_says_a_worker_of_another_provider_cannot_work_on_the_run():
    run = TaskRunFactory(units=1, provider_type="mturk")

    data = run_json(
        "explain_eligibility", "--run", str(run.pk), "--worker", "mturk_sandbox:A1"
    )

    assert data["eligible"] is False


def test_explain_an_unknown_run_is_an_error():
    with pytest.raises(CommandError, match="there is no task run 999"):
        run("explain_eligibility", "--run", "999", "--worker", "mock:alice")


def test_explain_with_a_malformed_worker_is_an_error(allowlist_run):
    with pytest.raises(CommandError, match="unknown provider 'amazon'"):
        run(
            "explain_eligibility", "--run", str(allowlist_run.pk),
            "--worker", "amazon:A1",
        )  # fmt: skip
