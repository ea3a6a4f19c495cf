"""A worker at work: submission, metadata, error reports, returning, timing out."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from providers.outbox import tasks_run_in_process
from providers.registry import get_provider_class
from tasks_app import selectors, worker_sql
from tasks_app.db import as_health_check
from tasks_app.exceptions import (
    BadWorkerRequest,
    TooLarge,
    UnitStateConflict,
    UnknownAgent,
)
from tasks_app.hooks import run_hooks
from tasks_app.live.status import push_agent_status
from tasks_app.models import (
    AGENT_LIVE_STATUSES,
    DECIDED_AGENT_STATUSES,
    Agent,
    AgentStatus,
    OnboardingAgent,
    TaskRun,
    TaskRunStatus,
    Unit,
    UnitStatus,
)
from tasks_app.selectors.quality import uses_quality_units
from tasks_app.services.lifecycle import settle_run
from tasks_app.services.quality import judge_submission
from tasks_app.uploads import (
    SavedFile,
    check_agent_total,
    file_records,
    stored_upload_bytes,
)

logger = logging.getLogger(__name__)


def find_agent(*, agent_id: str) -> Agent:
    """The agent whose capability `agent_id` is, or a 404 error."""
    agent = Agent.objects.filter(public_id=agent_id).first()
    if agent is None:
        raise UnknownAgent()
    return agent


def submit_unit(
    *, agent_id: str, final_data: Any, files: list[SavedFile] | None = None
) -> bool:
    """Store a worker's submission; False if the agent had already submitted.

    The first submission is kept; a second is answered without changing data. A
    submission after the agent's deadline is kept and flagged `is_late`.
    """
    submission = final_data
    if files or (isinstance(final_data, dict) and "files" in final_data):
        # A stored submission lists its uploads under "files"; the page's own
        # "files" key is kept inside final_data, so it can't name a file.
        saved = [f.as_dict() for f in files or []]
        submission = {"final_data": final_data, "files": saved}
    # Safe to repeat: a retry of a submission that committed stores nothing.
    stored = as_health_check(
        lambda: worker_sql.submit_live_agent(agent_id=agent_id, submission=submission)
    )
    if stored is None:
        # Not a live, unsubmitted agent: unknown, reviewed, a repeat, or timed
        # out. Decide under the agent's row lock.
        with transaction.atomic():
            stored = _submit_other_agent(agent_id=agent_id, submission=submission)
    if stored is None:
        return False
    run_id, unit_id = stored
    transaction.on_commit(lambda: _after_submit(run_id, unit_id, agent_id))
    return True


def _submit_other_agent(*, agent_id: str, submission: Any) -> tuple[int, int] | None:
    agent = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if agent is None:
        raise UnknownAgent()
    if agent.status in DECIDED_AGENT_STATUSES:
        raise UnitStateConflict(
            "this unit was already reviewed; the submission was not changed"
        )
    if agent.submitted_at is not None:
        return None
    # Timed out, returned or expired: kept, flagged, and completed if the unit
    # is still free.
    agent.submission = submission
    agent.submitted_at = timezone.now()
    agent.is_late = True
    if _reclaim_for_late_submission(agent):
        agent.status = AgentStatus.COMPLETED
    agent.save(update_fields=["submission", "submitted_at", "status", "is_late"])
    return agent.run_id, agent.unit_id


def _reclaim_for_late_submission(agent: Agent) -> bool:
    """Give a late submitter their unit back if nobody else has taken it."""
    try:
        with transaction.atomic():
            return bool(
                Unit.objects.filter(
                    pk=agent.unit_id, status=UnitStatus.LAUNCHED
                ).update(
                    status=UnitStatus.COMPLETED,
                    worker=agent.worker_id,
                    updated_at=timezone.now(),
                )
            )
    except IntegrityError:
        # The worker holds another unit of the same assignment: keep it as late.
        return False


def _after_submit(run_id: int, unit_id: int, agent_id: str) -> None:
    settle_without_broker(run_id)
    run = selectors.cached_run(run_id)
    if run is not None and uses_quality_units(run):
        try:
            judge_submission(public_id=agent_id)
        except Exception:
            # The submission is stored; the judgement can be made again by hand.
            logger.exception("judging the submission of agent %s failed", agent_id)
    hook = run_hooks(run).get("on_unit_submitted") if run is not None else None
    if hook is None:
        return
    try:
        hook(Unit.objects.select_related("assignment").get(pk=unit_id))
    except Exception:
        # The submission is stored; a failing hook must not turn it into an error.
        logger.exception("on_unit_submitted hook failed for unit %s", unit_id)


@transaction.atomic
def completion_code(
    *, run: TaskRun, worker_name: str, provider_assignment_id: str
) -> str:
    """The provider's completion code for a worker whose submission is stored.

    Refused (UnitStateConflict) until this worker's agent on that assignment
    has submitted, so the code never reaches a page that has stored nothing.
    """
    code = get_provider_class(run.provider_type).completion_code_for(
        selectors.run_spec(run)
    )
    if not code:
        raise BadWorkerRequest(
            f"this run's provider ({run.provider_type}) takes no completion code"
        )
    submitted = Agent.objects.filter(
        run_id=run.pk,
        worker__provider_type=run.provider_type,
        worker__worker_name=worker_name,
        provider_assignment_id=provider_assignment_id,
        submitted_at__isnull=False,
    ).exists()
    if not submitted:
        raise UnitStateConflict(
            "no submission of yours is stored for this task yet: submit the task "
            "first, then you get the completion code"
        )
    return code


@transaction.atomic
def submit_metadata(
    *,
    agent_id: str,
    metadata: Any,
    files: list[SavedFile] | None = None,
    run: TaskRun | None = None,
) -> None:
    """Merge the page's metadata into the agent's. Allowed before and after submit.

    Stored `files` (of `run`) are added to the list under `files`, which the
    page's metadata may not name itself. Refused whole
    (nothing changes) when the agent's stored metadata would pass
    CROWDSITE_MAX_AGENT_METADATA_BYTES, or its files the run's max_agent_bytes.
    """
    agent = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if agent is None:
        raise UnknownAgent()
    stored_files = file_records(agent.metadata)
    if isinstance(metadata, dict) and "files" in metadata:
        # Only the upload path writes file entries: a page's own "files" could
        # name another worker's upload or a size that isn't the file's.
        raise BadWorkerRequest(
            "metadata.files is where this worker's uploaded files are listed; "
            "give the page's own entry another name. Nothing was stored"
        )
    merged = dict(agent.metadata or {})
    if isinstance(metadata, dict):
        merged.update(metadata)
    else:
        merged["value"] = metadata
    if files and run is not None:
        # Counted again under the agent's lock: two requests at once can't
        # both fit into what one of them leaves.
        new_bytes = sum(file.size for file in files)
        check_agent_total(new_bytes, stored_bytes=stored_upload_bytes(agent), run=run)
        merged["files"] = stored_files + [f.as_dict() for f in files]
    _check_metadata_size(merged, what="this metadata")
    agent.metadata = merged
    agent.save(update_fields=["metadata"])


@transaction.atomic
def log_agent_error(*, agent_id: str, error_data: Any) -> None:
    """Keep an error the task page reported, with the agent or onboarding agent.

    At most CROWDSITE_MAX_ERROR_REPORTS per agent, within the agent's metadata
    limit; past either the report is refused with a 413, never kept in part.
    """
    holder: Agent | OnboardingAgent | None
    if agent_id.startswith("onboarding"):
        holder = (
            OnboardingAgent.objects.select_for_update()
            .filter(public_id=agent_id)
            .first()
        )
    else:
        holder = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if holder is None:
        raise UnknownAgent()
    metadata = dict(holder.metadata or {})
    errors = list(metadata.get("errors", []))
    limit = settings.CROWDSITE_MAX_ERROR_REPORTS
    if len(errors) >= limit:
        raise TooLarge(
            f"this agent has sent {len(errors)} error reports, the most that are "
            "kept; this one was not stored",
        )
    errors.append({"at": timezone.now().isoformat(), "error_data": error_data})
    metadata["errors"] = errors
    _check_metadata_size(metadata, what="this error report")
    holder.metadata = metadata
    holder.save(update_fields=["metadata"])
    if isinstance(holder, OnboardingAgent):
        # Kept with the onboarding agent; the server log gets a bounded line.
        logger.warning("onboarding agent %s reported: %.500r", holder.pk, error_data)


def _check_metadata_size(metadata: dict[str, Any], *, what: str) -> None:
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    limit = settings.CROWDSITE_MAX_AGENT_METADATA_BYTES
    if size > limit:
        raise TooLarge(
            f"with {what} the agent's metadata and error reports would take "
            f"{size} bytes; the limit is {limit} bytes, so nothing was changed",
        )


def _release_agent(*, agent_id: int, status: AgentStatus, only_overdue: bool) -> bool:
    agents = Agent.objects.filter(pk=agent_id, status__in=AGENT_LIVE_STATUSES)
    if only_overdue:
        agents = agents.overdue(timezone.now())
    changed = agents.update(status=status)
    if changed:
        # The agent's live socket, if any, is told at once (docs/live-tasks.md).
        transaction.on_commit(lambda: push_agent_status(agent_id, status))
        now = timezone.now()
        held = Unit.objects.filter(agents=agent_id, status=UnitStatus.ASSIGNED)
        # A shut-down run takes no new worker: its freed unit is expired, as
        # its untaken ones were at the shutdown. So is a quality unit, made for
        # this worker alone: expired, it gives its place under the cap back.
        held.filter(
            Q(run__status=TaskRunStatus.SHUT_DOWN) | Q(unit_index__lt=0)
        ).update(status=UnitStatus.EXPIRED, worker=None, updated_at=now)
        held.update(status=UnitStatus.LAUNCHED, worker=None, updated_at=now)
    return bool(changed)


@transaction.atomic
def expire_agent(*, agent_id: int) -> bool:
    """Time out an overdue agent and free its unit; False if it was not overdue."""
    return _release_agent(
        agent_id=agent_id, status=AgentStatus.TIMEOUT, only_overdue=True
    )


@transaction.atomic
def release_agent(*, agent_id: int, timed_out: bool) -> bool:
    """The provider says the worker gave the unit up (returned it, or let it time
    out there): free it at once. False if the agent had already finished."""
    return _release_agent(
        agent_id=agent_id,
        status=AgentStatus.TIMEOUT if timed_out else AgentStatus.RETURNED,
        only_overdue=False,
    )


@transaction.atomic
def return_agent(*, agent_id: int) -> bool:
    """The worker gave the unit back: free it at once. False if already finished."""
    return _release_agent(
        agent_id=agent_id, status=AgentStatus.RETURNED, only_overdue=False
    )


@transaction.atomic
def return_unit(*, agent_id: str) -> bool:
    """The worker gives their unit back from the page; False if already returned.

    The unit goes to the next worker at once. Returning twice is harmless; a
    submitted unit, or one whose time ran out, can't be returned (409).
    """
    # The agent's row lock orders a return against a submission of the same
    # agent: whichever comes second sees what the first did and says so.
    agent = Agent.objects.select_for_update().filter(public_id=agent_id).first()
    if agent is None:
        raise UnknownAgent()
    if agent.submitted_at is not None:
        raise UnitStateConflict("this unit was already submitted; it can't be returned")
    if agent.status == AgentStatus.RETURNED:
        return False
    if agent.status not in AGENT_LIVE_STATUSES:
        raise UnitStateConflict(
            f"this unit is no longer yours (the agent is {agent.status}); "
            "nothing to return",
        )
    run_id = agent.run_id
    transaction.on_commit(lambda: settle_without_broker(run_id))
    return _release_agent(
        agent_id=agent.pk, status=AgentStatus.RETURNED, only_overdue=False
    )


def settle_without_broker(run_id: int) -> None:
    """Without a broker (no beat), top the run up and complete it at once
    after a submit or return, so the next arrival finds the unit the run's
    concurrency cap now allows. With a broker, beat does it; with
    IN_PROCESS_BEAT off, nothing does."""
    if not settings.IN_PROCESS_BEAT or not tasks_run_in_process():
        return
    try:
        settle_run(run_id=run_id)
    except Exception:
        # The submit or return is stored; the next one, or beat, settles.
        logger.exception("settling run %s after a submit or return failed", run_id)


def expire_overdue_agents(*, run_id: int | None = None, limit: int = 1000) -> int:
    """Free the units of timed-out agents. Safe to run twice or concurrently."""
    overdue = Agent.objects.overdue(timezone.now())
    if run_id is not None:
        overdue = overdue.filter(run_id=run_id)
    ids = list(overdue.values_list("pk", flat=True)[:limit])
    return sum(expire_agent(agent_id=pk) for pk in ids)
