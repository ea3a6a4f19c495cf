"""The static HTML task (`static_task` blueprint): its script and its templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tasks_app.models import TaskRun
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.conftest import PROJECT_DIR
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

HTML_EXAMPLE = PROJECT_DIR / "examples" / "static_html_task"
SANDBOX_CSP = "sandbox allow-scripts allow-forms"


def static_task_run(folder: Path, **sources: str) -> TaskRun:
    """A static_task run whose blueprint names `sources` (key -> file text)."""
    blueprint = {"_blueprint_type": "static_task"}
    for key, text in sources.items():
        path = folder / f"{key}.html"
        path.write_text(text, encoding="utf-8")
        blueprint[key] = str(path)
    return TaskRunFactory(
        blueprint_type="static_task",
        resolved_config={"mephisto": {"blueprint": blueprint}, "task_dir": str(folder)},
    )


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def test_the_bundle_of_a_static_task_run_is_the_built_in_page_script(client, tmp_path):
    run = static_task_run(tmp_path, task_source="<p>${text}</p>")

    response = client.get(f"/task/{run.pk}/bundle.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    script = Path(finders.find("tasks_app/static_task.js")).read_bytes()
    assert response.content == script


def test_the_bundle_of_a_react_run_is_its_own_task_source(client, tmp_path):
    bundle = tmp_path / "bundle.js"
    bundle.write_text("console.log('react task');\n")
    run = TaskRunFactory(
        blueprint_type="static_react_task",
        resolved_config={"mephisto": {"blueprint": {"task_source": str(bundle)}}},
    )

    response = client.get(f"/task/{run.pk}/bundle.js")

    assert response.status_code == 200
    assert response.content == b"console.log('react task');\n"


def test_the_task_template_is_served_raw_and_sandboxed(client, tmp_path):
    template = '<form><p>${text}</p><textarea name="rewrite"></textarea></form>'
    run = static_task_run(tmp_path, task_source=template)

    response = client.get(f"/task/{run.pk}/template/task.html")

    assert response.status_code == 200
    assert response.content.decode() == template
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Security-Policy"] == SANDBOX_CSP
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("kind", "key"),
    [("onboarding", "onboarding_source"), ("preview", "preview_source")],
)
def test_onboarding_and_preview_templates_come_from_their_own_sources(
    client, tmp_path, kind, key
):
    run = static_task_run(
        tmp_path, task_source="<p>task</p>", **{key: f"<p>the {kind}</p>"}
    )

    response = client.get(f"/task/{run.pk}/template/{kind}.html")

    assert response.status_code == 200
    assert response.content == f"<p>the {kind}</p>".encode()
    assert response["Content-Security-Policy"] == SANDBOX_CSP


def test_a_template_the_run_does_not_configure_is_a_404_that_says_so(client, tmp_path):
    run = static_task_run(tmp_path, task_source="<p>task</p>")

    response = client.get(f"/task/{run.pk}/template/onboarding.html")

    assert response.status_code == 404
    assert "mephisto.blueprint.onboarding_source is not set" in response.text


def test_a_template_file_gone_from_disk_is_a_404_that_says_so(client, tmp_path):
    run = static_task_run(tmp_path, task_source="<p>task</p>")
    (tmp_path / "task_source.html").unlink()

    response = client.get(f"/task/{run.pk}/template/task.html")

    assert response.status_code == 404
    assert "mephisto.blueprint.task_source" in response.text
    assert "not on this server" in response.text


def test_an_unknown_template_kind_is_a_404(client, tmp_path):
    run = static_task_run(tmp_path, task_source="<p>task</p>")

    response = client.get(f"/task/{run.pk}/template/review.html")

    assert response.status_code == 404
    assert "unknown template 'review'" in response.text


def test_a_react_run_has_no_html_templates(client, tmp_path):
    bundle = tmp_path / "bundle.js"
    bundle.write_text("console.log('react task');\n")
    run = TaskRunFactory(
        blueprint_type="static_react_task",
        resolved_config={"mephisto": {"blueprint": {"task_source": str(bundle)}}},
    )

    response = client.get(f"/task/{run.pk}/template/task.html")

    assert response.status_code == 404
    assert "not a static_task" in response.text


def test_templates_of_an_unknown_run_are_a_404(client):
    assert client.get("/task/999999/template/task.html").status_code == 404


def test_the_task_page_names_only_the_templates_the_run_has(client, tmp_path):
    run = static_task_run(
        tmp_path, task_source="<p>task</p>", preview_source="<p>preview</p>"
    )

    response = client.get(f"/?task_run_id={run.pk}")

    config = json.loads(
        response.content.decode()
        .split('id="crowdsite-config" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert config["static_task"]["templates"] == {
        "task": f"/task/{run.pk}/template/task.html",
        "preview": f"/task/{run.pk}/template/preview.html",
    }
    assert config["static_task"]["task_title"] == run.task_title


def test_the_example_launches_and_serves_its_templates(
    client, django_capture_on_commit_callbacks
):
    config = load_run_config(HTML_EXAMPLE / "conf" / "local_testing.yaml")
    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(config=config)

    task = client.get(f"/task/{run.pk}/template/task.html")
    onboarding = client.get(f"/task/{run.pk}/template/onboarding.html")
    preview = client.get(f"/task/{run.pk}/template/preview.html")

    assert run.blueprint_type == "static_task"
    assert run.assignments.count() == 3
    assert 'name="rewrite"' in task.text and "${text}" in task.text
    assert 'name="answer"' in onboarding.text
    assert preview.status_code == 200
    assert (
        "<img src=x onerror=alert(1)>" in run.assignments.get(row_index=1).data["text"]
    )
