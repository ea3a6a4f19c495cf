"""Qualification services: create, grant, revoke, bulk, block, and their audit rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from providers.registry import WorkerRef
from qualifications_app.models import (
    GrantedQualification,
    Qualification,
    ReviewAction,
    WorkerReview,
)
from qualifications_app.services import (
    QualificationError,
    bulk_grant,
    bulk_revoke,
    create_qualification,
    grant_qualification,
    revoke_qualification,
    set_blocked,
)
from tasks_app.models import Worker
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    UnitFactory,
    WorkerFactory,
)
from tests.grants import held

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return get_user_model().objects.create_user("operator")


# --- create -------------------------------------------------------------------


def test_create_qualification_stores_name_and_description():
    qualification = create_qualification(
        name="  my-allowlist ", description="good pilot workers"
    )

    assert Qualification.objects.get().pk == qualification.pk
    assert (qualification.name, qualification.description) == (
        "my-allowlist",
        "good pilot workers",
    )


def test_create_qualification_refuses_a_name_that_exists():
    QualificationFactory(name="my-allowlist")

    with pytest.raises(QualificationError, match="'my-allowlist' already exists"):
        create_qualification(name="my-allowlist")

    assert Qualification.objects.count() == 1


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_qualification_refuses_a_blank_or_overlong_name(name):
    with pytest.raises(QualificationError, match="1-200 characters"):
        create_qualification(name=name)

    assert Qualification.objects.count() == 0


# --- grant and revoke -----------------------------------------------------------


def test_grant_gives_the_worker_the_qualification_with_its_value():
    worker = WorkerFactory()

    grant = grant_qualification(worker=worker, name="english-level", value=4)

    assert grant.value == 4
    assert held("english-level") == {f"mock:{worker.worker_name}": 4}


def test_grant_creates_a_qualification_that_does_not_exist_yet():
    grant_qualification(worker=WorkerFactory(), name="brand-new")

    assert Qualification.objects.filter(name="brand-new").exists()


def test_granting_again_updates_the_value_of_the_one_grant():
    worker = WorkerFactory()
    grant_qualification(worker=worker, name="english-level", value=2)

    grant_qualification(worker=worker, name="english-level", value=5)

    assert GrantedQualification.objects.count() == 1
    assert held("english-level") == {f"mock:{worker.worker_name}": 5}


def test_revoke_takes_the_qualification_away():
    grant = GrantedQualificationFactory(qualification__name="allowlist")

    assert revoke_qualification(worker=grant.worker, name="allowlist") is True

    assert held("allowlist") == {}


def test_revoke_from_a_worker_without_it_is_false_and_leaves_no_audit_row():
    QualificationFactory(name="allowlist")

    assert revoke_qualification(worker=WorkerFactory(), name="allowlist") is False

    assert WorkerReview.objects.count() == 0


def test_revoking_an_unknown_qualification_is_refused_by_name():
    with pytest.raises(QualificationError, match="unknown qualification 'nope'"):
        revoke_qualification(worker=WorkerFactory(), name="nope")


# --- bulk -----------------------------------------------------------------------


def test_bulk_grant_creates_unknown_workers_and_grants_everyone():
    QualificationFactory(name="allowlist")
    WorkerFactory(provider_type="mturk", worker_name="A1KNOWN")
    refs = [
        WorkerRef("mturk", "A1KNOWN"),
        WorkerRef("mturk", "B2NEW"),
        WorkerRef("mturk_sandbox", "C3NEW_sandbox"),
    ]

    assert bulk_grant(name="allowlist", refs=refs, value=3) == 3

    assert Worker.objects.count() == 3
    assert held("allowlist") == {
        "mturk:A1KNOWN": 3,
        "mturk:B2NEW": 3,
        "mturk_sandbox:C3NEW_sandbox": 3,
    }


def test_bulk_grant_counts_only_new_or_changed_grants():
    QualificationFactory(name="allowlist")
    bulk_grant(name="allowlist", refs=[WorkerRef("mock", "alice")], value=1)

    changed = bulk_grant(
        name="allowlist",
        refs=[WorkerRef("mock", "alice"), WorkerRef("mock", "bob")],
        value=1,
    )

    assert changed == 1
    assert held("allowlist") == {"mock:alice": 1, "mock:bob": 1}


def test_bulk_grant_with_a_new_value_updates_existing_grants():
    QualificationFactory(name="level")
    bulk_grant(name="level", refs=[WorkerRef("mock", "alice")], value=1)

    assert bulk_grant(name="level", refs=[WorkerRef("mock", "alice")], value=7) == 1

    assert held("level") == {"mock:alice": 7}


def test_bulk_grant_with_a_new_value_moves_updated_at():
    grant = GrantedQualificationFactory(
        qualification__name="level", worker__worker_name="alice", value=1
    )
    long_ago = timezone.now() - timedelta(days=30)
    GrantedQualification.objects.filter(pk=grant.pk).update(updated_at=long_ago)

    bulk_grant(name="level", refs=[WorkerRef("mock", "alice")], value=2)

    grant.refresh_from_db()
    assert grant.value == 2
    assert grant.updated_at > long_ago


def test_bulk_grant_of_an_unknown_qualification_writes_nothing():
    with pytest.raises(QualificationError, match="unknown qualification 'nope'"):
        bulk_grant(name="nope", refs=[WorkerRef("mock", "alice")])

    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_bulk_grant_is_all_or_none_when_a_later_write_fails(monkeypatch):
    QualificationFactory(name="allowlist")
    WorkerFactory(worker_name="known")

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    # The audit rows are the last write: failing there must undo the new workers
    # and the grants written before it.
    monkeypatch.setattr(WorkerReview.objects, "bulk_create", fail)
    with pytest.raises(RuntimeError):
        bulk_grant(
            name="allowlist",
            refs=[WorkerRef("mock", "known"), WorkerRef("mock", "new")],
        )

    assert list(Worker.objects.values_list("worker_name", flat=True)) == ["known"]
    assert GrantedQualification.objects.count() == 0


def test_bulk_revoke_removes_it_from_those_who_hold_it_only():
    alice, bob, carol = (WorkerFactory(worker_name=n) for n in ("a", "b", "c"))
    for worker in (alice, bob, carol):
        GrantedQualificationFactory(worker=worker, qualification__name="allowlist")
    outsider = WorkerFactory(worker_name="d")

    revoked = bulk_revoke(
        name="allowlist", workers=[alice, bob, outsider], reason="spam"
    )

    assert revoked == 2
    assert held("allowlist") == {"mock:c": 1}
    assert sorted(
        WorkerReview.objects.filter(action=ReviewAction.REVOKE).values_list(
            "worker__worker_name", "reason"
        )
    ) == [("a", "spam"), ("b", "spam")]


# --- blocks ---------------------------------------------------------------------


def test_block_and_unblock_flip_the_flag_and_record_who_why_and_unit(operator):
    worker = WorkerFactory()
    unit = UnitFactory()

    assert set_blocked(
        worker=worker, blocked=True, reason="copied answers", unit=unit,
        created_by=operator,
    ) is True  # fmt: skip
    worker.refresh_from_db()
    assert worker.is_blocked is True

    assert set_blocked(worker=worker, blocked=False, reason="appeal") is True
    worker.refresh_from_db()
    assert worker.is_blocked is False

    rows = list(
        WorkerReview.objects.order_by("pk").values_list(
            "action", "reason", "unit", "created_by"
        )
    )
    assert rows == [
        (ReviewAction.BLOCK, "copied answers", unit.pk, operator.pk),
        (ReviewAction.UNBLOCK, "appeal", None, None),
    ]


def test_blocking_a_blocked_worker_is_false_and_writes_no_audit_row():
    worker = WorkerFactory(is_blocked=True)

    assert set_blocked(worker=worker, blocked=True, reason="again") is False

    assert WorkerReview.objects.count() == 0


# --- the audit log --------------------------------------------------------------


def test_every_grant_and_revoke_writes_its_audit_row(operator):
    worker = WorkerFactory()
    unit = UnitFactory(worker=None)

    grant_qualification(
        worker=worker, name="level", value=3, reason="pilot", unit=unit,
        created_by=operator,
    )  # fmt: skip
    grant_qualification(worker=worker, name="level", value=4, reason="better")
    revoke_qualification(worker=worker, name="level", reason="spam", unit=unit)

    rows = list(
        WorkerReview.objects.order_by("pk").values_list(
            "worker", "action", "qualification__name", "value", "reason", "unit",
            "created_by",
        )
    )  # fmt: skip
    assert rows == [
        (worker.pk, ReviewAction.GRANT, "level", 3, "pilot", unit.pk, operator.pk),
        (worker.pk, ReviewAction.GRANT, "level", 4, "better", None, None),
        (worker.pk, ReviewAction.REVOKE, "level", None, "spam", unit.pk, None),
    ]


def test_bulk_grant_writes_one_audit_row_per_new_or_changed_grant(operator):
    QualificationFactory(name="allowlist")
    bulk_grant(name="allowlist", refs=[WorkerRef("mock", "alice")])

    bulk_grant(
        name="allowlist",
        refs=[WorkerRef("mock", "alice"), WorkerRef("mock", "bob")],
        reason="imported",
        created_by=operator,
    )

    rows = WorkerReview.objects.filter(reason="imported").values_list(
        "worker__worker_name", "action", "qualification__name", "value", "created_by"
    )
    assert list(rows) == [("bob", ReviewAction.GRANT, "allowlist", 1, operator.pk)]
