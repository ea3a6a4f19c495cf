"""The run dashboard and config history on a run's admin change page.

`TaskRunAdmin.change_view` adds `run_page_context` to the page's context; the
template (admin/tasks_app/taskrun/change_form.html) draws the figures as HTML
and the charts with Chart.js, served from this site (tasks_app/static/tasks_app/
vendor/), so the page needs no other origin. The figures come from
run_stats.run_stats and run_history.config_history.

The agreement of one output field (selectors.agreement, the figures of
`run_status --agreement FIELD --json`) is computed only when the page is asked
for it, as ?agreement=FIELD (&level=, &method=): crowd-kit and pandas take
seconds to import and the figures read every answer, which a plain page load
should not pay.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, QueryDict
from django.urls import reverse

from tasks_app.models import TaskRun, UnitStatus
from tasks_app.selectors import agreement
from tasks_app.selectors import history as run_history
from tasks_app.selectors import stats as run_stats
from tasks_app.selectors.answer_fields import answer_fields
from tasks_app.selectors.quality import golds_of

# One colour per unit status, the same in the bar, its legend and the tables:
# waiting greys and blues, awaiting review purple, decided green/orange/red.
STATUS_COLOURS = {
    UnitStatus.CREATED: "#9e9e9e",
    UnitStatus.LAUNCHED: "#90caf9",
    UnitStatus.ASSIGNED: "#1e88e5",
    UnitStatus.COMPLETED: "#8e24aa",
    UnitStatus.ACCEPTED: "#43a047",
    UnitStatus.SOFT_REJECTED: "#fb8c00",
    UnitStatus.REJECTED: "#e53935",
    UnitStatus.EXPIRED: "#546e7a",
}
STATUS_MEANINGS = {
    UnitStatus.CREATED: "not yet on the provider",
    UnitStatus.LAUNCHED: "open to workers",
    UnitStatus.ASSIGNED: "a worker is on it",
    UnitStatus.COMPLETED: "submitted, awaiting review",
    UnitStatus.ACCEPTED: "approved",
    UnitStatus.SOFT_REJECTED: "paid, below the bar",
    UnitStatus.REJECTED: "rejected, unpaid",
    UnitStatus.EXPIRED: "withdrawn",
}
# Bars of the chart in lifecycle order, decided ones last.
STATUS_ORDER = (
    UnitStatus.ACCEPTED,
    UnitStatus.SOFT_REJECTED,
    UnitStatus.REJECTED,
    UnitStatus.COMPLETED,
    UnitStatus.ASSIGNED,
    UnitStatus.LAUNCHED,
    UnitStatus.CREATED,
    UnitStatus.EXPIRED,
)
# The agreement form offers the output fields of the run's first submissions
# only: a fixed cost on every page load whatever the run's size. A field only
# later answers have can still be asked for as ?agreement=FIELD.
FIELDS_SAMPLE = 1000


def run_page_context(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str
) -> dict[str, Any]:
    """What the run's change page adds: `dashboard` (figures, chart data) and
    `config_history`; empty for a run that does not exist or may not be seen
    (the admin's own view answers those)."""
    if not str(object_id).isdigit():
        return {}
    run = TaskRun.objects.select_related("task").filter(pk=object_id).first()
    if run is None or not model_admin.has_view_or_change_permission(request, run):
        return {}
    return {
        "dashboard": {**dashboard(run), "agreement": agreement_panel(run, request.GET)},
        "config_history": run_history.config_history(run),
    }


def dashboard(run: TaskRun) -> dict[str, Any]:
    """The dashboard's figures as the template shows them, and its chart data."""
    stats = run_stats.run_stats(run=run)
    units_url = reverse("admin:tasks_app_unit_changelist")
    statuses = [
        {
            "status": str(status),
            "label": status.label,
            "meaning": STATUS_MEANINGS[status],
            "count": stats.units_by_status.get(status, 0),
            "share": _share(stats.units_by_status.get(status, 0), stats.units),
            "colour": STATUS_COLOURS[status],
            "url": f"{units_url}?{urlencode({'run': run.pk, 'status__exact': status})}",
        }
        for status in STATUS_ORDER
    ]
    money = stats.money
    timeline = stats.timeline
    tick = "%Y-%m-%d" if timeline.bucket_seconds >= 86400 else "%m-%d %H:%M"
    review_url = reverse("admin:tasks_app_taskrun_review", args=[run.pk])
    workers = [
        {
            "row": row,
            "url": reverse("admin:tasks_app_worker_change", args=[row.worker_id]),
            "review_url": f"{review_url}?"
            + urlencode({"status": "all", "worker": row.worker_id}),
            "median": run_stats.format_seconds(row.median_seconds),
        }
        for row in stats.workers
    ]
    failures = [
        {
            "call": call,
            "url": reverse("admin:providers_providercall_change", args=[call.call_id]),
        }
        for call in stats.recent_failures
    ]
    return {
        "stats": stats,
        "golds": _golds(stats.golds),
        "statuses": statuses,
        "present_statuses": [s for s in statuses if s["count"]],
        "units_url": f"{units_url}?{urlencode({'run': run.pk})}",
        "review_url": review_url,
        "calls_url": reverse("admin:providers_providercall_changelist")
        + "?"
        + urlencode({"run__id__exact": run.pk, "status__exact": "failed"}),
        "approval_percent": _percent(stats.approval_rate),
        "budget_percent": _percent(money.budget_used),
        "over_budget": money.budget_left is not None and money.budget_left < 0,
        "median": run_stats.format_seconds(stats.work_time.median),
        "p90": run_stats.format_seconds(stats.work_time.p90),
        "bucket_words": run_stats.bucket_words(timeline.bucket_seconds),
        "workers": workers,
        "failures": failures,
        "chart_data": {
            "progress": [
                {"label": s["label"], "count": s["count"], "colour": s["colour"]}
                for s in statuses
                if s["count"]
            ],
            "timeline": {
                "labels": [b.start.strftime(tick) for b in timeline.buckets],
                "on_time": [b.submissions - b.late for b in timeline.buckets],
                "late": [b.late for b in timeline.buckets],
                "per": run_stats.bucket_words(timeline.bucket_seconds),
            },
            "money": {
                "spent": float(money.spent),
                "pending": float(money.pending),
                "committed": float(money.committed),
                "budget": None if money.budget is None else float(money.budget),
            },
        },
    }


def agreement_panel(run: TaskRun, query: QueryDict) -> dict[str, Any]:
    """The agreement section: the form's choices and, for ?agreement=FIELD,
    the field's figures (`figures`, `chart`: as_dict() with the workers in the
    table's order) or why there are none (`error`)."""
    field = query.get("agreement", "")
    level = query.get("level") or "nominal"
    method = query.get("method") or "majority"
    fields = answer_fields(run=run, limit=FIELDS_SAMPLE)
    panel: dict[str, Any] = {
        "fields": fields,
        "field": field,
        "level": level,
        "method": method,
        "levels": agreement.LEVELS,
        "methods": agreement.METHODS,
        "figures": None,
        "error": None,
    }
    if not field:
        return panel
    try:
        figures = agreement.run_agreement(
            run=run, field=field, level=level, method=method
        )
    except agreement.AgreementError as error:
        return {**panel, "error": f"No agreement figures: {error}."}
    if not figures.workers:
        return {
            **panel,
            "error": f"No answer to this run's data units has the output field "
            f"{field!r}.",
        }
    # The workers who agree least first, as the gold table lists the most
    # wrong first; those with no row shared with others last.
    workers = sorted(
        figures.workers,
        key=lambda w: (w.agreement is None, w.agreement or 0.0, w.worker),
    )
    order = {w.worker: place for place, w in enumerate(workers)}
    chart = figures.as_dict()
    chart["workers"].sort(key=lambda w: order[w["worker"]])
    return {
        **panel,
        "fields": fields if field in fields else sorted([*fields, field]),
        "figures": figures,
        "alpha": (
            "–"
            if figures.krippendorff_alpha is None
            else f"{figures.krippendorff_alpha:.3f}"
        ),
        "workers": [
            {
                "row": w,
                "agreement": _percent(w.agreement),
                "gold_accuracy": _percent(w.gold_accuracy),
            }
            for w in workers
        ],
        "golds": golds_of(run) is not None,
        "chart": chart,
    }


def _golds(rows: list[run_stats.GoldRow] | None) -> dict[str, Any] | None:
    """A gold run's tested workers as the page lists them: the disqualified
    and most wrong first, run_stats.TOP_WORKERS of them; None on other runs."""
    if rows is None:
        return None
    first = sorted(rows, key=lambda row: (not row.disqualified, -row.wrong))
    shown = first[: run_stats.TOP_WORKERS]
    return {
        "rows": shown,
        "workers": len(rows),
        "disqualified": sum(row.disqualified for row in rows),
        "more": len(rows) - len(shown),
    }


def _share(count: int, total: int) -> float:
    return round(100 * count / total, 1) if total else 0.0


def _percent(fraction: float | None) -> str | None:
    if fraction is None:
        return None
    if not math.isfinite(fraction):  # a budget of 0 with something committed
        return "over 100"
    return f"{100 * fraction:.1f}"
