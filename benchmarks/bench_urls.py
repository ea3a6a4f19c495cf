"""The project's URLs plus `POST /bench/noop`, the floor `assign.py` compares with.

Benchmark-only: loaded through `benchmarks.bench_settings`, never by the site.
"""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class NoopView(APIView):
    """A DRF POST with the worker API's setup that parses the body and does nothing."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018 - parse the JSON body, as the real views do
        return Response({"ok": True})


urlpatterns = [
    path("bench/noop", NoopView.as_view(), name="bench-noop"),
    path("", include("crowdsite.urls")),
]
