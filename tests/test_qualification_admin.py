"""The qualification's admin pages: the workers on it, adding workers, export."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from tasks_app.models import UnitStatus, Worker
from tests.admin_calls import add_url, export_url, grant_to, snapshot, workers_url
from tests.admin_calls import allowlist_fixture as allowlist_fixture
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    UnitFactory,
)
from tests.grants import held

pytestmark = pytest.mark.django_db


# --- who may use the pages ---------------------------------------------------------


def test_a_non_staff_user_is_sent_to_the_login_page(client, allowlist):
    client.force_login(get_user_model().objects.create_user("visitor"))

    for url in (workers_url(allowlist), add_url(allowlist), export_url(allowlist)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")


def test_an_anonymous_post_is_sent_to_the_login_page_and_changes_nothing(
    client, allowlist
):
    (grant,) = grant_to(allowlist, "alice")
    before = snapshot()

    response = client.post(workers_url(allowlist), {"grant": [grant.pk]})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert snapshot() == before


# --- the workers on a qualification ------------------------------------------------


def test_the_workers_page_lists_the_workers_on_the_qualification(
    admin_client, allowlist
):
    grant_to(allowlist, "alice", "bob")
    GrantedQualificationFactory(worker__worker_name="carol")  # another list

    response = admin_client.get(workers_url(allowlist))

    assert response.status_code == 200
    assert response.context["total"] == 2
    names = [g.worker.worker_name for g in response.context["page"]]
    assert names == ["alice", "bob"]
    assert b"carol" not in response.content


def test_the_workers_page_searches_by_worker_id(admin_client, allowlist):
    grant_to(allowlist, "alice", "alicia", "bob")

    response = admin_client.get(workers_url(allowlist), {"q": "ALI"})

    assert [g.worker.worker_name for g in response.context["page"]] == [
        "alice",
        "alicia",
    ]
    assert response.context["total"] == 2


def test_the_workers_page_pages_through_long_lists(admin_client, allowlist):
    workers = Worker.objects.bulk_create(
        [Worker(provider_type="mock", worker_name=f"w{i:03d}") for i in range(150)]
    )
    GrantedQualification.objects.bulk_create(
        [GrantedQualification(worker=w, qualification=allowlist) for w in workers]
    )

    first = admin_client.get(workers_url(allowlist))
    second = admin_client.get(workers_url(allowlist), {"page": 2})

    assert len(first.context["page"]) == 100
    assert first.context["page"].paginator.num_pages == 2
    assert b"page 1 of 2" in first.content
    assert [g.worker.worker_name for g in second.context["page"]] == [
        f"w{i:03d}" for i in range(100, 150)
    ]


def test_bulk_revoke_removes_exactly_the_checked_workers(admin_client, allowlist):
    alice, bob, carol = grant_to(allowlist, "alice", "bob", "carol")
    elsewhere = GrantedQualificationFactory(worker=alice.worker)

    response = admin_client.post(
        workers_url(allowlist) + "?q=",
        {"grant": [alice.pk, carol.pk, elsewhere.pk, "junk"], "reason": "spam"},
    )

    assert response.status_code == 302
    assert held("allowlist") == {"mock:bob": 1}
    assert GrantedQualification.objects.filter(pk=elsewhere.pk).exists()
    reviews = WorkerReview.objects.order_by("worker__worker_name")
    assert [
        (r.worker.worker_name, r.action, r.qualification.name, r.reason, r.created_by)
        for r in reviews
    ] == [
        ("alice", ReviewAction.REVOKE, "allowlist", "spam", response.wsgi_request.user),
        ("carol", ReviewAction.REVOKE, "allowlist", "spam", response.wsgi_request.user),
    ]


def test_bulk_revoke_without_a_reason_says_it_was_the_admin(admin_client, allowlist):
    (alice,) = grant_to(allowlist, "alice")

    admin_client.post(workers_url(allowlist), {"grant": [alice.pk]})

    assert WorkerReview.objects.get().reason == "revoked in the admin"


# --- adding workers: preview, then confirm ---------------------------------------

PASTED = "mock:alice\nmturk:A1B2C3\nnot an id\nmock:bob\namazon:X1\n"


def test_the_preview_shows_counts_and_bad_rows_and_writes_nothing(
    admin_client, allowlist
):
    response = admin_client.post(
        add_url(allowlist), {"step": "preview", "text": PASTED, "value": "2"}
    )

    assert response.status_code == 200
    assert (
        response.templates[0].name
        == "admin/qualifications_app/add_workers_preview.html"
    )
    content = response.content.decode()
    assert "3 worker(s) will get <strong>allowlist</strong> = 2" in content
    assert "2 bad row(s)" in content
    assert "line 3: &#x27;not an id&#x27; is not PROVIDER:ID" in content
    assert "line 5: unknown provider &#x27;amazon&#x27;" in content
    assert "skip_bad_rows" in content
    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_confirming_with_bad_rows_and_no_skip_writes_nothing(admin_client, allowlist):
    response = admin_client.post(
        add_url(allowlist), {"step": "confirm", "text": PASTED, "value": "1"}
    )

    assert response.status_code == 200
    assert b"Nothing was added" in response.content
    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_confirming_with_skip_grants_the_good_rows(admin_client, allowlist):
    response = admin_client.post(
        add_url(allowlist),
        {
            "step": "confirm",
            "text": PASTED,
            "value": "2",
            "skip_bad_rows": "1",
            "reason": "pilot 1",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == workers_url(allowlist)
    assert held("allowlist") == {"mock:alice": 2, "mturk:A1B2C3": 2, "mock:bob": 2}
    assert set(WorkerReview.objects.values_list("action", "reason", "created_by")) == {
        (ReviewAction.GRANT, "pilot 1", response.wsgi_request.user.pk)
    }


def test_the_preview_form_carries_everything_the_confirm_step_needs(
    admin_client, allowlist
):
    preview = admin_client.post(
        add_url(allowlist),
        {
            "step": "preview",
            "text": "A1\nB2\n",
            "default_provider": "mturk_sandbox",
            "value": "3",
        },
    )
    carried = {
        "text": preview.context["text"],
        "default_provider": preview.context["default_provider"],
        "value": preview.context["value"],
    }
    assert b'name="default_provider" value="mturk_sandbox"' in preview.content

    admin_client.post(add_url(allowlist), {"step": "confirm", **carried})

    assert held("allowlist") == {
        "mturk_sandbox:A1_sandbox": 3,
        "mturk_sandbox:B2_sandbox": 3,
    }


def test_an_uploaded_csv_is_previewed_and_granted(admin_client, allowlist):
    content = b"\xef\xbb\xbfprovider,worker_id,value\nmturk,A1,1\nprolific,5f1c,1\n"

    preview = admin_client.post(
        add_url(allowlist),
        {
            "step": "preview",
            "csv_file": SimpleUploadedFile("workers.csv", content, "text/csv"),
        },
    )
    confirm = admin_client.post(
        add_url(allowlist),
        {
            "step": "confirm",
            "csv_file": SimpleUploadedFile("workers.csv", content, "text/csv"),
        },
    )

    assert b"2 worker(s) will get" in preview.content
    assert confirm.status_code == 302
    assert held("allowlist") == {"mturk:A1": 1, "prolific:5f1c": 1}


def test_an_uploaded_file_that_is_not_utf8_is_refused(admin_client, allowlist):
    upload = SimpleUploadedFile("workers.csv", b"\xff\xfe\x00m", "text/csv")

    response = admin_client.post(
        add_url(allowlist), {"step": "confirm", "csv_file": upload}
    )

    assert b"not UTF-8" in response.content
    assert Worker.objects.count() == 0


def test_a_value_that_is_not_a_number_is_refused(admin_client, allowlist):
    response = admin_client.post(
        add_url(allowlist), {"step": "confirm", "text": "mock:alice", "value": "high"}
    )

    assert b"The value must be a whole number." in response.content
    assert Worker.objects.count() == 0


# --- export -----------------------------------------------------------------------


def test_export_streams_provider_worker_id_value(admin_client, allowlist):
    GrantedQualificationFactory(
        qualification=allowlist,
        worker__provider_type="mturk_sandbox",
        worker__worker_name="A1_sandbox",
        value=2,
    )
    grant_to(allowlist, "alice")

    response = admin_client.get(export_url(allowlist))

    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="allowlist.csv"'
    text = b"".join(response.streaming_content).decode()
    assert list(csv.reader(io.StringIO(text))) == [
        ["provider", "worker_id", "value"],
        ["mock", "alice", "1"],
        ["mturk_sandbox", "A1_sandbox", "2"],
    ]


def test_an_exported_csv_uploaded_again_adds_nobody_new(admin_client, allowlist):
    GrantedQualificationFactory(
        qualification=allowlist,
        worker__provider_type="mturk_sandbox",
        worker__worker_name="A1_sandbox",
    )
    exported = b"".join(admin_client.get(export_url(allowlist)).streaming_content)
    live = QualificationFactory(name="live-allowlist")

    admin_client.post(
        add_url(live),
        {
            "step": "confirm",
            "csv_file": SimpleUploadedFile("allowlist.csv", exported, "text/csv"),
        },
    )

    assert held("live-allowlist") == {"mturk_sandbox:A1_sandbox": 1}
    assert Worker.objects.count() == 1


# --- the grants admin ------------------------------------------------------------


def test_deleting_a_grant_in_the_grants_admin_leaves_an_audit_row_or_is_refused(
    admin_client, allowlist
):
    (grant,) = grant_to(allowlist, "alice")

    admin_client.post(
        f"/admin/qualifications_app/grantedqualification/{grant.pk}/delete/",
        {"post": "yes"},
    )

    revoked = not GrantedQualification.objects.filter(pk=grant.pk).exists()
    assert (
        not revoked or WorkerReview.objects.filter(action=ReviewAction.REVOKE).exists()
    )


# --- GETs change nothing ----------------------------------------------------------


def test_no_get_changes_data(admin_client, allowlist):
    (grant,) = grant_to(allowlist, "alice")
    worker = grant.worker
    unit = UnitFactory(worker=worker, status=UnitStatus.COMPLETED)
    before = snapshot()

    urls = [
        workers_url(allowlist) + f"?grant={grant.pk}",
        add_url(allowlist) + "?step=confirm&text=mock:bob&skip_bad_rows=1",
        export_url(allowlist),
        f"/admin/tasks_app/worker/{worker.pk}/change/?explain_run={unit.run.pk}",
        f"/admin/tasks_app/worker/{worker.pk}/block/?blocked=1",
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        if response.streaming:
            b"".join(response.streaming_content)

    assert snapshot() == before
