"""The task page a worker opens, and the scripts it loads (DESIGN §5)."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote, unquote_plus

from django.contrib.staticfiles import finders
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotFound,
    HttpResponseNotModified,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from providers.registry import get_provider_class
from tasks_app import selectors
from tasks_app.models import TaskRun

# How a worker's task page is addressed (DESIGN §5), for the 404 that explains it.
TASK_PAGE_FORM = "/?task_run_id=<run id>&<the provider's parameters>"
# What stays as it is when a query is copied into a redirect: what a browser
# leaves as it is in a query. Spaces, quotes, angle brackets and any byte
# outside ASCII are percent-encoded; "%" stays, so encoded bytes are kept.
QUERY_SAFE = "!$%&()*+,-./:;=?@_~[]"

# A static HTML task's templates, by the name in their URL.
TEMPLATE_SOURCES = {
    "task": "task_source",
    "onboarding": "onboarding_source",
    "preview": "preview_source",
}
# A template is the requester's HTML. Even opened directly it runs in an opaque
# origin: no cookies, no same-origin reach into the admin or the worker API.
TEMPLATE_CSP = "sandbox allow-scripts allow-forms"

# The content types of the files a task app commonly loads, so that the answer
# (checked by browsers under nosniff) doesn't hang on the host's mime.types.
FILE_TYPES = {
    ".avif": "image/avif",
    ".css": "text/css",
    ".csv": "text/csv",
    ".gif": "image/gif",
    ".htm": "text/html",
    ".html": "text/html",
    ".ico": "image/vnd.microsoft.icon",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".mjs": "text/javascript",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
    ".ogg": "audio/ogg",
    ".otf": "font/otf",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ttf": "font/ttf",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
    ".wav": "audio/wav",
    ".webm": "video/webm",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".xhtml": "application/xhtml+xml",
    ".xml": "application/xml",
}
TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/xhtml+xml", "image/svg+xml"}
)
# Types a browser opens as a document that can run script. From a run's
# extra_source_dir they are served sandboxed: opened directly or framed, they
# run in an opaque origin, without scripts, and can't act as this site.
DOCUMENT_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xml",
    }
)


@require_safe
@xframe_options_exempt
def task_page(request: HttpRequest) -> HttpResponse:
    """The page a worker works on, at the site root; the only view that may be framed.

    `/?task_run_id=<id>&<provider params>`: a task app sees `location.pathname`
    "/", as on Mephisto's task server, so apps that route on "/" render. The
    page's base URL is the run's folder, /task/<id>/, where relative URLs (the
    bundle's chunks, extra_source_dir files) find the run's files.
    """
    raw = request.GET.get("task_run_id", "")
    if not raw:
        return _not_found(
            "This is a crowdsite task server. A task page is opened as "
            f"{TASK_PAGE_FORM}; this address has no task_run_id."
        )
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return _not_found(
            f"task_run_id must be the number of a task run, as in {TASK_PAGE_FORM} "
            f"(got {raw!r})"
        )
    run = TaskRun.objects.filter(pk=int(raw)).first()
    if run is None:
        return _not_found(f"there is no task run {int(raw)}")
    provider = get_provider_class(run.provider_type)
    arrival = provider.arrival_params(request.GET)
    page_config = {
        "task_run_id": run.pk,
        "provider_type": run.provider_type,
        **provider.page_config(selectors.run_spec(run)),
    }
    if run.blueprint_type == "static_task":
        page_config["static_task"] = static_task_page_config(run)
    response = render(
        request,
        "tasks_app/task_page.html",
        {
            "run": run,
            "base_href": reverse("task-link", args=[run.pk]),
            "is_preview": arrival.preview,
            "page_config": page_config,
        },
    )
    return _as_task_page(response, provider.frame_ancestors)


@require_safe
@xframe_options_exempt
def task_link(request: HttpRequest, task_run_id: int) -> HttpResponse:
    """`/task/<id>/?...`, the page's address in links handed out before it moved
    to the root: sent on to `/?task_run_id=<id>&...` with the query as it came.

    A redirect rather than the same page under a second address: the worker's
    browser, the app, a reload and the server's log then all see one address.
    It is a 302, as browsers keep a 301 for good.
    """
    run = TaskRun.objects.filter(pk=task_run_id).first()
    if run is None:
        return _not_found(f"there is no task run {task_run_id}")
    # The query's own bytes are kept (only a task_run_id of its own is dropped:
    # the path names the run), so the provider's parameters arrive unchanged.
    kept = [
        quote(part, safe=QUERY_SAFE, encoding="latin-1")
        for part in request.META.get("QUERY_STRING", "").split("&")
        if part and unquote_plus(part.split("=", 1)[0]) != "task_run_id"
    ]
    query = "&".join([f"task_run_id={run.pk}", *kept])
    response = HttpResponseRedirect(f"{reverse('task-page')}?{query}")
    provider = get_provider_class(run.provider_type)
    return _as_task_page(response, provider.frame_ancestors)


def _as_task_page(response: HttpResponse, frame_ancestors: str) -> HttpResponse:
    # Framed by the provider only; never cached (who arrived is in the URL).
    response["Content-Security-Policy"] = f"frame-ancestors {frame_ancestors}"
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


@require_safe
@xframe_options_exempt
def task_file(request: HttpRequest, task_run_id: int, path: str) -> HttpResponseBase:
    """A file of the run's `extra_source_dir`, at the same relative path.

    Mephisto serves that folder next to the task page, so a task app refers to
    its pictures, styles and chunks by relative URLs; the task page's base URL
    is this folder. The page's own routes (bundle.js, wrap_crowd_source.js,
    template/<kind>.html) come first.
    """
    run = TaskRun.objects.filter(pk=task_run_id).first()
    if run is None:
        return _not_found(f"there is no task run {task_run_id}")
    folder = _source_path(run, "extra_source_dir")
    if folder is None:
        return _not_found(
            f"task run {run.pk} has no file {path!r}: its "
            "mephisto.blueprint.extra_source_dir is not set, so only the task "
            f"page's own scripts are served under /task/{run.pk}/"
        )
    refused = _unsafe_path(path)
    if refused:
        return _not_found(f"{path!r} is not served: {refused}")
    root = folder.resolve()
    if not root.is_dir():
        return _not_found(
            f"the extra_source_dir of task run {run.pk} "
            "(mephisto.blueprint.extra_source_dir) is not a folder on this server"
        )
    file = (root / path).resolve()
    # resolve() follows symbolic links: one that leads out of the folder is
    # refused like `..`.
    if not file.is_relative_to(root):
        return _not_found(
            f"{path!r} is not served: it is a link that leads outside the "
            f"extra_source_dir of task run {run.pk}"
        )
    if file.is_dir():
        return _not_found(f"{path!r} is a folder; folders are not listed")
    if not file.is_file():
        return _not_found(
            f"task run {run.pk} has no file {path!r} in its extra_source_dir "
            "(mephisto.blueprint.extra_source_dir)"
        )
    modified = int(file.stat().st_mtime)
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    if since is not None and modified <= since:
        response: HttpResponseBase = HttpResponseNotModified()
    else:
        content_type = _file_type(file.name)
        response = FileResponse(file.open("rb"), content_type=content_type)
        ancestors = _with_self(get_provider_class(run.provider_type).frame_ancestors)
        csp = f"frame-ancestors {ancestors}"
        if content_type.split(";")[0] in DOCUMENT_TYPES:
            csp = f"sandbox; {csp}"
        response["Content-Security-Policy"] = csp
    response["Last-Modified"] = http_date(modified)
    response["X-Content-Type-Options"] = "nosniff"
    # The files may change on disk during a run: the browser asks each time.
    response["Cache-Control"] = "no-cache"
    return response


def _unsafe_path(path: str) -> str:
    """Why `path` may not name a file of a served folder, or "" if it may."""
    if path.startswith("/"):
        return "absolute paths are not served"
    if "\x00" in path:
        return "a path can't hold a NUL character"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "a path may not have empty, '.' or '..' parts"
        if part.startswith("."):
            return "hidden files and folders (names starting with '.') are not served"
    return ""


def _file_type(name: str) -> str:
    """The Content-Type to serve the file `name` with."""
    content_type = FILE_TYPES.get(Path(name).suffix.lower())
    if content_type is None:
        guessed, encoding = mimetypes.guess_type(name, strict=False)
        # A compressed file (`.gz`) is served as the bytes it is.
        content_type = guessed if guessed and not encoding else None
    if content_type is None:
        return "application/octet-stream"
    if content_type.startswith("text/") or content_type in TEXT_TYPES:
        content_type += "; charset=utf-8"
    return content_type


def _with_self(ancestors: str) -> str:
    """`ancestors` (a CSP source list) that also lets the task page frame a file."""
    sources = ancestors.split()
    if "*" in sources or "'self'" in sources:
        return ancestors
    return f"'self' {ancestors}"


def _not_found(message: str) -> HttpResponse:
    # Plain text, so the page (and a requester checking the URL) sees why.
    response = HttpResponseNotFound(message, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response
