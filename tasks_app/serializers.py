"""Shapes of the worker wire protocol's requests (DESIGN §5)."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import serializers

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
    """Refuse JSON payloads past CROWDSITE_MAX_SUBMISSION_BYTES, or unstorable.

    NUL characters and lone surrogates are valid JSON but no database stores
    them in a JSON column (PostgreSQL's jsonb refuses them).
    """
    if _has_nul(value):
        raise serializers.ValidationError({field: "contains a NUL character"})
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        size = len(text.encode())
    except UnicodeEncodeError as exc:
        raise serializers.ValidationError(
            {field: "contains text that is not valid Unicode (a lone surrogate)"}
        ) from exc
    limit = settings.CROWDSITE_MAX_SUBMISSION_BYTES
    if size > limit:
        raise serializers.ValidationError(
            {field: f"is {size} bytes; the limit is {limit} bytes"}
        )


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class SubmitTaskSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    final_data = serializers.JSONField(required=False, allow_null=True)
    client_timestamp = serializers.FloatField(required=False, allow_null=True)

    def validate_final_data(self, value: object) -> object:
        if isinstance(value, str) and self.context.get("multipart"):
            # Multipart forms carry final_data as a JSON string next to the files.
            try:
                value = json.loads(value) if value else {}
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(
                    f"is not valid JSON: {exc.msg}"
                ) from exc
        check_size(value, field="final_data")
        return value


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
