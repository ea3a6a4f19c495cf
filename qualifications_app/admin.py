"""Qualifications, grants and the review audit log, for operators."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from crowdsite import csv_safety
from providers.outbox import publishing_together
from qualifications_app import services
from qualifications_app.models import GrantedQualification, Qualification, WorkerReview
from qualifications_app.services import GRANT_PERMISSION
from tasks_app.models import Worker


def acting_user(request: HttpRequest) -> User | None:
    """The logged-in requester behind an admin request, for the audit rows."""
    return request.user if isinstance(request.user, User) else None


# Granting and revoking write grants, so they take the grant model's permissions,
# wherever in the admin they are offered (here and in the units' actions). Granting
# again may change a value; `add` covers that, as granting is one operation.
REVOKE_PERMISSION = "qualifications_app.delete_grantedqualification"


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ["name", "worker_count", "workers_link", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "workers_link"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_workers=Count("grants"))

    @admin.display(description="workers", ordering="_workers")
    def worker_count(self, obj: Qualification) -> int:
        return obj._workers  # type: ignore[attr-defined]  # annotated above

    @admin.display(description="curate")
    def workers_link(self, obj: Qualification) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">workers</a> · <a href="{}">add workers</a> · '
            '<a href="{}">export CSV</a>',
            reverse("admin:qualifications_qualification_workers", args=[obj.pk]),
            reverse("admin:qualifications_qualification_add_workers", args=[obj.pk]),
            reverse("admin:qualifications_qualification_export", args=[obj.pk]),
        )

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path(
                "<int:pk>/workers/",
                wrap(self.workers_view),
                name="qualifications_qualification_workers",
            ),
            path(
                "<int:pk>/add-workers/",
                wrap(self.add_workers_view),
                name="qualifications_qualification_add_workers",
            ),
            path(
                "<int:pk>/export.csv",
                wrap(self.export_view),
                name="qualifications_qualification_export",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, qualification: Qualification, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": qualification,
            "qualification": qualification,
            "title": title,
        }

    def workers_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The workers on a qualification: search, page through, revoke in bulk."""
        qualification = get_object_or_404(Qualification, pk=pk)
        if not self.has_view_permission(request, qualification):
            raise PermissionDenied
        if request.method == "POST":
            if not request.user.has_perm(REVOKE_PERMISSION):
                raise PermissionDenied
            ids = [int(i) for i in request.POST.getlist("grant") if i.isdigit()]
            workers = Worker.objects.filter(
                granted_qualifications__pk__in=ids,
                granted_qualifications__qualification=qualification,
            )
            reason = request.POST.get("reason", "").strip() or "revoked in the admin"
            # One mirror task per worker, published in one pass at the end: a
            # broker that is down delays the page once, not once per worker.
            with publishing_together():
                revoked = services.bulk_revoke(
                    name=qualification.name,
                    workers=workers,
                    reason=reason,
                    created_by=acting_user(request),
                )
            messages.success(
                request, f"Revoked '{qualification.name}' from {revoked} worker(s)."
            )
            return redirect(request.get_full_path())
        grants = (
            GrantedQualification.objects.filter(qualification=qualification)
            .select_related("worker")
            .order_by("worker__provider_type", "worker__worker_name")
        )
        query = request.GET.get("q", "").strip()
        if query:
            grants = grants.filter(worker__worker_name__icontains=query)
        page = Paginator(grants, 100).get_page(request.GET.get("page"))
        context = self._context(request, qualification, f"Workers on {qualification}")
        context.update(
            {
                "page": page,
                "query": query,
                "total": grants.count(),
                "can_grant": request.user.has_perm(GRANT_PERMISSION),
                "can_revoke": request.user.has_perm(REVOKE_PERMISSION),
            }
        )
        return TemplateResponse(
            request, "admin/qualifications_app/workers.html", context
        )

    def add_workers_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Paste ids or upload a CSV, preview what will happen, then confirm."""
        qualification = get_object_or_404(Qualification, pk=pk)
        # The form too: it is the first step of a grant.
        if not request.user.has_perm(GRANT_PERMISSION):
            raise PermissionDenied
        context = self._context(
            request, qualification, f"Add workers to {qualification}"
        )
        if request.method != "POST":
            return TemplateResponse(
                request, "admin/qualifications_app/add_workers.html", context
            )
        text = request.POST.get("text", "")
        upload = request.FILES.get("csv_file")
        if upload is not None:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                messages.error(request, "The file is not UTF-8 text (CSV).")
                return TemplateResponse(
                    request, "admin/qualifications_app/add_workers.html", context
                )
        provider = request.POST.get("default_provider") or None
        try:
            value = int(request.POST.get("value", "1"))
        except ValueError:
            value = None
        parsed = services.parse_worker_list(text, default_provider=provider)
        context.update(
            {
                "text": text,
                "default_provider": provider or "",
                "value": value,
                "parsed": parsed,
                "new_count": len(parsed.refs),
            }
        )
        if value is None:
            messages.error(request, "The value must be a whole number.")
            return TemplateResponse(
                request, "admin/qualifications_app/add_workers.html", context
            )
        if request.POST.get("step") != "confirm":
            return TemplateResponse(
                request, "admin/qualifications_app/add_workers_preview.html", context
            )
        if parsed.errors and not request.POST.get("skip_bad_rows"):
            messages.error(
                request,
                "Nothing was added: some rows are bad. Fix them or tick "
                "'skip the bad rows'.",
            )
            return TemplateResponse(
                request, "admin/qualifications_app/add_workers_preview.html", context
            )
        if not parsed.refs:
            messages.error(request, "No worker ids to add.")
            return TemplateResponse(
                request, "admin/qualifications_app/add_workers.html", context
            )
        # One mirror task per worker, published in one pass at the end: a
        # broker that is down delays the page once, not once per worker.
        with publishing_together():
            changed = services.bulk_grant(
                name=qualification.name,
                refs=parsed.refs,
                value=value,
                reason=request.POST.get("reason", "").strip() or "added in the admin",
                created_by=acting_user(request),
            )
        messages.success(
            request,
            f"Added {len(parsed.refs)} worker(s) to '{qualification.name}' "
            f"({changed} new or changed).",
        )
        return redirect(
            "admin:qualifications_qualification_workers", pk=qualification.pk
        )

    def export_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        """The workers on a qualification as CSV (provider, worker_id, value)."""
        qualification = get_object_or_404(Qualification, pk=pk)
        if not self.has_view_permission(request, qualification):
            raise PermissionDenied
        rows = (
            GrantedQualification.objects.filter(qualification=qualification)
            .order_by("worker__provider_type", "worker__worker_name")
            .values_list("worker__provider_type", "worker__worker_name", "value")
        )
        buffer = _Echo()
        writer = csv_safety.writer(buffer)

        def lines():
            yield writer.writerow(["provider", "worker_id", "value"])
            for row in rows.iterator(chunk_size=2000):
                yield writer.writerow(row)

        response = StreamingHttpResponse(lines(), content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="{qualification.name}.csv"'
        )
        return response


class _Echo:
    """A file-like object whose write() returns the line, for streaming CSV."""

    def write(self, value: str) -> str:
        return value


@admin.register(GrantedQualification)
class GrantedQualificationAdmin(admin.ModelAdmin):
    list_display = ["worker", "qualification", "value", "updated_at"]
    list_filter = ["qualification"]
    list_select_related = ["worker", "qualification"]
    search_fields = ["worker__worker_name", "qualification__name"]
    readonly_fields = ["worker", "qualification", "value", "granted_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        # Grants are written by services so every one leaves an audit row.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoke from the qualification's workers page: that leaves an audit row.
        return False


@admin.register(WorkerReview)
class WorkerReviewAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "worker",
        "unit",
        "qualification",
        "created_by",
    ]
    list_filter = ["action"]
    list_select_related = ["worker", "unit", "qualification", "created_by"]
    search_fields = ["worker__worker_name", "reason"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "worker",
        "action",
        "unit",
        "qualification",
        "value",
        "amount",
        "reason",
        "created_by",
        "created_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # The audit log: who decided, granted or blocked what stays, always.
        return False
