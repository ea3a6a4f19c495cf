"""The task page a worker opens, and the scripts it loads (DESIGN §5)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from providers.registry import get_provider_class
from tasks_app.models import TaskRun

# A static HTML task's templates, by the name in their URL.
TEMPLATE_SOURCES = {
    "task": "task_source",
    "onboarding": "onboarding_source",
    "preview": "preview_source",
}
# A template is the requester's HTML. Even opened directly it runs in an opaque
# origin: no cookies, no same-origin reach into the admin or the worker API.
TEMPLATE_CSP = "sandbox allow-scripts allow-forms"


@require_safe
@xframe_options_exempt
def task_page(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """The page a worker works on; the only view that may be framed."""
    run = get_object_or_404(TaskRun, pk=task_run_id)
    provider = get_provider_class(run.provider_type)
    arrival = provider.arrival_params(request.GET)
    page_config = {
        "task_run_id": run.pk,
        "provider_type": run.provider_type,
        **provider.page_config(run),
    }
    if run.blueprint_type == "static_task":
        page_config["static_task"] = static_task_page_config(run)
    response = render(
        request,
        "tasks_app/task_page.html",
        {"run": run, "is_preview": arrival.preview, "page_config": page_config},
    )
    response["Content-Security-Policy"] = f"frame-ancestors {provider.frame_ancestors}"
    response["Cache-Control"] = "no-store"
    return response


def static_task_page_config(run: TaskRun) -> dict:
    """What static_task.js needs: the run's words and its configured templates."""
    blueprint = _blueprint(run)
    return {
        "task_title": run.task_title,
        "task_description": run.task_description,
        "templates": {
            kind: reverse("task-template", args=[run.pk, kind])
            for kind, key in TEMPLATE_SOURCES.items()
            if blueprint.get(key)
        },
    }


def _blueprint(run: TaskRun) -> dict:
    return (run.resolved_config or {}).get("mephisto", {}).get("blueprint", {}) or {}


def _source_path(run: TaskRun, key: str) -> Path | None:
    """The file named by blueprint `key`; relative paths are the task folder's."""
    source = _blueprint(run).get(key)
    if not source:
        return None
    path = Path(source)
    task_dir = (run.resolved_config or {}).get("task_dir")
    if not path.is_absolute() and task_dir:
        path = Path(task_dir) / path
    return path


@require_safe
def wrap_crowd_source(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """The provider glue the `mephisto-task` package expects as globals."""
    run = get_object_or_404(TaskRun, pk=task_run_id)
    parts = []
    for name in ("common.js", get_provider_class(run.provider_type).wrap_script):
        found = finders.find(f"tasks_app/wrap_crowd_source/{name}")
        if not isinstance(found, str):
            raise Http404(f"the wrap script {name} is missing from this server")
        parts.append(Path(found).read_text(encoding="utf-8"))
    return HttpResponse("\n".join(parts), content_type="text/javascript; charset=utf-8")


@require_safe
def task_bundle(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """The run's script: its `task_source` bundle, or static_task.js for HTML tasks."""
    run = get_object_or_404(TaskRun, pk=task_run_id)
    source: str | Path | None
    if run.blueprint_type == "static_task":
        found = finders.find("tasks_app/static_task.js")
        source = found if isinstance(found, str) else None
    else:
        source = _source_path(run, "task_source")
    if not source or not Path(source).is_file():
        raise Http404("this run's task bundle is not available on this server")
    return HttpResponse(
        Path(source).read_bytes(), content_type="text/javascript; charset=utf-8"
    )


@require_safe
def task_template(request: HttpRequest, task_run_id: int, kind: str) -> HttpResponse:
    """A static HTML task's raw template (`${field}` placeholders unfilled).

    The task page fetches it, fills it and shows it in a sandboxed iframe; the
    sandbox CSP keeps it out of this site's origin when it is opened directly.
    """
    run = get_object_or_404(TaskRun, pk=task_run_id)
    key = TEMPLATE_SOURCES.get(kind)
    if key is None:
        return _not_found(
            f"unknown template {kind!r}; valid: {', '.join(TEMPLATE_SOURCES)}"
        )
    if run.blueprint_type != "static_task":
        return _not_found(
            f"task run {run.pk} is a {run.blueprint_type} run, not a static_task; "
            "it has no HTML templates"
        )
    path = _source_path(run, key)
    if path is None:
        return _not_found(
            f"task run {run.pk} has no {kind} template "
            f"(mephisto.blueprint.{key} is not set)"
        )
    if not path.is_file():
        return _not_found(
            f"the {kind} template of task run {run.pk} "
            f"(mephisto.blueprint.{key}) is not on this server"
        )
    response = HttpResponse(path.read_bytes(), content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = TEMPLATE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-cache"
    return response


def _not_found(message: str) -> HttpResponse:
    # Plain text, so the page (and a requester checking the URL) sees why.
    response = HttpResponseNotFound(message, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response
