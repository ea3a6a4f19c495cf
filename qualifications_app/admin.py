"""Qualifications, grants and the review audit log, for operators."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from qualifications_app.models import GrantedQualification, Qualification, WorkerReview


@admin.register(Qualification)
class QualificationAdmin(admin.ModelAdmin):
    list_display = ["name", "worker_count", "created_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_workers=Count("grants"))

    @admin.display(description="workers", ordering="_workers")
    def worker_count(self, obj: Qualification) -> int:
        return obj._workers


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
