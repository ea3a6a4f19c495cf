"""GET /task_config.json: what a task page learns about its run."""

from __future__ import annotations

import pytest

from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import launch_fixture as launch_fixture

pytestmark = pytest.mark.django_db


def test_task_config_describes_the_run_with_the_mephisto_task_version(client, launch):
    run = launch()

    response = client.get(f"/task_config.json?task_run_id={run.pk}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "task_title": "Rate a sentence as good or bad",
        "task_description": "You'll be shown a sentence. Say whether it reads well.",
        "task_reward": 0.05,
        "task_tags": "test,simple,button",
        "frame_height": 0,
        "chat_title": "Rate a sentence as good or bad",
        "block_mobile": False,
        "has_onboarding": True,
        "provider_type": "mock",
        "task_run_id": run.pk,
        "mephisto_task_version": "2.0.4",
    }


def test_task_config_passes_block_mobile_from_the_blueprint(client, launch):
    run = launch("mephisto.blueprint.block_mobile=true")

    config = client.get(f"/task_config.json?task_run_id={run.pk}").json()

    assert config["block_mobile"] is True
