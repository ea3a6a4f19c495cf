"""The curation admin pages' addresses, and what the admin tests arrange and count.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.admin_calls import allowlist_fixture as
allowlist_fixture`), so linters see the import as used; its tests ask for it by
the fixture's name (`allowlist`).
"""

from __future__ import annotations

import pytest

from qualifications_app.models import GrantedQualification, Qualification, WorkerReview
from tasks_app.models import Worker
from tests.factories import GrantedQualificationFactory, QualificationFactory


def workers_url(qualification: Qualification) -> str:
    return f"/admin/qualifications_app/qualification/{qualification.pk}/workers/"


def add_url(qualification: Qualification) -> str:
    return f"/admin/qualifications_app/qualification/{qualification.pk}/add-workers/"


def export_url(qualification: Qualification) -> str:
    return f"/admin/qualifications_app/qualification/{qualification.pk}/export.csv"


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


@pytest.fixture(name="fast_passwords", autouse=True)
def fast_passwords_fixture(settings):
    # admin_client's superuser is created with a password; hash it cheaply.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(name="allowlist")
def allowlist_fixture():
    return QualificationFactory(name="allowlist")
