"""A run's results downloaded from the admin, as `manage.py export_results` writes them.

Mounted under the run's admin URL by `TaskRunAdmin.get_urls`:
`<run id>/export.jsonl` and `<run id>/export.csv`, each optionally filtered by
`?status=` (repeated, or a comma list); `export.csv?bom=1` starts with a UTF-8
byte-order mark, for spreadsheets. Screening and gold units are left out, as by
the command; `?include_quality_units=1` exports them too, marked. The download
is streamed from the database (tasks_app/selectors/export/) in constant memory.
It changes nothing, so it answers GET only, to staff who may view task runs.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_GET

from tasks_app.models import TaskRun
from tasks_app.selectors.export import (
    FORMATS,
    ExportError,
    ResultsExport,
    check_format,
    content_type,
    parse_statuses,
)

# The values of a yes-or-no parameter, `?bom=` or `?include_quality_units=` (as
# a form's checkbox or a hand-written link gives them).
YES_VALUES = {"1": True, "true": True, "yes": True, "on": True}
NO_VALUES = {"": False, "0": False, "false": False, "no": False, "off": False}


def export_urls(model_admin: admin.ModelAdmin) -> list:
    """The downloads' URLs, for TaskRunAdmin.get_urls."""

    @require_GET
    def view(request: HttpRequest, pk: int, format: str) -> HttpResponseBase:
        return export_view(model_admin, request, pk, format)

    return [
        path(
            "<int:pk>/export.<str:format>",
            model_admin.admin_site.admin_view(view),
            name="tasks_app_taskrun_export",
        ),
    ]


def export_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, pk: int, format: str
) -> HttpResponseBase:
    """The run's results as an attachment, streamed: JSONL or CSV."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied("downloading results needs the view task run permission")
    if format not in FORMATS:
        raise Http404(f"no export format {format!r}; valid: {', '.join(FORMATS)}")
    run = get_object_or_404(TaskRun.objects.select_related("task"), pk=pk)
    try:
        statuses = parse_statuses(request.GET.getlist("status"))
    except ExportError as exc:
        return _bad_request(f"status: {exc}")
    bom = _yes_or_no(request, "bom")
    quality = _yes_or_no(request, "include_quality_units")
    if isinstance(bom, HttpResponseBadRequest):
        return bom
    if isinstance(quality, HttpResponseBadRequest):
        return quality
    try:
        check_format(format, bom=bom)
    except ExportError as exc:
        return _bad_request(f"bom: {exc}")
    export = ResultsExport(
        run_ids=[run.pk], statuses=statuses, include_quality_units=quality
    )
    response = StreamingHttpResponse(
        export.chunks(format, bom=bom), content_type=content_type(format)
    )
    suffix = f"-{'-'.join(statuses)}" if statuses else ""
    suffix += "-with-quality-units" if quality else ""
    name = get_valid_filename(f"{run.task.task_name}-run-{run.pk}{suffix}.{format}")
    response["Content-Disposition"] = (
        content_disposition_header(True, name) or "attachment"
    )
    return response


def _yes_or_no(request: HttpRequest, name: str) -> bool | HttpResponseBadRequest:
    """Parameter `name` as a yes or no (absent: no), or the refusal of a value
    that is neither."""
    given = request.GET.get(name, "").strip().lower()
    if given not in YES_VALUES and given not in NO_VALUES:
        return _bad_request(f"{name}: {given!r} is neither 1 nor 0")
    return YES_VALUES.get(given, False)


def _bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def export_links(run: TaskRun) -> SafeString:
    """The run's download links, as the change page shows them (the review queue
    includes the same template)."""
    return SafeString(
        render_to_string("admin/tasks_app/taskrun/export_links.html", {"run": run})
    )
