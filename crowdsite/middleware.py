"""WSGI middleware: answers requests that Django could not even build."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.utils.http import parse_header_parameters

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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
        _, params = parse_header_parameters(environ.get("CONTENT_TYPE", ""))
        charset = params.get("charset")
        if charset is None or _is_text_encoding(charset):
            return app(environ, start_response)
        body = json.dumps(
            {
                "error": f"the Content-Type charset {charset!r} is not a text "
                "encoding; send the body as UTF-8"
            }
        ).encode()
        start_response(
            "415 Unsupported Media Type",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

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
