"""Grants and revokes mirrored on the worker's provider, once, after the commit."""

from __future__ import annotations

import pytest

from providers.models import CallStatus, ProviderCall
from providers.registry import WorkerRef
from qualifications_app import tasks as qualification_tasks
from qualifications_app.models import GrantedQualification, WorkerReview
from qualifications_app.services import (
    bulk_grant,
    grant_qualification,
    revoke_qualification,
)
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db


def test_a_grant_is_mirrored_once_on_the_mock_provider_after_commit(
    django_capture_on_commit_callbacks,
):
    worker = WorkerFactory(worker_name="alice")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        grant_qualification(worker=worker, name="allowlist", value=2)
        assert ProviderCall.objects.count() == 0  # nothing before commit

    assert len(callbacks) == 1
    review = WorkerReview.objects.get()
    call = ProviderCall.objects.get()
    assert (call.provider_type, call.operation, call.status, call.attempts) == (
        "mock",
        "grant_qualification",
        CallStatus.SUCCEEDED,
        1,
    )
    assert call.idempotency_key == f"mirror_qualification:review={review.pk}"
    assert call.response == {
        "worker": "alice",
        "qualification": "allowlist",
        "value": 2,
    }


def test_running_the_mirror_task_twice_records_the_call_once(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        grant_qualification(worker=WorkerFactory(), name="allowlist")
    review = WorkerReview.objects.get()

    qualification_tasks.mirror_qualification.delay(review.pk)
    qualification_tasks.mirror_qualification.delay(review.pk)

    call = ProviderCall.objects.get()
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 1)


def test_a_revoke_is_mirrored_as_revoke_qualification(
    django_capture_on_commit_callbacks,
):
    grant = GrantedQualificationFactory(qualification__name="allowlist")

    with django_capture_on_commit_callbacks(execute=True):
        revoke_qualification(worker=grant.worker, name="allowlist")

    review = WorkerReview.objects.get()
    call = ProviderCall.objects.get()
    assert call.operation == "revoke_qualification"
    assert call.idempotency_key == f"mirror_qualification:review={review.pk}"


def test_a_bulk_grant_is_mirrored_once_per_audit_row(
    django_capture_on_commit_callbacks,
):
    QualificationFactory(name="allowlist")

    with django_capture_on_commit_callbacks(execute=True):
        bulk_grant(
            name="allowlist",
            refs=[WorkerRef("mock", "alice"), WorkerRef("mock", "bob")],
        )

    keys = set(ProviderCall.objects.values_list("idempotency_key", flat=True))
    assert keys == {
        f"mirror_qualification:review={pk}"
        for pk in WorkerReview.objects.values_list("pk", flat=True)
    }
    assert len(keys) == 2


def test_a_grant_rolled_back_is_never_mirrored(django_capture_on_commit_callbacks):
    from django.db import transaction

    worker = WorkerFactory()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        grant_qualification(worker=worker, name="allowlist")
        raise RuntimeError("undo")

    assert callbacks == []
    assert ProviderCall.objects.count() == 0
    assert GrantedQualification.objects.count() == 0
