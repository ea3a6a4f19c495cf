"""`Idempotency-Key`: a POST sent again with the same key (by the same user)
gets the first answer again, the same status and body, and does nothing more.

The key is taken in the same transaction as the work: its row is inserted
first, so a second request with the key waits for the first to commit and then
replays its answer; work that fails with an error (5xx) rolls back with its
key, so it may be tried again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app.models import IdempotentRequest
from tasks_app.requester_api.base import refused

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


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
        digest = hashlib.sha256(request.body).hexdigest()
        try:
            with transaction.atomic():
                taken = IdempotentRequest.objects.create(
                    user=request.user,
                    key=key,
                    method=request.method or "POST",
                    path=request.path[:500],
                    body_digest=digest,
                    status=0,
                )
                response = post(view, request, *args, **kwargs)
                taken.status = response.status_code
                taken.response = response.data
                taken.save(update_fields=["status", "response"])
                return response
        except IntegrityError:
            earlier = IdempotentRequest.objects.filter(
                user=request.user, key=key
            ).first()
            if earlier is None:
                raise
            return _replay(earlier, request, digest)

    return wrapper


def _replay(earlier: IdempotentRequest, request: Request, digest: str) -> Response:
    if earlier.path != request.path[:500] or earlier.body_digest != digest:
        return refused(
            f"this key was used for another request ({earlier.method} "
            f"{earlier.path} with another body); use a new key for a new request",
            field=HEADER,
            code=422,
        )
    response = Response(earlier.response, status=earlier.status)
    response[REPLAYED_HEADER] = "true"
    return response
