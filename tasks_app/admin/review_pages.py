"""The review queue's pages beside the queue: a worker's uploaded file, the run's
review bundle in its sandboxed frame, and the submission rendered for reading
(with its work time, the page's metadata and errors, and a bonus's size)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.clickjacking import xframe_options_exempt

from tasks_app.models import Agent, TaskRun
from tasks_app.selectors import stats as run_stats
from tasks_app.services.review import LARGE_BONUS_FACTOR, REVIEW_PERMISSION
from tasks_app.uploads import agent_files, is_file_record

# Uploaded files shown inline; anything else (SVG and HTML included, which could
# run script in the admin's origin) is only downloaded.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# The review bundle is the requester's code: it runs in an opaque origin (no
# cookies, no reach into the admin), may not fetch, and gets its data from the
# queue page by postMessage, as in Mephisto's review app.
FRAME_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data: blob:; media-src data: blob:; "
    "font-src data:; frame-ancestors 'self'"
)
MAX_RENDER_DEPTH = 12
# Metadata keys the server writes, shown apart from what the page sent.
SERVER_METADATA = ("errors", "files", "provider_listing")


def require_review(request: HttpRequest) -> None:
    if not request.user.has_perm(REVIEW_PERMISSION):
        raise PermissionDenied(f"reviewing needs the {REVIEW_PERMISSION} permission")


def render_value(value: Any, file_urls: dict[str, str], depth: int = 0) -> SafeString:
    """JSON as nested lists for reading: keys bold, text wrapped, files linked."""
    if depth > MAX_RENDER_DEPTH:
        return format_html('<pre class="rv-json">{}</pre>', json.dumps(value))
    if is_file_record(value):
        return render_file(value, file_urls)
    if isinstance(value, dict):
        if not value:
            return mark_safe('<span class="rv-empty">{}</span>')
        rows = format_html_join(
            "",
            "<dt>{}</dt><dd>{}</dd>",
            ((k, render_value(v, file_urls, depth + 1)) for k, v in value.items()),
        )
        return format_html('<dl class="rv-dict">{}</dl>', rows)
    if isinstance(value, list):
        if not value:
            return mark_safe('<span class="rv-empty">[]</span>')
        rows = format_html_join(
            "",
            "<li>{}</li>",
            ((render_value(v, file_urls, depth + 1),) for v in value),
        )
        return format_html('<ol class="rv-list" start="0">{}</ol>', rows)
    if isinstance(value, str):
        return format_html('<span class="rv-str">{}</span>', value)
    return format_html('<span class="rv-scalar">{}</span>', json.dumps(value))


def compact_value(value: Any, file_urls: dict[str, str]) -> SafeString:
    """A metadata value on one line for reading: text as it is, files linked,
    anything else as compact JSON; escaped, never markup."""
    if isinstance(value, str):
        return format_html('<span class="rv-str">{}</span>', value)
    if is_file_record(value) or (
        isinstance(value, list) and value and all(map(is_file_record, value))
    ):
        return render_value(value, file_urls)
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return format_html('<code class="rv-compact">{}</code>', text)


def page_metadata(metadata: Any, file_urls: dict[str, str]) -> list[tuple[str, Any]]:
    """The agent's metadata as (key, compact value) rows: what the page sent
    through submit_metadata first (a worker's feedback, tips), then what the
    server keeps there (uploaded files, the provider's listing). Not the errors."""
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [("value", compact_value(metadata, file_urls))]
    keys = [k for k in metadata if k not in SERVER_METADATA]
    keys += [k for k in SERVER_METADATA if k in metadata and k != "errors"]
    return [(key, compact_value(metadata[key], file_urls)) for key in keys]


def error_reports(errors: Any, file_urls: dict[str, str]) -> list[dict[str, Any]]:
    """The errors the page reported through log_error, one line each: when
    (as log_agent_error stamped it) and what, escaped."""
    if not isinstance(errors, list):
        errors = [errors]
    reports = []
    for error in errors:
        at: datetime | str | None = None
        data = error
        if isinstance(error, dict) and "error_data" in error:
            data = error["error_data"]
            at = error.get("at")
            with contextlib.suppress(ValueError):  # else shown as stored
                at = datetime.fromisoformat(str(at))
        reports.append({"at": at, "text": compact_value(data, file_urls)})
    return reports


def work_time(agent: Agent) -> str:
    """How long the worker took, from accepting the unit to submitting; "" when
    unknown (work recorded from the provider's listing was not timed here)."""
    if agent.submitted_at is None or agent.from_provider_listing:
        return ""
    return run_stats.format_seconds(
        (agent.submitted_at - agent.created_at).total_seconds()
    )


def dollars(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def large_bonus_warning(amount: Decimal, reward: Decimal) -> str:
    """Why a bonus of `amount` on a unit paying `reward` needs a second look, or
    "": pay_bonus pays it only confirmed (more than LARGE_BONUS_FACTOR times
    the reward, any bonus on a unit without one)."""
    if amount <= reward * LARGE_BONUS_FACTOR:
        return ""
    if reward <= 0:
        return (
            f"{dollars(amount)} is a bonus on a unit whose reward is "
            f"{dollars(reward)} — check the amount"
        )
    times = (amount / reward).quantize(Decimal("0.01")).normalize()
    return (
        f"{dollars(amount)} is {times:,f} times this unit's reward of "
        f"{dollars(reward)} — check the amount"
    )


def render_file(record: dict, file_urls: dict[str, str]) -> SafeString:
    url = file_urls.get(record["path"])
    label = f"{record['name']} ({record['content_type'] or 'unknown type'}, "
    label += f"{record['size']} bytes)"
    if url is None:  # a file entry not in the agent's lists: named, not served
        return format_html('<span class="rv-file">{}</span>', label)
    link = format_html('<a class="rv-file" href="{}">{}</a>', url, label)
    if record["content_type"] in INLINE_IMAGE_TYPES:
        return format_html(
            '{}<br><img class="rv-image" src="{}" alt="{}" loading="lazy">',
            link,
            url,
            record["name"],
        )
    return link


def review_file_view(request: HttpRequest, pk: int, agent_id: int, index: int):
    """A file a worker uploaded, for a reviewer: images inline, the rest saved."""
    require_review(request)
    agent = get_object_or_404(Agent, pk=agent_id, run_id=pk)
    records = agent_files(agent)
    if index >= len(records):
        raise Http404(f"agent {agent_id} has no file {index}")
    record = records[index]
    if not default_storage.exists(record["path"]):
        raise Http404(f"the file {record['name']} is no longer stored")
    inline = record["content_type"] in INLINE_IMAGE_TYPES
    response = FileResponse(
        default_storage.open(record["path"], "rb"),
        as_attachment=not inline,
        filename=record["name"],
        content_type=record["content_type"] if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


def review_bundle(run: TaskRun) -> Path | None:
    """The run's `task_source_review` bundle, if it has one on this server."""
    blueprint = (run.resolved_config or {}).get("mephisto", {}).get("blueprint", {})
    source = (blueprint or {}).get("task_source_review")
    if not source:
        return None
    bundle = Path(str(source))
    task_dir = (run.resolved_config or {}).get("task_dir")
    if not bundle.is_absolute() and task_dir:
        bundle = Path(task_dir) / bundle
    return bundle if bundle.is_file() else None


@xframe_options_exempt  # framed by the queue only: frame-ancestors 'self'
def review_frame_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The page a run's review bundle runs in, as Mephisto's review app serves it.

    The bundle is inlined: in its opaque origin the frame's own requests carry
    no session, so a separate script URL would need to be public.
    """
    require_review(request)
    run = get_object_or_404(TaskRun, pk=pk)
    bundle = review_bundle(run)
    if bundle is None:
        raise Http404(f"run {run.pk} has no task_source_review bundle")
    script = bundle.read_text(encoding="utf-8")
    # Nothing in the script may end its <script> element early.
    script = script.replace("</script", "<\\/script").replace("<!--", "<\\!--")
    html = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Review</title></head><body><noscript>JS is required</noscript>"
        '<div id="app" style="overflow: hidden"></div>'
        f"<script>{script}</script></body></html>"
    )
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = FRAME_CSP
    response["Cache-Control"] = "private, no-store"
    return response


def review_link(run: TaskRun) -> SafeString:
    """The run's link to its queue (change page and changelist)."""
    url = reverse("admin:tasks_app_taskrun_review", args=[run.pk])
    return format_html('<a href="{}">review queue</a>', url)
