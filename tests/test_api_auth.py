"""Who may call the requester API: every endpoint answers an anonymous call
401 (asking for a token) and a token without the permission 403 naming it; the
schema and the docs are public, and the docs load Swagger UI from this site."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, reverse
from django.urls.converters import IntConverter
from rest_framework.test import APIClient

from tasks_app.requester_api import urls
from tasks_app.requester_api.base import REVIEW, SHUTDOWN, VIEW
from tests.api_calls import api_client, documented, token_client, user_with

pytestmark = pytest.mark.django_db

PUBLIC = {"schema", "docs"}


def endpoints() -> list[tuple[str, str, tuple[str, ...]]]:
    """(method, URL, permissions) of every endpoint under /api/v1/ but the
    public ones, as the views declare them; ids are 1, names "x"."""
    found = []
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name in PUBLIC or pattern.name == "not-found":
            continue
        kwargs = {
            name: 1 if isinstance(converter, IntConverter | urls.DatabaseId) else "x"
            for name, converter in pattern.pattern.converters.items()
        }
        url = reverse(f"requester-api:{pattern.name}", kwargs=kwargs)
        for method, needed in pattern.callback.view_class.permissions.items():
            found.append((method, url, needed))
    return found


ENDPOINTS = endpoints()


# The endpoints whose schema these tests hold to their answers (the others'
# tests do theirs).
CHECKED_AGAINST_THE_SCHEMA = ("/api/v1/runs/", "/api/v1/units/")


def call(client: APIClient, method: str, url: str):
    response = getattr(client, method.lower())(url, {}, format="json")
    if url.startswith(CHECKED_AGAINST_THE_SCHEMA):
        documented(response)
    return response


def test_the_endpoints_need_the_admins_permissions_for_what_they_do():
    declared = {(method, url): needed for method, url, needed in ENDPOINTS}

    assert declared == {
        **declared,
        ("GET", "/api/v1/runs/"): (VIEW,),
        ("GET", "/api/v1/runs/1/"): (VIEW,),
        ("POST", "/api/v1/runs/1/shutdown/"): (SHUTDOWN,),
        ("POST", "/api/v1/runs/1/approve/"): (REVIEW,),
        ("GET", "/api/v1/runs/1/submissions/"): (VIEW,),
        ("GET", "/api/v1/runs/1/files/1/1/"): (VIEW,),
        ("GET", "/api/v1/runs/1/results/"): (VIEW,),
        ("POST", "/api/v1/units/1/approve/"): (REVIEW,),
        ("POST", "/api/v1/units/1/reject/"): (REVIEW,),
        ("POST", "/api/v1/units/1/soft-reject/"): (REVIEW,),
        ("POST", "/api/v1/units/1/bonus/"): (REVIEW,),
    }
    assert all(needed for needed in declared.values())


@pytest.mark.parametrize(("method", "url", "needed"), ENDPOINTS)
def test_an_anonymous_call_is_asked_for_a_token(method, url, needed):
    response = call(APIClient(), method, url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "credentials were not provided" in response.json()["detail"]


@pytest.mark.parametrize(("method", "url", "needed"), ENDPOINTS)
def test_a_token_without_the_permission_is_refused_naming_it(method, url, needed):
    # Every permission of the API but the one(s) this endpoint needs.
    others = {p for _, _, perms in ENDPOINTS for p in perms} - set(needed)
    client = api_client(*sorted(others))

    response = call(client, method, url)

    assert response.status_code == 403
    for permission in needed:
        assert permission in response.json()["detail"]


@pytest.mark.parametrize(
    "url", sorted({url for method, url, _ in ENDPOINTS if method == "GET"})
)
def test_head_needs_what_get_needs(url):
    assert api_client().head(url).status_code == 403
    assert APIClient().head(url).status_code == 401


def test_a_wrong_token_is_refused_with_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    response = client.get("/api/v1/runs/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Invalid token."}


def test_a_token_with_the_permission_gets_through():
    response = api_client(VIEW).get("/api/v1/runs/")

    assert response.status_code == 200


def test_a_superusers_token_may_call_everything():
    user = user_with(name="root")
    user.is_superuser = True
    user.save()

    response = token_client(user).post("/api/v1/runs/999/shutdown/", {})

    assert response.status_code == 404


# --- public: the schema and the docs -------------------------------------------------


def test_the_schema_is_public_and_lists_only_the_requester_api():
    response = APIClient().get("/api/v1/schema/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "openapi:" in text
    paths = re.findall(r"^  (/\S*):$", text, flags=re.MULTILINE)
    assert "/api/v1/runs/" in paths
    assert all(path.startswith("/api/v1/") for path in paths)


def test_the_docs_are_public_and_load_swagger_ui_from_this_sites_static_files():
    response = APIClient().get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r'src="([^"]+)"', html)
    assert any("swagger-ui-bundle" in src for src in scripts), html
    assert all(src.startswith("/static/") for src in scripts), scripts
    assert not re.search(r"https?://(?!testserver)", html), html
    for src in scripts:
        assert APIClient().get(src).status_code == 200, src
