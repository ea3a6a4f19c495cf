"""A run's results, streamed as `export_results` writes them (JSONL or CSV).

DRF reads `?format=` to choose a renderer, so the two formats are renderers:
`?format=jsonl` (the default) and `?format=csv`, or an Accept header."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import get_valid_filename
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app.models import TaskRun
from tasks_app.requester_api.base import VIEW, RequesterAPIView, answers
from tasks_app.selectors.export import (
    CONTENT_TYPES,
    FORMATS,
    ExportError,
    ResultsExport,
    parse_statuses,
)


class _ExportRenderer(BaseRenderer):
    """Chooses the format; the rows are streamed by the view."""

    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class JSONLRenderer(_ExportRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"


class CSVRenderer(_ExportRenderer):
    media_type = "text/csv"
    format = "csv"


class RunResults(RequesterAPIView):
    """The run's results as `export_results --run N` writes them: JSONL (one
    object a submission) by default, or CSV with `?format=csv` or
    `Accept: text/csv`; `?status=` keeps units in those statuses."""

    permissions = {"GET": (VIEW,)}
    renderer_classes = [JSONLRenderer, CSVRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        # An error is JSON, as everywhere in the API, whatever format was asked.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    # A `?format=` without a renderer, refused once the caller is known to be
    # allowed (DRF negotiates before it authenticates: anonymous is 401 first).
    unknown_format = False

    def perform_content_negotiation(self, request: Request, force: bool = False):
        if request.query_params.get("format", None) == "":
            # An empty ?format= would choose the default renderer.
            self.unknown_format = True
            return JSONRenderer(), JSONRenderer.media_type
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to a `?format=` it has no renderer for
            self.unknown_format = True
            return JSONRenderer(), JSONRenderer.media_type

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if self.unknown_format:
            raise exceptions.ValidationError({"format": f"one of {', '.join(FORMATS)}"})

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(FORMATS)),
            OpenApiParameter(
                "status",
                str,
                many=True,
                description="only units in these statuses (repeatable)",
            ),
        ],
        responses=answers(
            {
                (200, "application/x-ndjson"): OpenApiTypes.STR,
                (200, "text/csv"): OpenApiTypes.STR,
            },
            400,
            406,
            as_json=True,
        ),
        summary="The run's results, streamed: one JSON line (or CSV row) a "
        "submission, as export_results writes them",
    )
    def get(self, request: Request, run_id: int) -> StreamingHttpResponse:
        run = get_object_or_404(TaskRun.objects.select_related("task"), pk=run_id)
        format = request.accepted_renderer.format
        try:
            statuses = parse_statuses(request.query_params.getlist("status"))
        except ExportError as exc:
            raise exceptions.ValidationError({"status": str(exc)}) from exc
        export = ResultsExport(run_ids=[run.pk], statuses=statuses)
        response = StreamingHttpResponse(
            export.chunks(format), content_type=CONTENT_TYPES[format]
        )
        name = get_valid_filename(f"{run.task.task_name}-run-{run.pk}.{format}")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
