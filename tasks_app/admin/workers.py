"""The admin of workers: qualifications, units per task, approval rate,
block and unblock, and why a worker does or does not get work in a run."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from providers.registry import parse_worker_ref
from qualifications_app import services as qualification_services
from qualifications_app.admin import acting_user
from tasks_app import eligibility, selectors
from tasks_app.models import (
    TaskRun,
    Worker,
)


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["worker_name", "provider_type", "is_blocked", "created_at"]
    list_filter = ["provider_type", "is_blocked"]
    search_fields = ["worker_name"]
    readonly_fields = ["provider_type", "worker_name", "is_blocked", "created_at"]
    change_form_template = "admin/tasks_app/worker/change_form.html"

    class AddForm(forms.ModelForm):
        """A new worker, named as the qualification import names one."""

        class Meta:
            model = Worker
            fields = ["provider_type", "worker_name"]

        def clean(self):
            data = super().clean()
            provider, name = data.get("provider_type"), data.get("worker_name")
            if provider and name:
                # The same check and sandbox suffix as every other way in.
                try:
                    ref = parse_worker_ref(f"{provider}:{name}")
                except ValueError as exc:
                    raise forms.ValidationError({"worker_name": str(exc)}) from None
                data["worker_name"] = ref.worker_name
            return data

    def get_readonly_fields(self, request, obj=None):
        # Blocking goes through block_view, which leaves an audit row.
        return self.readonly_fields if obj else ["is_blocked", "created_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.AddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_urls(self):
        return [
            path(
                "<int:pk>/block/",
                self.admin_site.admin_view(self.block_view),
                name="tasks_app_worker_block",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        worker = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if worker is not None:
            extra.update(selectors.worker_summary(worker=worker))
            run_id = request.GET.get("explain_run", "")
            if run_id.isdigit():
                run = TaskRun.objects.select_related("task").filter(pk=run_id).first()
                if run is not None:
                    extra["explain_run"] = run
                    extra["verdicts"] = eligibility.explain(run=run, worker=worker)
            extra["recent_runs"] = TaskRun.objects.select_related("task")[:50]
        return super().change_view(request, object_id, form_url, extra)

    def block_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Block or unblock a worker; changes only on POST, with a reason."""
        worker = get_object_or_404(Worker, pk=pk)
        if not self.has_change_permission(request, worker):
            raise PermissionDenied
        if request.method == "POST":
            blocked = request.POST.get("blocked") == "1"
            qualification_services.set_blocked(
                worker=worker,
                blocked=blocked,
                reason=request.POST.get("reason", "").strip(),
                created_by=acting_user(request),
            )
            state = "blocked" if blocked else "unblocked"
            messages.success(request, f"{worker} is {state}.")
            return redirect("admin:tasks_app_worker_change", worker.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": worker,
            "worker": worker,
            "title": ("Unblock " if worker.is_blocked else "Block ") + str(worker),
        }
        return TemplateResponse(request, "admin/tasks_app/worker/block.html", context)
