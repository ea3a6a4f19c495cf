"""A unit's review: approve, reject, soft-reject, bonus. Each is the admin's
service; a second decision answers 409 with the first one's details."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import services
from tasks_app.exceptions import AlreadyDecided, LargeBonusError, ReviewError
from tasks_app.models import Unit
from tasks_app.requester_api.base import CONFLICT, REVIEW, RequesterAPIView, refused
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


class UnitDecisionView(RequesterAPIView):
    """POST: one decision on the unit's submission."""

    permissions = {"POST": (REVIEW,)}
    body: type[serializers.Serializer] = ApproveInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        raise NotImplementedError

    @idempotent
    def post(self, request: Request, unit_id: int) -> Response:
        unit = get_object_or_404(Unit, pk=unit_id)
        body = self.body(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            return Response(self.decide(request, unit, body.validated_data))
        except AlreadyDecided as exc:
            answer = refused(str(exc), code=CONFLICT)
            answer.data["decision"] = exc.decision
            return answer
        except LargeBonusError as exc:
            return refused(str(exc), field="confirm_large")
        except ReviewError as exc:
            return refused(str(exc))


@extend_schema(request=ApproveInput, responses={200: dict}, summary="Approve")
class UnitApprove(UnitDecisionView):
    body = ApproveInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.approve_unit(
            unit_id=unit.pk,
            reviewer=request.user,
            reason=data.get("feedback", ""),
            override_rejection=data.get("override_rejection", False),
        ).as_dict()


@extend_schema(request=RejectInput, responses={200: dict}, summary="Reject")
class UnitReject(UnitDecisionView):
    body = RejectInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.reject_unit(
            unit_id=unit.pk, reviewer=request.user, feedback=data["feedback"]
        ).as_dict()


@extend_schema(
    request=SoftRejectInput,
    responses={200: dict},
    summary="Soft-reject: pay, but mark the work below the bar",
)
class UnitSoftReject(UnitDecisionView):
    body = SoftRejectInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.soft_reject_unit(
            unit_id=unit.pk, reviewer=request.user, reason=data.get("feedback", "")
        ).as_dict()


@extend_schema(request=BonusInput, responses={200: dict}, summary="Pay a bonus")
class UnitBonus(UnitDecisionView):
    body = BonusInput

    def decide(self, request: Request, unit: Unit, data: dict) -> dict:
        return services.pay_bonus(
            unit_id=unit.pk,
            amount=data["amount"],
            reason=data["reason"],
            reviewer=request.user,
            confirm_large=data.get("confirm_large", False),
        ).as_dict()
