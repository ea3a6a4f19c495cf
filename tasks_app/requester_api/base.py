"""What every requester API view shares: token (or admin session)
authentication, the admin's model permissions by method, errors as
`{"detail": ..., "field": ...}`, and paginated lists."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

# The admin's permissions, by what a call does.
VIEW = "tasks_app.view_taskrun"
REVIEW = "tasks_app.review_unit"
SHUTDOWN = "tasks_app.change_taskrun"
VIEW_QUALIFICATIONS = "qualifications_app.view_qualification"
ADD_QUALIFICATION = "qualifications_app.add_qualification"
GRANT = "qualifications_app.add_grantedqualification"
VIEW_WORKERS = "tasks_app.view_worker"


class ModelPermissions(BasePermission):
    """The view's `permissions[method]`, all of them (403 naming them)."""

    message = "you don't have the permission this needs"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated()
        # HEAD runs the GET handler, so it needs what GET needs.
        method = "GET" if request.method == "HEAD" else request.method
        needed = view.permissions.get(method, view.permissions.get("*", ()))
        missing = [perm for perm in needed if not user.has_perm(perm)]
        if missing:
            raise exceptions.PermissionDenied(
                f"this needs the permission {', '.join(missing)}"
            )
        return True


class Pages(PageNumberPagination):
    """`?page=N&page_size=M` (100 by default, 1,000 at most); `results` holds
    the page's items, `count` all of them, `next`/`previous` the pages' URLs.
    A page or page size that is not a whole number in range is refused (400)
    rather than read as the default; a page past the last is 404."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    # The page's items, set by RequesterAPIView.paginate.
    page_items: list[Any]

    def get_page_size(self, request: Request) -> int:
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        return _whole_number(given, self.page_size_query_param, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        given = request.query_params.get(self.page_query_param)
        if given is None or given in self.last_page_strings:
            return super().get_page_number(request, paginator)
        return _whole_number(given, self.page_query_param)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        page, page_size = super().get_schema_operation_parameters(view)
        page["schema"]["minimum"] = 1
        page_size["schema"].update(minimum=1, maximum=self.max_page_size)
        return [page, page_size]


def _whole_number(text: str, name: str, most: int | None = None) -> int:
    # Digits 0-9 only: int() would also take "+1", " 1" and "١".
    if re.fullmatch(r"[0-9]{1,18}", text):
        number = int(text)
        if number >= 1 and (most is None or number <= most):
            return number
    upper = f" to {most:,}" if most else " or more"
    raise exceptions.ValidationError({name: f"a whole number from 1{upper}"})


class RequesterAPIView(APIView):
    """A requester API view: `permissions` maps a method (or "*") to the
    permissions it needs."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [ModelPermissions]
    # Bodies are JSON only (a form body answers 415, in JSON).
    parser_classes = [JSONParser]
    # Read by the schema only (a list declared `many=True` is documented
    # paginated); the views page with `paginate`.
    pagination_class = Pages
    permissions: dict[str, tuple[str, ...]] = {}

    def get_exception_handler(self):
        return requester_exception_handler

    def paginate(self, request: Request, items: Any) -> Pages:
        pages = Pages()
        page = pages.paginate_queryset(items, request, view=self)
        pages.page_items = page if page is not None else []
        return pages


class ErrorSerializer(serializers.Serializer):
    """An error: what is wrong (and what was not done), and with which field."""

    detail = serializers.CharField()
    field = serializers.CharField(
        required=False, help_text="the field, parameter or header at fault"
    )


# What any call may be answered besides its own errors: no or a bad token,
# a permission missing, or what it names (or the page asked for) is not there.
COMMON_ERRORS = (401, 403, 404)


def answers(
    ok: Any,
    *errors: int,
    shapes: dict[int, Any] | None = None,
    as_json: bool = False,
) -> dict[Any, Any]:
    """An endpoint's responses for its schema: `ok` for 200 (or a dict of
    them), and an error for each of COMMON_ERRORS and `errors`, shaped as
    ErrorSerializer unless `shapes` gives the code another shape; `as_json`
    says they are JSON, for a view whose renderers are not."""
    documented: dict[Any, Any] = dict(ok) if isinstance(ok, dict) else {200: ok}
    for code in sorted({*COMMON_ERRORS, *errors}):
        key = (code, "application/json") if as_json else code
        documented[key] = (shapes or {}).get(code, ErrorSerializer)
    return documented


def requester_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's answer, shaped `{"detail": ..., "field": ...}`: a validation error
    names its first field and says what is wrong with it."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_error(exc.detail)
        body: dict[str, Any] = {"detail": f"{field}: {message}" if field else message}
        if field:
            body["field"] = field
        response.data = body
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def _first_error(detail: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" else f"{prefix}{key}"
            return _first_error(value, f"{name}." if isinstance(value, dict) else name)
    if isinstance(detail, list) and detail:
        return _first_error(detail[0], prefix)
    return prefix.rstrip("."), str(detail)


def refused(message: str, *, field: str | None = None, code: int = 400) -> Response:
    """An answer saying what is wrong (and with which field)."""
    body: dict[str, Any] = {"detail": f"{field}: {message}" if field else message}
    if field:
        body["field"] = field
    return Response(body, status=code)


CONFLICT = status.HTTP_409_CONFLICT


class NotFound(APIView):
    """A path under /api/v1/ that is no endpoint (or an id that can't be one)."""

    authentication_classes: list = []
    permission_classes: list = []
    schema = None  # not an endpoint of the schema

    def dispatch(self, request, *args, **kwargs):
        return JsonResponse(
            {"detail": f"no such endpoint: {request.path} (see /api/v1/docs/)"},
            status=404,
        )
