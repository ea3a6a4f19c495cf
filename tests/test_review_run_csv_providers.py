"""`review_run --from-csv` on a provider's rules: Prolific's for a rejection
message and the longest feedback a provider takes, checked with the file, and
work the task page never reported, which a file does not approve."""

from __future__ import annotations

import pytest

from providers.mock import MockProvider
from tasks_app import services
from tasks_app.models import Agent, AgentStatus, Unit
from tests.prolific_fake import ProlificFake
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.review_run_calls import (
    csv_row,
    decisions_written,
    from_csv,
    pilot,
    review_csv,
)
from tests.test_prolific_flow import run as run  # noqa: F401 (the run fixture)
from tests.test_prolific_flow import study_of, works

pytestmark = pytest.mark.django_db

LOW_EFFORT = (
    "LOW_EFFORT: the rating was left empty, so there is no answer to use; please "
    "choose one of the options before submitting next time."
)


def test_a_rejection_prolific_would_refuse_refuses_the_file(run, prolific, tmp_path):
    first, second = works(prolific, run, "p-1"), works(prolific, run, "p-2")
    path = review_csv(
        tmp_path,
        [csv_row(first, Reject="Too short"), csv_row(second, Reject=LOW_EFFORT)],
    )
    written = decisions_written()

    report, error = from_csv(run, path)

    assert error is not None
    (refusal,) = report["refused"]
    assert (refusal["row"], refusal["unit_id"]) == (2, first.pk)
    assert refusal["error"].startswith("the Reject text: ")
    assert decisions_written() == written


def test_work_the_page_never_reported_is_not_approved_from_a_file(
    run, prolific: ProlificFake, tmp_path
):
    prolific.submit(study_of(run), "p-unseen", status="AWAITING REVIEW")
    (recovered,) = services.recover_submissions(run_id=run.pk)
    unit = Unit.objects.get(pk=recovered.unit_id)
    assert Agent.objects.get(unit=unit).from_provider_listing is True
    path = review_csv(tmp_path, [csv_row(unit, Approve="x")])

    report, error = from_csv(run, path)
    rejected, _ = from_csv(
        run, review_csv(tmp_path, [csv_row(unit, Reject=LOW_EFFORT)], name="r.csv")
    )

    assert error is not None
    (refusal,) = report["refused"]
    assert "the task page never reported this submission" in refusal["error"]
    assert "--approve-unreported" in refusal["error"]
    assert rejected["rejected"] == [unit.pk]
    assert Agent.objects.get(unit=unit).status == AgentStatus.REJECTED


def test_a_rejection_longer_than_the_provider_takes_refuses_the_file(
    monkeypatch, tmp_path
):
    # MTurk takes 1024 characters of RequesterFeedback; the mock, set to take 20.
    monkeypatch.setattr(MockProvider, "feedback_max_length", 20)
    task_run, units = pilot(["alice"])
    path = review_csv(tmp_path, [csv_row(units["alice"], Reject="x" * 21)])

    report, error = from_csv(task_run, path)

    assert error is not None
    assert report["refused"] == [
        {
            "row": 2,
            "unit_id": units["alice"].pk,
            "error": "the Reject text: it is 21 characters long; mock takes at most 20",
        }
    ]
    assert decisions_written() == (0, 0, 0, 0)
