"""A worker as the admin's worker page shows them: blocked or not, their
qualifications, their units and how their work was judged; and, for a run,
every eligibility rule they pass or fail (`manage.py explain_eligibility`)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from providers.registry import parse_worker_ref
from qualifications_app.selectors import find_worker
from tasks_app import eligibility
from tasks_app.models import TaskRun, Unit, UnitStatus, Worker
from tasks_app.requester_api.base import VIEW, VIEW_WORKERS, RequesterAPIView, refused
from tasks_app.requester_api.qualifications import RefusalSerializer
from tasks_app.selectors import worker_summary


class HeldSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.IntegerField()


class TaskFiguresSerializer(serializers.Serializer):
    task_name = serializers.CharField()
    units = serializers.IntegerField()
    completed = serializers.IntegerField(help_text="submitted, not yet decided")
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    soft_rejected = serializers.IntegerField()


class RuleSerializer(serializers.Serializer):
    rule = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField(help_text="as the worker is told; empty if passed")


class ExplainSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    eligible = serializers.BooleanField(help_text="every rule passes: they get work")
    rules = RuleSerializer(many=True)


class WorkerSerializer(serializers.Serializer):
    worker = serializers.CharField(help_text="PROVIDER:ID")
    provider = serializers.CharField()
    id = serializers.CharField(help_text="the worker's name on this site")
    blocked = serializers.BooleanField(help_text="on the local blocklist")
    created_at = serializers.DateTimeField()
    qualifications = HeldSerializer(many=True)
    units = serializers.DictField(
        child=serializers.IntegerField(), help_text="{unit status: count}"
    )
    approved = serializers.IntegerField()
    rejected = serializers.IntegerField()
    soft_rejected = serializers.IntegerField(
        help_text="paid, below the bar; out of the approval rate"
    )
    approval_rate = serializers.FloatField(
        allow_null=True, help_text="approved / (approved + rejected)"
    )
    tasks = TaskFiguresSerializer(many=True)
    explain = ExplainSerializer(
        required=False, help_text="with ?explain=RUN_ID: the run's rules for them"
    )


def units_by_status(worker: Worker) -> dict[str, int]:
    """The worker's units by status, in lifecycle order, empty statuses left out."""
    rows = dict(
        Unit.objects.filter(worker=worker)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    return {status: rows[status] for status in UnitStatus.values if status in rows}


def worker_data(worker: Worker) -> dict[str, Any]:
    summary = worker_summary(worker=worker)
    tasks = [
        {
            "task_name": row["run__task__task_name"],
            "units": row["units"],
            "completed": row["completed"],
            "approved": row["accepted"],
            "rejected": row["rejected"],
            "soft_rejected": row["soft_rejected"],
        }
        for row in summary["units_per_task"]
    ]
    return {
        "worker": f"{worker.provider_type}:{worker.worker_name}",
        "provider": worker.provider_type,
        "id": worker.worker_name,
        "blocked": worker.is_blocked,
        "created_at": worker.created_at,
        "qualifications": [
            {"name": grant.qualification.name, "value": grant.value}
            for grant in summary["grants"]
        ],
        "units": units_by_status(worker),
        "approved": sum(task["approved"] for task in tasks),
        "rejected": sum(task["rejected"] for task in tasks),
        "soft_rejected": sum(task["soft_rejected"] for task in tasks),
        "approval_rate": summary["approval_rate"],
        "tasks": tasks,
    }


def explanation(run: TaskRun, worker: Worker) -> dict[str, Any]:
    verdicts = eligibility.explain(run=run, worker=worker)
    return {
        "run": run.pk,
        "eligible": all(verdict.passed for verdict in verdicts),
        "rules": [
            {
                "rule": verdict.rule,
                "passed": verdict.passed,
                "reason": "" if verdict.passed else verdict.reason,
            }
            for verdict in verdicts
        ],
    }


class WorkerDetail(RequesterAPIView):
    """GET: one worker, by PROVIDER:ID; `?explain=RUN_ID` adds why they do or
    don't get work in that run."""

    permissions = {"GET": (VIEW_WORKERS,)}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "ref",
                str,
                OpenApiParameter.PATH,
                description="PROVIDER:ID (mock:alice, mturk:A1B2C3D4E5, ...)",
            ),
            OpenApiParameter(
                "explain",
                int,
                description="a run's id: add every eligibility rule of that run "
                f"for this worker, passed or not (needs {VIEW} too)",
            ),
        ],
        responses={
            200: WorkerSerializer,
            400: RefusalSerializer,
            404: RefusalSerializer,
        },
        summary="One worker: blocked, qualifications, units and decisions; "
        "?explain=RUN_ID says why they do (not) get work in a run",
    )
    def get(self, request: Request, ref: str) -> Response:
        try:
            worker_ref = parse_worker_ref(ref)
        except ValueError as exc:
            return refused(str(exc), field="ref")
        run_ids = request.query_params.getlist("explain")
        run_id = run_ids[0] if run_ids else None
        if run_id is not None:
            if len(run_ids) > 1:
                return refused("one run's id, given once", field="explain")
            if not (run_id.isascii() and run_id.isdigit()) or int(run_id) < 1:
                return refused("a run's id, a whole number", field="explain")
            if not request.user.has_perm(VIEW):
                raise exceptions.PermissionDenied(f"this needs the permission {VIEW}")
        worker = find_worker(worker_ref)
        if worker is None:
            raise Http404(f"this site has never seen worker {worker_ref.label}")
        data = worker_data(worker)
        if run_id is not None:
            run = TaskRun.objects.select_related("task").filter(pk=run_id).first()
            if run is None:
                return refused(f"there is no task run {run_id}", field="explain")
            data["explain"] = explanation(run, worker)
        return Response(WorkerSerializer(data).data)
