"""The task page a worker opens, and the scripts it loads (DESIGN §5)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from tasks_app.models import TaskRun

# Who may frame the task page: MTurk shows it in an iframe on its own sites.
FRAME_ANCESTORS = {
    "mturk": "https://worker.mturk.com https://www.mturk.com",
    "mturk_sandbox": "https://workersandbox.mturk.com",
    "prolific": "'self'",
    # A local crowd: any page of the tester's may frame it (as MTurk would).
    "mock": "*",
}
WRAP_SCRIPTS = {
    "mock": "mock.js",
    "mturk": "mturk.js",
    "mturk_sandbox": "mturk.js",
    "prolific": "prolific.js",
}


@require_safe
@xframe_options_exempt
def task_page(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """The page a worker works on; the only view that may be framed."""
    run = get_object_or_404(TaskRun, pk=task_run_id)
    params = request.GET
    worker = (
        params.get("worker_id")
        or params.get("workerId")
        or params.get("participant_id")
    )
    assignment = (
        params.get("assignment_id")
        or params.get("assignmentId")
        or params.get("submission_id")
    )
    is_preview = (
        not worker or not assignment or assignment == "ASSIGNMENT_ID_NOT_AVAILABLE"
    )
    page_config = {"task_run_id": run.pk, "provider_type": run.provider_type}
    if run.provider_type in ("mturk", "mturk_sandbox"):
        page_config["mturk_submit_to"] = (
            "https://workersandbox.mturk.com"
            if run.provider_type == "mturk_sandbox"
            else "https://www.mturk.com"
        )
    if run.provider_type == "prolific":
        from providers.prolific import completion_code

        page_config["completion_code"] = completion_code(run)
    response = render(
        request,
        "tasks_app/task_page.html",
        {"run": run, "is_preview": is_preview, "page_config": page_config},
    )
    ancestors = FRAME_ANCESTORS.get(run.provider_type, "'self'")
    response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def wrap_crowd_source(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """The provider glue the `mephisto-task` package expects as globals."""
    run = get_object_or_404(TaskRun, pk=task_run_id)
    parts = []
    for name in ("common.js", WRAP_SCRIPTS[run.provider_type]):
        found = finders.find(f"tasks_app/wrap_crowd_source/{name}")
        parts.append(Path(found).read_text(encoding="utf-8"))
    return HttpResponse("\n".join(parts), content_type="text/javascript; charset=utf-8")


@require_safe
def task_bundle(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """The run's task bundle (`mephisto.blueprint.task_source`)."""
    run = get_object_or_404(TaskRun, pk=task_run_id)
    source = (
        run.resolved_config.get("mephisto", {}).get("blueprint", {}).get("task_source")
    )
    if not source or not Path(source).is_file():
        raise Http404("this run's task bundle is not available on this server")
    return HttpResponse(
        Path(source).read_bytes(), content_type="text/javascript; charset=utf-8"
    )
