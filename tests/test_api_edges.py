"""The requester API's edges: what is no endpoint answers JSON, bodies are JSON
only, an empty ?format= is refused."""

from __future__ import annotations

import pytest

from tests.api_calls import API, reviewer_client, submitted_run, unit_of, viewer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/runs/abc/",
        "/runs/1234567890123456789012/",
        "/units/%0A/approve/",
        "/no-such-thing/",
    ],
)
def test_a_path_that_is_no_endpoint_answers_a_json_404(path):
    response = viewer().get(f"{API}{path}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert "no such endpoint" in response.json()["detail"]


def test_a_form_body_is_refused_in_json():
    run = submitted_run("alice")
    unit = unit_of(run, "alice")
    response = reviewer_client().post(
        f"{API}/units/{unit.pk}/approve/", {"feedback": "good"}, format="multipart"
    )
    assert response.status_code == 415
    assert response["Content-Type"].startswith("application/json")
    unit.refresh_from_db()
    assert unit.status == "completed"


def test_an_empty_format_is_refused_naming_it():
    run = submitted_run("alice")
    response = viewer().get(f"{API}/runs/{run.pk}/results/?format=")
    assert response.status_code == 400
    assert response.json()["field"] == "format"
