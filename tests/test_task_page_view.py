"""GET /task/<run>/ and its scripts: the page a worker's browser loads."""

from __future__ import annotations

import pytest

from tests.factories import TaskRunFactory
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import launch_fixture as launch_fixture

pytestmark = pytest.mark.django_db


def test_the_task_page_loads_the_runs_wrap_script_and_bundle(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/task/{run.pk}/?worker_id=w1&assignment_id=a1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'<script src="/task/{run.pk}/wrap_crowd_source.js"></script>' in html
    assert f'<script src="/task/{run.pk}/bundle.js"></script>' in html
    assert f'"task_run_id": {run.pk}' in html
    assert "data-preview" not in html


@pytest.mark.parametrize(
    "provider, query",
    [
        ("mock", ""),
        ("mock", "?worker_id=w1"),
        ("mturk", "?workerId=W&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H"),
        ("prolific", "?participant_id=P&study_id=S"),
    ],
)
def test_without_a_worker_or_assignment_the_page_is_a_preview(client, provider, query):
    run = TaskRunFactory(units=1, provider_type=provider)

    response = client.get(f"/task/{run.pk}/{query}")

    assert 'data-preview="true"' in response.content.decode()


@pytest.mark.parametrize(
    "provider, ancestors",
    [
        ("mock", "*"),
        ("mturk", "https://worker.mturk.com https://www.mturk.com"),
        ("mturk_sandbox", "https://workersandbox.mturk.com"),
        ("prolific", "'self'"),
    ],
)
def test_the_task_page_may_be_framed_by_its_provider_only(client, provider, ancestors):
    run = TaskRunFactory(units=1, provider_type=provider)

    response = client.get(f"/task/{run.pk}/")

    assert response["Content-Security-Policy"] == f"frame-ancestors {ancestors}"
    assert "X-Frame-Options" not in response


@pytest.mark.parametrize("path", ["/admin/login/", "/task_config.json"])
def test_other_pages_refuse_to_be_framed(client, path):
    response = client.get(path)

    assert response["X-Frame-Options"] == "DENY"


def test_an_unknown_run_has_no_task_page(client):
    assert client.get("/task/99999999/").status_code == 404


def test_the_mturk_wrap_script_handles_preview_and_submits_to_mturk(client):
    run = TaskRunFactory(units=1, provider_type="mturk")

    response = client.get(f"/task/{run.pk}/wrap_crowd_source.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    script = response.content.decode()
    assert "ASSIGNMENT_ID_NOT_AVAILABLE" in script
    assert "/mturk/externalSubmit" in script
    for function in (
        "getWorkerName",
        "getAssignmentId",
        "getAgentRegistration",
        "handleSubmitToProvider",
        "getProviderURLParams",
    ):
        assert f"function {function}(" in script


def test_the_mturk_page_says_where_to_submit(client):
    live = TaskRunFactory(units=1, provider_type="mturk")
    sandbox = TaskRunFactory(units=1, provider_type="mturk_sandbox")

    live_page = client.get(f"/task/{live.pk}/").content.decode()
    sandbox_page = client.get(f"/task/{sandbox.pk}/").content.decode()

    assert '"mturk_submit_to": "https://www.mturk.com"' in live_page
    assert '"mturk_submit_to": "https://workersandbox.mturk.com"' in sandbox_page


def test_the_bundle_is_the_runs_task_source(client, launch):
    run = launch()

    response = client.get(f"/task/{run.pk}/bundle.js")

    assert response.status_code == 200
    source = run.resolved_config["mephisto"]["blueprint"]["task_source"]
    with open(source, "rb") as bundle:
        assert response.content == bundle.read()


def test_a_run_without_a_bundle_file_answers_404_for_it(client):
    run = TaskRunFactory(units=1)

    assert client.get(f"/task/{run.pk}/bundle.js").status_code == 404
