"""`manage.py qualifications create`, `list` and `workers`."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from qualifications_app.models import Qualification
from tests.command_calls import run, run_json
from tests.factories import GrantedQualificationFactory, QualificationFactory

pytestmark = pytest.mark.django_db


def test_create_makes_a_qualification_and_says_so():
    out = run("qualifications", "create", "allowlist", "--description", "good ones")

    assert out.strip() == "Created qualification 'allowlist'."
    assert Qualification.objects.get().description == "good ones"


def test_create_with_json_prints_the_name():
    assert run_json("qualifications", "create", "allowlist") == {
        "name": "allowlist",
        "created": True,
    }


def test_json_output_has_no_internal_keys():
    data = json.loads(run("qualifications", "create", "allowlist", "--json"))

    assert data == {"name": "allowlist", "created": True}


def test_create_refuses_a_duplicate_name():
    QualificationFactory(name="allowlist")

    with pytest.raises(CommandError, match="'allowlist' already exists"):
        run("qualifications", "create", "allowlist")


def test_list_shows_every_qualification_with_its_worker_count():
    GrantedQualificationFactory.create_batch(2, qualification__name="allowlist")
    QualificationFactory(name="empty", description="nobody yet")

    out = run("qualifications", "list")
    data = run_json("qualifications", "list")

    assert out.splitlines() == ["allowlist\t2 workers", "empty\t0 workers"]
    assert data == {
        "qualifications": [
            {"name": "allowlist", "description": "", "workers": 2},
            {"name": "empty", "description": "nobody yet", "workers": 0},
        ]
    }


def test_list_without_qualifications_says_so():
    assert run("qualifications", "list").strip() == "No qualifications."
    assert run_json("qualifications", "list") == {"qualifications": []}


def test_workers_lists_the_workers_on_a_qualification_with_values():
    qualification = QualificationFactory(name="level")
    GrantedQualificationFactory(
        qualification=qualification, worker__worker_name="bob", value=2
    )
    GrantedQualificationFactory(
        qualification=qualification,
        worker__provider_type="mturk",
        worker__worker_name="A1",
        value=5,
    )

    out = run("qualifications", "workers", "level")
    data = run_json("qualifications", "workers", "level")

    assert out.splitlines() == ["mock:bob\t2", "mturk:A1\t5"]
    assert data == {
        "name": "level",
        "workers": [
            {"worker": "mock:bob", "value": 2},
            {"worker": "mturk:A1", "value": 5},
        ],
    }


def test_workers_of_an_unknown_qualification_is_an_error():
    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "workers", "nope")
