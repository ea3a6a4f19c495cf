"""A run's "Review from a CSV" page: the export's CSV, its Approve and Reject
columns filled in, uploaded, previewed, then applied on a confirming POST.

Mounted under the run's admin URL by `TaskRunAdmin.get_urls`:
`<run id>/review/csv/`. The upload only checks the file
(`plan_csv_review`) and shows what it would do: the counts, what approving
pays, each refused row with its line and reason. Applying pays, so it
happens on the confirmation's POST, as the review queue's approve does. The
confirmation carries the file's filled rows, signed, rather than the file: they
are checked again against the run as it is then (`replan_csv_review`), and
applied all or none (`apply_csv_review`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tasks_app.admin.review_pages import require_review
from tasks_app.exceptions import ReviewError
from tasks_app.models import TaskRun
from tasks_app.selectors.stats import format_seconds
from tasks_app.services.review.csv_reading import (
    APPROVE,
    REJECT,
    CsvFileError,
    Requested,
)
from tasks_app.services.review.csv_review import (
    CsvReviewPlan,
    apply_csv_review,
    plan_csv_review,
    replan_csv_review,
)

# The signed rows of a preview are its confirmation's only input.
SIGNING_SALT = "tasks_app.admin.csv_review"
# A preview older than this is uploaded again rather than confirmed.
CONFIRM_WITHIN_SECONDS = 60 * 60
# Rows the preview lists of each kind; the counts cover them all.
SHOWN_ROWS = 200


def csv_review_urls(model_admin: admin.ModelAdmin) -> list:
    """The page's URL, for TaskRunAdmin.get_urls."""
    return [
        path(
            "<int:pk>/review/csv/",
            model_admin.admin_site.admin_view(
                lambda request, pk: csv_review_view(model_admin, request, pk)
            ),
            name="tasks_app_taskrun_review_csv",
        ),
    ]


def csv_review_link(run: TaskRun) -> SafeString:
    url = reverse("admin:tasks_app_taskrun_review_csv", args=[run.pk])
    return format_html('<a href="{}">review from a CSV</a>', url)


def csv_review_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, pk: int
) -> HttpResponse:
    """GET: the upload form. POST: the preview of an upload, or (step=confirm)
    the decisions of a preview."""
    require_review(request)
    run = get_object_or_404(TaskRun.objects.select_related("task"), pk=pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": TaskRun._meta,
        "original": run,
        "run": run,
        "title": f"Review run {run.pk} from a CSV",
        "export_url": reverse("admin:tasks_app_taskrun_export", args=[run.pk, "csv"]),
        "queue_url": reverse("admin:tasks_app_taskrun_review", args=[run.pk]),
    }
    if request.method != "POST":
        return _page(request, context)
    if request.POST.get("step") == "confirm":
        return _confirm(request, run, context)
    upload = request.FILES.get("csv_file")
    if upload is None:
        context["error"] = "Choose the CSV file to upload."
        return _page(request, context)
    source = upload.name or "the upload"
    try:
        plan = plan_csv_review(run_id=run.pk, file=upload, source=source)
    except CsvFileError as exc:
        context["error"] = str(exc)
        return _page(request, context)
    return _page(request, {**context, **_preview(plan, request)})


def _confirm(request: HttpRequest, run: TaskRun, context: dict[str, Any]):
    try:
        signed = signing.loads(
            request.POST.get("plan", ""),
            salt=SIGNING_SALT,
            max_age=CONFIRM_WITHIN_SECONDS,
        )
    except signing.SignatureExpired:
        context["error"] = (
            "This preview is more than an hour old; upload the file again. "
            "Nothing was written."
        )
        return _page(request, context)
    except signing.BadSignature:
        context["error"] = (
            "This confirmation did not come from a preview of this page; upload "
            "the file again. Nothing was written."
        )
        return _page(request, context)
    if signed.get("run") != run.pk or signed.get("user") != request.user.pk:
        context["error"] = (
            "This confirmation is of another run's preview, or another user's; "
            "upload the file again. Nothing was written."
        )
        return _page(request, context)
    # Checked again: the run may have changed since the preview.
    plan = replan_csv_review(
        run_id=run.pk,
        requests=_unpack(signed),
        source=signed["source"],
        rows=signed["rows"],
        skipped=signed["skipped"],
    )
    if plan.refused:
        context["error"] = (
            "The run changed since the preview, and some rows are refused now; "
            "nothing was written."
        )
        return _page(request, {**context, **_preview(plan, request)})
    try:
        result = apply_csv_review(plan=plan, reviewer=request.user)
    except ReviewError as exc:
        context["error"] = str(exc)
        return _page(request, {**context, **_preview(plan, request)})
    if result.approved or result.rejected:
        text = (
            f"From {plan.source}: approved {len(result.approved)} and rejected "
            f"{len(result.rejected)} submission(s); ${result.paid} in rewards to "
            "be paid through the provider."
        )
    else:
        text = f"From {plan.source}: nothing left to decide."
    if plan.already_decided:
        text += (
            f" {len(plan.already_decided)} row(s) already decided that way were "
            "left as they were."
        )
    messages.success(request, text)
    return redirect(reverse("admin:tasks_app_taskrun_review", args=[run.pk]))


def _preview(plan: CsvReviewPlan, request: HttpRequest) -> dict[str, Any]:
    """What the preview shows of a plan, and its signed confirmation."""
    to_do = not plan.refused and bool(plan.approve or plan.reject)
    return {
        "plan": plan,
        "refused": plan.refused[:SHOWN_ROWS],
        "refused_hidden": max(0, len(plan.refused) - SHOWN_ROWS),
        "approve": [_row(p) for p in plan.approve[:SHOWN_ROWS]],
        "reject": [_row(p) for p in plan.reject[:SHOWN_ROWS]],
        "already_decided": [_row(p) for p in plan.already_decided[:SHOWN_ROWS]],
        "hidden": {
            "approve": max(0, len(plan.approve) - SHOWN_ROWS),
            "reject": max(0, len(plan.reject) - SHOWN_ROWS),
            "already_decided": max(0, len(plan.already_decided) - SHOWN_ROWS),
        },
        "signed_plan": _pack(plan, request) if to_do else "",
    }


def _row(planned: Any) -> dict[str, Any]:
    took = planned.work_seconds
    return {
        "p": planned,
        "work_time": format_seconds(took) if took is not None else "",
    }


def _pack(plan: CsvReviewPlan, request: HttpRequest) -> str:
    """The plan's filled rows, signed for its confirmation (feedback texts,
    often the same for many rows, listed once)."""
    texts: dict[str, int] = {}
    rows = []
    for r in plan.requests:
        text = texts.setdefault(r.feedback, len(texts))
        rows.append([r.line, r.unit_id, r.agent_id, r.action[0], text])
    return signing.dumps(
        {
            "run": plan.run_id,
            "user": request.user.pk,
            "source": plan.source,
            "rows": plan.rows,
            "skipped": plan.skipped,
            "texts": list(texts),
            "requests": rows,
        },
        salt=SIGNING_SALT,
        compress=True,
    )


def _unpack(signed: dict[str, Any]) -> list[Requested]:
    actions = {APPROVE[0]: APPROVE, REJECT[0]: REJECT}
    texts = signed["texts"]
    return [
        Requested(line, unit_id, agent_id, actions[action], texts[text])
        for line, unit_id, agent_id, action, text in signed["requests"]
    ]


def _page(request: HttpRequest, context: dict[str, Any]) -> TemplateResponse:
    return TemplateResponse(request, "admin/tasks_app/taskrun/csv_review.html", context)
