"""What the requester API tests share: users holding exactly the permissions a
test needs, clients that send their token, calls, and runs with submissions
made through the worker API.

Every call goes through HTTP (DRF's APIClient), with `Authorization: Token KEY`,
and every answer that `get` and `post` receive is checked against the API's own
OpenAPI schema (`documented`): its status code, content type and body.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import requests
import schemathesis
from django.contrib.auth.models import Permission, User
from django.http import StreamingHttpResponse
from django.urls import resolve
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.core.transport import Response as ReceivedResponse

from tasks_app.models import TaskRun, Unit
from tasks_app.requester_api.base import REVIEW, SHUTDOWN, VIEW
from tests.factories import TaskRunFactory
from tests.worker_calls import agent_id_for, submit_task

API = "/api/v1"


def user_with(*permissions: str, name: str = "api-user") -> User:
    """A user holding exactly `permissions` ("app_label.codename")."""
    user = User.objects.create_user(name)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # permissions are cached per instance


def token_client(user: User) -> APIClient:
    """A client sending `user`'s token (a new one if the user has none)."""
    token, _ = Token.objects.get_or_create(user=user)
    # A 5xx must show up as a response to assert on, not as a raised exception.
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def api_client(*permissions: str, name: str = "api-user") -> APIClient:
    """A token client of a new user holding `permissions`."""
    return token_client(user_with(*permissions, name=name))


def viewer(name: str = "viewer") -> APIClient:
    return api_client(VIEW, name=name)


def reviewer_client(name: str = "rita") -> APIClient:
    """A client of a user who may see runs and review their units."""
    return api_client(VIEW, REVIEW, name=name)


def operator_client(name: str = "olga") -> APIClient:
    return api_client(VIEW, REVIEW, SHUTDOWN, name=name)


def post(client: APIClient, url: str, body: dict | None = None, **headers: Any):
    """POST `body` as JSON to `url` under /api/v1, with extra HTTP headers
    (`HTTP_IDEMPOTENCY_KEY="..."`); the answer is one the schema describes."""
    return documented(client.post(f"{API}{url}", body or {}, format="json", **headers))


def get(client: APIClient, url: str, **params: Any):
    """GET `url` under /api/v1 with query `params`; the answer is one the
    schema describes."""
    return documented(client.get(f"{API}{url}", params))


@functools.cache
def _schema() -> tuple[dict, Any]:
    raw = APIClient().get(f"{API}/schema/", {"format": "json"}).json()
    return raw, schemathesis.openapi.from_dict(raw)


def documented(response):
    """`response`, after failing the test unless the API's schema describes it
    for its operation: the status code, the content type and (unless streamed)
    the body."""
    raw, schema = _schema()
    request = response.wsgi_request
    if resolve(request.path).url_name == "not-found":
        # No endpoint: the API's JSON 404, outside every operation.
        assert response.status_code == 404 and response.json()["detail"]
        return response
    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", resolve(request.path).route)
    method = request.method.lower()
    answers = raw["paths"][path][method]["responses"]
    code = str(response.status_code)
    assert code in answers, f"{method} {path}: {code} is not in its schema"
    media_type = response["Content-Type"].split(";")[0].strip()
    assert media_type in answers[code]["content"], (
        f"{method} {path}: {code} as {media_type} is not in its schema"
    )
    if isinstance(response, StreamingHttpResponse):
        return response
    sent = requests.Request(
        request.method, f"http://testserver{request.get_full_path()}"
    ).prepare()
    received = ReceivedResponse(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.items()},
        content=response.content,
        request=sent,
        elapsed=0.0,
        verify=True,
    )
    schema[path][method.upper()].validate_response(received)
    return response


def submitted_run(
    *workers: str, reward: str = "0.50", provider_type: str = "mock", **run: Any
) -> TaskRun:
    """A run with one unit per worker, each submitted through the worker API
    (`{"rating": "good from <worker>"}`)."""
    task_run = TaskRunFactory(
        units=len(workers), task_reward=reward, provider_type=provider_type, **run
    )
    client = APIClient()
    for worker in workers:
        agent_id = agent_id_for(client, task_run, worker=worker)
        response = submit_task(
            client, task_run, agent_id, {"rating": f"good from {worker}"}
        )
        assert response.status_code == 200, response.content
    return task_run


def unit_of(run: TaskRun, worker: str) -> Unit:
    """The unit of `run` that `worker` took."""
    return Unit.objects.get(run=run, worker__worker_name=worker)
