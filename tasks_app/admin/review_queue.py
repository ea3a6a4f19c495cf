"""The review queue: a run's submissions in the admin, decided one or many at a time.

Mounted under the run's admin URL by `TaskRunAdmin.get_urls`. Pages are read
with GET; every decision, bonus and grant is a POST (CSRF-checked) that calls a
service and reports what it did. Approving, soft-rejecting (it pays the reward,
as Mephisto's does) and bonuses move money, so they show a confirmation page
first; the decision happens on its POST, for exactly the units it listed.

Where the page lands afterwards is decided here, from the outcome: on the
submission after the one acted on only when that one got its decision; after a
bonus, a block or a refusal, on the same one again.
"""

from __future__ import annotations

import json
from collections.abc import Collection
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
from qualifications_app.services import GRANT_PERMISSION, QualificationError
from tasks_app import selectors, services
from tasks_app.admin.review_pages import (
    LARGE_BONUS_FACTOR,
    error_reports,
    large_bonus_warning,
    page_metadata,
    render_value,
    require_review,
    review_bundle,
    review_file_view,
    review_frame_view,
    work_time,
)
from tasks_app.exceptions import ReviewError
from tasks_app.models import DECIDED_AGENT_STATUSES, Agent, AgentStatus, TaskRun
from tasks_app.selectors.live import LIVE_BLUEPRINT, calls_for_review
from tasks_app.selectors.review import approved_submissions
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
    # Approves a rejected submission, where its provider can; pays the reward.
    "override": QueueAction(
        "Approve anyway (override the rejection)", (REVIEW_PERMISSION,), pays=True
    ),
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
    allowlist = selectors.run_allowlist(run)
    can_grant = request.user.has_perms(ACTIONS["grant_allowlist"].permissions)
    items = [_item(run, a, standings[a.worker_id], reviews[a.pk]) for a in agents]
    live = run.blueprint_type == LIVE_BLUEPRINT
    calls = calls_for_review([a.pk for a in agents]) if live else {}
    for index, item in enumerate(items):
        item["live_calls"] = calls.get(item["agent"].pk, [])
        # Where the page goes once this one is decided: the next, else the one
        # before (a decided unit leaves the queue of undecided ones).
        after = items[index + 1 : index + 2] or items[max(index - 1, 0) : index]
        item["focus_next"] = after[0]["agent"].pk if after else ""
        item["grantable"] = bool(allowlist and can_grant and item["approved"])
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
        "can_grant": can_grant,
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
    inputs = agent.unit.assignment.data
    submission = agent.submission
    return {
        "agent": agent,
        "unit": agent.unit,
        "worker": agent.worker,
        "key": f"{agent.unit_id}:{agent.pk}",
        # A late submission's agent may be timeout or returned: undecided too.
        "pending": agent.status not in DECIDED_AGENT_STATUSES,
        "approved": agent.status == AgentStatus.APPROVED,
        "work_time": work_time(agent),
        "standing": standing,
        "reviews": reviews,
        "inputs": render_value(inputs, file_urls),
        "submission": render_value(submission, file_urls),
        "submission_json": json.dumps(submission, indent=2, ensure_ascii=False),
        "errors": error_reports(errors, file_urls) if errors else [],
        "metadata": page_metadata(agent.metadata, file_urls),
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
    # The page stays on the submission acted on unless it gets its decision.
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
        decided = _decide(request, run, name, items, amount)
    return redirect(_back_url(request, run, decided=decided))


def _back_url(request: HttpRequest, run: TaskRun, decided: Collection[int] = ()) -> str:
    """The queue again, with the posted filters, on the submission acted on
    (`focus`); on the one after it (`focus_next`) only if `decided` holds it."""
    url = reverse("admin:tasks_app_taskrun_review", args=[run.pk])
    query = request.POST.get("next", "")
    # Only a query string of this page: never a redirect elsewhere.
    if query and not query.startswith(("/", "\\")) and "://" not in query:
        url += "?" + query.lstrip("?")
    focus = request.POST.get("focus", "")
    moved_to = request.POST.get("focus_next", "")
    if focus.isdigit() and int(focus) in decided and moved_to.isdigit():
        focus = moved_to
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
        {
            "agent": agent,
            "unit": agent.unit,
            "amount": pays,
            "large": (
                large_bonus_warning(pays, agent.unit.pay_amount)
                if name == "bonus"
                else ""
            ),
        }
        for agent, pays in zip(items, amounts, strict=True)
    ]
    # Paying for work the page never reported: only one at a time, confirmed.
    unreported = (
        [
            row
            for row, agent in zip(rows, items, strict=True)
            if agent.from_provider_listing
        ]
        if name in ("approve", "soft_reject", "override")
        else []
    )
    total = sum(amounts, Decimal("0"))
    # This page's address is the queue's own: a link that differs from it only
    # by its #fragment would scroll, not load the queue, so name the filter.
    path, hashmark, fragment = back.partition("#")
    if hashmark and "?" not in path:
        back = f"{path}?status=pending#{fragment}"
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
        "large": [row for row in rows if row["large"]],
        "large_factor": LARGE_BONUS_FACTOR,
        "reason": request.POST.get("reason", ""),
        "feedback": request.POST.get("feedback", ""),
        "note": request.POST.get("note", "").strip(),
        "next": request.POST.get("next", ""),
        "focus": request.POST.get("focus", ""),
        "focus_next": request.POST.get("focus_next", ""),
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
) -> set[int]:
    """Make the decision on each item through the services; report each outcome.
    The agents whose submissions got their decision (a bonus decides none)."""
    reviewer = request.user
    feedback = request.POST.get("feedback", "")
    reason = request.POST.get("reason", "")
    done: list[int] = []
    decided: set[int] = set()
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
            agents=items,
            reviewer=reviewer,
            # Optional; the provider passes it on to the worker where it can.
            reason=request.POST.get("note", "").strip(),
            confirm_unreported=confirm_unreported,
        )
        done, paid, refused = approvals.approved, approvals.paid, approvals.refused
        decided.update(approvals.approved_agents)
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
            elif name == "override":
                decision = services.approve_unit(
                    reason=request.POST.get("note", "").strip(),
                    confirm_unreported=confirm_unreported,
                    override_rejection=True,
                    **kwargs,
                )
            else:
                assert amount is not None, "a bonus's amount is checked first"
                decision = services.pay_bonus(
                    amount=amount,
                    reason=reason,
                    # Ticked on the confirmation, which said how large it is.
                    confirm_large=request.POST.get("confirm_large") == "1",
                    **kwargs,
                )
        except ReviewError as exc:
            refused[agent.unit_id] = str(exc)
            continue
        done.append(decision.unit_id)
        paid += decision.paid
        if name != "bonus":
            decided.add(decision.agent_id)
    verbs = {
        "approve": "Approved",
        "soft_reject": "Soft-rejected",
        "reject": "Rejected",
        "override": "Approved, overriding the rejection,",
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
    return decided


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
    """Grant the run's allowlist to the workers of the approved submissions
    posted: the units just approved (`units`), or those selected (`items`)."""
    allowlist = selectors.run_allowlist(run)
    if not allowlist:
        raise Refused(
            f"run {run.pk} was launched without an allowlist_qualification flag; "
            "grant a qualification from the units list instead"
        )
    units = [int(v) for v in request.POST.getlist("units") if v.isdigit()]
    pairs = [item.partition(":") for item in request.POST.getlist("items")]
    chosen = {
        (int(unit), int(agent))
        for unit, _, agent in pairs
        if unit.isdigit() and agent.isdigit()
    }
    if not units and not chosen:
        raise Refused("there are no approved units to grant the allowlist for")
    found = approved_submissions(
        run=run, unit_ids=units, agent_ids=[agent for _, agent in chosen]
    )
    # A selected item counts only as the unit:agent pair the page showed.
    agents = [a for a in found if a.unit_id in units or (a.unit_id, a.pk) in chosen]
    if not agents:
        raise Refused("none of these units is approved")
    try:
        with publishing_together():
            granted = services.grant_to_approved(
                agents=agents,
                name=allowlist,
                reason=f"approved in the review of run {run.pk}",
                reviewer=request.user,
            )
    except (QualificationError, ReviewError) as exc:
        raise Refused(str(exc)) from exc
    request.session.pop(_approved_key(run), None)
    skipped = len(set(units) - {a.unit_id for a in agents}) + len(
        chosen - {(a.unit_id, a.pk) for a in agents}
    )
    text = f"Granted '{allowlist}' to {granted['workers']} worker(s)."
    if skipped:
        text += f" {skipped} unit(s) skipped: not approved."
    messages.success(request, text)
