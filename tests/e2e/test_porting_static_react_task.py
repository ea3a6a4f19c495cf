"""Porting a Mephisto static React task (docs/porting-a-mephisto-task.md): the
app in tests/e2e/mephisto_task_app/, built against the unmodified mephisto-task
2.0.4, launched with `launch_run --config` from a config laid out as Mephisto's
example's, with onboarding, and worked through in Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_app.models import Agent, AgentStatus, OnboardingAgent, UnitStatus
from tests.e2e.pages import task_url

pytestmark = pytest.mark.django_db(transaction=True)

APP = Path(__file__).resolve().parent / "mephisto_task_app"
CONFIG = APP / "hydra_configs" / "conf" / "onboarding_example.yaml"


@pytest.fixture
def run(launch_config):
    assert (APP / "build" / "bundle.js").is_file(), (
        f"the app's bundle is missing: cd {APP} && npm ci && npm run build"
    )
    return launch_config(CONFIG)


def test_a_worker_passes_onboarding_and_submits_the_unit(
    page, screenshot, live_server, run, traffic
):
    page.goto(task_url(live_server, run, "rosa"))
    page.locator("#onboarding-answer").fill("ready")
    screenshot("onboarding")
    page.click("#onboarding-submit")

    # The package asks for the unit after the onboarding is accepted.
    answer = page.locator("#answer")
    answer.wait_for()
    assert page.locator("#task-text").inner_text() == "What is six times seven?"
    assert page.evaluate("location.pathname") == "/"
    answer.fill("forty-two")
    screenshot("task")
    page.click("#submit")
    page.locator("#crowdsite-thanks").wait_for()

    onboarding = OnboardingAgent.objects.get(worker__worker_name="rosa")
    assert onboarding.submission == {"answer": "ready"}
    agent = Agent.objects.select_related("unit").get(worker__worker_name="rosa")
    assert agent.submission == {"answer": "forty-two"}
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert traffic["console"] == []
