"""The run's results downloaded from the admin: JSONL and CSV as the command writes
them (the CSV with a byte-order mark on request), streamed as an attachment, to
staff who may view runs, by GET only."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tasks_app import services
from tasks_app.models import TaskRun
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.export_calls import export, submitted
from tests.factories import TaskRunFactory, UnitFactory

pytestmark = pytest.mark.django_db


def export_url(run: TaskRun, format: str) -> str:
    return f"/admin/tasks_app/taskrun/{run.pk}/export.{format}"


def staff(client: Client, *perms: str) -> Client:
    user = User.objects.create_user("operator", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    client.force_login(user)
    return client


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def run() -> TaskRun:
    run = TaskRunFactory(task_reward=Decimal("0.50"), task__task_name="rate pilot 1")
    approved = submitted(run, "alice", {"rating": "=good"})
    services.approve_unit(unit_id=approved.unit_id)
    submitted(run, "bob", {"rating": "bad"})
    UnitFactory(assignment__run=run)
    return run


def test_the_jsonl_download_is_the_commands_export_as_an_attachment(admin_client, run):
    response = admin_client.get(export_url(run, "jsonl"))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="rate_pilot_1-run-{run.pk}.jsonl"'
    )
    text = body(response)
    assert text == export("--run", str(run.pk))
    assert [json.loads(line)["status"] for line in text.splitlines()] == [
        "accepted",
        "completed",
        "launched",
    ]


def test_the_csv_download_is_the_commands_csv_with_formulas_escaped(admin_client, run):
    response = admin_client.get(export_url(run, "csv"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="rate_pilot_1-run-{run.pk}.csv"'
    )
    text = body(response)
    assert text == export("--run", str(run.pk), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["Answer.rating"] for row in rows] == ["'=good", "bad", ""]


def test_the_csv_download_keeps_numbers_and_ends_with_approve_and_reject(
    admin_client, run
):
    agent = submitted(run, "carol", {"rating": -3, "note": "-3"})

    text = body(admin_client.get(export_url(run, "csv")))

    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    [carol] = [row for row in rows if row["worker_id"] == "carol"]
    assert (carol["Answer.rating"], carol["Answer.note"]) == ("-3", "'-3")
    assert (carol["agent_id"], carol["reward"]) == (str(agent.pk), "0.50")
    assert text.splitlines()[0].endswith(",Approve,Reject")
    assert {(row["Approve"], row["Reject"]) for row in rows} == {("", "")}


def test_the_csv_download_with_bom_starts_with_a_byte_order_mark(admin_client, run):
    response = admin_client.get(export_url(run, "csv") + "?bom=1")

    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert data.startswith(b"\xef\xbb\xbfunit_id,")
    assert data.decode("utf-8") == export(
        "--run", str(run.pk), "--format", "csv", "--bom"
    )
    assert response["Content-Disposition"] == (
        f'attachment; filename="rate_pilot_1-run-{run.pk}.csv"'
    )


def test_bom_0_is_the_plain_csv(admin_client, run):
    response = admin_client.get(export_url(run, "csv") + "?bom=0")

    assert b"".join(response.streaming_content).startswith(b"unit_id,")


def test_a_bom_on_the_jsonl_download_is_a_400(admin_client, run):
    response = admin_client.get(export_url(run, "jsonl") + "?bom=1")

    assert response.status_code == 400
    assert response.content.decode() == (
        "bom: a byte-order mark is written only before CSV, for spreadsheets; "
        "a jsonl export has none"
    )


def test_a_bom_that_is_neither_yes_nor_no_is_a_400(admin_client, run):
    response = admin_client.get(export_url(run, "csv") + "?bom=maybe")

    assert response.status_code == 400
    assert response.content.decode() == "bom: 'maybe' is neither 1 nor 0"


def test_the_status_filter_keeps_only_those_units_and_names_the_file(admin_client, run):
    response = admin_client.get(export_url(run, "jsonl") + "?status=accepted")

    [line] = body(response).splitlines()
    assert json.loads(line)["worker"] == {"provider": "mock", "id": "alice"}
    assert response["Content-Disposition"] == (
        f'attachment; filename="rate_pilot_1-run-{run.pk}-accepted.jsonl"'
    )


def test_statuses_may_be_repeated_or_comma_listed(admin_client, run):
    repeated = admin_client.get(
        export_url(run, "jsonl") + "?status=accepted&status=launched"
    )
    listed = admin_client.get(export_url(run, "jsonl") + "?status=accepted,launched")

    text = body(listed)
    assert body(repeated) == text
    assert len(text.splitlines()) == 2


def test_a_bad_status_is_a_400_naming_the_valid_ones(admin_client, run):
    response = admin_client.get(export_url(run, "csv") + "?status=done")

    assert response.status_code == 400
    assert response.content.decode() == (
        "status: 'done' is not a unit status; valid: created, launched, assigned, "
        "completed, accepted, rejected, soft_rejected, expired"
    )


def test_an_unknown_format_or_run_is_a_404(admin_client, run):
    unknown_run = "/admin/tasks_app/taskrun/999999/export.csv"

    assert admin_client.get(export_url(run, "xlsx")).status_code == 404
    assert admin_client.get(unknown_run).status_code == 404


def test_staff_with_the_view_permission_may_download(client, run):
    staff(client, "tasks_app.view_taskrun")

    response = client.get(export_url(run, "jsonl"))

    assert response.status_code == 200
    assert len(body(response).splitlines()) == 3


def test_staff_without_the_view_permission_get_a_403(client, run):
    staff(client, "tasks_app.review_unit")

    assert client.get(export_url(run, "jsonl")).status_code == 403
    assert client.get(export_url(run, "csv")).status_code == 403


def test_an_anonymous_visitor_is_sent_to_log_in(client, run):
    response = client.get(export_url(run, "csv"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_the_download_answers_get_only(admin_client, run):
    assert admin_client.post(export_url(run, "jsonl")).status_code == 405


def test_the_runs_page_links_the_downloads(admin_client, run):
    response = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/change/")

    content = response.content.decode()
    for link in (
        export_url(run, "jsonl"),
        export_url(run, "csv"),
        export_url(run, "csv") + "?bom=1",
        export_url(run, "jsonl") + "?status=accepted",
        export_url(run, "csv") + "?status=accepted",
        export_url(run, "csv") + "?status=accepted&amp;bom=1",
    ):
        assert f'href="{link}"' in content


def test_the_review_queue_links_the_downloads(admin_client, run):
    response = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/review/")

    content = response.content.decode()
    assert f'href="{export_url(run, "jsonl")}"' in content
    assert f'href="{export_url(run, "csv")}"' in content
