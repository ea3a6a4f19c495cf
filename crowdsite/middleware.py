"""WSGI and ASGI middleware: answers requests that Django could not even build."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.utils.http import parse_header_parameters

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _refusal(content_type: str) -> bytes | None:
    """The 415 body for a Content-Type whose charset can't be read, else None."""
    _, params = parse_header_parameters(content_type)
    charset = params.get("charset")
    if charset is None or _is_text_encoding(charset):
        return None
    return json.dumps(
        {
            "error": f"the Content-Type charset {charset!r} is not a text "
            "encoding; send the body as UTF-8"
        }
    ).encode()


def refuse_unreadable_charset(app: WSGIApp) -> WSGIApp:
    """Answer 415 in JSON to a body whose declared charset is not a text encoding.

    Python's codec registry also holds byte-to-byte codecs (`rot13`, `zlib`,
    `base64`, ...). Django takes any name the registry knows as the request's
    encoding, and building the request then fails decoding the query string
    with LookupError, before any Django middleware runs: an HTML 500 on every
    endpoint. Unknown names are refused too: such a body can't be read as its
    sender meant.
    """

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]):
        body = _refusal(environ.get("CONTENT_TYPE", ""))
        if body is None:
            return app(environ, start_response)
        start_response(
            "415 Unsupported Media Type",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return middleware


def refuse_unreadable_charset_asgi(app: Any) -> Any:
    """The same refusal for the ASGI application."""

    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            body = _refusal(content_type)
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 415,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return middleware


def _is_text_encoding(name: str) -> bool:
    try:
        # Byte-to-byte codecs refuse to decode bytes to text with LookupError
        # (empty bytes would skip the codec, hence some NULs).
        b"\0\0\0\0".decode(name)
    except LookupError:
        return False
    except ValueError:
        pass  # a text codec that could not read these bytes: still text
    return True
