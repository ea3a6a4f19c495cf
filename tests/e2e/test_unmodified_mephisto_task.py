"""Contract check: a task app built against the UNMODIFIED `mephisto-task` npm
package (2.0.4) runs on crowdsite's server (DESIGN §5).

The app is tests/e2e/mephisto_task_app/ (its built build/bundle.js is committed,
so this test needs no npm). It uses `useMephistoTask` and `ErrorBoundary` exactly
as a Mephisto user would; the task page's wrap_crowd_source.js supplies the
globals the package calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app.models import Agent, AgentStatus, TaskRun, UnitStatus
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run

pytestmark = pytest.mark.django_db(transaction=True)

BUNDLE = Path(__file__).resolve().parent / "mephisto_task_app" / "build" / "bundle.js"
WORKER_ENDPOINTS = ("/task_config.json", "/request_agent", "/submit_task")


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "unmodified_mephisto_task.yaml"
    config.write_text(
        "#@package _global_\n"
        "defaults:\n"
        "  - /mephisto/blueprint: static_react_task\n"
        "  - /mephisto/architect: local\n"
        "  - /mephisto/provider: mock\n"
        "mephisto:\n"
        "  blueprint:\n"
        f"    task_source: {json.dumps(str(BUNDLE))}\n"
        # The app's build folder is the package's, beside the tests.
        f"    allowed_source_dirs: [{json.dumps(str(BUNDLE.parent))}]\n"
        "    units_per_assignment: 1\n"
        '    static_task_data: [{"text": "hello"}]\n'
        "  task:\n"
        "    task_name: unmodified-mephisto-task-contract\n"
        '    task_title: "Type an answer"\n'
        '    task_description: "A contract check with the mephisto-task package."\n'
        "    task_reward: 0.05\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def run(tmp_path, settings, live_server, django_capture_on_commit_callbacks):
    assert BUNDLE.is_file(), (
        f"{BUNDLE} is missing: cd {BUNDLE.parent.parent} && npm ci && npm run build"
    )
    settings.SITE_URL = live_server.url
    with django_capture_on_commit_callbacks(execute=True):
        return launch_run(config=load_run_config(write_config(tmp_path)))


def worker_calls(traffic) -> list[tuple[str, str]]:
    return [
        (method, url.split("?")[0].rsplit("/", 1)[-1])
        for method, url, _ in traffic["responses"]
        if any(endpoint in url for endpoint in WORKER_ENDPOINTS)
    ]


def task_url(live_server, run: TaskRun, query: str = "") -> str:
    return f"{live_server.url}/?task_run_id={run.pk}{query}"


def test_a_worker_submits_through_the_unmodified_mephisto_task_package(
    page, screenshot, live_server, run, traffic
):
    page.goto(task_url(live_server, run, "&worker_id=x&assignment_id=y"))
    answer = page.locator("#answer")
    answer.wait_for()
    assert page.locator("#task-text").inner_text() == "hello"
    answer.fill("forty-two")
    screenshot("task")
    page.click("#submit")

    # The mock provider's handleSubmitToProvider replaces #app's content once
    # POST /submit_task has answered; the app's own #submitted shows until then.
    page.locator("#crowdsite-thanks").wait_for()
    screenshot("thanks")

    agent = Agent.objects.select_related("unit").get(worker__worker_name="x")
    assert agent.submission == {"answer": "forty-two"}
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED
    assert worker_calls(traffic) == [
        ("GET", "task_config.json"),
        ("POST", "request_agent"),
        ("POST", "submit_task"),
    ]
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert all(
        f"task_run_id={run.pk}" in url
        for _, url, _ in traffic["responses"]
        if any(endpoint in url for endpoint in WORKER_ENDPOINTS)
    )
    assert traffic["console"] == []


def test_the_preview_has_no_submit(page, screenshot, live_server, run, traffic):
    page.goto(task_url(live_server, run))
    page.locator("#preview").wait_for()
    page.get_by_text("Type an answer").wait_for()  # the title from task_config.json
    screenshot("preview")

    assert page.locator("#submit").count() == 0
    assert not Agent.objects.exists()
    assert worker_calls(traffic) == [("GET", "task_config.json")]
    assert traffic["console"] == []


def test_a_worker_with_no_unit_left_sees_the_servers_reason(
    page, screenshot, live_server, run, traffic
):
    page.goto(task_url(live_server, run, "&worker_id=first&assignment_id=a1"))
    page.locator("#answer").fill("taken")
    page.click("#submit")
    page.locator("#crowdsite-thanks").wait_for()

    page.goto(task_url(live_server, run, "&worker_id=second&assignment_id=a2"))
    blocked = page.locator("#blocked")
    blocked.wait_for()
    screenshot("blocked")

    # mephisto-task shows the server's failure_reason as blockedExplanation.
    assert blocked.inner_text().strip()
    assert "code: null_agent_id" not in blocked.inner_text()
    assert page.locator("#submit").count() == 0
    assert not Agent.objects.filter(worker__worker_name="second").exists()
