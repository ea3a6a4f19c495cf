"""The units list's grant and revoke actions: confirm first, then one audit row each."""

from __future__ import annotations

import pytest

from qualifications_app.models import ReviewAction, WorkerReview
from tasks_app.models import UnitStatus
from tests.admin_calls import allowlist_fixture as allowlist_fixture
from tests.admin_calls import fast_passwords_fixture as fast_passwords_fixture
from tests.admin_calls import snapshot
from tests.factories import (
    GrantedQualificationFactory,
    TaskRunFactory,
    UnitFactory,
    WorkerFactory,
)
from tests.grants import held

pytestmark = pytest.mark.django_db


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
