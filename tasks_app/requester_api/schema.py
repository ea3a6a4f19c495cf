"""The requester API's OpenAPI schema: its own endpoints, not the worker
protocol's (which the task page speaks; docs/worker-protocol.md)."""

from __future__ import annotations

from typing import Any

PREFIX = "/api/v1/"


def only_requester_api(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any):
    """drf-spectacular's preprocessing hook: the endpoints under /api/v1/."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(PREFIX)]
