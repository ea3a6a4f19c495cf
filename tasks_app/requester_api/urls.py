"""/api/v1/ (DESIGN §10)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tasks_app.requester_api import results, runs, submissions, units
from tasks_app.requester_api.qualifications import (
    QualificationDetail,
    QualificationGrant,
    QualificationList,
    QualificationRevoke,
    QualificationWorkers,
)
from tasks_app.requester_api.workers import WorkerDetail

app_name = "requester-api"

urlpatterns = [
    path("runs/", runs.RunList.as_view(), name="runs"),
    path("runs/<int:run_id>/", runs.RunDetail.as_view(), name="run"),
    path("runs/<int:run_id>/shutdown/", runs.RunShutdown.as_view(), name="shutdown"),
    path("runs/<int:run_id>/approve/", runs.RunApprove.as_view(), name="run-approve"),
    path(
        "runs/<int:run_id>/submissions/",
        submissions.RunSubmissions.as_view(),
        name="submissions",
    ),
    path(
        "runs/<int:run_id>/files/<int:agent_id>/<int:index>/",
        submissions.SubmittedFile.as_view(),
        name="file",
    ),
    path("runs/<int:run_id>/results/", results.RunResults.as_view(), name="results"),
    path("units/<int:unit_id>/approve/", units.UnitApprove.as_view(), name="approve"),
    path("units/<int:unit_id>/reject/", units.UnitReject.as_view(), name="reject"),
    path(
        "units/<int:unit_id>/soft-reject/",
        units.UnitSoftReject.as_view(),
        name="soft-reject",
    ),
    path("units/<int:unit_id>/bonus/", units.UnitBonus.as_view(), name="bonus"),
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
]
