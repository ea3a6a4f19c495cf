"""Porting Mephisto's remote_procedure template: the app in
tests/e2e/remote_procedure_app/ (the template's launch_with_local.yaml
unchanged, its run_task.py ported to hooks.py, its page written against the
unmodified mephisto-task 2.0.4) launched with `launch_run --config` and worked
through in Chromium, its "Query Backend" calls answered over the WebSocket by
the hooks' `handle_with_model`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks_app.models import Agent, AgentStatus, TaskRun, UnitStatus
from tests.command_calls import run_json
from tests.e2e.pages import task_url

pytestmark = pytest.mark.django_db(transaction=True)

APP = Path(__file__).resolve().parent / "remote_procedure_app"
CONFIG = APP / "hydra_configs" / "conf" / "launch_with_local.yaml"
# The requester names the ported run script without editing Mephisto's YAML.
HOOKS_OVERRIDE = "mephisto.blueprint.hooks=hooks.py"
QUERY = "[data-cy=query-backend-button]"
SUBMIT = "[data-cy=submit-button]"


@pytest.fixture
def run(asgi_live_server) -> TaskRun:
    assert (APP / "webapp" / "build" / "bundle.js").is_file(), (
        f"the app's bundle is missing: cd {APP / 'webapp'} && npm ci && npm run build"
    )
    launched = run_json("launch_run", "--config", str(CONFIG), HOOKS_OVERRIDE)
    return TaskRun.objects.get(pk=launched["task_run_id"])


@pytest.fixture
def sockets(page) -> list[str]:
    """The URLs of the WebSockets the page opened."""
    opened: list[str] = []
    page.on("websocket", lambda socket: opened.append(socket.url))
    return opened


def test_the_template_config_launches_with_the_ported_hooks(run):
    units = run.units.select_related("assignment").order_by("unit_index", "pk")

    assert run.blueprint_type == "remote_procedure"
    assert [unit.assignment.data for unit in units] == [
        {"index": 0, "local_value_key": 0},
        {"index": 1, "local_value_key": 1},
    ]


def test_a_worker_calls_the_server_function_and_the_calls_are_kept_with_the_submission(
    page, screenshot, asgi_live_server, run, traffic, sockets
):
    page.goto(task_url(asgi_live_server, run, "rosa"))
    task_index = page.locator("#task-index")
    task_index.wait_for()
    index = int(task_index.inner_text())
    assert page.locator(SUBMIT).is_disabled()

    # One click at a time, each answered before the next, as a worker reads them.
    responses = page.locator("li.response")
    for count in range(1, 5):
        page.click(QUERY)
        responses.nth(count - 1).wait_for()
    screenshot("answered")
    shown = [json.loads(text) for text in responses.all_inner_texts()]
    page.click(SUBMIT)
    page.locator("#crowdsite-thanks").wait_for()

    secret = f"Hello {index}, this task was for you."
    expected = [
        {"secret_local_value": secret, "update": f"this was request {n + 1}"}
        for n in range(4)
    ]
    assert shown == expected
    agent = Agent.objects.select_related("unit__assignment").get(
        worker__worker_name="rosa"
    )
    assert agent.unit.assignment.data == {"index": index, "local_value_key": index}
    assert agent.submission == {"backendActionsDone": 4}
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED
    calls = list(agent.live_calls.order_by("pk"))
    assert [(call.target, call.args, call.response, call.error) for call in calls] == [
        (
            "handle_with_model",
            {"arg1": "hello", "arg2": "goodbye", "arg3": n},
            expected[n],
            "",
        )
        for n in range(4)
    ]
    assert len({call.request_id for call in calls}) == 4
    assert all(call.answered_at is not None for call in calls)
    assert len(sockets) == 1
    assert sockets[0].startswith(asgi_live_server.ws_url)
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert traffic["console"] == []


def test_the_preview_shows_without_a_socket(
    page, screenshot, asgi_live_server, run, traffic, sockets
):
    page.goto(task_url(asgi_live_server, run, None))
    page.locator("#preview").wait_for()
    # The title from task_config.json, as the template's config wrote it.
    page.get_by_text("Test a static task that also has access to live").wait_for()
    screenshot("preview")

    assert page.locator(QUERY).count() == 0
    assert not Agent.objects.exists()
    assert sockets == []
    assert traffic["console"] == []
