"""Runs: list, one run's figures, shut down, approve many."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import selectors, services
from tasks_app.exceptions import ReviewError
from tasks_app.models import TaskRun, TaskRunStatus
from tasks_app.requester_api.base import (
    REVIEW,
    SHUTDOWN,
    VIEW,
    RequesterAPIView,
    answers,
    refused,
)
from tasks_app.requester_api.idempotency import idempotent
from tasks_app.selectors import stats
from tasks_app.selectors.runs import RunRow, run_rows_query
from tasks_app.services.lifecycle import RunLifecycleError


class RunRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task_name = serializers.CharField()
    provider_type = serializers.CharField()
    status = serializers.CharField()
    units = serializers.IntegerField()
    submitted = serializers.IntegerField()
    awaiting_review = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    launched_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()


class MoneySerializer(serializers.Serializer):
    """Dollars as strings: the ledger's payments by state, what the run has
    committed, and its budget (null without one)."""

    spent = serializers.CharField()
    pending = serializers.CharField()
    failed = serializers.CharField()
    ambiguous = serializers.CharField()
    committed = serializers.CharField()
    committed_rewards = serializers.CharField()
    committed_bonuses = serializers.CharField()
    budget = serializers.CharField(allow_null=True)
    budget_used = serializers.FloatField(allow_null=True)
    budget_left = serializers.CharField(allow_null=True)


class RunDetailSerializer(serializers.Serializer):
    """The run's dashboard figures (`manage.py run_status --json`)."""

    id = serializers.IntegerField()
    run_id = serializers.IntegerField()
    task_name = serializers.CharField()
    status = serializers.CharField()
    provider_type = serializers.CharField()
    units_by_status = serializers.DictField(child=serializers.IntegerField())
    units = serializers.IntegerField()
    submitted = serializers.IntegerField()
    reviewed = serializers.IntegerField()
    awaiting_review = serializers.IntegerField()
    approval_rate = serializers.FloatField(allow_null=True)
    money = MoneySerializer()
    work_time = serializers.JSONField(help_text="seconds: median, p90")
    timeline = serializers.JSONField(help_text="submissions per time bucket")
    workers = serializers.JSONField(help_text="the top workers' figures")
    workers_total = serializers.IntegerField()
    other_workers = serializers.IntegerField()
    provider_failures = serializers.IntegerField()
    recent_failures = serializers.JSONField()
    launched_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField(help_text="the rule that ended the run")


class ShutdownSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    status = serializers.CharField()
    expired = serializers.IntegerField(help_text="units nobody took, now expired")
    held = serializers.IntegerField(help_text="units workers hold: may be submitted")
    awaiting_review = serializers.IntegerField()
    reason = serializers.CharField()


class BulkApprovalSerializer(serializers.Serializer):
    approved = serializers.ListField(child=serializers.IntegerField())
    refused = serializers.DictField(
        child=serializers.CharField(), help_text="unit id: why it was not approved"
    )
    amount = serializers.CharField(help_text="the rewards paid, in dollars")


def run_row(row: RunRow) -> dict:
    data = row.as_dict()
    data["id"] = data.pop("run_id")
    return data


class RunList(RequesterAPIView):
    """The runs, newest first, with their progress: `?task_name=` and
    `?status=` filter them."""

    permissions = {"GET": (VIEW,)}

    @extend_schema(
        parameters=[
            OpenApiParameter("task_name", str, description="only this task's runs"),
            OpenApiParameter(
                "status",
                str,
                enum=[s.value for s in TaskRunStatus],
                description="only runs in this status",
            ),
        ],
        responses=answers(RunRowSerializer(many=True), 400),
        operation_id="runs_list",
        summary="The runs, newest first",
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in TaskRunStatus.values:
            return refused(
                f"no run status {status!r}; one of {', '.join(TaskRunStatus.values)}",
                field="status",
            )
        query = run_rows_query(
            request.query_params.get("task_name"), (status,) if status else ()
        )
        pages = self.paginate(request, query)
        rows = [run_row(RunRow(*row)) for row in pages.page_items]
        return pages.get_paginated_response(rows)


class RunDetail(RequesterAPIView):
    """One run's figures, as its dashboard and `run_status --json` show them."""

    permissions = {"GET": (VIEW,)}

    @extend_schema(
        summary="One run: its status, units by status, money and end",
        responses=answers(RunDetailSerializer),
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TaskRun.objects.select_related("task"), pk=run_id)
        data = stats.run_stats(run=run).as_dict()
        data["id"] = run.pk
        return Response(data)


class ShutdownInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class RunShutdown(RequesterAPIView):
    """Shut the run down, as the admin's action and `shutdown_run` do; a run
    that has already ended is 409."""

    permissions = {"POST": (SHUTDOWN,)}

    @extend_schema(
        request=ShutdownInput,
        responses=answers(ShutdownSerializer, 400, 409, 422),
        summary="Shut the run down: expire what nobody took (held units may "
        "still be submitted)",
    )
    @idempotent
    def post(self, request: Request, run_id: int) -> Response:
        get_object_or_404(TaskRun, pk=run_id)
        body = ShutdownInput(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data.get("reason") or "shut down through the API"
        try:
            shutdown = services.shutdown_run(run_id=run_id, reason=reason)
        except RunLifecycleError as exc:
            return refused(str(exc), code=409)
        return Response(shutdown.as_dict())


# The largest id a row can have (a 64-bit key).
MAX_ID = 2**63 - 1


class BulkApproveInput(serializers.Serializer):
    unit_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        min_length=1,
        max_length=100_000,
    )
    all = serializers.BooleanField(required=False, default=False)
    feedback = serializers.CharField(required=False, allow_blank=True, max_length=1024)

    def validate(self, data: dict) -> dict:
        if bool(data.get("unit_ids")) == bool(data.get("all")):
            raise serializers.ValidationError(
                {"unit_ids": 'give unit ids, or {"all": true} for every pending unit'}
            )
        return data


class RunApprove(RequesterAPIView):
    """Approve many of the run's submissions: `unit_ids`, or `{"all": true}`
    for every one awaiting review. A unit that can't be approved (decided
    before, say) is listed in `refused` with the reason; ids of units of
    another run are refused whole (400)."""

    permissions = {"POST": (REVIEW,)}

    @extend_schema(
        request=BulkApproveInput,
        responses=answers(BulkApprovalSerializer, 400, 422),
        summary="Approve many units of the run: these ids, or all that await review",
    )
    @idempotent
    def post(self, request: Request, run_id: int) -> Response:
        run = get_object_or_404(TaskRun, pk=run_id)
        body = BulkApproveInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data.get("all"):
                approvals = services.approve_submissions(
                    agents=list(selectors.awaiting_review(run=run)),
                    reviewer=request.user,
                    reason=data.get("feedback", ""),
                )
                return Response(
                    {
                        "approved": approvals.approved,
                        "refused": {
                            str(unit): why for unit, why in approvals.refused.items()
                        },
                        "amount": str(approvals.paid),
                    }
                )
            unit_ids = data["unit_ids"]
            foreign = set(unit_ids) - set(
                run.units.filter(pk__in=unit_ids).values_list("pk", flat=True)
            )
            if foreign:
                return refused(
                    f"not units of run {run.pk}: "
                    f"{', '.join(map(str, sorted(foreign)))}",
                    field="unit_ids",
                )
            approval = services.approve_units(
                unit_ids=unit_ids,
                reviewer=request.user,
                reason=data.get("feedback", ""),
            )
        except ReviewError as exc:
            return refused(str(exc))
        return Response(approval.as_dict())
