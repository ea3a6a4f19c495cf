"""The requester API's qualifications, through HTTP: the list, a new one, one
and its workers, grants and revokes to many workers (mirrored on each worker's
provider after commit, once, an Idempotency-Key replay included)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from providers.models import ProviderCall
from qualifications_app.models import Qualification, ReviewAction, WorkerReview
from tasks_app.models import Worker
from tests.factories import (
    GrantedQualificationFactory,
    QualificationFactory,
    WorkerFactory,
)
from tests.grants import held
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.threads import race

pytestmark = pytest.mark.django_db

VIEW = "qualifications_app.view_qualification"
ADD = "qualifications_app.add_qualification"
GRANT = "qualifications_app.add_grantedqualification"
REVOKE = "qualifications_app.delete_grantedqualification"
API = "/api/v1/qualifications/"


def client_with(*permissions: str, username: str = "requester") -> APIClient:
    """An API client whose token's user has exactly `permissions`."""
    user = User.objects.create_user(username)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user)}")
    return client


def mirrored(operation: str) -> list[dict]:
    """What the provider mirror calls sent, for `operation`."""
    return list(
        ProviderCall.objects.filter(operation=operation).values_list(
            "request", flat=True
        )
    )


# --- the list and a new qualification ----------------------------------------------


def test_the_list_counts_each_qualifications_workers_and_filters_by_name():
    GrantedQualificationFactory.create_batch(
        2, qualification=QualificationFactory(name="lab-allowlist", description="ok")
    )
    QualificationFactory(name="lab-blocked")
    QualificationFactory(name="english")

    everything = client_with(VIEW).get(API)
    lab = client_with(VIEW, username="other").get(API, {"name": "LAB"})

    assert everything.status_code == 200
    assert everything.json()["count"] == 3
    first = everything.json()["results"][0]
    assert (first["name"], first["workers"]) == ("english", 0)
    assert set(first) == {"name", "description", "workers", "created_at"}
    assert [
        (q["name"], q["description"], q["workers"]) for q in lab.json()["results"]
    ] == [
        ("lab-allowlist", "ok", 2),
        ("lab-blocked", "", 0),
    ]


def test_the_list_is_paginated():
    for name in ("a", "b", "c"):
        QualificationFactory(name=name)

    page = client_with(VIEW).get(API, {"page_size": 2, "page": 2}).json()

    assert (page["count"], [q["name"] for q in page["results"]]) == (3, ["c"])
    assert page["next"] is None and page["previous"]


def test_creating_a_qualification_answers_201_with_it():
    response = client_with(ADD).post(
        API, {"name": " pilot-allowlist ", "description": "good pilots"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["description"], body["workers"]) == (
        "pilot-allowlist",
        "good pilots",
        0,
    )
    assert Qualification.objects.get().name == "pilot-allowlist"


def test_a_name_taken_answers_409_and_creates_nothing():
    QualificationFactory(name="pilot-allowlist", description="first")

    response = client_with(ADD).post(API, {"name": "pilot-allowlist"}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "qualification 'pilot-allowlist' already exists"
    }
    assert Qualification.objects.get().description == "first"


@pytest.mark.parametrize("name", ["", "   ", "a/b", "x" * 201, "tab\there", 7, None])
def test_an_invalid_name_answers_400_naming_the_field(name):
    response = client_with(ADD).post(API, {"name": name}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert not Qualification.objects.exists()


def test_creating_again_with_the_same_key_answers_the_first_answer():
    client = client_with(ADD)
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-1"}

    first = client.post(API, {"name": "pilots"}, format="json", **headers)
    again = client.post(API, {"name": "pilots"}, format="json", **headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Qualification.objects.count() == 1


# --- one qualification and its workers --------------------------------------------


def test_one_qualification_with_its_count_and_where_its_workers_are():
    GrantedQualificationFactory(qualification=QualificationFactory(name="pilots"))

    response = client_with(VIEW).get(f"{API}pilots/")

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["workers"]) == ("pilots", 1)
    assert (
        body["workers_url"] == "http://testserver/api/v1/qualifications/pilots/workers/"
    )


def test_a_name_with_spaces_is_found_through_its_encoded_url():
    QualificationFactory(name="good pilots")

    response = client_with(VIEW).get(f"{API}good%20pilots/")

    assert (response.status_code, response.json()["name"]) == (200, "good pilots")


def test_the_workers_on_a_qualification_are_listed_by_provider_and_id():
    pilots = QualificationFactory(name="pilots")
    for provider, name, value in [
        ("mturk", "B2", 1),
        ("mock", "zed", 4),
        ("mturk", "A1", 2),
    ]:
        GrantedQualificationFactory(
            qualification=pilots,
            worker=WorkerFactory(provider_type=provider, worker_name=name),
            value=value,
        )
    GrantedQualificationFactory()  # another qualification's

    page = client_with(VIEW).get(f"{API}pilots/workers/", {"page_size": 2}).json()

    assert page["count"] == 3
    assert [(w["worker"], w["value"]) for w in page["results"]] == [
        ("mock:zed", 4),
        ("mturk:A1", 2),
    ]
    assert set(page["results"][0]) == {"worker", "value", "granted_at"}
    assert page["next"].endswith("page=2&page_size=2")


@pytest.mark.parametrize("path", ["nobody/", "nobody/workers/"])
def test_an_unknown_qualification_answers_404(path):
    response = client_with(VIEW).get(f"{API}{path}")

    assert response.status_code == 404
    assert response.json() == {"detail": "no qualification 'nobody'"}


# --- grants ------------------------------------------------------------------------


def test_a_grant_says_per_worker_what_it_did_and_mirrors_each_change(
    django_capture_on_commit_callbacks,
):
    pilots = QualificationFactory(name="pilots")
    GrantedQualificationFactory(
        qualification=pilots, worker=WorkerFactory(worker_name="held"), value=2
    )
    GrantedQualificationFactory(
        qualification=pilots, worker=WorkerFactory(worker_name="lower"), value=1
    )
    client = client_with(GRANT)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{API}pilots/grant/",
            {
                "workers": ["mock:new", "mock:held", "mock:lower", "mock:new"],
                "value": 2,
                "reason": "passed the pilot",
            },
            format="json",
        )

    assert response.status_code == 200
    assert response.json() == {
        "qualification": "pilots",
        "value": 2,
        "granted": ["mock:new"],
        "updated": ["mock:lower"],
        "already_held": ["mock:held"],
        "refused": {},
    }
    assert held("pilots") == {"mock:held": 2, "mock:lower": 2, "mock:new": 2}
    assert sorted(r["worker"] for r in mirrored("grant_qualification")) == [
        "lower",
        "new",
    ]
    review = WorkerReview.objects.get(worker__worker_name="new")
    assert (review.action, review.reason, review.created_by.username) == (
        ReviewAction.GRANT,
        "passed the pilot",
        "requester",
    )


def test_a_grant_replayed_with_its_key_answers_the_same_and_grants_once(
    django_capture_on_commit_callbacks,
):
    QualificationFactory(name="pilots")
    client = client_with(GRANT)
    body = {"workers": ["mock:alice"], "value": 3}
    headers = {"HTTP_IDEMPOTENCY_KEY": "grant-alice-1"}

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"{API}pilots/grant/", body, format="json", **headers)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = client.post(f"{API}pilots/grant/", body, format="json", **headers)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert first.json()["granted"] == ["mock:alice"]
    assert again["Idempotent-Replayed"] == "true"
    assert callbacks == []
    assert len(mirrored("grant_qualification")) == 1
    assert WorkerReview.objects.filter(action=ReviewAction.GRANT).count() == 1


def test_a_grant_to_an_mturk_worker_is_mirrored_on_mturk(
    mturk, django_capture_on_commit_callbacks
):
    QualificationFactory(name="lab-allowlist")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_with(GRANT).post(
            f"{API}lab-allowlist/grant/",
            {"workers": ["mturk_sandbox:A1W"], "value": 3},
            format="json",
        )

    assert response.json()["granted"] == ["mturk_sandbox:A1W_sandbox"]
    assert mturk.score("lab-allowlist", "A1W") == 3
    (params,) = mturk.params("AssociateQualificationWithWorker")
    assert (params["IntegerValue"], params["SendNotification"]) == (3, False)


def test_a_grant_adds_a_worker_never_seen_as_the_admins_import_does():
    QualificationFactory(name="pilots")

    response = client_with(GRANT).post(
        f"{API}pilots/grant/", {"workers": ["prolific:5f1c0a"]}, format="json"
    )

    assert response.json()["granted"] == ["prolific:5f1c0a"]
    assert Worker.objects.filter(provider_type="prolific").count() == 1


@pytest.mark.parametrize(
    ("workers", "said"),
    [
        (["mock:alice", "alice"], "entry 1 ('alice'): 'alice' is not PROVIDER:ID"),
        (["nowhere:bob"], "entry 0 ('nowhere:bob'): unknown provider 'nowhere'"),
        (["mock:bad id"], "entry 0 ('mock:bad id'): 'bad id' is not a valid"),
        ([7], "entry 0 (7) is not a string"),
        ([], "give at least one worker"),
        ("mock:alice", "Expected a list"),
    ],
)
def test_a_bad_worker_reference_answers_400_naming_it_and_grants_nothing(workers, said):
    QualificationFactory(name="pilots")

    response = client_with(GRANT).post(
        f"{API}pilots/grant/", {"workers": workers}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "workers"
    assert said in response.json()["detail"]
    assert held("pilots") == {}


def test_more_than_ten_thousand_workers_are_refused():
    QualificationFactory(name="pilots")
    workers = [f"mock:w{i}" for i in range(10_001)]

    response = client_with(GRANT).post(
        f"{API}pilots/grant/", {"workers": workers}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "workers"
    assert "at most 10,000" in response.json()["detail"]


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, "3", 3.0, True])
def test_a_value_not_a_32_bit_integer_is_refused(value):
    QualificationFactory(name="pilots")

    response = client_with(GRANT).post(
        f"{API}pilots/grant/", {"workers": ["mock:a"], "value": value}, format="json"
    )

    assert (response.status_code, response.json()["field"]) == (400, "value")


def test_a_grant_sent_as_a_form_answers_415():
    QualificationFactory(name="pilots")

    response = client_with(GRANT).post(
        f"{API}pilots/grant/", {"workers": ["mock:alice"]}, format="multipart"
    )

    assert response.status_code == 415
    assert held("pilots") == {}


def test_a_grant_of_an_unknown_qualification_answers_404_and_creates_none():
    response = client_with(GRANT).post(
        f"{API}nobody/grant/", {"workers": ["mock:alice"]}, format="json"
    )

    assert response.status_code == 404
    assert not Qualification.objects.exists()
    assert not Worker.objects.exists()


# --- revokes -----------------------------------------------------------------------


def test_a_revoke_says_per_worker_what_it_did_and_mirrors_each_revoke(
    django_capture_on_commit_callbacks,
):
    pilots = QualificationFactory(name="pilots")
    GrantedQualificationFactory(
        qualification=pilots, worker=WorkerFactory(worker_name="alice")
    )
    GrantedQualificationFactory(
        qualification=pilots, worker=WorkerFactory(worker_name="carol")
    )
    WorkerFactory(worker_name="bob")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_with(REVOKE).post(
            f"{API}pilots/revoke/",
            {"workers": ["mock:alice", "mock:bob", "mock:zoe"], "reason": "left"},
            format="json",
        )

    assert response.status_code == 200
    assert response.json() == {
        "qualification": "pilots",
        "revoked": ["mock:alice"],
        "not_held": ["mock:bob"],
        "refused": {"mock:zoe": "this site has never seen this worker"},
    }
    assert held("pilots") == {"mock:carol": 1}
    assert [r["worker"] for r in mirrored("revoke_qualification")] == ["alice"]
    assert WorkerReview.objects.get(action=ReviewAction.REVOKE).reason == "left"


def test_a_revoke_replayed_with_its_key_answers_the_same_and_revokes_once(
    django_capture_on_commit_callbacks,
):
    GrantedQualificationFactory(
        qualification=QualificationFactory(name="pilots"),
        worker=WorkerFactory(worker_name="alice"),
    )
    client = client_with(REVOKE)

    def revoke():
        return client.post(
            f"{API}pilots/revoke/",
            {"workers": ["mock:alice"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="revoke-alice",
        )

    with django_capture_on_commit_callbacks(execute=True):
        first, again = revoke(), revoke()

    assert first.json() == {
        "qualification": "pilots",
        "revoked": ["mock:alice"],
        "not_held": [],
        "refused": {},
    }
    assert (again.status_code, again.json()) == (200, first.json())
    assert len(mirrored("revoke_qualification")) == 1


def test_a_revoke_of_an_unknown_qualification_answers_404():
    WorkerFactory(worker_name="alice")

    response = client_with(REVOKE).post(
        f"{API}nobody/revoke/", {"workers": ["mock:alice"]}, format="json"
    )

    assert response.status_code == 404


def test_a_bad_worker_reference_in_a_revoke_answers_400_and_revokes_nothing():
    GrantedQualificationFactory(
        qualification=QualificationFactory(name="pilots"),
        worker=WorkerFactory(worker_name="alice"),
    )

    response = client_with(REVOKE).post(
        f"{API}pilots/revoke/", {"workers": ["mock:alice", "mock:"]}, format="json"
    )

    assert (response.status_code, response.json()["field"]) == (400, "workers")
    assert "entry 1 ('mock:')" in response.json()["detail"]
    assert held("pilots") == {"mock:alice": 1}


# --- who may ----------------------------------------------------------------------

ENDPOINTS = [
    ("get", API, VIEW),
    ("post", API, ADD),
    ("get", f"{API}pilots/", VIEW),
    ("get", f"{API}pilots/workers/", VIEW),
    ("post", f"{API}pilots/grant/", GRANT),
    ("post", f"{API}pilots/revoke/", REVOKE),
]


@pytest.mark.parametrize(("method", "path", "permission"), ENDPOINTS)
def test_anonymous_callers_get_401(method, path, permission):
    QualificationFactory(name="pilots")

    response = getattr(APIClient(), method)(path, {}, format="json")

    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "permission"), ENDPOINTS)
def test_callers_without_the_permission_get_403_naming_it(method, path, permission):
    QualificationFactory(name="pilots")
    everything_else = [p for _, _, p in ENDPOINTS if p != permission]

    response = getattr(client_with(*everything_else), method)(
        path, {"workers": ["mock:alice"], "name": "new"}, format="json"
    )

    assert response.status_code == 403
    assert permission in response.json()["detail"]
    assert held("pilots") == {}
    assert Qualification.objects.count() == 1


def test_granting_does_not_let_a_caller_revoke():
    GrantedQualificationFactory(
        qualification=QualificationFactory(name="pilots"),
        worker=WorkerFactory(worker_name="alice"),
    )

    response = client_with(GRANT).post(
        f"{API}pilots/revoke/", {"workers": ["mock:alice"]}, format="json"
    )

    assert response.status_code == 403
    assert held("pilots") == {"mock:alice": 1}


# --- at once (PostgreSQL) ----------------------------------------------------------


def token_client(client: APIClient) -> APIClient:
    """Another client with `client`'s token, for another thread."""
    other = APIClient()
    other.credentials(**client._credentials)
    return other


@pytest.mark.django_db(transaction=True)
def test_one_grant_sent_four_times_at_once_with_its_key_grants_once(postgres):
    QualificationFactory(name="pilots")
    client = client_with(GRANT)

    def grant():
        return token_client(client).post(
            f"{API}pilots/grant/",
            {"workers": ["mock:alice", "mock:bob"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="grant-at-once",
        )

    answers = race([grant] * 4)

    assert {(a.status_code, str(a.json())) for a in answers} == {
        (200, str(answers[0].json()))
    }
    assert answers[0].json()["granted"] == ["mock:alice", "mock:bob"]
    assert sum(a.has_header("Idempotent-Replayed") for a in answers) == 3
    assert held("pilots") == {"mock:alice": 1, "mock:bob": 1}
    assert len(mirrored("grant_qualification")) == 2
    assert WorkerReview.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_grants_at_once_each_say_what_they_did(postgres):
    QualificationFactory(name="pilots")
    client = client_with(GRANT)

    def grant():
        return token_client(client).post(
            f"{API}pilots/grant/",
            {"workers": ["mock:alice", "mock:bob"]},
            format="json",
        )

    answers = sorted(
        (a.json()["granted"], a.json()["already_held"]) for a in race([grant] * 4)
    )

    both = ["mock:alice", "mock:bob"]
    assert answers == [([], both)] * 3 + [(both, [])]
    assert len(mirrored("grant_qualification")) == 2


@pytest.mark.django_db(transaction=True)
def test_one_name_created_four_times_at_once_is_created_once(postgres):
    client = client_with(ADD)

    def create():
        return token_client(client).post(API, {"name": "pilots"}, format="json")

    answers = race([create] * 4)

    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert Qualification.objects.get().name == "pilots"
