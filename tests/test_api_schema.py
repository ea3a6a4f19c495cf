"""The requester API from the outside: its OpenAPI schema (public, valid, every
endpoint of DESIGN §10 and none of the worker protocol's), its Swagger UI page
served from this site, and docs/api.md's worked example, the Python script, run
against a live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from qualifications_app.models import GrantedQualification, WorkerReview
from tasks_app.models import Payment, TaskRunStatus, Unit, UnitStatus
from tests.conftest import PROJECT_DIR
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

pytestmark = pytest.mark.django_db

API_DOC = PROJECT_DIR / "docs" / "api.md"
# DESIGN §10, by method.
DESIGN_OPERATIONS = {
    ("get", "/api/v1/runs/"),
    ("get", "/api/v1/runs/{run_id}/"),
    ("post", "/api/v1/runs/{run_id}/shutdown/"),
    ("post", "/api/v1/runs/{run_id}/approve/"),
    ("get", "/api/v1/runs/{run_id}/submissions/"),
    ("get", "/api/v1/runs/{run_id}/results/"),
    ("post", "/api/v1/units/{unit_id}/approve/"),
    ("post", "/api/v1/units/{unit_id}/reject/"),
    ("post", "/api/v1/units/{unit_id}/soft-reject/"),
    ("post", "/api/v1/units/{unit_id}/bonus/"),
    ("get", "/api/v1/qualifications/"),
    ("post", "/api/v1/qualifications/"),
}
WORKER_PROTOCOL = ("/request_agent", "/submit_task", "/task_config.json")
# What the worked example's script does, and nothing more.
EXAMPLE_PERMISSIONS = (
    "tasks_app.view_taskrun",
    "tasks_app.review_unit",
    "tasks_app.change_taskrun",
    "qualifications_app.add_qualification",
    "qualifications_app.add_grantedqualification",
)


def public_schema() -> dict:
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return json.loads(response.content)


def operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def parameter(operation: dict, name: str) -> dict:
    [found] = [p for p in operation.get("parameters", []) if p["name"] == name]
    return found


# --- the schema ----------------------------------------------------------------------


def test_the_schema_is_public_and_valid_openapi_3():
    schema = public_schema()

    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on anything OpenAPI 3 doesn't allow


def test_the_schema_command_validates_it_without_a_warning(tmp_path):
    GENERATOR_STATS.reset()  # warnings of schemas generated earlier in the process

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "api.yaml"
    )

    assert "/api/v1/runs/" in (tmp_path / "api.yaml").read_text()


def test_the_schema_lists_every_endpoint_of_the_design():
    listed = operations(public_schema())

    assert set(listed) >= DESIGN_OPERATIONS, DESIGN_OPERATIONS - set(listed)
    assert any(
        method == "get" and path.startswith("/api/v1/workers/")
        for method, path in listed
    )
    submissions = listed[("get", "/api/v1/runs/{run_id}/submissions/")]
    assert set(parameter(submissions, "status")["schema"]["enum"]) == {
        "pending",
        "decided",
        "all",
    }
    results = listed[("get", "/api/v1/runs/{run_id}/results/")]
    assert set(parameter(results, "format")["schema"]["enum"]) == {"jsonl", "csv"}


def test_every_operation_of_the_schema_takes_a_token():
    schema = public_schema()

    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    for key, operation in operations(schema).items():
        assert {"tokenAuth": []} in operation["security"], key


def test_the_schema_has_only_the_requester_api_not_the_worker_protocol():
    paths = list(public_schema()["paths"])

    assert all(path.startswith("/api/v1/") for path in paths), paths
    assert not [p for p in paths if p.rstrip("/").endswith(WORKER_PROTOCOL)]


# --- the docs page -------------------------------------------------------------------


def test_the_docs_page_is_public_and_loads_swagger_ui_from_this_site():
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert 'url: "/api/v1/schema/"' in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {Path(asset).name for asset in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
    }
    for asset in assets:
        assert asset.startswith(settings.STATIC_URL), asset
        # Shipped with the site: collectstatic finds it, WhiteNoise serves it.
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
    assert "//" not in "".join(assets)
    assert not re.search(r"https?://|cdn", page, re.IGNORECASE)


# --- docs/api.md's worked example ----------------------------------------------------


def example_script() -> str:
    """The Python block under docs/api.md's "### With Python"."""
    text = API_DOC.read_text()
    section = text[text.index("### With Python") :]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def token_with(*permissions: str) -> str:
    user = User.objects.create_user("pilot-reviewer")
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return Token.objects.create(user=user).key


def pilot_with_submissions(*answers: tuple[str, str]):
    """A mock run with a unit per (worker, rating), each submitted through the
    worker API."""
    run = TaskRunFactory(units=len(answers), task__task_name="sentence-rating-pilot-1")
    worker_page = APIClient()
    for n, (worker, rating) in enumerate(answers):
        agent_id = agent_id_for(worker_page, run, worker, registration=f"{worker}-{n}")
        response = submit_task(worker_page, run, agent_id, {"rating": rating})
        assert response.status_code == 200, response.content
    return run


def run_example(script: Path, run_id: int, server_url: str, token: str):
    return subprocess.run(
        [sys.executable, str(script), str(run_id)],
        cwd=script.parent,
        env={**os.environ, "CROWDSITE_URL": server_url, "CROWDSITE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_the_worked_example_reviews_a_pilot_through_the_api(live_server, tmp_path):
    run = pilot_with_submissions(("alice", "good"), ("alice", "bad"), ("bob", ""))
    token = token_with(*EXAMPLE_PERMISSIONS)
    script = tmp_path / "review_pilot.py"
    script.write_text(example_script())

    done = run_example(script, run.pk, live_server.url, token)

    assert done.returncode == 0, done.stdout + done.stderr
    statuses = Unit.objects.filter(run=run).values_list("worker__worker_name", "status")
    assert sorted(statuses) == [
        ("alice", UnitStatus.ACCEPTED),
        ("alice", UnitStatus.ACCEPTED),
        ("bob", UnitStatus.REJECTED),
    ]
    [bonus] = Payment.objects.filter(run=run, kind="bonus")
    assert (bonus.worker.worker_name, str(bonus.amount)) == ("alice", "0.10")
    assert list(
        GrantedQualification.objects.filter(
            qualification__name="sentence-rating-allowlist"
        ).values_list("worker__worker_name", flat=True)
    ) == ["alice"]
    run.refresh_from_db()
    assert run.status == TaskRunStatus.SHUT_DOWN
    rows = [
        json.loads(line)
        for line in (tmp_path / f"run-{run.pk}.jsonl").read_text().splitlines()
    ]
    assert sorted(row["status"] for row in rows) == ["accepted", "accepted", "rejected"]


@pytest.mark.django_db(transaction=True)
def test_the_worked_example_run_twice_does_nothing_twice(live_server, tmp_path):
    run = pilot_with_submissions(("alice", "good"), ("bob", "good"))
    token = token_with(*EXAMPLE_PERMISSIONS)
    script = tmp_path / "review_pilot.py"
    script.write_text(example_script())
    first = run_example(script, run.pk, live_server.url, token)
    assert first.returncode == 0, first.stdout + first.stderr
    reviews, payments = WorkerReview.objects.count(), Payment.objects.count()

    again = run_example(script, run.pk, live_server.url, token)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 submissions awaiting review" in again.stdout
    assert "has already ended" in again.stdout
    assert (WorkerReview.objects.count(), Payment.objects.count()) == (
        reviews,
        payments,
    )
