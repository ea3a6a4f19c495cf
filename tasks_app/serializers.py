"""Shapes of the worker wire protocol's requests (DESIGN §5)."""

from __future__ import annotations

import json
from typing import Any

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
    # files; when it is not empty it is the submission, and final_data is not
    # read at all, as on Mephisto's server (FormComposer sends the browser's
    # "[object Object]" there).
    final_string_data = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    client_timestamp = serializers.FloatField(required=False, allow_null=True)

    def validate_final_data(self, value: object) -> object:
        if _uses_string_data(self.initial_data):
            return value  # not used, so neither decoded nor measured
        if isinstance(value, str) and self.context.get("form"):
            # Forms (multipart or urlencoded) carry final_data as JSON text.
            value = _form_json(value)
        check_size(value, field="final_data")
        return value

    def validate_final_string_data(self, value: str | None) -> object:
        if not _uses_string_data(self.initial_data):
            return None
        decoded = _form_json(value or "")
        check_size(decoded, field="final_string_data")
        return decoded

    def validate(self, attrs: dict) -> dict:
        if "final_string_data" not in attrs:
            return attrs
        decoded = attrs.pop("final_string_data")
        if _uses_string_data(self.initial_data):
            attrs["final_data"] = decoded
        elif "final_data" not in attrs and self.initial_data["final_string_data"] == "":
            attrs["final_data"] = {}  # an empty field, as for final_data
        return attrs


def _uses_string_data(data: Any) -> bool:
    """Whether final_string_data is the submission (Mephisto: when it is truthy)."""
    return data.get("final_string_data") not in (None, "")


def _form_json(value: str) -> object:
    """A form field's JSON text, decoded; an empty field is an empty object."""
    if not value:
        return {}
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        if value.strip() == "[object Object]":
            raise serializers.ValidationError(
                "is not valid JSON: '[object Object]' is what a browser sends for "
                "an object put into a form field as it is; send "
                "JSON.stringify(data) instead"
            ) from exc
        raise serializers.ValidationError(
            f"is not valid JSON ({exc.msg} at character {exc.pos}); a form field "
            "carries JSON text, such as JSON.stringify(data)"
        ) from exc


# Fields of a /submit_metadata form that are not metadata.
METADATA_FORM_CONTROL_FIELDS = ("USED_AGENT_ID", "client_timestamp")


class SubmitMetadataSerializer(serializers.Serializer):
    USED_AGENT_ID = serializers.CharField(max_length=MAX_ID_LENGTH)
    metadata = serializers.JSONField(required=False, allow_null=True)
    client_timestamp = serializers.FloatField(required=False, allow_null=True)

    def validate_metadata(self, value: object) -> object:
        if isinstance(value, str) and self.context.get("form"):
            # mephisto-core's multipart postMetadata sends it as JSON text.
            value = _form_json(value)
        check_size(value, field="metadata")
        return value

    def validate(self, attrs: dict) -> dict:
        fields = self.context.get("form_fields")
        if fields is None or "metadata" in fields:
            return attrs
        # A form without a `metadata` field, as a plain HTML form posts it:
        # its other text fields are the metadata (a repeated name, a list).
        metadata = form_metadata(fields)
        check_size(metadata, field="metadata")
        attrs["metadata"] = metadata
        return attrs


def form_metadata(fields: Any) -> dict[str, Any]:
    """The text fields of a form (a QueryDict) but USED_AGENT_ID and the timestamp."""
    return {
        name: values[0] if len(values) == 1 else values
        for name, values in fields.lists()
        if name not in METADATA_FORM_CONTROL_FIELDS
    }


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


class CompletionCodeSerializer(serializers.Serializer):
    """`POST /completion_code`: who submitted, as the provider's URL names them."""

    worker_name = serializers.CharField(max_length=MAX_ID_LENGTH)
    assignment_id = serializers.CharField(max_length=MAX_ID_LENGTH)
