"""A unit's review: approve, reject, soft-reject, bonus. Each is the admin's
service; a second decision answers 409 with the first one's details."""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import services
from tasks_app.exceptions import AlreadyDecided, LargeBonusError, ReviewError
from tasks_app.models import Agent, Unit
from tasks_app.requester_api.base import (
    CONFLICT,
    REVIEW,
    RequesterAPIView,
    answers,
    refused,
)
from tasks_app.requester_api.idempotency import idempotent
from tasks_app.services.review import parse_amount

# MTurk's longest RequesterFeedback.
MAX_FEEDBACK = 1024


class ApproveInput(serializers.Serializer):
    feedback = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_FEEDBACK
    )
    override_rejection = serializers.BooleanField(required=False, default=False)


class RejectInput(serializers.Serializer):
    feedback = serializers.CharField(max_length=MAX_FEEDBACK)


class SoftRejectInput(serializers.Serializer):
    feedback = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_FEEDBACK
    )


class DollarsField(serializers.CharField):
    """Dollars as a JSON string of plain decimal digits ("0.50"): a JSON number
    is refused, as a float may not be the amount that was meant."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(
                'must be a string of dollars, such as "0.50"'
            )
        return super().to_internal_value(data)


class BonusInput(serializers.Serializer):
    amount = DollarsField(
        max_length=40, help_text='dollars, as a plain decimal string ("0.50")'
    )
    reason = serializers.CharField(max_length=MAX_FEEDBACK)
    confirm_large = serializers.BooleanField(
        required=False,
        default=False,
        help_text="needed for a bonus above 10 times the unit's reward",
    )

    def validate_amount(self, value: str) -> Decimal:
        try:
            return parse_amount(value)
        except ReviewError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class DecisionSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="approve, reject, soft_reject or bonus")
    unit_id = serializers.IntegerField()
    agent_id = serializers.IntegerField(help_text="the submission decided on")
    worker = serializers.CharField(help_text="the worker's id")
    review_id = serializers.IntegerField()
    late = serializers.BooleanField()
    amount = serializers.CharField(help_text="dollars this pays")


class FirstDecisionSerializer(serializers.Serializer):
    unit_id = serializers.IntegerField()
    agent_id = serializers.IntegerField()
    action = serializers.CharField()
    feedback = serializers.CharField(allow_blank=True)
    by = serializers.CharField(help_text="who decided")
    at = serializers.DateTimeField()


class ConflictSerializer(serializers.Serializer):
    """A second decision: the decision in force, or null if it was made by
    another request at the same moment."""

    detail = serializers.CharField()
    decision = FirstDecisionSerializer(allow_null=True)


def decision_answers(*errors: int) -> dict:
    return answers(
        DecisionSerializer, 400, 422, *errors, shapes={409: ConflictSerializer}
    )


class UnitDecisionView(RequesterAPIView, ABC):
    """POST: one decision on the unit's submission."""

    permissions = {"POST": (REVIEW,)}
    body: type[serializers.Serializer] = ApproveInput

    @abstractmethod
    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        """Make the decision through its service; what it did, as a dict."""

    @idempotent
    def post(self, request: Request, unit_id: int) -> Response:
        unit = get_object_or_404(Unit, pk=unit_id)
        body = self.body(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            return Response(
                _worker_as_ref(self.decide(request, unit, body.validated_data))
            )
        except AlreadyDecided as exc:
            answer = refused(str(exc), code=CONFLICT)
            answer.data["decision"] = exc.decision
            return answer
        except LargeBonusError as exc:
            return refused(str(exc), field="confirm_large")
        except ReviewError as exc:
            return refused(str(exc))


def _worker_as_ref(decision: dict) -> dict:
    """A decision's worker as the rest of the API names workers, PROVIDER:ID."""
    worker = (
        Agent.objects.filter(pk=int(decision["agent_id"]))
        .values_list("worker__provider_type", "worker__worker_name")
        .first()
    )
    if worker is not None:
        decision["worker"] = f"{worker[0]}:{worker[1]}"
    return decision


@extend_schema(request=ApproveInput, responses=decision_answers(409), summary="Approve")
class UnitApprove(UnitDecisionView):
    """Approve the unit's submission and pay its reward; with
    `override_rejection`, approve a rejected one (where the provider can)."""

    body = ApproveInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.approve_unit(
            unit_id=unit.pk,
            reviewer=request.user,
            reason=data.get("feedback", ""),
            override_rejection=data.get("override_rejection", False),
        ).as_dict()


@extend_schema(request=RejectInput, responses=decision_answers(409), summary="Reject")
class UnitReject(UnitDecisionView):
    """Reject the unit's submission, unpaid; `feedback` tells the worker why."""

    body = RejectInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.reject_unit(
            unit_id=unit.pk, reviewer=request.user, feedback=data["feedback"]
        ).as_dict()


@extend_schema(
    request=SoftRejectInput,
    responses=decision_answers(409),
    summary="Soft-reject: pay, but mark the work below the bar",
)
class UnitSoftReject(UnitDecisionView):
    """Pay the reward, but mark the work below the bar (no rejection on the
    provider, so the worker's approval rate is untouched)."""

    body = SoftRejectInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.soft_reject_unit(
            unit_id=unit.pk, reviewer=request.user, reason=data.get("feedback", "")
        ).as_dict()


@extend_schema(request=BonusInput, responses=decision_answers(), summary="Pay a bonus")
class UnitBonus(UnitDecisionView):
    """Pay the unit's worker a bonus, with the reason they are shown; the same
    amount for the same reason again is refused as a replay."""

    body = BonusInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.pay_bonus(
            unit_id=unit.pk,
            amount=data["amount"],
            reason=data["reason"],
            reviewer=request.user,
            confirm_large=data.get("confirm_large", False),
        ).as_dict()
