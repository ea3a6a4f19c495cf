"""The units changelist at scale: a run filter and a readable submission column.

A run can have 100,000 units: UnitAdmin's list takes the same few queries for
any number (no per-row query, no unfiltered COUNT), and these pieces keep it so.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tasks_app.models import Agent, TaskRun, Unit

# The run filter offers this many of the latest runs (any other by ?run=<id>).
RECENT_RUNS = 15
# The submission column's length, in characters.
SUBMISSION_CHARS = 90


class RunFilter(admin.SimpleListFilter):
    """By run: the latest RECENT_RUNS runs to choose from, and the chosen one,
    in one query however many runs there are (the field's own filter would list
    every run). Any run is reached with ?run=<id>, as the run's page links."""

    title = "run"
    parameter_name = "run"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        recent = TaskRun.objects.order_by("-pk").values("pk")[:RECENT_RUNS]
        wanted = Q(pk__in=recent)
        chosen = self.value()
        if chosen and chosen.isdigit():
            wanted |= Q(pk=int(chosen))
        runs = (
            TaskRun.objects.filter(wanted)
            .order_by("-pk")
            .values_list("pk", "task__task_name")
        )
        return [(str(pk), f"Run {pk}: {name}") for pk, name in runs]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            raise IncorrectLookupParameters(f"run must be a run id, not {value!r}")
        return queryset.filter(run_id=int(value))


def with_submission(units: QuerySet) -> QuerySet:
    """`units` annotated with `_submission`: the submission of the unit's holder
    if they submitted, else the latest one submitted (a late one), fetched in the
    same query as the units (correlated subqueries, served by the agent's unit
    index; the second runs only for a unit whose holder has none)."""
    submitted = Agent.objects.filter(
        unit=OuterRef("pk"), submitted_at__isnull=False
    ).order_by("-pk")
    holders = submitted.filter(worker_id=OuterRef("worker_id"))
    return units.annotate(
        _submission=Coalesce(
            Subquery(holders.values("submission")[:1]),
            Subquery(submitted.values("submission")[:1]),
            output_field=JSONField(),
        )
    )


def submission_summary(submission: Any, limit: int = SUBMISSION_CHARS) -> str:
    """A submission in one short line: `rating: good · text: The sentence …`.

    A dict shows its keys (in alphabetical order: PostgreSQL's jsonb keeps no
    order) and values (nested ones as compact JSON), anything else is compact
    JSON; whitespace is collapsed; past `limit` characters the line is cut with
    "…". "" for no submission.
    """
    if submission is None:
        return ""
    if isinstance(submission, dict):
        parts = [
            f"{key}: {_scalar(value)}" for key, value in sorted(submission.items())
        ]
        text = " · ".join(parts) if parts else "{}"
    else:
        text = _scalar(submission)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def run_link(run_id: int) -> SafeString:
    """The run as "Run N", linked to its page, from the unit's run_id alone."""
    url = reverse("admin:tasks_app_taskrun_change", args=[run_id])
    return format_html('<a href="{}">Run {}</a>', url, run_id)


def units_of_run(**filters: Any) -> Coalesce:
    """An annotation for runs: how many of the run's units match `filters`, as
    a subquery per run (an index range on unit_claim_order_idx or
    unit_run_list_idx)."""
    units = Unit.objects.filter(run=OuterRef("pk"), **filters).order_by()
    count = units.values("run").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(count), 0)
