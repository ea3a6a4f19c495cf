"""A run's submissions, for a script deciding on them, and their files."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from providers.registry import parse_worker_ref
from tasks_app.models import DECIDED_AGENT_STATUSES, Agent, TaskRun, Worker
from tasks_app.requester_api.base import VIEW, RequesterAPIView, answers, refused
from tasks_app.selectors import awaiting_review
from tasks_app.uploads import agent_files

STATUSES = ("pending", "decided", "all")


class FileSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="bytes")
    content_type = serializers.CharField()
    url = serializers.URLField(help_text="downloads the file (with the token)")


class TimingsSerializer(serializers.Serializer):
    accepted_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    work_time_s = serializers.FloatField(
        allow_null=True,
        help_text="seconds from accepting the unit to submitting it (null for "
        "a submission the task page never reported)",
    )


class SubmissionSerializer(serializers.Serializer):
    unit_id = serializers.IntegerField()
    agent_id = serializers.IntegerField(help_text="this submission's id")
    assignment_id = serializers.IntegerField(help_text="the data row's id")
    worker = serializers.CharField(help_text="PROVIDER:ID")
    status = serializers.CharField(help_text="the agent's status")
    decided = serializers.BooleanField()
    late = serializers.BooleanField(help_text="sent after its agent timed out")
    inputs = serializers.JSONField(help_text="the data row")
    outputs = serializers.JSONField(help_text="what the worker submitted")
    files = FileSerializer(many=True)
    metadata = serializers.JSONField(
        help_text="what the page sent to /submit_metadata and /log_error"
    )
    timings = TimingsSerializer()


class RunSubmissions(RequesterAPIView):
    """The run's submissions, by unit: pending (the default: no decision
    yet, late ones too), decided, or all; of one worker, late or on time."""

    permissions = {"GET": (VIEW,)}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=list(STATUSES),
                description="pending (no decision yet, the default), decided, or all",
            ),
            OpenApiParameter("worker", str, description="only this worker (P:ID)"),
            OpenApiParameter(
                "late", bool, description="only late submissions, or only on-time ones"
            ),
        ],
        responses=answers(SubmissionSerializer(many=True), 400),
        operation_id="runs_submissions_list",
        summary="The run's submissions: inputs, outputs, files, timings, review",
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TaskRun, pk=run_id)
        params = request.query_params
        status = params.get("status", "pending")
        if status not in STATUSES:
            return refused(f"one of {', '.join(STATUSES)}", field="status")
        if status == "pending":
            agents = awaiting_review(run=run)
        else:
            agents = Agent.objects.filter(run=run, submitted_at__isnull=False)
            if status == "decided":
                agents = agents.filter(status__in=DECIDED_AGENT_STATUSES)
            agents = agents.select_related("unit__assignment", "worker").order_by(
                "unit_id", "pk"
            )
        if "worker" in params:
            try:
                ref = parse_worker_ref(params["worker"])
            except ValueError as exc:
                return refused(str(exc), field="worker")
            worker = Worker.objects.filter(
                provider_type=ref.provider_type, worker_name=ref.worker_name
            ).first()
            agents = agents.filter(worker=worker) if worker else agents.none()
        if "late" in params:
            late = params["late"].lower()
            if late not in ("true", "false"):
                return refused("true or false", field="late")
            agents = agents.filter(is_late=late == "true")
        pages = self.paginate(request, agents)
        return pages.get_paginated_response(
            [submission(request, run, agent) for agent in pages.page_items]
        )


def submission(request: Request, run: TaskRun, agent: Agent) -> dict[str, Any]:
    """One submission as the API gives it."""
    files = [
        {
            "name": record["name"],
            "size": record["size"],
            "content_type": record["content_type"],
            "url": request.build_absolute_uri(
                reverse("requester-api:file", args=[run.pk, agent.pk, index])
            ),
        }
        for index, record in enumerate(agent_files(agent))
    ]
    seconds = (
        None
        if agent.submitted_at is None or agent.from_provider_listing
        else round((agent.submitted_at - agent.created_at).total_seconds(), 3)
    )
    return {
        "unit_id": agent.unit_id,
        "agent_id": agent.pk,
        "assignment_id": agent.unit.assignment_id,
        "worker": f"{agent.worker.provider_type}:{agent.worker.worker_name}",
        "status": agent.status,
        "decided": agent.status in DECIDED_AGENT_STATUSES,
        "late": agent.is_late,
        "inputs": agent.unit.assignment.data,
        "outputs": agent.submission,
        "files": files,
        "metadata": agent.metadata,
        "timings": {
            "accepted_at": agent.created_at.isoformat(),
            "submitted_at": agent.submitted_at.isoformat()
            if agent.submitted_at
            else None,
            "work_time_s": seconds,
        },
    }


class SubmittedFile(RequesterAPIView):
    """A file a worker sent with a submission, as it was sent (the URL is
    the submission's `files[].url`)."""

    permissions = {"GET": (VIEW,)}

    @extend_schema(
        responses=answers({(200, "application/octet-stream"): OpenApiTypes.BINARY}),
        summary="A file a worker sent with a submission",
    )
    def get(self, request: Request, run_id: int, agent_id: int, index: int):
        agent = get_object_or_404(Agent, pk=agent_id, run_id=run_id)
        records = agent_files(agent)
        if index >= len(records):
            raise Http404(f"agent {agent_id} has no file {index}")
        record = records[index]
        if not default_storage.exists(record["path"]):
            raise Http404(f"the file {record['name']} is no longer stored")
        response = FileResponse(
            default_storage.open(record["path"], "rb"),
            as_attachment=True,
            filename=record["name"],
            content_type="application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
