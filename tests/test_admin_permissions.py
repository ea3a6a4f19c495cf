"""Staff who may only view can't grant, revoke, block or unblock through the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from qualifications_app.models import GrantedQualification, Qualification, WorkerReview
from tasks_app.models import UnitStatus, Worker
from tests.admin_calls import add_url, workers_url
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    UnitFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db

VIEW_ONLY = [
    "tasks_app.view_unit",
    "tasks_app.view_worker",
    "qualifications_app.view_qualification",
    "qualifications_app.view_grantedqualification",
]
GRANT = "qualifications_app.add_grantedqualification"
REVOKE = "qualifications_app.delete_grantedqualification"
BLOCK = "tasks_app.change_worker"


def staff(client, *perms: str, superuser: bool = False):
    """Log `client` in as a staff user holding exactly `perms` (or everything)."""
    User = get_user_model()
    if superuser:
        user = User.objects.create_superuser("root", email=None, password=None)
    else:
        user = User.objects.create_user("operator", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client.force_login(user)
    return client


def snapshot() -> tuple[int, ...]:
    """Counts that any grant, revoke, block, unblock or import would change."""
    return (
        Worker.objects.count(),
        Worker.objects.filter(is_blocked=True).count(),
        GrantedQualification.objects.count(),
        WorkerReview.objects.count(),
        Qualification.objects.count(),
    )


@pytest.fixture
def allowlist():
    return QualificationFactory(name="allowlist")


@pytest.fixture
def unit():
    return UnitFactory(
        worker=WorkerFactory(worker_name="alice"), status=UnitStatus.COMPLETED
    )


def unit_action(client, action: str, unit, **confirm):
    data = {"action": action, "_selected_action": [unit.pk], **confirm}
    return client.post("/admin/tasks_app/unit/", data)


def grant_on_unit(client, unit):
    return unit_action(
        client,
        "grant_qualification_action",
        unit,
        confirm="1",
        qualification="allowlist",
        value="1",
        reason="good work",
    )


def revoke_on_unit(client, unit):
    return unit_action(
        client,
        "revoke_qualification_action",
        unit,
        confirm="1",
        qualification="allowlist",
        reason="spam",
    )


def confirmation_page(response) -> bool:
    names = {t.name for t in response.templates}
    return "admin/tasks_app/unit/qualification_action.html" in names


def block_url(worker: Worker) -> str:
    return f"/admin/tasks_app/worker/{worker.pk}/block/"


def paste(client, qualification: Qualification):
    return client.post(
        add_url(qualification), {"text": "mock:bob", "value": "1", "step": "confirm"}
    )


def upload(client, qualification: Qualification):
    csv_file = SimpleUploadedFile("w.csv", b"provider,worker_id\nmock,carol\n")
    return client.post(
        add_url(qualification),
        {"csv_file": csv_file, "value": "1", "step": "confirm"},
    )


def offered_actions(client) -> set[str]:
    response = client.get("/admin/tasks_app/unit/")
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered
    return (
        {name for name, _ in form.fields["action"].choices if name} if form else set()
    )


# --- a view-only staff user -------------------------------------------------------


def test_a_view_only_user_is_not_offered_the_unit_actions(client, unit):
    staff(client, *VIEW_ONLY)

    assert offered_actions(client).isdisjoint(
        {"grant_qualification_action", "revoke_qualification_action"}
    )


def test_a_view_only_user_cannot_grant_through_the_unit_action(client, unit, allowlist):
    staff(client, *VIEW_ONLY)
    before = snapshot()

    page = unit_action(client, "grant_qualification_action", unit)
    grant_on_unit(client, unit)

    assert snapshot() == before
    assert not confirmation_page(page)


def test_a_view_only_user_cannot_revoke_through_the_unit_action(
    client, unit, allowlist
):
    GrantedQualificationFactory(worker=unit.worker, qualification=allowlist)
    staff(client, *VIEW_ONLY)
    before = snapshot()

    page = unit_action(client, "revoke_qualification_action", unit)
    revoke_on_unit(client, unit)

    assert snapshot() == before
    assert not confirmation_page(page)


def test_a_view_only_user_cannot_block_a_worker(client):
    worker = WorkerFactory()
    staff(client, *VIEW_ONLY)
    before = snapshot()

    assert client.get(block_url(worker)).status_code == 403
    assert client.post(block_url(worker), {"blocked": "1"}).status_code == 403

    assert snapshot() == before


def test_a_view_only_user_cannot_unblock_a_worker(client):
    worker = WorkerFactory(is_blocked=True)
    staff(client, *VIEW_ONLY)
    before = snapshot()

    assert client.post(block_url(worker), {"blocked": "0"}).status_code == 403

    worker.refresh_from_db()
    assert worker.is_blocked is True
    assert snapshot() == before


def test_a_view_only_user_sees_the_workers_page_but_cannot_bulk_revoke(
    client, allowlist
):
    grant = GrantedQualificationFactory(qualification=allowlist)
    staff(client, *VIEW_ONLY)
    before = snapshot()

    page = client.get(workers_url(allowlist))
    response = client.post(workers_url(allowlist), {"grant": [grant.pk]})

    assert page.status_code == 200
    assert b"Revoke from the selected workers" not in page.content
    assert response.status_code == 403
    assert snapshot() == before


def test_a_view_only_user_cannot_add_workers_by_paste_or_csv(client, allowlist):
    staff(client, *VIEW_ONLY)
    before = snapshot()

    assert client.get(add_url(allowlist)).status_code == 403
    assert paste(client, allowlist).status_code == 403
    assert upload(client, allowlist).status_code == 403

    assert snapshot() == before


def test_the_grant_permission_does_not_allow_revoking_or_blocking(
    client, unit, allowlist
):
    grant = GrantedQualificationFactory(worker=unit.worker, qualification=allowlist)
    staff(client, *VIEW_ONLY, GRANT)
    before = snapshot()

    revoke_on_unit(client, unit)
    bulk = client.post(workers_url(allowlist), {"grant": [grant.pk]})
    block = client.post(block_url(unit.worker), {"blocked": "1"})

    assert (bulk.status_code, block.status_code) == (403, 403)
    assert snapshot() == before


# --- users who hold the permission ------------------------------------------------


@pytest.fixture(params=["with the permission", "superuser"])
def permitted(request, client):
    """A staff user holding the permission the test names, or a superuser."""

    def login(*perms: str):
        if request.param == "superuser":
            return staff(client, superuser=True)
        return staff(client, *VIEW_ONLY, *perms)

    return login


def test_the_grant_permission_grants_through_the_unit_action(
    permitted, unit, allowlist
):
    client = permitted(GRANT)
    assert "grant_qualification_action" in offered_actions(client)

    grant_on_unit(client, unit)

    assert GrantedQualification.objects.filter(
        worker=unit.worker, qualification=allowlist
    ).exists()
    assert WorkerReview.objects.get().unit == unit


def test_the_revoke_permission_revokes_through_the_unit_action(
    permitted, unit, allowlist
):
    GrantedQualificationFactory(worker=unit.worker, qualification=allowlist)
    client = permitted(REVOKE)

    revoke_on_unit(client, unit)

    assert not GrantedQualification.objects.exists()
    assert WorkerReview.objects.get().unit == unit


def test_the_change_worker_permission_blocks_and_unblocks(permitted):
    worker = WorkerFactory()
    client = permitted(BLOCK)

    assert client.get(block_url(worker)).status_code == 200
    client.post(block_url(worker), {"blocked": "1", "reason": "copied answers"})
    worker.refresh_from_db()
    assert worker.is_blocked is True

    client.post(block_url(worker), {"blocked": "0", "reason": "appeal accepted"})
    worker.refresh_from_db()
    assert worker.is_blocked is False
    assert WorkerReview.objects.count() == 2


def test_the_revoke_permission_bulk_revokes_on_the_workers_page(permitted, allowlist):
    grant = GrantedQualificationFactory(qualification=allowlist)
    client = permitted(REVOKE)

    response = client.post(workers_url(allowlist), {"grant": [grant.pk]})

    assert response.status_code == 302
    assert not GrantedQualification.objects.exists()


def test_the_grant_permission_adds_workers_by_paste_and_csv(permitted, allowlist):
    client = permitted(GRANT)

    assert client.get(add_url(allowlist)).status_code == 200
    assert paste(client, allowlist).status_code == 302
    assert upload(client, allowlist).status_code == 302

    assert set(
        GrantedQualification.objects.values_list("worker__worker_name", flat=True)
    ) == {"bob", "carol"}


# --- grants never create a qualification ------------------------------------------


def test_the_grant_action_refuses_an_unknown_qualification_and_creates_none(
    client, unit
):
    staff(client, superuser=True)
    before = snapshot()

    response = grant_on_unit(client, unit)

    assert snapshot() == before
    follow = client.get(response["Location"])
    assert b"Nothing changed: unknown qualification" in follow.content


def test_the_grant_action_offers_only_existing_qualifications(client, unit, allowlist):
    staff(client, superuser=True)

    page = unit_action(client, "grant_qualification_action", unit)

    assert confirmation_page(page)
    assert b'<select name="qualification" required>' in page.content
    assert b'<option value="allowlist">' in page.content
