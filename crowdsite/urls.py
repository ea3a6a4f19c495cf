from django.contrib import admin
from django.urls import include, path

from tasks_app import api, views

urlpatterns = [
    path("admin/", admin.site.urls),
    # The requester API (docs/api.md).
    path("api/v1/", include("tasks_app.requester_api.urls")),
    # The task page, at the root as on Mephisto's task server (?task_run_id=),
    # and what it loads from the run's folder, its base URL.
    path("", views.task_page, name="task-page"),
    # Links handed out before the page moved to the root: sent on to it.
    path("task/<int:task_run_id>/", views.task_link, name="task-link"),
    path(
        "task/<int:task_run_id>/wrap_crowd_source.js",
        views.wrap_crowd_source,
        name="task-wrap-crowd-source",
    ),
    path("task/<int:task_run_id>/bundle.js", views.task_bundle, name="task-bundle"),
    path(
        "task/<int:task_run_id>/template/<str:kind>.html",
        views.task_template,
        name="task-template",
    ),
    # The run's extra_source_dir, relative to the page; the routes above win.
    path("task/<int:task_run_id>/<path:path>", views.task_file, name="task-file"),
    # The worker wire protocol: at the site root, as `mephisto-task` expects.
    path("task_config.json", api.TaskConfigView.as_view(), name="task-config"),
    path("request_agent", api.RequestAgentView.as_view(), name="request-agent"),
    path(
        "submit_onboarding",
        api.SubmitOnboardingView.as_view(),
        name="submit-onboarding",
    ),
    path("submit_task", api.SubmitTaskView.as_view(), name="submit-task"),
    path("submit_metadata", api.SubmitMetadataView.as_view(), name="submit-metadata"),
    path("log_error", api.LogErrorView.as_view(), name="log-error"),
    path("completion_code", api.CompletionCodeView.as_view(), name="completion-code"),
    # crowdsite's own: give a unit back from the page.
    path("return_unit", api.ReturnUnitView.as_view(), name="return-unit"),
]
