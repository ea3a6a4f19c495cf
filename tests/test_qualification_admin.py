"""The operator's curation pages: workers on a list, import, export, block, units."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from qualifications_app.models import (
    GrantedQualification,
    Qualification,
    ReviewAction,
    WorkerReview,
)
from tasks_app.models import UnitStatus, Worker
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    TaskFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # admin_client's superuser is created with a password; hash it cheaply.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def allowlist():
    return QualificationFactory(name="allowlist")


def workers_url(qualification: Qualification) -> str:
    return f"/admin/qualifications_app/qualification/{qualification.pk}/workers/"


def add_url(qualification: Qualification) -> str:
    return f"/admin/qualifications_app/qualification/{qualification.pk}/add-workers/"


def export_url(qualification: Qualification) -> str:
    return f"/admin/qualifications_app/qualification/{qualification.pk}/export.csv"


def held(name: str) -> dict[str, int]:
    return {
        f"{g.worker.provider_type}:{g.worker.worker_name}": g.value
        for g in GrantedQualification.objects.filter(
            qualification__name=name
        ).select_related("worker")
    }


def snapshot() -> tuple[int, ...]:
    """Counts that any write by these pages would change."""
    return (
        Worker.objects.count(),
        Worker.objects.filter(is_blocked=True).count(),
        GrantedQualification.objects.count(),
        WorkerReview.objects.count(),
        Qualification.objects.count(),
    )


def grant_to(qualification: Qualification, *names: str) -> list[GrantedQualification]:
    return [
        GrantedQualificationFactory(qualification=qualification, worker__worker_name=n)
        for n in names
    ]


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


# --- the worker page -------------------------------------------------------------


def test_the_worker_page_shows_qualifications_units_per_task_and_approval_rate(
    admin_client,
):
    worker = WorkerFactory(worker_name="alice")
    GrantedQualificationFactory(worker=worker, qualification__name="level", value=4)
    pilot = TaskRunFactory(task=TaskFactory(task_name="rate-pilot-1"))
    live = TaskRunFactory(task=TaskFactory(task_name="rate-live-batch-1"))
    for run, status in [
        (pilot, UnitStatus.ACCEPTED),
        (pilot, UnitStatus.REJECTED),
        (live, UnitStatus.ACCEPTED),
        (live, UnitStatus.COMPLETED),
    ]:
        UnitFactory(assignment__run=run, worker=worker, status=status)

    response = admin_client.get(f"/admin/tasks_app/worker/{worker.pk}/change/")

    assert response.status_code == 200
    assert [(g.qualification.name, g.value) for g in response.context["grants"]] == [
        ("level", 4)
    ]
    rows = {
        r["run__task__task_name"]: (
            r["units"],
            r["completed"],
            r["accepted"],
            r["rejected"],
        )
        for r in response.context["units_per_task"]
    }
    assert rows == {"rate-pilot-1": (2, 0, 1, 1), "rate-live-batch-1": (2, 1, 1, 0)}
    content = response.content.decode()
    assert "Approval rate: 67% of 3 reviewed unit(s)" in content
    assert "rate-live-batch-1" in content and ">level<" in content
    assert "Not blocked." in content


def test_the_worker_page_explains_eligibility_for_a_run(admin_client):
    QualificationFactory(name="allowlist")
    run = TaskRunFactory(
        units=1,
        qualifications=[{"qualification_name": "allowlist", "comparator": "Exists"}],
    )
    worker = WorkerFactory(is_blocked=True)

    response = admin_client.get(
        f"/admin/tasks_app/worker/{worker.pk}/change/", {"explain_run": run.pk}
    )

    verdicts = {v.rule: v.passed for v in response.context["verdicts"]}
    assert verdicts["not on the local blocklist"] is False
    assert verdicts["qualification allowlist Exists"] is False
    assert verdicts["run status running"] is True
    content = response.content.decode()
    assert 'id="eligibility-rules"' in content
    assert "This task needs the qualification &#x27;allowlist&#x27;." in content
    assert "<strong>Blocked</strong>" in content


def test_the_worker_page_ignores_an_unknown_run(admin_client):
    worker = WorkerFactory()

    response = admin_client.get(
        f"/admin/tasks_app/worker/{worker.pk}/change/", {"explain_run": "999"}
    )

    assert response.status_code == 200
    assert "verdicts" not in response.context


# --- blocking --------------------------------------------------------------------


def test_the_block_page_asks_first_and_blocks_on_post(admin_client):
    worker = WorkerFactory(worker_name="alice")
    url = f"/admin/tasks_app/worker/{worker.pk}/block/"

    page = admin_client.get(url)
    worker.refresh_from_db()
    assert worker.is_blocked is False
    assert b'name="blocked" value="1"' in page.content

    response = admin_client.post(url, {"blocked": "1", "reason": "copied answers"})

    assert response.status_code == 302
    assert response["Location"] == f"/admin/tasks_app/worker/{worker.pk}/change/"
    worker.refresh_from_db()
    assert worker.is_blocked is True
    review = WorkerReview.objects.get()
    assert (review.action, review.reason, review.created_by) == (
        ReviewAction.BLOCK,
        "copied answers",
        response.wsgi_request.user,
    )


def test_the_block_page_unblocks_a_blocked_worker(admin_client):
    worker = WorkerFactory(is_blocked=True)
    url = f"/admin/tasks_app/worker/{worker.pk}/block/"

    assert b'name="blocked" value="0"' in admin_client.get(url).content
    admin_client.post(url, {"blocked": "0", "reason": "appeal accepted"})

    worker.refresh_from_db()
    assert worker.is_blocked is False
    assert WorkerReview.objects.get().action == ReviewAction.UNBLOCK


# --- grant / revoke from the units list -------------------------------------------


def unit_action(client, action: str, units, **confirm):
    data = {"action": action, "_selected_action": [u.pk for u in units]}
    data.update(confirm)
    return client.post("/admin/tasks_app/unit/", data)


@pytest.fixture
def reviewed_units():
    """Three completed units: two by alice (one assignment each), one by bob."""
    alice = WorkerFactory(worker_name="alice")
    bob = WorkerFactory(worker_name="bob")
    run = TaskRunFactory()
    return [
        UnitFactory(assignment__run=run, worker=w, status=UnitStatus.COMPLETED)
        for w in (alice, alice, bob)
    ]


def test_the_grant_action_shows_a_confirmation_page_and_changes_nothing(
    admin_client, reviewed_units, allowlist
):
    before = snapshot()

    response = unit_action(admin_client, "grant_qualification_action", reviewed_units)

    assert response.status_code == 200
    assert (
        response.templates[0].name == "admin/tasks_app/unit/qualification_action.html"
    )
    content = response.content.decode()
    assert "for the worker(s) of 3 unit(s)" in content
    assert "<li>alice (mock)</li>" in content and "<li>bob (mock)</li>" in content
    assert 'name="confirm" value="1"' in content
    assert snapshot() == before


def test_confirming_the_grant_action_grants_each_worker_once_with_the_unit(
    admin_client, reviewed_units, allowlist
):
    response = unit_action(
        admin_client,
        "grant_qualification_action",
        reviewed_units,
        confirm="1",
        qualification="allowlist",
        value="2",
        reason="good pilot work",
    )

    assert response.status_code == 302
    assert held("allowlist") == {"mock:alice": 2, "mock:bob": 2}
    rows = set(
        WorkerReview.objects.values_list(
            "worker__worker_name", "action", "unit", "reason", "created_by"
        )
    )
    user = response.wsgi_request.user.pk
    assert rows == {
        ("alice", ReviewAction.GRANT, reviewed_units[0].pk, "good pilot work", user),
        ("bob", ReviewAction.GRANT, reviewed_units[2].pk, "good pilot work", user),
    }


def test_the_revoke_action_confirms_first_then_revokes_with_the_unit(
    admin_client, reviewed_units, allowlist
):
    alice = reviewed_units[0].worker
    GrantedQualificationFactory(worker=alice, qualification=allowlist)
    page = unit_action(admin_client, "revoke_qualification_action", reviewed_units[:1])
    assert b'<option value="allowlist">' in page.content
    assert held("allowlist") == {"mock:alice": 1}

    unit_action(
        admin_client,
        "revoke_qualification_action",
        reviewed_units[:1],
        confirm="1",
        qualification="allowlist",
        reason="spam",
    )

    assert held("allowlist") == {}
    review = WorkerReview.objects.get()
    assert (review.action, review.unit_id, review.reason) == (
        ReviewAction.REVOKE,
        reviewed_units[0].pk,
        "spam",
    )


def test_confirming_a_revoke_of_an_unknown_qualification_changes_nothing(
    admin_client, reviewed_units
):
    before = snapshot()

    response = unit_action(
        admin_client,
        "revoke_qualification_action",
        reviewed_units,
        confirm="1",
        qualification="nope",
    )

    assert response.status_code == 302
    assert snapshot() == before
    follow = admin_client.get(response["Location"])
    assert b"Nothing changed: unknown qualification" in follow.content


def test_the_grant_action_on_units_without_a_worker_warns_and_changes_nothing(
    admin_client, allowlist
):
    unit = UnitFactory(worker=None, status=UnitStatus.LAUNCHED)
    before = snapshot()

    response = unit_action(
        admin_client,
        "grant_qualification_action",
        [unit],
        confirm="1",
        qualification="allowlist",
    )

    assert response.status_code == 302
    assert snapshot() == before


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
