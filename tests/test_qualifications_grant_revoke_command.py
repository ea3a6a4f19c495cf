"""`manage.py qualifications grant` and `revoke`, by PROVIDER:ID."""

from __future__ import annotations

import re

import pytest
from django.core.management.base import CommandError

from qualifications_app.models import GrantedQualification, ReviewAction, WorkerReview
from tasks_app.models import Worker
from tests.command_calls import run, run_json
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    WorkerFactory,
)
from tests.grants import held

pytestmark = pytest.mark.django_db


def test_grant_gives_every_listed_worker_the_value_creating_new_workers():
    QualificationFactory(name="level")
    WorkerFactory(provider_type="mturk", worker_name="A1")

    out = run(
        "qualifications", "grant", "level", "mturk:A1", "mturk:B2", "--value", "4"
    )

    assert out.strip() == "Granted 'level' = 4 to 2 worker(s) (0 already had it)."
    assert held("level") == {"mturk:A1": 4, "mturk:B2": 4}
    assert Worker.objects.count() == 2


def test_grant_with_json_counts_the_new_grants_and_records_the_reason():
    QualificationFactory(name="allowlist")
    run("qualifications", "grant", "allowlist", "mock:alice")

    data = run_json(
        "qualifications", "grant", "allowlist", "mock:alice", "mock:bob",
        "--reason", "pilot 1",
    )  # fmt: skip

    assert data == {"name": "allowlist", "granted": 1}
    review = WorkerReview.objects.filter(reason="pilot 1").get()
    assert (review.worker.worker_name, review.action) == ("bob", ReviewAction.GRANT)


def test_grant_of_a_sandbox_worker_adds_the_sandbox_suffix():
    QualificationFactory(name="allowlist")

    run("qualifications", "grant", "allowlist", "mturk_sandbox:A1B2C3")

    assert held("allowlist") == {"mturk_sandbox:A1B2C3_sandbox": 1}


def test_grant_of_an_unknown_qualification_is_an_error_and_creates_no_worker():
    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "grant", "nope", "mock:alice")

    assert Worker.objects.count() == 0


@pytest.mark.parametrize(
    "ref, message",
    [
        ("alice", "'alice' is not PROVIDER:ID"),
        ("amazon:A1", "unknown provider 'amazon'"),
        ("mock:bad id", "'bad id' is not a valid worker id"),
    ],
)
def test_grant_with_a_malformed_id_is_an_error_and_grants_nobody(ref, message):
    QualificationFactory(name="allowlist")

    with pytest.raises(CommandError, match=re.escape(message)):
        run("qualifications", "grant", "allowlist", "mock:good", ref)

    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_revoke_takes_the_qualification_from_the_listed_workers():
    for name in ("alice", "bob"):
        GrantedQualificationFactory(
            qualification__name="allowlist", worker__worker_name=name
        )

    out = run("qualifications", "revoke", "allowlist", "mock:alice", "--reason", "spam")

    assert out.strip() == "Revoked 'allowlist' from 1 worker(s)."
    assert held("allowlist") == {"mock:bob": 1}
    review = WorkerReview.objects.get()
    assert (review.action, review.reason) == (ReviewAction.REVOKE, "spam")


def test_revoke_with_json_counts_only_workers_who_held_it():
    GrantedQualificationFactory(
        qualification__name="allowlist", worker__worker_name="alice"
    )
    WorkerFactory(worker_name="bob")

    data = run_json("qualifications", "revoke", "allowlist", "mock:alice", "mock:bob")

    assert data == {"name": "allowlist", "revoked": 1}


def test_revoke_from_an_unknown_worker_is_an_error_and_revokes_nobody():
    GrantedQualificationFactory(
        qualification__name="allowlist", worker__worker_name="alice"
    )

    with pytest.raises(CommandError, match="unknown workers: mock:ghost"):
        run("qualifications", "revoke", "allowlist", "mock:alice", "mock:ghost")

    assert held("allowlist") == {"mock:alice": 1}


def test_revoke_of_an_unknown_qualification_is_an_error():
    WorkerFactory(worker_name="alice")

    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "revoke", "nope", "mock:alice")
