"""The requester API's OpenAPI schema: its own endpoints, not the worker
protocol's (which the task page speaks; docs/worker-protocol.md)."""

from __future__ import annotations

from typing import Any

PREFIX = "/api/v1/"


def only_requester_api(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any):
    """drf-spectacular's preprocessing hook: the endpoints under /api/v1/."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(PREFIX)]


# What any endpoint may answer besides its own: a bad parameter (400), no or a
# bad token (401), a missing permission (403), an unknown object (404).
EVERY_ENDPOINT_ERRORS = {
    "400": "a parameter or the body is wrong; `field` names it",
    "401": "no token, or a bad one",
    "403": "the token's user lacks the permission `detail` names",
    "404": "no such object",
}


def document_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular's postprocessing hook: every operation documents the
    errors any endpoint may answer, as `Error`."""
    error = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code, description in EVERY_ENDPOINT_ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": error}},
                    },
                )
    return result
