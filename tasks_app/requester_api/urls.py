"""/api/v1/ (DESIGN §10)."""

from django.urls import path, re_path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tasks_app.requester_api import results, runs, submissions, units
from tasks_app.requester_api.base import NotFound
from tasks_app.requester_api.qualifications import (
    QualificationDetail,
    QualificationGrant,
    QualificationList,
    QualificationRevoke,
    QualificationWorkers,
)
from tasks_app.requester_api.workers import WorkerDetail

app_name = "requester-api"


class DatabaseId:
    """An object's id in a URL: digits a 64-bit key can hold (a longer one
    finds nothing, as an unknown id does)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DatabaseId, "id")

urlpatterns = [
    path("runs/", runs.RunList.as_view(), name="runs"),
    path("runs/<id:run_id>/", runs.RunDetail.as_view(), name="run"),
    path("runs/<id:run_id>/shutdown/", runs.RunShutdown.as_view(), name="shutdown"),
    path("runs/<id:run_id>/approve/", runs.RunApprove.as_view(), name="run-approve"),
    path(
        "runs/<id:run_id>/submissions/",
        submissions.RunSubmissions.as_view(),
        name="submissions",
    ),
    path(
        "runs/<id:run_id>/files/<id:agent_id>/<id:index>/",
        submissions.SubmittedFile.as_view(),
        name="file",
    ),
    path("runs/<id:run_id>/results/", results.RunResults.as_view(), name="results"),
    path("units/<id:unit_id>/approve/", units.UnitApprove.as_view(), name="approve"),
    path("units/<id:unit_id>/reject/", units.UnitReject.as_view(), name="reject"),
    path(
        "units/<id:unit_id>/soft-reject/",
        units.UnitSoftReject.as_view(),
        name="soft-reject",
    ),
    path("units/<id:unit_id>/bonus/", units.UnitBonus.as_view(), name="bonus"),
    path(
        "qualifications/",
        QualificationList.as_view(),
        name="qualifications",
    ),
    path(
        "qualifications/<str:name>/",
        QualificationDetail.as_view(),
        name="qualification",
    ),
    path(
        "qualifications/<str:name>/workers/",
        QualificationWorkers.as_view(),
        name="qualification-workers",
    ),
    path(
        "qualifications/<str:name>/grant/",
        QualificationGrant.as_view(),
        name="grant",
    ),
    path(
        "qualifications/<str:name>/revoke/",
        QualificationRevoke.as_view(),
        name="revoke",
    ),
    path("workers/<str:ref>/", WorkerDetail.as_view(), name="worker"),
    # Public: what a client needs to know the API.
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="requester-api:schema"),
        name="docs",
    ),
    # Any other path under /api/v1/: a JSON 404, as the API's own are.
    re_path(r"^[\s\S]*$", NotFound.as_view(), name="not-found"),
]
