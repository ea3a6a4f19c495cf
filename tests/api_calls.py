"""What the requester API tests share: users holding exactly the permissions a
test needs, clients that send their token, the endpoints' URLs, and runs with
submissions made through the worker API.

Every call goes through HTTP (DRF's APIClient), with `Authorization: Token KEY`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

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
    (`HTTP_IDEMPOTENCY_KEY="..."`)."""
    return client.post(f"{API}{url}", body or {}, format="json", **headers)


def get(client: APIClient, url: str, **params: Any):
    return client.get(f"{API}{url}", params)


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
