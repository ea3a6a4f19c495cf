"""A run whose data rows several workers answered, through the worker API: the
arrangement the agreement, aggregation and curation tests share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

from tasks_app.models import TaskRun
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run, launch_units
from tests.test_launch import write_task
from tests.worker_calls import request_agent, submit_task

# Row i's true label.
TRUTH = ["yes", "no", "yes", "yes", "no", "no", "yes", "no", "yes", "no"]
OPPOSITE = {"yes": "no", "no": "yes"}

Answering = Callable[[int], Any]  # row number -> the worker's answer


def truthful(row: int) -> Any:
    return TRUTH[row]


def opposite(row: int) -> Any:
    return OPPOSITE[TRUTH[row]]


def launched(tmp_path: Path, *, rows: int = len(TRUTH), per: int = 3) -> TaskRun:
    """A mock run of `rows` data rows ({"text": "row i"}), `per` units each."""
    config = load_run_config(write_task(tmp_path, rows=rows, per=per))
    run = launch_run(config=config)
    launch_units(run_id=run.pk)  # as the launch's task does after commit
    return run


def answer_all(
    run: TaskRun, worker: str, answering: Answering, *, field: str = "label"
) -> int:
    """`worker` takes units until none is left for them, answering each row's
    `field` as `answering` says; how many they submitted."""
    done = 0
    while True:
        client = APIClient()
        data = request_agent(
            client, run, worker, registration=f"{worker}-{done}"
        ).json()["data"]
        if not data.get("agent_id"):
            return done
        row = int(data["init_task_data"]["text"].removeprefix("row "))
        response = submit_task(client, run, data["agent_id"], {field: answering(row)})
        assert response.status_code == 200, response.content
        done += 1


def two_truthful_one_opposite(tmp_path: Path) -> TaskRun:
    """Alice and bob answer every row truthfully, carol every row the opposite."""
    run = launched(tmp_path)
    for worker, answering in (
        ("alice", truthful),
        ("bob", truthful),
        ("carol", opposite),
    ):
        answer_all(run, worker, answering)
    return run


def textbook_alpha(rows: int, yes_rows: int) -> float:
    """Krippendorff's alpha (nominal) when every row has the answers (t, t, not
    t), by its coincidence matrix: each row adds 1 to o[t][t] and 1 to each of
    o[t][not t] and o[not t][t]."""
    no_rows = rows - yes_rows
    o_yy, o_nn, o_yn = yes_rows, no_rows, rows  # o_yn = o_ny
    n_y, n_n = o_yy + o_yn, o_nn + o_yn
    n = n_y + n_n
    observed = 2 * o_yn / n
    expected = 2 * n_y * n_n / (n * (n - 1))
    return 1 - observed / expected
