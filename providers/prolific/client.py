"""Prolific's REST API as crowdsite calls it, and what both halves of the
provider share: the account's workspace, projects and participant groups,
found by name, and a submission read back before anything is decided on it.

Calls go through the shared HTTP layer (providers/http.py): pooled
connections, timeouts, and HTTP statuses as ProviderError.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import urljoin

import requests
from django.conf import settings

from providers import http
from providers.base import Provider, WorkRef
from providers.calllog import run_logged_call

# Prolific's own API; PROLIFIC_API_URL (settings) may point elsewhere.
API_URL = "https://api.prolific.com/api/v1/"

# Mephisto's names for where crowdsite's Prolific groups and studies live.
DEFAULT_WORKSPACE_NAME = "My Workspace"
DEFAULT_PROJECT_NAME = "Project"
# The group every study blocks; block_worker adds to it.
BLOCK_LIST_GROUP_NAME = "Block list"

logger = logging.getLogger(__name__)


class ProlificError(http.ProviderHTTPError):
    """A Prolific call failed; `status_code` is the HTTP status, if any came back."""


def _api_key() -> str:
    return getattr(settings, "PROLIFIC_API_KEY", "") or ""


def api_url() -> str:
    """The base URL calls go to: PROLIFIC_API_URL, ending in a slash."""
    configured = getattr(settings, "PROLIFIC_API_URL", "") or API_URL
    return configured.rstrip("/") + "/"


def _describe_detail(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_describe_detail(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(_describe_detail(item) for item in detail)
    return "" if detail is None else str(detail)


def _error_message(response: requests.Response) -> str:
    """Prolific's own words for a failed response."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason
    if not isinstance(body, dict):
        return _describe_detail(body)
    # Most endpoints nest {"error": {"title", "detail", ...}}; some answer flat.
    nested = body.get("error")
    error: dict = nested if isinstance(nested, dict) else body
    parts = [
        _describe_detail(error.get(key))
        for key in ("title", "message", "detail", "additional_information")
    ]
    return " - ".join(part for part in parts if part) or response.text[:500]


def _request(
    method: str,
    url: str,
    *,
    operation: str,
    json: Any = None,
    repeatable: bool = True,
) -> Any:
    """Call Prolific at `url` (relative to `api_url()`), return the decoded body.

    429 and 5xx are transient; a call that is not `repeatable` (paying a bonus,
    which Prolific documents as not idempotent) is never left to be retried
    blind (see `http.request`).
    """
    api_key = _api_key()
    if not api_key:
        raise ProlificError(
            f"Prolific {operation} failed: PROLIFIC_API_KEY is not set",
            transient=False,
        )
    return http.request(
        method,
        urljoin(api_url(), url),
        service="Prolific",
        operation=operation,
        headers={"Authorization": f"Token {api_key}"},
        json=json,
        repeatable=repeatable,
        error=ProlificError,
        error_message=_error_message,
    )


def _listed(url: str, *, operation: str) -> Iterator[dict[str, Any]]:
    """Every result of the paginated listing at `url`, following `_links.next`.

    Prolific's next link may be absolute; urljoin keeps it as it is.
    """
    next_url: str | None = url
    while next_url:
        page = _request("GET", next_url, operation=operation) or {}
        yield from page.get("results") or []
        next_url = ((page.get("_links") or {}).get("next") or {}).get("href")


def _transition(study_id: str, action: str) -> Any:
    return _request(
        "POST",
        f"studies/{study_id}/transition/",
        operation=f"{action.lower()} study",
        json={"action": action},
    )


def workspace_name() -> str:
    """The workspace crowdsite keeps its Prolific groups and studies in."""
    return getattr(settings, "PROLIFIC_WORKSPACE_NAME", "") or DEFAULT_WORKSPACE_NAME


def _log_key(key: str) -> str:
    """`key` as the call log can keep it (200 characters at most)."""
    if len(key) <= 200:
        return key
    return f"{key[:130]}~{hashlib.sha256(key.encode()).hexdigest()}"


def _members(
    method: str, group_id: str, participant_ids: Sequence[str], *, operation: str
) -> Any:
    return _request(
        method,
        f"participant-groups/{group_id}/participants/",
        operation=operation,
        json={"participant_ids": list(participant_ids)},
    )


def _submission(submission_id: str) -> dict[str, Any]:
    return _request("GET", f"submissions/{submission_id}/", operation="get submission")


def _participant(submission: Mapping[str, Any]) -> str:
    return str(submission.get("participant") or submission.get("participant_id") or "")


def _study_of(submission: Mapping[str, Any]) -> str:
    return str(submission.get("study_id") or submission.get("study") or "")


def _mismatch(submission: Mapping[str, Any], *, participant: str, study: str) -> str:
    """Why `submission` is not `participant`'s in `study` (any study if ""), or ""."""
    owner = _participant(submission)
    its_study = _study_of(submission)
    if owner != participant or (study and its_study != study):
        return (
            f"Prolific says submission {submission.get('id')} is participant "
            f"{owner or '(none)'}'s in study {its_study or '(none)'}, not "
            f"{participant or '(none)'}'s in study {study or '(unknown)'}"
        )
    return ""


def _study_submissions(
    study_ids: Sequence[str],
) -> Iterator[tuple[str, dict[str, Any]]]:
    for study_id in dict.fromkeys(study_ids):
        for submission in _listed(
            f"submissions/?study={study_id}", operation="list submissions"
        ):
            yield study_id, submission


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class ProlificBase(Provider):
    """What launching and reviewing on Prolific share: named things on the
    account, and submissions read back before anything is decided."""

    def workspace_id(self, name: str | None = None) -> str:
        """The id of the workspace `name` (workspace_name()), made if missing."""
        name = name or workspace_name()
        return self._remembered(
            f"workspace:{name}",
            lambda: self._find_or_create(
                "workspaces/",
                match={"title": name},
                create={"title": name},
                what="workspace",
            ),
        )

    def project_id(self, workspace_id: str, name: str) -> str:
        """The id of the workspace's project `name`, made if missing."""
        return self._remembered(
            f"project:{workspace_id}:{name}",
            lambda: self._find_or_create(
                f"workspaces/{workspace_id}/projects/",
                match={"title": name},
                create={"title": name},
                what="project",
            ),
        )

    def group_id(
        self,
        workspace_id: str,
        name: str,
        *,
        members: Sequence[str] = (),
        create: bool = True,
    ) -> str:
        """The id of the workspace's participant group `name`, made if missing
        (`create`), with `members` in it; a group that must exist already
        (`create=False`) and doesn't is a non-transient ProviderError."""

        def find_or_create() -> str:
            listing = f"participant-groups/?workspace_id={workspace_id}"
            found = self._find(listing, {"name": name}, what="participant groups")
            if found is not None:
                return found
            if not create:
                raise ProlificError(
                    f"Prolific has no participant group named {name!r} in workspace "
                    f"{workspace_id}: create it on Prolific (with the participants "
                    "it should admit), or remove prolific_allow_list_group_name",
                    transient=False,
                )
            return self._find_or_create(
                listing,
                match={"name": name},
                create={"name": name, "workspace_id": workspace_id},
                what="participant group",
                create_url="participant-groups/",
            )

        group = self._remembered(
            f"participant_group:{workspace_id}:{name}", find_or_create
        )
        if members:
            _members("POST", group, members, operation="add to participant group")
        return group

    def _remembered(self, name: str, find: Callable[[], str]) -> str:
        known = self._known_ids.get(name)
        if known is None:
            result = run_logged_call(
                provider_type=self.provider_type,
                operation="find_or_create",
                key=_log_key(f"{self.provider_type}:{name}"),
                run_id=None,
                request={"name": name},
                call=lambda: {"id": find()},
            )
            known = self._known_ids[name] = result["id"]
        return known

    @cached_property
    def _known_ids(self) -> dict[str, str]:
        return {}

    @staticmethod
    def _find(listing: str, match: Mapping[str, str], *, what: str) -> str | None:
        for item in _listed(listing, operation=f"list {what}"):
            if all(item.get(k) == v for k, v in match.items()) and not item.get(
                "is_deleted"
            ):
                return str(item["id"])
        return None

    def _find_or_create(
        self,
        listing: str,
        *,
        match: Mapping[str, str],
        create: dict[str, Any],
        what: str,
        create_url: str | None = None,
    ) -> str:
        found = self._find(listing, match, what=f"{what}s")
        if found is not None:
            return found
        made = _request(
            "POST", create_url or listing, operation=f"create {what}", json=create
        )
        return str(made["id"])

    # Identity: every submission is read back from Prolific before anything
    # is paid or decided on it, and an arrival is checked the same way.

    def _confirmed_submission(self, work: WorkRef, operation: str) -> dict[str, Any]:
        """The submission, read back from Prolific, after checking whose it is.

        A submission that is another participant's or another study's is a
        non-transient ProviderError (and logged): nothing is sent.
        """
        if not work.provider_assignment_id:
            raise ProlificError(
                f"Prolific {operation}: {work.worker_name}'s submission has no "
                "Prolific submission id; nothing was sent",
                transient=False,
            )
        submission = _submission(work.provider_assignment_id)
        mismatch = _mismatch(
            submission, participant=work.worker_name, study=work.provider_unit_id
        )
        if mismatch:
            logger.warning(
                "Prolific %s refused for %s on study %s: %s",
                operation,
                work.worker_name,
                work.provider_unit_id,
                mismatch,
            )
            raise ProlificError(
                f"Prolific {operation} refused: {mismatch}; nothing was sent",
                transient=False,
            )
        return submission
