"""A body declared in a charset that is not a text encoding is a JSON 415 on every
endpoint, never a server error. Django can't build such a request at all, so
these go through the WSGI application that gunicorn and runserver serve."""

from __future__ import annotations

import asyncio
import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_started
from django.db import close_old_connections

from crowdsite.wsgi import application
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("GET", "task_config.json"),
    ("POST", "request_agent"),
    ("POST", "submit_onboarding"),
    ("POST", "submit_task"),
    ("POST", "submit_metadata"),
    ("POST", "log_error"),
    ("POST", "return_unit"),
    ("GET", "admin/login/"),
]


def call(method: str, path: str, query: str, content_type: str, body: bytes = b""):
    environ: dict = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_HOST": "127.0.0.1",
    }
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    # As Django's test client does: the test's transaction must outlive the
    # request, which would otherwise close the connection at its start.
    request_started.disconnect(close_old_connections)
    try:
        chunks = application(environ, start_response)
        content = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
    return answer["status"], answer["headers"], content


@pytest.mark.parametrize("charset", ["rot13", "zlib", "base64", "bz2", "hex", "nope"])
@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_a_charset_that_is_not_a_text_encoding_is_a_json_415(charset, method, endpoint):
    run = TaskRunFactory(units=1)

    status, headers, content = call(
        method,
        f"/{endpoint}",
        f"task_run_id={run.pk}",
        f"application/json; charset={charset}",
        b'{"USED_AGENT_ID": "x"}',
    )

    assert status == 415
    assert headers["Content-Type"] == "application/json"
    assert f"charset '{charset}' is not a text encoding" in json.loads(content)["error"]


def test_a_text_charset_other_than_utf8_is_read():
    run = TaskRunFactory(units=1)

    status, _, content = call(
        "GET",
        "/task_config.json",
        f"task_run_id={run.pk}",
        "application/json; charset=latin-1",
    )

    assert status == 200
    assert json.loads(content)["task_run_id"] == run.pk


def test_the_asgi_application_refuses_it_too():
    from crowdsite.asgi import application as asgi_application

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/task_config.json",
        "query_string": b"task_run_id=1",
        "headers": [(b"content-type", b"application/json; charset=rot13")],
    }
    asyncio.run(asgi_application(scope, receive, send))

    assert sent[0]["status"] == 415
    assert b"'rot13' is not a text encoding" in sent[1]["body"]
