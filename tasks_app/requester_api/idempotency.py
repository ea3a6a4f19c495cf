"""`Idempotency-Key`: a POST sent again with the same key (by the same user)
gets the first answer again, the same status and body, and does nothing more.

The key is taken in the same transaction as the work: its row is inserted
first, so a second request with the key waits for the first to commit and then
replays its answer. A refusal (4xx, a validation error too) is kept and
replayed like any answer; work that fails with a server error (5xx) rolls back
with its key, so it may be tried again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from tasks_app.models import IdempotentRequest
from tasks_app.requester_api.base import refused

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


KEY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    description="Send the POST again with the same key (after a timeout, say) "
    "and get the first answer again, with nothing done twice",
)


def idempotent(post: Callable[..., Response]) -> Callable[..., Response]:
    """Make a view's `post` honour `Idempotency-Key`."""

    @functools.wraps(post)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return post(view, request, *args, **kwargs)
        if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return refused(
                f"must be 1 to {MAX_KEY_LENGTH} printable characters", field=HEADER
            )
        user = request.user
        if user is None or isinstance(user, AnonymousUser):
            # The view's permission check runs first; this never answers.
            raise NotAuthenticated()
        digest = hashlib.sha256(request.body).hexdigest()
        try:
            with transaction.atomic():
                taken = IdempotentRequest.objects.create(
                    user=user,
                    key=key,
                    method=request.method or "POST",
                    path=request.path[:500],
                    body_digest=digest,
                    status=0,
                )
                response = _answer(post, view, request, *args, **kwargs)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
                    return response
                taken.status = response.status_code
                # The body's JSON text, so the replay is the same bytes:
                # PostgreSQL's jsonb would reorder an object's keys.
                taken.response = json.dumps(response.data, cls=JSONEncoder)
                taken.save(update_fields=["status", "response"])
                return response
        except IntegrityError:
            earlier = IdempotentRequest.objects.filter(user=user, key=key).first()
            if earlier is None:
                raise
            return _replay(earlier, request, digest)

    return extend_schema(parameters=[KEY_PARAMETER])(wrapper)


def _answer(
    post: Callable[..., Response],
    view: Any,
    request: Request,
    *args: Any,
    **kwargs: Any,
) -> Response:
    """The view's answer; a refusal it raises (a validation error, a 404) is
    answered here as DRF would answer it, so that it is kept with the key."""
    try:
        return post(view, request, *args, **kwargs)
    except Exception as exc:
        handler = view.get_exception_handler()
        response = handler(exc, view.get_exception_handler_context())
        if response is None or response.status_code >= 500:
            raise
        return response


def _replay(earlier: IdempotentRequest, request: Request, digest: str) -> Response:
    if earlier.path != request.path[:500] or earlier.body_digest != digest:
        other = "another body" if earlier.path == request.path[:500] else "another URL"
        return refused(
            f"this key was used for {earlier.method} {earlier.path} with {other}; "
            "use a new key for a new request",
            field=HEADER,
            code=422,
        )
    response = Response(json.loads(str(earlier.response)), status=earlier.status)
    response[REPLAYED_HEADER] = "true"
    return response
