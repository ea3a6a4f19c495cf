"""Shapes of the worker wire protocol's requests (DESIGN §5)."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import serializers

from tasks_app.json_values import unstorable_reason

# Ids and names arrive from the page; anything longer is not one of ours.
MAX_ID_LENGTH = 200


class ProviderDataSerializer(serializers.Serializer):
    worker_name = serializers.CharField(max_length=MAX_ID_LENGTH)
    assignment_id = serializers.CharField(
        max_length=MAX_ID_LENGTH, required=False, allow_blank=True, allow_null=True
    )
    agent_registration_id = serializers.CharField(
        max_length=MAX_ID_LENGTH, required=False, allow_blank=True, allow_null=True
    )
    provider_type = serializers.CharField(
        max_length=32, required=False, allow_blank=True, allow_null=True
    )
    hit_id = serializers.CharField(
        max_length=MAX_ID_LENGTH, required=False, allow_blank=True, allow_null=True
    )

    def validate(self, attrs: dict) -> dict:
        if not (attrs.get("agent_registration_id") or attrs.get("assignment_id")):
            raise serializers.ValidationError(
                "give agent_registration_id or assignment_id"
            )
        return attrs


class RequestAgentSerializer(serializers.Serializer):
    provider_data = ProviderDataSerializer()
    client_timestamp = serializers.FloatField(required=False, allow_null=True)


class OnboardingDataSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    onboarding_data = serializers.JSONField(required=False, allow_null=True)

    def validate_onboarding_data(self, value: object) -> object:
        check_size(value, field="onboarding_data")
        return value


class SubmitOnboardingSerializer(serializers.Serializer):
    provider_data = OnboardingDataSerializer()
    client_timestamp = serializers.FloatField(required=False, allow_null=True)


def check_size(value: object, *, field: str) -> None:
    """Refuse JSON payloads past CROWDSITE_MAX_SUBMISSION_BYTES, or unstorable."""
    problem = unstorable_reason(value)
    if problem:
        raise serializers.ValidationError({field: problem})
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    limit = settings.CROWDSITE_MAX_SUBMISSION_BYTES
    if size > limit:
        raise serializers.ValidationError(
            {field: f"is {size} bytes; the limit is {limit} bytes"}
        )


class SubmitTaskSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    final_data = serializers.JSONField(required=False, allow_null=True)
    # Mephisto's page sends a form's answers here as JSON text, next to the
    # files; it is preferred over final_data, as on Mephisto's server.
    final_string_data = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False
    )
    client_timestamp = serializers.FloatField(required=False, allow_null=True)

    def validate_final_data(self, value: object) -> object:
        if isinstance(value, str) and self.context.get("form"):
            # Forms (multipart or urlencoded) carry final_data as JSON text.
            value = _form_json(value)
        check_size(value, field="final_data")
        return value

    def validate_final_string_data(self, value: str) -> object:
        decoded = _form_json(value)
        check_size(decoded, field="final_string_data")
        return decoded

    def validate(self, attrs: dict) -> dict:
        if "final_string_data" in attrs:
            attrs["final_data"] = attrs.pop("final_string_data")
        return attrs


def _form_json(value: str) -> object:
    try:
        return json.loads(value) if value else {}
    except json.JSONDecodeError as exc:
        raise serializers.ValidationError(f"is not valid JSON: {exc.msg}") from exc


class SubmitMetadataSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    metadata = serializers.JSONField(required=False, allow_null=True)
    client_timestamp = serializers.FloatField(required=False, allow_null=True)

    def validate_metadata(self, value: object) -> object:
        check_size(value, field="metadata")
        return value


class LogErrorSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    error_data = serializers.JSONField(required=False, allow_null=True)
    client_timestamp = serializers.FloatField(required=False, allow_null=True)

    def validate_error_data(self, value: object) -> object:
        check_size(value, field="error_data")
        return value


class ReturnUnitSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    client_timestamp = serializers.FloatField(required=False, allow_null=True)
