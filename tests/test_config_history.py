"""Config history: a run's stored config against the previous run of its task
family (re-launches of one task_name, and `-pilot-N` → `-live-batch-N`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tasks_app.models import TaskRun
from tasks_app.selectors.history import (
    config_diff,
    config_history,
    previous_run,
    task_family,
)
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

DAY_ONE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize(
    "task_name, family",
    [
        ("my-task-local-testing", "my-task"),
        ("my-task-pilot-1", "my-task"),
        ("my-task-pilot-2", "my-task"),
        ("my-task-pilot", "my-task"),
        ("my-task-live-batch-1", "my-task"),
        ("my-task-live-batch", "my-task"),
        ("my-task-batch-3", "my-task"),
        ("my-task-live-2", "my-task"),
        ("My_Task_Pilot2", "my_task"),
        ("Sample Questionnaire pilot 1", "sample questionnaire"),
        ("Sample Questionnaire", "sample questionnaire"),
        ("react-static-task-example", "react-static-task-example"),
        ("my-task-2", "my-task-2"),
        ("my-task-2-pilot-1", "my-task-2"),
        ("pilot-1", "pilot-1"),
    ],
)
def test_the_family_is_the_task_name_without_its_stage_suffix(task_name, family):
    assert task_family(task_name) == family


def launched(task_name: str, days: int, **task: object) -> TaskRun:
    """A run of `task_name` launched `days` after DAY_ONE, with mephisto.task
    `task` in its stored config."""
    run = TaskRunFactory(
        task__task_name=task_name,
        resolved_config={
            "mephisto": {
                "blueprint": {"units_per_assignment": 1, "data_csv": "data.csv"},
                "task": {"task_name": task_name, **task},
                "provider": {"requester_name": "MOCK_REQUESTER"},
            },
            "num_tasks": 2,
        },
    )
    TaskRun.objects.filter(pk=run.pk).update(created_at=DAY_ONE + timedelta(days=days))
    return TaskRun.objects.select_related("task").get(pk=run.pk)


def test_the_previous_run_is_the_latest_earlier_one_of_the_family():
    pilot_1 = launched("my-task-pilot-1", 0, task_reward=0.05)
    pilot_2 = launched("my-task-pilot-2", 1, task_reward=0.10)
    relaunch = launched("my-task-pilot-2", 2, task_reward=0.10)
    launched("my-task-2-pilot-1", 3)  # another family
    launched("other-task-pilot-3", 3)  # another family
    live = launched("my-task-live-batch-1", 4, task_reward=0.10)
    later = launched("my-task-live-batch-2", 5)

    assert previous_run(pilot_1) is None
    assert previous_run(pilot_2) == pilot_1
    assert previous_run(relaunch) == pilot_2  # a re-launch of one task_name
    assert previous_run(live) == relaunch
    assert previous_run(later) == live


def test_runs_created_at_the_same_time_are_ordered_by_id():
    first = launched("my-task-pilot-1", 0)
    second = launched("my-task-pilot-1", 0)

    assert previous_run(second) == first
    assert previous_run(first) is None


def test_the_history_diffs_the_config_against_the_previous_run():
    launched("my-task-pilot-2", 0, task_reward=0.05, max_num_concurrent_units=0)
    live = launched("my-task-live-batch-1", 1, task_reward=0.1, budget=40)

    history = config_history(live)

    kinds = {(line.kind, line.text.strip()) for line in history.lines}
    assert ("removed", "task_name: my-task-pilot-2") in kinds
    assert ("added", "task_name: my-task-live-batch-1") in kinds
    assert ("removed", "task_reward: 0.05") in kinds
    assert ("added", "task_reward: 0.1") in kinds
    assert ("removed", "max_num_concurrent_units: 0") in kinds
    assert ("added", "budget: 40") in kinds
    assert (history.added, history.removed) == (3, 3)
    assert history.family == "my-task"


def test_long_unchanged_stretches_fold_but_keep_context():
    old = "\n".join(f"key_{n}: {n}" for n in range(20))
    new = old.replace("key_10: 10", "key_10: ten")

    lines = config_diff(old, new, context=3)

    kinds = [line.kind for line in lines]
    assert kinds == ["fold"] + ["same"] * 3 + ["removed", "added"] + ["same"] * 3 + [
        "fold"
    ]
    assert [line.text for line in lines[1:4]] == ["key_7: 7", "key_8: 8", "key_9: 9"]
    assert len(lines[0].folded) == 7 and len(lines[-1].folded) == 6
    assert (lines[4].old_number, lines[5].new_number) == (11, 11)


def test_an_identical_config_is_one_fold():
    lines = config_diff("a: 1\nb: 2\n", "a: 1\nb: 2\n")

    assert [line.kind for line in lines] == ["fold"]


def test_the_runs_page_shows_the_diff_coloured_and_folded(admin_client):
    previous = launched("my-task-pilot-2", 0, task_reward=0.05)
    live = launched("my-task-live-batch-1", 1, task_reward=0.1)

    page = admin_client.get(f"/admin/tasks_app/taskrun/{live.pk}/change/")

    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="config-history"' in text
    assert f"run {previous.pk}</a>" in text
    assert "my-task-pilot-2" in text
    removed = r'<tr class="ch-removed">.*?<pre>- +task_reward: 0\.05</pre>'
    added = r'<tr class="ch-added">.*?<pre>\+ +task_reward: 0\.1</pre>'
    assert re.search(removed, text) and re.search(added, text)
    assert '<tr class="ch-fold">' in text
    assert "2 lines added</span>, <span" in text


def test_the_first_run_of_a_family_says_so(admin_client):
    first = launched("brand-new-task-pilot-1", 0)

    page = admin_client.get(f"/admin/tasks_app/taskrun/{first.pk}/change/")

    assert "The first run of its family" in page.content.decode()
    assert "<code>brand-new-task</code>" in page.content.decode()
