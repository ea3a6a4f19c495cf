"""The review queue: a run's submissions in the admin, decided one or many at a time.

Mounted under the run's admin URL by `TaskRunAdmin.get_urls`. Pages are read
with GET; every decision, bonus and grant is a POST (CSRF-checked) that calls a
service and reports what it did. Approving, soft-rejecting (it pays the reward,
as Mephisto's does) and bonuses move money, so they show a confirmation page
first; the decision happens on its POST, for exactly the units it listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from providers.outbox import publishing_together
from providers.registry import get_provider_class
from qualifications_app import services as qualification_services
from qualifications_app.admin import acting_user
from qualifications_app.services import GRANT_PERMISSION, QualificationError
from tasks_app import selectors, services
from tasks_app.admin.review_pages import (
    render_value,
    require_review,
    review_bundle,
    review_file_view,
    review_frame_view,
)
from tasks_app.exceptions import ReviewError
from tasks_app.models import Agent, AgentStatus, TaskRun
from tasks_app.services.review import REVIEW_PERMISSION, parse_amount
from tasks_app.uploads import agent_files

PER_PAGE = 20

# What the worker admin's block page needs: the queue's block asks for the same.
BLOCK_PERMISSION = "tasks_app.change_worker"


@dataclass(frozen=True)
class QueueAction:
    """One thing the queue's buttons do: its words, what it needs, whether it pays."""

    label: str
    permissions: tuple[str, ...]
    pays: bool


ACTIONS = {
    "approve": QueueAction("Approve", (REVIEW_PERMISSION,), pays=True),
    "soft_reject": QueueAction("Soft-reject", (REVIEW_PERMISSION,), pays=True),
    "reject": QueueAction("Reject", (REVIEW_PERMISSION,), pays=False),
    "bonus": QueueAction("Pay a bonus", (REVIEW_PERMISSION,), pays=True),
    # Changes the worker: the worker admin's own permission as well.
    "block": QueueAction(
        "Block the worker", (REVIEW_PERMISSION, BLOCK_PERMISSION), pays=False
    ),
    # Writes grants: the qualifications app's own permission as well.
    "grant_allowlist": QueueAction(
        "Grant the allowlist", (REVIEW_PERMISSION, GRANT_PERMISSION), pays=False
    ),
}


class Refused(Exception):
    """A request the queue turns down before calling any service."""


def review_urls(model_admin: admin.ModelAdmin) -> list:
    """The queue's URLs, for TaskRunAdmin.get_urls."""
    site = model_admin.admin_site
    return [
        path(
            "<int:pk>/review/",
            site.admin_view(lambda request, pk: queue_view(model_admin, request, pk)),
            name="tasks_app_taskrun_review",
        ),
        path(
            "<int:pk>/review/file/<int:agent_id>/<int:index>/",
            site.admin_view(review_file_view),
            name="tasks_app_taskrun_review_file",
        ),
        path(
            "<int:pk>/review/frame/",
            site.admin_view(review_frame_view),
            name="tasks_app_taskrun_review_frame",
        ),
    ]


# ---------------------------------------------------------------------------
# The queue page
# ---------------------------------------------------------------------------


def queue_view(model_admin: admin.ModelAdmin, request: HttpRequest, pk: int):
    """GET: the queue, filtered and paginated. POST: an action (see ACTIONS)."""
    require_review(request)
    run = get_object_or_404(TaskRun.objects.select_related("task"), pk=pk)
    if request.method == "POST":
        return _post(model_admin, request, run)
    filters = _filters(request)
    queue = selectors.review_queue(
        run=run,
        status=filters["status"],
        worker_id=filters["worker_id"],
        late=filters["late"],
    )
    page = Paginator(queue, PER_PAGE).get_page(request.GET.get("page"))
    agents = list(page.object_list)
    standings = selectors.worker_standings(
        run=run, worker_ids=sorted({a.worker_id for a in agents})
    )
    reviews = selectors.agent_reviews(agent_ids=[a.pk for a in agents])
    frame = review_bundle(run) is not None
    items = [_item(run, a, standings[a.worker_id], reviews[a.pk]) for a in agents]
    allowlist = selectors.run_allowlist(run)
    just_approved = request.session.get(_approved_key(run), [])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": TaskRun._meta,
        "original": run,
        "run": run,
        "title": f"Review run {run.pk}: {run.task.task_name}",
        "items": items,
        "page": page,
        "filters": filters,
        "statuses": list(selectors.REVIEW_QUEUE_STATUSES),
        "workers": selectors.review_queue_workers(run=run),
        "query": request.GET.urlencode(),
        "page_query": _without(request, "page"),
        "frame_url": (
            reverse("admin:tasks_app_taskrun_review_frame", args=[run.pk])
            if frame
            else ""
        ),
        "allowlist": allowlist,
        "can_grant": request.user.has_perms(ACTIONS["grant_allowlist"].permissions),
        "can_block": request.user.has_perms(ACTIONS["block"].permissions),
        "just_approved": just_approved,
        # The page needs its width for the two columns.
        "is_nav_sidebar_enabled": False,
    }
    return TemplateResponse(
        request, "admin/tasks_app/taskrun/review_queue.html", context
    )


def _filters(request: HttpRequest) -> dict[str, Any]:
    status = request.GET.get("status", "pending")
    if status not in selectors.REVIEW_QUEUE_STATUSES:
        status = "pending"
    worker = request.GET.get("worker", "")
    late = {"yes": True, "no": False}.get(request.GET.get("late", ""))
    return {
        "status": status,
        "worker_id": int(worker) if worker.isdigit() else None,
        "late": late,
        "late_value": request.GET.get("late", "") if late is not None else "",
    }


def _without(request: HttpRequest, key: str) -> str:
    query = request.GET.copy()
    query.pop(key, None)
    return query.urlencode()


def _item(run: TaskRun, agent: Agent, standing: dict, reviews: list) -> dict:
    """What the page shows of one submission."""
    records = agent_files(agent)
    file_urls = {
        record["path"]: reverse(
            "admin:tasks_app_taskrun_review_file", args=[run.pk, agent.pk, index]
        )
        for index, record in enumerate(records)
    }
    metadata = agent.metadata if isinstance(agent.metadata, dict) else {}
    errors = metadata.get("errors") or []
    other_metadata = {k: v for k, v in metadata.items() if k != "errors"}
    if agent.metadata is not None and not isinstance(agent.metadata, dict):
        other_metadata = {"metadata": agent.metadata}
    inputs = agent.unit.assignment.data
    submission = agent.submission
    return {
        "agent": agent,
        "unit": agent.unit,
        "worker": agent.worker,
        "key": f"{agent.unit_id}:{agent.pk}",
        "pending": agent.status == AgentStatus.COMPLETED,
        "standing": standing,
        "reviews": reviews,
        "inputs": render_value(inputs, file_urls),
        "submission": render_value(submission, file_urls),
        "submission_json": json.dumps(submission, indent=2, ensure_ascii=False),
        "errors": render_value(errors, file_urls) if errors else "",
        "error_count": len(errors) if isinstance(errors, list) else 1,
        "metadata": render_value(other_metadata, file_urls) if other_metadata else "",
        # What Mephisto's review app posts to a review bundle.
        "review_data": {"inputs": inputs, "outputs": _outputs(submission)},
        "review_data_id": f"review-data-{agent.pk}",
    }


def _outputs(submission: Any) -> Any:
    """The task's own submission, without the files list the server added."""
    if isinstance(submission, dict) and set(submission) == {"final_data", "files"}:
        return submission["final_data"]
    return submission


# ---------------------------------------------------------------------------
# Actions (POST)
# ---------------------------------------------------------------------------


def _post(model_admin: admin.ModelAdmin, request: HttpRequest, run: TaskRun):
    name = request.POST.get("action", "")
    action = ACTIONS.get(name)
    back = _back_url(request, run)
    if action is None:
        messages.error(request, f"There is no review action {name!r}; nothing changed.")
        return redirect(back)
    if not request.user.has_perms(action.permissions):
        raise PermissionDenied(f"{action.label} needs {', '.join(action.permissions)}")
    try:
        if name == "grant_allowlist":
            _grant_allowlist(request, run)
            return redirect(back)
        items = _chosen(request, run)
        if name == "reject" and not request.POST.get("feedback", "").strip():
            raise Refused(
                "a rejection needs feedback for the worker (why the work was "
                "refused); nothing was rejected"
            )
        if name == "block":
            with publishing_together():
                _block(request, items)
            return redirect(back)
        amount = None
        if name == "bonus":
            amount = parse_amount(request.POST.get("amount", ""))
            if not request.POST.get("reason", "").strip():
                raise Refused(
                    "a bonus needs a reason, which the worker is shown; nothing "
                    "was paid"
                )
    except (Refused, ReviewError) as exc:
        messages.error(request, f"Nothing changed: {exc}")
        return redirect(back)
    if action.pays and request.POST.get("confirm") != "1":
        return _confirmation(model_admin, request, run, name, items, amount, back)
    # One publish to the broker for the whole action, not one per unit.
    with publishing_together():
        _decide(request, run, name, items, amount)
    return redirect(back)


def _back_url(request: HttpRequest, run: TaskRun) -> str:
    url = reverse("admin:tasks_app_taskrun_review", args=[run.pk])
    query = request.POST.get("next", "")
    # Only a query string of this page: never a redirect elsewhere.
    if query and not query.startswith(("/", "\\")) and "://" not in query:
        url += "?" + query.lstrip("?")
    focus = request.POST.get("focus", "")
    if focus.isdigit():
        url += f"#agent-{focus}"
    return url


def _chosen(request: HttpRequest, run: TaskRun) -> list[Agent]:
    """The submissions an action is for: the posted unit:agent items, or all of
    one worker's undecided ones in this run. Refused unless each is this run's."""
    if request.POST.get("scope") == "worker":
        worker = request.POST.get("worker", "")
        if not worker.isdigit():
            raise Refused("choose the worker whose units to decide")
        agents = list(
            selectors.review_queue(run=run, status="pending", worker_id=int(worker))
        )
        if not agents:
            raise Refused(f"worker {worker} has no undecided units in run {run.pk}")
        return agents
    pairs = []
    for value in request.POST.getlist("items"):
        unit_part, _, agent_part = value.partition(":")
        if not (unit_part.isdigit() and agent_part.isdigit()):
            raise Refused(f"{value!r} is not a unit of this queue (unit:agent)")
        pairs.append((int(unit_part), int(agent_part)))
    if not pairs:
        raise Refused("select at least one unit")
    found = {
        a.pk: a
        for a in selectors.review_queue(run=run, status="all").filter(
            pk__in=[agent for _, agent in pairs]
        )
    }
    chosen = []
    for unit, agent in dict.fromkeys(pairs):
        match = found.get(agent)
        if match is None or match.unit_id != unit:
            raise Refused(
                f"there is no unit {unit} with a submission by agent {agent} in "
                f"run {run.pk}"
            )
        chosen.append(match)
    return chosen


def _confirmation(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    run: TaskRun,
    name: str,
    items: list[Agent],
    amount: Decimal | None,
    back: str,
):
    """The page that says what will be paid, before anything is."""
    amounts = [amount if amount is not None else a.unit.pay_amount for a in items]
    rows = [
        {"agent": agent, "unit": agent.unit, "amount": pays}
        for agent, pays in zip(items, amounts, strict=True)
    ]
    # Paying for work the page never reported: only one at a time, confirmed.
    unreported = (
        [
            row
            for row, agent in zip(rows, items, strict=True)
            if agent.from_provider_listing
        ]
        if name in ("approve", "soft_reject")
        else []
    )
    total = sum(amounts, Decimal("0"))
    fee_rate = get_provider_class(run.provider_type).fee_rate
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": TaskRun._meta,
        "original": run,
        "run": run,
        "title": f"{ACTIONS[name].label}: confirm",
        "action": name,
        "label": ACTIONS[name].label,
        "rows": rows,
        "unreported": unreported,
        "total": total,
        "fee": (total * fee_rate).quantize(Decimal("0.01")),
        "amount": amount,
        "reason": request.POST.get("reason", ""),
        "feedback": request.POST.get("feedback", ""),
        "next": request.POST.get("next", ""),
        "focus": request.POST.get("focus", ""),
        "back": back,
        "is_nav_sidebar_enabled": False,
    }
    return TemplateResponse(
        request, "admin/tasks_app/taskrun/review_confirm.html", context
    )


def _decide(
    request: HttpRequest,
    run: TaskRun,
    name: str,
    items: list[Agent],
    amount: Decimal | None,
) -> None:
    """Make the decision on each item through the services; report each outcome."""
    reviewer = request.user
    feedback = request.POST.get("feedback", "")
    reason = request.POST.get("reason", "")
    done: list[int] = []
    paid = Decimal("0")
    refused: dict[int, str] = {}
    singles = items
    # A submission the page never reported is paid only when it was the one
    # item of the action and its confirmation box was ticked.
    confirm_unreported = (
        len(items) == 1 and request.POST.get("confirm_unreported") == "1"
    )
    if name == "approve":
        approvals = services.approve_and_grant(
            agents=items, reviewer=reviewer, confirm_unreported=confirm_unreported
        )
        done, paid, refused = approvals.approved, approvals.paid, approvals.refused
        singles = []
    for agent in singles:
        kwargs: dict[str, Any] = {
            "unit_id": agent.unit_id,
            "agent_id": agent.pk,
            "reviewer": reviewer,
        }
        try:
            if name == "soft_reject":
                decision = services.soft_reject_unit(
                    reason=feedback, confirm_unreported=confirm_unreported, **kwargs
                )
            elif name == "reject":
                decision = services.reject_unit(feedback=feedback, **kwargs)
            else:
                assert amount is not None, "a bonus's amount is checked first"
                decision = services.pay_bonus(amount=amount, reason=reason, **kwargs)
        except ReviewError as exc:
            refused[agent.unit_id] = str(exc)
            continue
        done.append(decision.unit_id)
        paid += decision.paid
    verbs = {
        "approve": "Approved",
        "soft_reject": "Soft-rejected",
        "reject": "Rejected",
        "bonus": "Paid a bonus on",
    }
    if done:
        units = ", ".join(str(pk) for pk in done)
        text = f"{verbs[name]} {len(done)} unit(s): {units}."
        if paid:
            text += f" {paid} {('in bonuses' if name == 'bonus' else 'in rewards')}"
            text += " to be paid through the provider."
        messages.success(request, text)
    for unit_id, why in refused.items():
        messages.error(request, f"Unit {unit_id} not changed: {why}")
    if name == "approve" and done:
        request.session[_approved_key(run)] = done


def _block(request: HttpRequest, items: list[Agent]) -> None:
    """Block the workers of `items` (locally, and on their provider through
    Celery); the reason is kept on the audit row."""
    reason = request.POST.get("block_reason", "").strip()
    if not reason:
        raise Refused("blocking a worker needs a reason; nobody was blocked")
    for agent in {agent.worker_id: agent for agent in items}.values():
        try:
            blocked = services.block_from_review(
                unit_id=agent.unit_id,
                agent_id=agent.pk,
                reason=reason,
                reviewer=request.user,
            )
        except ReviewError as exc:
            messages.error(request, f"Unit {agent.unit_id} not changed: {exc}")
            continue
        name = agent.worker.worker_name
        if blocked:
            messages.success(
                request,
                f"Blocked worker {name} (from unit {agent.unit_id}): they get no "
                "more units, and their provider is told.",
            )
        else:
            messages.warning(request, f"Worker {name} was already blocked.")


def _approved_key(run: TaskRun) -> str:
    return f"review-approved-{run.pk}"


def _grant_allowlist(request: HttpRequest, run: TaskRun) -> None:
    """Grant the run's allowlist to the workers of the approved units posted."""
    allowlist = selectors.run_allowlist(run)
    if not allowlist:
        raise Refused(
            f"run {run.pk} was launched without an allowlist_qualification flag; "
            "grant a qualification from the units list instead"
        )
    posted = request.POST.getlist("units") + [
        item.partition(":")[0] for item in request.POST.getlist("items")
    ]
    wanted = [int(v) for v in posted if v.isdigit()]
    if not wanted:
        raise Refused("there are no approved units to grant the allowlist for")
    units = selectors.approved_units(run=run, unit_ids=wanted)
    if not units:
        raise Refused("none of these units is approved")
    try:
        granted = qualification_services.grant_to_unit_workers(
            units=units,
            name=allowlist,
            reason=f"approved in the review of run {run.pk}",
            created_by=acting_user(request),
        )
    except QualificationError as exc:
        raise Refused(str(exc)) from exc
    request.session.pop(_approved_key(run), None)
    skipped = len(set(wanted) - {u.pk for u in units})
    text = f"Granted '{allowlist}' to {granted} worker(s)."
    if skipped:
        text += f" {skipped} unit(s) skipped: not approved."
    messages.success(request, text)
