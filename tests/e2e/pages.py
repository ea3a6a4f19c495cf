"""Where the browser tests open a run's task page."""

from __future__ import annotations

from tasks_app.models import TaskRun


def task_url(live_server, run: TaskRun, worker: str | None, assignment: str = "a1"):
    """The run's page at the site root, as a mock worker (`None`: a preview)."""
    url = f"{live_server.url}/?task_run_id={run.pk}"
    if worker:
        url += f"&worker_id={worker}&assignment_id={worker}-{assignment}"
    return url


def loaded_picture(picture) -> None:
    """Wait until the browser has loaded (or failed to load) the <img> `picture`."""
    picture.evaluate(
        "(img) => img.complete"
        " || new Promise((done) => { img.onload = img.onerror = done; })"
    )
