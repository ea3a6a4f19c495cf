"""`manage.py review_run` after a pilot: the allowlist (or another qualification)
granted to the workers just approved, and refused before any decision when it can't."""

from __future__ import annotations

import pytest

from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from tasks_app.models import AgentStatus, UnitStatus
from tests.command_calls import run, run_json
from tests.factories import QualificationFactory
from tests.review_run_calls import ALLOWLIST, pilot, refused, statuses, user

pytestmark = pytest.mark.django_db


# --- pilot -> allowlist -----------------------------------------------------------


def test_approve_all_with_grant_allowlist_puts_the_approved_workers_on_it():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["carol"].pk),
        "--feedback",
        "spam",
    )

    report = run_json(
        "review_run", "--run", str(task_run.pk), "--approve-all", "--grant-allowlist"
    )

    assert report["granted"] == {"qualification": ALLOWLIST, "workers": 2}
    holders = GrantedQualification.objects.filter(qualification__name=ALLOWLIST)
    assert sorted(g.worker.worker_name for g in holders) == ["alice", "bob"]
    assert {g.value for g in holders} == {1}
    audit = WorkerReview.objects.filter(action=ReviewAction.GRANT).order_by("pk")
    assert [(r.worker.worker_name, r.unit_id) for r in audit] == [
        ("alice", units["alice"].pk),
        ("bob", units["bob"].pk),
    ]
    assert all(f"run {task_run.pk}" in r.reason for r in audit)


def test_granting_names_only_the_workers_approved_now():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    run("review_run", "--run", str(task_run.pk), "--approve", str(units["alice"].pk))

    text = run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["bob"].pk),
        "--grant-allowlist",
    )

    assert "Granted 'pilot-allowlist' to 1 approved worker(s)." in text
    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["bob"]


def test_grant_names_another_existing_qualification():
    task_run, units = pilot(["alice"], allowlist=None)
    QualificationFactory(name="good-raters")

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--grant",
        "good-raters",
    )

    grant = GrantedQualification.objects.get()
    assert (grant.worker.worker_name, grant.qualification.name) == (
        "alice",
        "good-raters",
    )


def test_grant_allowlist_on_a_run_without_one_is_refused_before_any_decision():
    task_run, units = pilot(allowlist=None)

    error = refused("--run", str(task_run.pk), "--approve-all", "--grant-allowlist")

    assert "has no allowlist qualification" in str(error)
    assert "--grant NAME" in str(error)
    assert set(statuses(units).values()) == {
        (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    }
    assert not WorkerReview.objects.exists()


def test_granting_a_qualification_nobody_created_is_refused_before_any_decision():
    task_run, units = pilot()

    error = refused("--run", str(task_run.pk), "--approve-all", "--grant-allowlist")

    assert "unknown qualification 'pilot-allowlist'" in str(error)
    assert "manage.py qualifications create pilot-allowlist" in str(error)
    assert not WorkerReview.objects.exists()
    assert not GrantedQualification.objects.exists()


def test_a_reviewer_who_may_review_but_not_grant_is_refused():
    task_run, units = pilot()
    QualificationFactory(name=ALLOWLIST)
    user("rita", "review_unit")

    error = refused(
        "--run",
        str(task_run.pk),
        "--approve-all",
        "--grant-allowlist",
        "--reviewer",
        "rita",
    )

    assert "rita may not grant qualifications" in str(error)
    assert not WorkerReview.objects.exists()


def test_a_reviewer_with_both_permissions_approves_and_grants_in_their_name():
    task_run, units = pilot(["alice"])
    QualificationFactory(name=ALLOWLIST)
    rita = user("rita", "review_unit", "add_grantedqualification")

    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve-all",
        "--grant-allowlist",
        "--reviewer",
        "rita",
    )

    assert {r.action: r.created_by for r in WorkerReview.objects.all()} == {
        ReviewAction.APPROVE: rita,
        ReviewAction.GRANT: rita,
    }
