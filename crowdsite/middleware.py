"""Middleware that answers requests no view could read."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class RefuseUnreadableCharset:
    """Answer 415 to a body whose declared charset is not a text encoding.

    Python's codec registry also holds byte-to-byte codecs (`rot13`, `zlib`,
    `base64`, ...). Django accepts any name the registry knows as the request's
    encoding, and reading the query string or body with one of those raises
    LookupError deep inside, an HTML 500 on every endpoint. Unknown names are
    refused too: there is no way to read such a body as its sender meant.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        charset = (
            request.content_params.get("charset") if request.content_params else None
        )
        if charset is not None and not _is_text_encoding(charset):
            return JsonResponse(
                {
                    "error": f"the Content-Type charset {charset!r} is not a text "
                    "encoding; send the body as UTF-8"
                },
                status=415,
            )
        return self.get_response(request)


def _is_text_encoding(name: str) -> bool:
    try:
        # Byte-to-byte codecs refuse to decode bytes to text with LookupError.
        b"".decode(name)
    except (LookupError, ValueError):
        return False
    return True
