"""The run admin's "Review from a CSV" page: upload the filled-in export, see
what it would do, confirm, and it is decided through the review services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import AgentStatus, Payment, PaymentKind, UnitStatus
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.command_calls import run
from tests.review_queue_calls import make_reviewer, queue_url, said
from tests.review_run_calls import (
    csv_row,
    decisions_written,
    pilot,
    review_csv,
    statuses,
)

pytestmark = pytest.mark.django_db


def page_url(task_run) -> str:
    return f"/admin/tasks_app/taskrun/{task_run.pk}/review/csv/"


@pytest.fixture(name="reviewer")
def reviewer_fixture(client):
    client.force_login(make_reviewer())
    return client


def upload(client, task_run, path: str, name="results.csv"):
    with open(path, "rb") as file:
        content = file.read()
    return client.post(
        page_url(task_run),
        {"csv_file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def confirm(client, task_run, signed: str):
    return client.post(page_url(task_run), {"step": "confirm", "plan": signed})


def marked(tmp_path, units) -> str:
    """alice approved, bob rejected, carol left blank."""
    return review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Reject="The rating is empty"),
            csv_row(units["carol"]),
        ],
    )


def test_uploading_previews_what_the_file_would_do_and_writes_nothing(
    reviewer, tmp_path
):
    task_run, units = pilot()

    response = upload(reviewer, task_run, marked(tmp_path, units))

    assert response.status_code == 200
    page = response.content.decode()
    assert (
        "3 row(s): 1 to approve,\n    1 to reject, 0 already decided,\n    "
        "1 left blank, 0 refused." in page
    )
    assert 'id="csv-review-confirm"' in page
    assert '<strong id="csv-review-total">$0.50</strong>' in page
    assert "The rating is empty" in page and "mock:alice" in page
    assert decisions_written() == (0, 0, 0, 0)


def test_confirming_the_preview_decides_and_pays(reviewer, tmp_path):
    task_run, units = pilot()
    preview = upload(reviewer, task_run, marked(tmp_path, units))

    response = confirm(reviewer, task_run, preview.context["signed_plan"])

    assert response.status_code == 302
    assert response["Location"] == queue_url(task_run)
    assert statuses(units) == {
        "alice": (UnitStatus.ACCEPTED, AgentStatus.APPROVED),
        "bob": (UnitStatus.REJECTED, AgentStatus.REJECTED),
        "carol": (UnitStatus.COMPLETED, AgentStatus.COMPLETED),
    }
    reward = Payment.objects.get(kind=PaymentKind.REWARD)
    assert (reward.unit_id, reward.amount) == (units["alice"].pk, Decimal("0.50"))
    reviews = WorkerReview.objects.order_by("pk")
    assert [(r.action, r.created_by.username) for r in reviews] == [
        (ReviewAction.APPROVE, "rita"),
        (ReviewAction.REJECT, "rita"),
    ]
    assert said(response) == [
        "From results.csv: approved 1 and rejected 1 submission(s); $0.50 in "
        "rewards to be paid through the provider."
    ]


def test_a_second_upload_of_the_same_file_reports_it_already_decided(
    reviewer, tmp_path
):
    task_run, units = pilot()
    path = marked(tmp_path, units)
    confirm(reviewer, task_run, upload(reviewer, task_run, path).context["signed_plan"])
    written = decisions_written()

    response = upload(reviewer, task_run, path)

    page = response.content.decode()
    assert "2 already decided" in page
    assert 'id="csv-review-nothing"' in page
    assert 'id="csv-review-confirm"' not in page
    assert f"unit {units['alice'].pk} (agent" in page
    assert decisions_written() == written


def test_confirming_a_preview_twice_decides_once(reviewer, tmp_path):
    task_run, units = pilot()
    signed = upload(reviewer, task_run, marked(tmp_path, units)).context["signed_plan"]
    confirm(reviewer, task_run, signed)
    written = decisions_written()

    response = confirm(reviewer, task_run, signed)

    assert response.status_code == 302
    assert decisions_written() == written
    assert said(response)[-1] == (
        "From results.csv: nothing left to decide. 2 row(s) already decided that "
        "way were left as they were."
    )


def test_a_refused_file_lists_each_row_and_offers_no_confirmation(reviewer, tmp_path):
    task_run, units = pilot()
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Approve="x", Reject="Empty"),
            {"unit_id": "99999999", "Approve": "x"},
        ],
    )

    response = upload(reviewer, task_run, path)

    page = response.content.decode()
    assert 'id="csv-review-refused"' in page
    assert "<td>3</td>" in page and "both Approve and Reject are filled in" in page
    assert "<td>4</td>" in page and "is not a unit of run" in page
    assert 'id="csv-review-confirm"' not in page
    assert response.context["signed_plan"] == ""
    assert decisions_written() == (0, 0, 0, 0)


def test_a_file_that_cant_be_read_is_refused_naming_its_line(reviewer, tmp_path):
    task_run, units = pilot(["alice"])
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"unit_id,Approve,Reject\n1,,Mauvais r\xe9sultat\n")

    response = upload(reviewer, task_run, str(path), name="latin1.csv")

    assert response.status_code == 200
    assert response.context["error"].startswith("latin1.csv: line 2: not UTF-8")
    assert 'id="csv-review-error"' in response.content.decode()
    assert decisions_written() == (0, 0, 0, 0)


def test_the_run_changing_after_the_preview_refuses_the_confirmation(
    reviewer, tmp_path
):
    task_run, units = pilot()
    signed = upload(reviewer, task_run, marked(tmp_path, units)).context["signed_plan"]
    run(
        "review_run",
        "--run",
        str(task_run.pk),
        "--reject",
        str(units["alice"].pk),
        "--feedback",
        "Empty",
    )
    written = decisions_written()

    response = confirm(reviewer, task_run, signed)

    assert response.status_code == 200
    assert "The run changed since the preview" in response.context["error"]
    assert "was already rejected" in response.content.decode()
    assert decisions_written() == written


def test_a_confirmation_not_made_by_the_page_is_refused(reviewer, tmp_path):
    task_run, units = pilot()
    signed = upload(reviewer, task_run, marked(tmp_path, units)).context["signed_plan"]

    response = confirm(reviewer, task_run, signed[:-2] + "xx")

    assert "did not come from a preview of this page" in response.context["error"]
    assert decisions_written() == (0, 0, 0, 0)


def test_a_confirmation_of_another_run_or_user_is_refused(client, tmp_path):
    task_run, units = pilot()
    other_run, _ = pilot(["dave"])
    client.force_login(make_reviewer("rita"))
    signed = upload(client, task_run, marked(tmp_path, units)).context["signed_plan"]

    elsewhere = confirm(client, other_run, signed)
    client.force_login(make_reviewer("bea"))
    someone_else = confirm(client, task_run, signed)

    for response in (elsewhere, someone_else):
        assert "another run's preview, or another user's" in response.context["error"]
    assert decisions_written() == (0, 0, 0, 0)


def test_an_hour_old_preview_is_uploaded_again(reviewer, tmp_path, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    task_run, units = pilot()
    signed = upload(reviewer, task_run, marked(tmp_path, units)).context["signed_plan"]
    time_machine.shift(timedelta(hours=1, minutes=1))

    response = confirm(reviewer, task_run, signed)

    assert "more than an hour old" in response.context["error"]
    assert decisions_written() == (0, 0, 0, 0)


def test_the_page_needs_the_review_permission(client, tmp_path):
    task_run, units = pilot(["alice"])
    client.force_login(User.objects.create_user("clerk", is_staff=True))

    get = client.get(page_url(task_run))
    post = upload(client, task_run, review_csv(tmp_path, [csv_row(units["alice"])]))

    assert (get.status_code, post.status_code) == (403, 403)


def test_the_runs_page_and_its_review_queue_link_to_it(client):
    task_run, _ = pilot(["alice"])
    client.force_login(User.objects.create_superuser("admin", "a@example.org", "x"))

    page = client.get(f"/admin/tasks_app/taskrun/{task_run.pk}/change/")
    queue = client.get(queue_url(task_run))

    assert f'href="{page_url(task_run)}"' in page.content.decode()
    assert f'href="{page_url(task_run)}"' in queue.content.decode()
    form = client.get(page_url(task_run)).content.decode()
    assert 'id="csv-review-upload"' in form
    assert f"/admin/tasks_app/taskrun/{task_run.pk}/export.csv" in form
