"""`review_run --approve UNIT... --override-rejection`: a rejected unit approved
after all, its reward paid once, where the provider can undo a rejection."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from tasks_app.models import AgentStatus, Payment, PaymentKind, UnitStatus
from tests.command_calls import run, run_json
from tests.factories import QualificationFactory
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.review_run_calls import ALLOWLIST, pilot, refused, statuses
from tests.test_prolific_flow import run as prolific_run  # noqa: F401 (fixture)
from tests.test_prolific_flow import works

pytestmark = pytest.mark.django_db


def reject(task_run, *units) -> None:
    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        *(str(unit.pk) for unit in units),
        "--feedback",
        "The rating is empty",
    )


def rewards(unit) -> int:
    return Payment.objects.filter(unit=unit, kind=PaymentKind.REWARD).count()


def test_overriding_approves_a_rejected_unit_and_pays_its_reward_once():
    task_run, units = pilot(["alice", "bob"])
    reject(task_run, units["alice"])

    text = run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--override-rejection",
    )
    again = refused(
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--override-rejection",
    )

    assert statuses(units)["alice"] == (UnitStatus.ACCEPTED, AgentStatus.APPROVED)
    assert rewards(units["alice"]) == 1
    approval = WorkerReview.objects.get(action=ReviewAction.APPROVE)
    assert approval.overrides_rejection is True
    assert (
        f"Approved unit {units['alice'].pk} by mock:alice (its rejection overridden), "
        "paid $0.50." in text
    )
    assert "is not rejected" in str(again)
    assert rewards(units["alice"]) == 1


def test_without_the_flag_approving_a_rejected_unit_stays_refused():
    task_run, units = pilot(["alice"])
    reject(task_run, units["alice"])

    error = refused("--run", str(task_run.pk), "--approve", str(units["alice"].pk))

    assert "was already rejected" in str(error)
    assert statuses(units)["alice"] == (UnitStatus.REJECTED, AgentStatus.REJECTED)
    assert rewards(units["alice"]) == 0


def test_one_unit_not_rejected_among_them_changes_nothing():
    task_run, units = pilot(["alice", "bob"])
    reject(task_run, units["alice"])

    error = refused(
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        str(units["bob"].pk),
        "--override-rejection",
    )

    assert f"unit {units['bob'].pk} is not rejected" in str(error)
    assert statuses(units) == {
        "alice": (UnitStatus.REJECTED, AgentStatus.REJECTED),
        "bob": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    assert not Payment.objects.exists()


def test_overriding_with_json_and_a_grant_grants_the_workers_approved():
    task_run, units = pilot(["alice", "bob"])
    QualificationFactory(name=ALLOWLIST)
    reject(task_run, units["alice"], units["bob"])

    report = run_json(
        "review_run",
        "--run",
        str(task_run.pk),
        "--approve",
        str(units["alice"].pk),
        "--override-rejection",
        "--grant-allowlist",
    )

    assert report["decided"] == [units["alice"].pk]
    assert report["amount"] == "0.50"
    assert report["granted"] == {"qualification": ALLOWLIST, "workers": 1}
    assert list(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == ["alice"]


@pytest.mark.parametrize(
    "form", [["--reject", "1", "--feedback", "x"], ["--approve-all"], []]
)
def test_the_flag_goes_with_approve_only(form):
    task_run, _ = pilot(["alice"])

    with pytest.raises(CommandError) as caught:
        call_command(
            "review_run",
            "--run",
            str(task_run.pk),
            *form,
            "--override-rejection",
            stdin=io.StringIO(""),
            stdout=io.StringIO(),
        )

    assert "--override-rejection goes with --approve" in str(caught.value)


def test_on_prolific_overriding_is_refused_naming_the_provider(
    prolific_run,  # noqa: F811
    prolific,
):
    unit = works(prolific, prolific_run, "participant-1")
    feedback = "LOW_EFFORT: " + "the rating was left empty, so there is no answer. " * 3
    run(
        "review_run",
        "--run",
        str(prolific_run.pk),
        "--reject",
        str(unit.pk),
        "--feedback",
        feedback,
    )

    error = refused(
        "--run",
        str(prolific_run.pk),
        "--approve",
        str(unit.pk),
        "--override-rejection",
    )

    assert "prolific can't approve a submission after it was rejected" in str(error)
    assert rewards(unit) == 0
