"""Prolific, through its REST API (https://api.prolific.com/api/v1/).

Prolific has no per-unit object: a run is one study, its `total_available_places`
raised to the number of units launched so far, and every unit's provider id is
the study id. Prolific takes no idempotency keys, so a launch first looks for the
study an earlier attempt may have made, by its deterministic `internal_name`.

Qualifications are mirrored as participant groups and sent as the study's
filters; decisions go through the submission transition, after the submission
is read back and found to be that participant's in that study; a bonus is set up
and then paid, the pay call (documented as not idempotent) never repeated blind.
docs/providers/prolific.md says which Prolific endpoints are used and why.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.utils.crypto import salted_hmac

from crowdsite.config_errors import ConfigError
from providers.base import (
    AbandonedWork,
    Arrival,
    Provider,
    ProviderError,
    SubmittedWork,
    WorkRef,
    url_param,
)
from providers.services import NotRepeated, run_logged_call

if TYPE_CHECKING:
    from tasks_app.models import TaskRun
    from tasks_app.run_config import RunConfig

# Prolific's own API; PROLIFIC_API_URL (settings) may point elsewhere.
API_URL = "https://api.prolific.com/api/v1/"
# (connect, read) seconds: a hung call must fail, not hold a Celery worker.
TIMEOUT = (10, 30)
# Prolific fills these placeholders per participant when they open the study;
# they are added to the task URL's query (study_url).
STUDY_URL_PARAMETERS = (
    "participant_id={{%PROLIFIC_PID%}}"
    "&study_id={{%STUDY_ID%}}"
    "&submission_id={{%SESSION_ID%}}"
)
DEFAULT_COMPLETION_MINUTES = 5
UNPUBLISHED = "UNPUBLISHED"
# A stopped study ends in one of these; a draft never let anyone in.
NOT_TAKING_PARTICIPANTS = frozenset({"AWAITING REVIEW", "COMPLETED", UNPUBLISHED})

# Mephisto's names for where crowdsite's Prolific groups and studies live.
DEFAULT_WORKSPACE_NAME = "My Workspace"
DEFAULT_PROJECT_NAME = "Project"
# The group every study blocks; block_worker adds to it.
BLOCK_LIST_GROUP_NAME = "Block list"
# Mephisto's default allow-list group name: a config that leaves it there
# names no allow list.
MEPHISTO_ALLOW_LIST_GROUP_NAME = "Allow list"
# Mephisto's default place count; crowdsite's places follow the units launched.
MEPHISTO_TOTAL_AVAILABLE_PLACES = 1
# Prolific's participant-group filters: only members / no members of the groups.
ALLOWLIST = "participant_group_allowlist"
BLOCKLIST = "participant_group_blocklist"
AWAITING_REVIEW = "AWAITING REVIEW"
# Shown for a short while after a decision, before APPROVED or REJECTED.
PROCESSING = "PROCESSING"
ABANDONED = frozenset({"RETURNED", "TIMED-OUT"})
# Prolific's rejection categories (the transition's `rejection_category`).
REJECTION_CATEGORIES = (
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "FAILED_CHECK",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "BAD_CODE",
    "NO_DATA",
    "UNSUPP_DEVICE",
    "OTHER",
)
DEFAULT_REJECTION_CATEGORY = "OTHER"
# Prolific's rule for the message a rejection sends the participant.
MIN_REJECTION_MESSAGE = 100

# Mephisto's Prolific eligibility requirements crowdsite sends, and their
# parameters. Participant-id lists become a participant group of the run's.
LIST_REQUIREMENTS: dict[str, tuple[str, str]] = {
    "CustomWhitelistEligibilityRequirement": ("white_list", ALLOWLIST),
    "CustomBlacklistEligibilityRequirement": ("black_list", BLOCKLIST),
}
# name: (Prolific range filter, lower bound parameter, upper bound parameter,
# smallest and largest value).
RANGE_REQUIREMENTS: dict[str, tuple[str, str, str]] = {
    "ApprovalRateEligibilityRequirement": (
        "approval_rate",
        "minimum_approval_rate",
        "maximum_approval_rate",
    ),
    "ApprovalNumbersEligibilityRequirement": (
        "approval_numbers",
        "minimum_approvals",
        "maximum_approvals",
    ),
    "AgeRangeEligibilityRequirement": ("age", "min_age", "max_age"),
}
RANGE_LIMITS: dict[str, tuple[int, int | None]] = {
    "ApprovalRateEligibilityRequirement": (0, 100),
    "ApprovalNumbersEligibilityRequirement": (0, None),
    "AgeRangeEligibilityRequirement": (18, 100),
}
ELIGIBILITY_PARAMS: dict[str, tuple[str, ...]] = {
    **{name: (param,) for name, (param, _) in LIST_REQUIREMENTS.items()},
    "ParticipantGroupEligibilityRequirement": ("id",),
    **{name: (lower, upper) for name, (_, lower, upper) in RANGE_REQUIREMENTS.items()},
}
# Mephisto names crowdsite refuses, and why.
REFUSED_REQUIREMENTS = {
    "JoinedBeforeEligibilityRequirement": (
        "Prolific's current filters document no join-date filter crowdsite could "
        "send it as (the old eligibility_requirements field is deprecated)"
    ),
}
# The `prolific_*` keys of `mephisto.provider` crowdsite knows (each is
# honoured or refused by value in check_provider_args).
PROVIDER_KEYS = frozenset(
    {
        "prolific_eligibility_requirements",
        "prolific_estimated_completion_time_in_minutes",
        "prolific_project_name",
        "prolific_allow_list_group_name",
        "prolific_block_list_group_name",
        "prolific_workspace_name",
        "prolific_id_option",
        "prolific_total_available_places",
        "prolific_external_study_url",
    }
)

logger = logging.getLogger(__name__)

_session: requests.Session | None = None
_session_lock = threading.Lock()


class ProlificError(ProviderError):
    """A Prolific call failed; `status_code` is the HTTP status, if any came back."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status_code: int | None = None,
        ambiguous: bool | None = None,
    ) -> None:
        super().__init__(message, transient=transient, ambiguous=ambiguous)
        self.status_code = status_code


def _http() -> requests.Session:
    """The shared HTTP session (pooled connections), built on first use."""
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
        return _session


def _api_key() -> str:
    return getattr(settings, "PROLIFIC_API_KEY", "") or ""


def api_url() -> str:
    """The base URL calls go to: PROLIFIC_API_URL, ending in a slash."""
    configured = getattr(settings, "PROLIFIC_API_URL", "") or API_URL
    return configured.rstrip("/") + "/"


def study_internal_name(run: TaskRun) -> str:
    """The `internal_name` that finds `run`'s study again; never changes."""
    # The run's creation time tells apart runs that share a pk across databases
    # (a reset development database launching on the same Prolific account).
    return f"crowdsite-run-{run.pk}-{int(run.created_at.timestamp())}"


def completion_code(run: TaskRun) -> str:
    """The code (8 characters, A-Z2-7) a worker brings back on finishing `run`."""
    # Keyed by SECRET_KEY, so a worker can't derive one run's code from another's.
    digest = salted_hmac("crowdsite.providers.prolific.completion_code", str(run.pk))
    return base64.b32encode(digest.digest()).decode()[:8]


def reward_in_cents(amount: Decimal) -> int:
    """`amount` in the account currency's minor unit, as Prolific prices rewards."""
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


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

    429 and 5xx are transient. A call that is not `repeatable` (paying a bonus,
    which Prolific documents as not idempotent) is never left to be retried
    blind: an outcome that can't be known (no answer after sending, a 5xx, a
    body that can't be read) is raised ambiguous and not transient, so it is
    reconciled instead; a 429 (not done) stays transient.
    """
    api_key = _api_key()
    if not api_key:
        raise ProlificError(
            f"Prolific {operation} failed: PROLIFIC_API_KEY is not set",
            transient=False,
        )
    unknown = {} if repeatable else {"transient": False, "ambiguous": True}
    try:
        response = _http().request(
            method,
            urljoin(api_url(), url),
            json=json,
            headers={"Authorization": f"Token {api_key}"},
            timeout=TIMEOUT,
        )
    except requests.ConnectTimeout as exc:
        # No connection was made, so nothing was sent.
        raise ProlificError(
            f"Prolific {operation} failed: could not reach Prolific: {exc}",
            transient=True,
            ambiguous=False,
        ) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ProlificError(
            f"Prolific {operation} failed: could not reach Prolific, or its answer "
            f"was lost: {exc}",
            **({"transient": True} | unknown),
        ) from exc
    except requests.RequestException as exc:
        raise ProlificError(
            f"Prolific {operation} failed: {exc}", transient=False
        ) from exc
    status = response.status_code
    if status >= 400:
        outcome: dict[str, Any] = {"transient": status == 429 or status >= 500}
        if not repeatable:
            # A 429 is "not done, slow down"; a 5xx may have been done.
            outcome = unknown if status >= 500 else outcome | {"ambiguous": False}
        raise ProlificError(
            f"Prolific {operation} failed: HTTP {status}: {_error_message(response)}",
            status_code=status,
            **outcome,
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        # A success we can't read may still have happened: retry and look again.
        raise ProlificError(
            f"Prolific {operation} answered HTTP {status} with a body that is not JSON",
            status_code=status,
            **({"transient": True} | unknown),
        ) from exc


def _listed(url: str, *, operation: str) -> Iterator[dict[str, Any]]:
    """Every result of the paginated listing at `url`, following `_links.next`.

    Prolific's next link may be absolute; urljoin keeps it as it is.
    """
    next_url: str | None = url
    while next_url:
        page = _request("GET", next_url, operation=operation) or {}
        yield from page.get("results") or []
        next_url = ((page.get("_links") or {}).get("next") or {}).get("href")


class ProlificProvider(Provider):
    """Prolific: one study per run, its places opened as units launch."""

    provider_type = "prolific"
    # Prolific's standard service fee; an estimate.
    fee_rate = Decimal("0.333")
    # Mephisto reads task_reward in cents on Prolific; a run's units are places
    # on its one study.
    reward_unit = "cents"
    units_are_places = True
    # Prolific sends participants to the study URL; it doesn't frame it.
    frame_ancestors = "'self'"
    wrap_script = "prolific.js"

    @classmethod
    def check_can_launch(cls, *, config: RunConfig) -> None:
        """Raise ConfigError unless a Prolific API token is configured."""
        if not _api_key():
            raise ConfigError(
                "prolific needs an API token: create one in Prolific (Settings → "
                "API tokens) and set PROLIFIC_API_KEY in the environment",
                key="mephisto.provider",
            )

    @classmethod
    def check_provider_args(
        cls, *, provider_args: Mapping[str, Any], shared_state: Mapping[str, Any]
    ) -> None:
        """Refuse, by name, every `prolific_*` setting crowdsite can't honour.

        Honoured: prolific_eligibility_requirements (the names in
        ELIGIBILITY_PARAMS), prolific_estimated_completion_time_in_minutes,
        prolific_project_name, prolific_allow_list_group_name (an existing
        group the study then admits only), and the shared state's
        prolific_specific_qualifications. Accepted only at the value crowdsite
        uses anyway: prolific_id_option (url_parameters),
        prolific_workspace_name (workspace_name()), prolific_block_list_group_name
        (BLOCK_LIST_GROUP_NAME), prolific_total_available_places (Mephisto's
        default; places follow the units launched) and
        prolific_external_study_url (empty, or crowdsite's own site).
        """
        for key in provider_args:
            if key.startswith("prolific_") and key not in PROVIDER_KEYS:
                raise ConfigError(
                    "crowdsite does not know this Prolific setting and would ignore "
                    "it; remove it",
                    key=f"mephisto.provider.{key}",
                )
        _check_fixed_provider_args(provider_args)
        minutes = provider_args.get("prolific_estimated_completion_time_in_minutes")
        if minutes is not None and (
            isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1
        ):
            raise ConfigError(
                f"must be a whole number of minutes, 1 or more (got {minutes!r})",
                key="mephisto.provider.prolific_estimated_completion_time_in_minutes",
            )
        for name in ("prolific_project_name", "prolific_allow_list_group_name"):
            value = provider_args.get(name)
            if value is not None and not str(value).strip():
                raise ConfigError(
                    "must not be empty; remove it to use the default",
                    key=f"mephisto.provider.{name}",
                )
        check_eligibility_requirements(
            provider_args.get("prolific_eligibility_requirements") or [],
            key="mephisto.provider.prolific_eligibility_requirements",
        )
        check_eligibility_requirements(
            shared_state.get("prolific_specific_qualifications") or [],
            key="mephisto.blueprint.hooks",
        )

    @classmethod
    def arrival_params(cls, params: Mapping[str, str]) -> Arrival:
        """The participant from the study URL's parameters (STUDY_URL_PARAMETERS)."""
        return Arrival(
            worker_id=url_param(params, "participant_id"),
            assignment_id=url_param(params, "submission_id"),
            unit_id=url_param(params, "study_id"),
        )

    @classmethod
    def completion_code_for(cls, run: TaskRun) -> str:
        """The code prolific.js fetches after the submission is stored, and hands
        back to Prolific; never on the page itself (not even in preview)."""
        return completion_code(run)

    def launch_units(
        self,
        *,
        run: TaskRun,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
        requirements: Sequence[Mapping[str, Any]] = (),
    ) -> dict[int, str]:
        """Open one place per unit on the run's study; return {unit_id: study id}.

        Creates and publishes the study on the first launch, its `filters` made
        from `requirements` and the run's Prolific eligibility requirements
        (see `study_filters`). Safe to retry: the place count is the units
        launched before plus these, not added to.
        """
        if not unit_ids:
            return {}
        places = len(launched_before) + len(unit_ids)
        known_id = next(iter(launched_before), None)
        if known_id:
            study = _request("GET", f"studies/{known_id}/", operation="get study")
        else:
            study = self._find_study(study_internal_name(run))
        if study is None:
            study = _request(
                "POST",
                "studies/",
                operation="create study",
                json={
                    **self.study_draft(run, places=places, task_url=task_url),
                    **self.study_eligibility(run, requirements),
                },
            )
        elif (study.get("total_available_places") or 0) < places:
            # Prolific only ever raises places; a study that had filled up and
            # gone to review reopens by itself.
            study = _request(
                "PATCH",
                f"studies/{study['id']}/",
                operation="update study places",
                json={"total_available_places": places},
            )
        study_id = study["id"]
        if study.get("status") == UNPUBLISHED:
            _transition(study_id, "PUBLISH")
        return dict.fromkeys(unit_ids, study_id)

    def expire_units(self, *, run: TaskRun, provider_unit_ids: list[str]) -> None:
        """Stop the run's study. Stopping a stopped study is harmless."""
        for study_id in dict.fromkeys(provider_unit_ids):
            try:
                _transition(study_id, "STOP")
            except ProlificError as exc:
                if exc.transient:
                    raise
                # Prolific refuses to stop what is already stopped; check
                # that this is why before calling it done.
                study = _request("GET", f"studies/{study_id}/", operation="get study")
                if study.get("status") not in NOT_TAKING_PARTICIPANTS:
                    raise

    def end_run(self, *, run: TaskRun, provider_unit_ids: list[str]) -> dict[str, Any]:
        """Stop the ended run's study, so no one new can start; participants
        with a place may still submit. Safe to repeat."""
        studies = list(dict.fromkeys(provider_unit_ids))
        self.expire_units(run=run, provider_unit_ids=studies)
        return {"stopped": studies}

    @staticmethod
    def study_draft(run: TaskRun, *, places: int, task_url: str) -> dict[str, Any]:
        """The body that creates `run`'s study as a draft with `places` places."""
        provider_config = provider_args(run)
        minutes = provider_config.get(
            "prolific_estimated_completion_time_in_minutes", DEFAULT_COMPLETION_MINUTES
        )
        return {
            "name": run.task_title,
            "internal_name": study_internal_name(run),
            "description": run.task_description,
            "external_study_url": study_url(task_url),
            # crowdsite reads the participant from the URL, whatever the config says.
            "prolific_id_option": "url_parameters",
            "completion_codes": [
                {
                    "code": completion_code(run),
                    "code_type": "COMPLETED",
                    # crowdsite's own review approves or rejects each submission.
                    "actions": [{"action": "MANUALLY_REVIEW"}],
                }
            ],
            "estimated_completion_time": max(int(minutes), 1),
            "reward": reward_in_cents(run.task_reward),
            "total_available_places": places,
            "device_compatibility": ["desktop"],
            # Prolific's docs mark `filters` required; an empty list admits anyone.
            "filters": [],
        }

    def study_eligibility(
        self, run: TaskRun, requirements: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """The draft's `project` and `filters` for `requirements` and the run's
        Prolific settings; none for a run with neither (see needs_workspace)."""
        if not needs_workspace(run, requirements):
            return {}
        workspace_id = self.workspace_id()
        project = provider_args(run).get("prolific_project_name")
        return {
            "project": self.project_id(workspace_id, project or DEFAULT_PROJECT_NAME),
            "filters": self.study_filters(run, requirements, workspace_id),
        }

    # Eligibility. crowdsite always checks every requirement itself when a
    # worker arrives (DESIGN §6.3); what Prolific can enforce is sent too, so an
    # ineligible participant never takes a place:
    #
    # - `Exists`, and every comparator with a value: the study admits only the
    #   members of the qualification's group (`participant_group_allowlist`),
    #   which holds exactly the workers granted it (grants and revokes are
    #   mirrored). A worker without the qualification fails every valued
    #   comparator, so this never turns away someone crowdsite would admit; the
    #   value itself (GreaterThan 3, In [1, 2], ...) is checked only by
    #   crowdsite, as Prolific groups carry no values.
    # - `DoesNotExist` (the automatic block and `<onboarding>-failed` ones
    #   included): the qualification's group is blocked
    #   (`participant_group_blocklist`), with the block-list group.
    # - The Mephisto eligibility requirements of ELIGIBILITY_PARAMS become the
    #   filters `eligibility_filter` makes; they are Prolific's alone (crowdsite
    #   knows no approval rate or age).

    mirrors_qualifications = True

    def study_filters(
        self,
        run: TaskRun,
        requirements: Sequence[Mapping[str, Any]],
        workspace_id: str,
    ) -> list[dict[str, Any]]:
        """The study's `filters` for `requirements` and the run's eligibility
        requirements, their participant groups found or made in the workspace."""
        allowed: list[str] = []
        blocked = [self.group_id(workspace_id, BLOCK_LIST_GROUP_NAME)]
        for requirement in requirements:
            group = self.group_id(workspace_id, requirement["qualification_name"])
            if requirement["comparator"] == "DoesNotExist":
                blocked.append(group)
            else:
                allowed.append(group)
        allow_list = provider_args(run).get("prolific_allow_list_group_name")
        if allow_list and allow_list != MEPHISTO_ALLOW_LIST_GROUP_NAME:
            allowed.append(self.group_id(workspace_id, allow_list, create=False))
        filters = []
        for requirement in run_eligibility_requirements(run):
            made = self.eligibility_filter(run, requirement, workspace_id)
            if made["filter_id"] == BLOCKLIST:
                blocked.extend(made["selected_values"])
            elif made["filter_id"] == ALLOWLIST:
                allowed.extend(made["selected_values"])
            else:
                filters.append(made)
        # Several values of one select filter admit a member of any of them:
        # each allow-list group gets a filter of its own, so all must hold.
        return [
            *(
                {"filter_id": ALLOWLIST, "selected_values": [group]}
                for group in dict.fromkeys(allowed)
            ),
            {"filter_id": BLOCKLIST, "selected_values": list(dict.fromkeys(blocked))},
            *filters,
        ]

    def eligibility_filter(
        self, run: TaskRun, requirement: Mapping[str, Any], workspace_id: str
    ) -> dict[str, Any]:
        """One Mephisto eligibility requirement (checked) as a Prolific filter."""
        name = requirement["name"]
        if name in LIST_REQUIREMENTS:
            param, filter_id = LIST_REQUIREMENTS[name]
            group = self.group_id(
                workspace_id,
                f"{study_internal_name(run)}-{param.replace('_', '-')}",
                members=[str(p) for p in requirement[param]],
            )
            return {"filter_id": filter_id, "selected_values": [group]}
        if name == "ParticipantGroupEligibilityRequirement":
            return {"filter_id": ALLOWLIST, "selected_values": [str(requirement["id"])]}
        filter_id, lower, upper = RANGE_REQUIREMENTS[name]
        selected = {
            bound: int(requirement[param])
            for bound, param in (("lower", lower), ("upper", upper))
            if requirement.get(param) is not None
        }
        return {"filter_id": filter_id, "selected_range": selected}

    def grant_qualification(
        self, *, worker_name: str, qualification_name: str, value: int
    ) -> dict[str, Any]:
        """Add the participant to the qualification's group (made if missing).
        Safe to repeat: Prolific ignores a participant already in the group."""
        group = self.group_id(self.workspace_id(), qualification_name)
        _members("POST", group, [worker_name], operation="add to participant group")
        return {"participant_group": group, "participant": worker_name}

    def revoke_qualification(
        self, *, worker_name: str, qualification_name: str, reason: str = ""
    ) -> dict[str, Any]:
        """Take the participant out of the qualification's group. Safe to repeat:
        Prolific ignores a participant who isn't in it."""
        group = self.group_id(self.workspace_id(), qualification_name)
        _members(
            "DELETE", group, [worker_name], operation="remove from participant group"
        )
        return {"participant_group": group, "participant": worker_name}

    def block_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        """Add the participant to the block-list group, which every study
        crowdsite makes blocks. Blocking twice is harmless."""
        group = self.group_id(self.workspace_id(), BLOCK_LIST_GROUP_NAME)
        _members("POST", group, [worker_name], operation="add to block list")
        return {"blocked": worker_name, "participant_group": group}

    def unblock_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        """Take the participant off the block-list group. Harmless to repeat."""
        group = self.group_id(self.workspace_id(), BLOCK_LIST_GROUP_NAME)
        _members("DELETE", group, [worker_name], operation="remove from block list")
        return {"unblocked": worker_name, "participant_group": group}

    # Workspaces, projects and participant groups are found by name and made
    # when missing. Each id is remembered in the provider call log under its
    # name (as MTurk's qualification types are), so it is looked for once; the
    # first look lists Prolific's before making one, so a retry after a lost
    # answer, or a database reset against the same account, finds it again.

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

    verifies_arrivals = True

    def verify_arrival(self, arrival: Arrival) -> str:
        """Why Prolific says the arrival's submission is not that participant's
        in that study, or "" when it is (or there is no submission to check)."""
        if not arrival.assignment_id:
            return ""
        try:
            submission = _submission(arrival.assignment_id)
        except ProlificError as exc:
            if exc.status_code == 404:
                return (
                    f"Prolific has no submission {arrival.assignment_id}; open the "
                    "study again from Prolific"
                )
            raise
        return _mismatch(
            submission,
            participant=arrival.worker_id,
            study=arrival.unit_id,
        )

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

    # Review and money.

    # Paying a set-up bonus can't be deduplicated (see pay_bonus): the review's
    # own call is not repeated after an outcome that is not known.
    bonus_is_repeatable = False

    def approve_work(self, *, work: WorkRef, token: str) -> dict[str, Any]:
        """Approve the submission (paying its reward). Approved already: done."""
        submission = self._confirmed_submission(work, "approve submission")
        status = submission.get("status")
        if status == "APPROVED":
            return _decided(submission, already=True)
        _check_not_processing(submission, "approve submission")
        if status != AWAITING_REVIEW:
            raise ProlificError(
                f"Prolific approve submission refused: submission "
                f"{work.provider_assignment_id} is {status} on Prolific, and only a "
                f"submission {AWAITING_REVIEW} can be approved",
                transient=False,
            )
        return self._transition_submission(work, {"action": "APPROVE"}, "APPROVED")

    @classmethod
    def check_rejection(cls, feedback: str) -> None:
        """Prolific's rules for the rejection message (see `rejection`)."""
        try:
            rejection(feedback)
        except ProlificError as exc:
            raise ValueError(
                str(exc)
                .removeprefix("Prolific reject submission refused: ")
                .removesuffix(". Nothing was sent")
            ) from exc

    def reject_work(
        self, *, work: WorkRef, feedback: str, token: str
    ) -> dict[str, Any]:
        """Reject the submission, telling the participant why. Rejected already:
        done. Prolific's rules are checked before anything is sent (see
        `rejection`)."""
        body = rejection(feedback)
        submission = self._confirmed_submission(work, "reject submission")
        status = submission.get("status")
        if status == "REJECTED":
            return _decided(submission, already=True)
        _check_not_processing(submission, "reject submission")
        if status != AWAITING_REVIEW:
            raise ProlificError(
                f"Prolific reject submission refused: submission "
                f"{work.provider_assignment_id} is {status} on Prolific, and only a "
                f"submission {AWAITING_REVIEW} can be rejected"
                + (
                    " (an approved one was paid and can't be taken back)"
                    if status == "APPROVED"
                    else ""
                ),
                transient=False,
            )
        return self._transition_submission(work, body, "REJECTED")

    def _transition_submission(
        self, work: WorkRef, body: dict[str, Any], status: str
    ) -> dict[str, Any]:
        submission_id = work.provider_assignment_id
        try:
            _request(
                "POST",
                f"submissions/{submission_id}/transition/",
                operation=f"{body['action'].lower()} submission",
                json=body,
            )
        except ProlificError as exc:
            if not exc.transient:
                raise
            # Prolific documents the transition as idempotent; a lost answer
            # may still have done it: look before retrying.
            try:
                submission = _submission(submission_id)
            except ProlificError:
                raise exc from None
            # After a decision a submission may show PROCESSING for a while.
            if submission.get("status") not in (status, PROCESSING):
                raise
            return _decided(submission, already=True)
        return {"submission": submission_id, "status": status}

    def pay_bonus(
        self,
        *,
        work: WorkRef,
        amount: Decimal,
        reason: str,
        token: str,
        requested_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Pay the participant a bonus on their study, in Prolific's two steps.

        First a bonus is set up (Prolific's bulk bonus of one line, participant
        id and amount in the study's currency); that moves no money and is
        remembered in the call log under `token`, so a retry pays the same one.
        Then it is paid. Prolific documents paying as not idempotent: paying a
        set-up bonus twice pays twice. So the pay call is never repeated
        automatically: an unknown outcome is raised ambiguous and not transient,
        and a later attempt under the same token that finds an earlier pay
        attempt of unknown outcome refuses, for `paid_bonuses` to settle. Prolific
        takes no reason with a bonus; crowdsite keeps it in its own review.
        """
        if amount <= 0:
            raise ProlificError(
                f"Prolific bonus refused: the amount must be more than 0 (got "
                f"{amount}); nothing was sent",
                transient=False,
            )
        try:
            bonus, study_id, participant = self._set_up_bonus(work, amount, token)
        except ProviderError as exc:
            # Nothing is paid before the pay call: a failure here may be
            # retried, whatever it was.
            raise ProlificError(
                str(exc),
                transient=exc.transient,
                status_code=getattr(exc, "status_code", None),
                ambiguous=False,
            ) from exc
        bonus_id = bonus["id"]
        try:
            # Attempted once: the call log refuses an attempt after one whose
            # outcome is not known, so of two attempts at once one pays.
            run_logged_call(
                provider_type=self.provider_type,
                operation="pay_bonus",
                key=self.bonus_call_keys(token=token)[0],
                run_id=None,
                request={"bulk_bonus_payment": bonus_id},
                call=lambda: (
                    _request(
                        "POST",
                        f"bulk-bonus-payments/{bonus_id}/pay/",
                        operation="pay bonus",
                        repeatable=False,
                    )
                    or {}
                ),
                repeatable=False,
            )
        except NotRepeated as exc:
            raise ProlificError(
                f"Prolific pay bonus {bonus_id}: an earlier attempt to pay it ended "
                "without a known outcome; it may have been paid, and paying again "
                "would pay twice, so nothing was sent: compare the submission's "
                "bonuses on Prolific (paid_bonuses) before deciding",
                transient=False,
                ambiguous=True,
            ) from exc
        return {
            "submission": work.provider_assignment_id,
            "participant": participant,
            "study": study_id,
            "amount": f"{amount:.2f}",
            "bulk_bonus_payment": bonus["id"],
        }

    @classmethod
    def bonus_call_keys(cls, *, token: str) -> list[str]:
        return [f"{cls.provider_type}:bonus_pay:{token}"]

    def _set_up_bonus(
        self, work: WorkRef, amount: Decimal, token: str
    ) -> tuple[dict[str, Any], str, str]:
        """The bulk bonus of one line set up for `work` (the same one on every
        attempt under `token`), its study and participant. Moves no money."""
        submission = self._confirmed_submission(work, "pay bonus")
        study_id = _study_of(submission) or work.provider_unit_id
        participant = _participant(submission) or work.worker_name
        line = f"{participant},{amount:.2f}"
        bonus = run_logged_call(
            provider_type=self.provider_type,
            operation="set_up_bonus",
            key=f"{self.provider_type}:bonus_set_up:{token}",
            run_id=None,
            request={"study_id": study_id, "csv_bonuses": line},
            call=lambda: _request(
                "POST",
                "submissions/bonus-payments/",
                operation="set up bonus",
                json={"study_id": study_id, "csv_bonuses": f"{line}\n"},
            ),
        )
        return bonus, study_id, participant

    def paid_bonuses(self, *, work: WorkRef) -> list[Decimal] | None:
        """The bonuses (dollars) Prolific lists as paid on the submission.

        Prolific pays bonuses asynchronously, "in the following minutes": a
        bonus paid just now may not be listed yet.
        """
        submission = self._confirmed_submission(work, "list bonuses")
        return [
            Decimal(str(cents)) / 100
            for cents in submission.get("bonus_payments") or []
        ]

    # Submissions Prolific has that the task page may have failed to report,
    # and places given up.

    lists_submitted_work = True

    def submitted_work(
        self, *, provider_unit_ids: Sequence[str]
    ) -> list[SubmittedWork]:
        """Each study's submissions AWAITING REVIEW. Prolific keeps no answers
        (they are on crowdsite's page), so `answer` is empty."""
        return [
            SubmittedWork(
                provider_unit_id=study_id,
                provider_assignment_id=submission["id"],
                worker_name=self.worker_name(_participant(submission)),
                submitted_at=_timestamp(submission.get("completed_at")),
            )
            for study_id, submission in _study_submissions(provider_unit_ids)
            if submission.get("status") == AWAITING_REVIEW
        ]

    lists_abandoned_work = True

    def abandoned_work(
        self, *, provider_unit_ids: Sequence[str]
    ) -> list[AbandonedWork]:
        """Each study's submissions its participants RETURNED or let time out."""
        return [
            AbandonedWork(
                provider_unit_id=study_id,
                provider_assignment_id=submission["id"],
                worker_name=self.worker_name(_participant(submission)),
                status=submission["status"],
            )
            for study_id, submission in _study_submissions(provider_unit_ids)
            if submission.get("status") in ABANDONED
        ]

    # notify_workers: Prolific's messages name a study (`study_id` is required
    # on each), and crowdsite's notification names none, so it stays
    # not_yet_supported. account_balance: Prolific keeps a balance per
    # workspace (GET workspaces/<id>/balance/, in the workspace's minor unit);
    # it stays None, so a launch checks none, until the launch's cost and the
    # workspace's currency can be compared (docs/providers/prolific.md).

    @staticmethod
    def _find_study(internal_name: str) -> dict[str, Any] | None:
        """This account's study named `internal_name`, or None."""
        for study in _listed("studies/", operation="list studies"):
            if study.get("internal_name") == internal_name:
                return study
        return None


def study_url(task_url: str) -> str:
    """`task_url` with the participant placeholders added to its query."""
    # The task URL has a query of its own (?task_run_id=...): join with "&".
    if task_url.endswith(("?", "&")):
        joiner = ""
    else:
        joiner = "&" if urlsplit(task_url).query else "?"
    return f"{task_url}{joiner}{STUDY_URL_PARAMETERS}"


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


def provider_args(run: TaskRun) -> dict[str, Any]:
    """The run's `mephisto.provider` settings."""
    return (run.resolved_config or {}).get("mephisto", {}).get("provider", {}) or {}


def run_eligibility_requirements(run: TaskRun) -> list[Mapping[str, Any]]:
    """The run's Mephisto eligibility requirements: the config's and the shared
    state's `prolific_specific_qualifications`, checked (a bad one is a
    non-transient ProviderError, as the config check would have refused it)."""
    found = [
        *(provider_args(run).get("prolific_eligibility_requirements") or []),
        *((run.shared_state or {}).get("prolific_specific_qualifications") or []),
    ]
    try:
        check_eligibility_requirements(found, key="prolific eligibility requirements")
    except ConfigError as exc:
        raise ProlificError(f"{exc}; nothing was sent", transient=False) from exc
    return found


def needs_workspace(run: TaskRun, requirements: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the run's study needs crowdsite's workspace, project and groups.

    A run with no requirement and no Prolific setting of its own (a draft
    launched by hand) is made as before, in the account's default place.
    """
    args = provider_args(run)
    return bool(
        requirements
        or run_eligibility_requirements(run)
        or args.get("prolific_allow_list_group_name")
        not in (None, MEPHISTO_ALLOW_LIST_GROUP_NAME)
        or args.get("prolific_project_name") not in (None, DEFAULT_PROJECT_NAME)
    )


def _check_fixed_provider_args(args: Mapping[str, Any]) -> None:
    """Refuse a setting crowdsite takes only at the value it uses anyway."""
    fixed = {
        "prolific_id_option": (
            "url_parameters",
            "crowdsite reads the participant, study and submission from the study "
            "URL's parameters; remove it or set it to 'url_parameters'",
        ),
        "prolific_workspace_name": (
            workspace_name(),
            "crowdsite keeps its participant groups (qualifications, block list) "
            f"in one workspace, {workspace_name()!r}, and a study elsewhere could "
            "not use them; remove it (or set PROLIFIC_WORKSPACE_NAME for the "
            "whole site)",
        ),
        "prolific_block_list_group_name": (
            BLOCK_LIST_GROUP_NAME,
            f"crowdsite blocks workers in one group, {BLOCK_LIST_GROUP_NAME!r}, "
            "that every study blocks; a group of another name would not be kept; "
            f"remove it or set it to {BLOCK_LIST_GROUP_NAME!r}",
        ),
        "prolific_total_available_places": (
            MEPHISTO_TOTAL_AVAILABLE_PLACES,
            "crowdsite opens one place per unit launched; remove it and set the "
            "number of units instead",
        ),
    }
    for key, (accepted, why) in fixed.items():
        if key in args and args[key] != accepted:
            raise ConfigError(
                f"{why} (got {args[key]!r})", key=f"mephisto.provider.{key}"
            )
    url = args.get("prolific_external_study_url") or ""
    public = getattr(settings, "PUBLIC_URL", "") or ""
    if url and not (public and _same_site(url, public)):
        raise ConfigError(
            "crowdsite sends participants to its own task page, with the "
            f"parameters it reads; remove this URL (got {url!r})",
            key="mephisto.provider.prolific_external_study_url",
        )


def _same_site(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def check_eligibility_requirements(requirements: Any, *, key: str) -> None:
    """Raise ConfigError (under `key`) unless each is a Mephisto eligibility
    requirement crowdsite sends to Prolific, with its parameters right."""
    if not _is_list(requirements):
        raise ConfigError(
            f"must be a list of eligibility requirements (got {requirements!r})",
            key=key,
        )
    for index, requirement in enumerate(requirements):
        try:
            _check_requirement(requirement)
        except ValueError as exc:
            raise ConfigError(
                f"eligibility requirement {index + 1} of {len(requirements)}: {exc}",
                key=key,
            ) from None


def _is_list(value: Any) -> bool:
    # A list as the config gives it: a list, or OmegaConf's ListConfig.
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _check_requirement(requirement: Any) -> None:
    """Raise ValueError saying what is wrong with one eligibility requirement."""
    if not isinstance(requirement, Mapping) or not requirement.get("name"):
        raise ValueError(
            "each eligibility requirement needs a `name`, e.g. "
            f"ApprovalRateEligibilityRequirement (got {requirement!r})"
        )
    name = str(requirement["name"])
    if name in REFUSED_REQUIREMENTS:
        raise ValueError(
            f"{name} is not supported: {REFUSED_REQUIREMENTS[name]}; remove it"
        )
    if name not in ELIGIBILITY_PARAMS:
        raise ValueError(
            f"unknown eligibility requirement {name!r}; crowdsite sends "
            + ", ".join(sorted(ELIGIBILITY_PARAMS))
        )
    params = ELIGIBILITY_PARAMS[name]
    extra = sorted(set(requirement) - {"name", *params})
    if extra:
        raise ValueError(
            f"{name} takes {', '.join(params)}; crowdsite would ignore "
            f"{', '.join(extra)}: remove it"
        )
    _check_params(name, requirement)


def _check_params(name: str, requirement: Mapping[str, Any]) -> None:
    if name in LIST_REQUIREMENTS:
        param = LIST_REQUIREMENTS[name][0]
        ids = requirement.get(param)
        if (
            not _is_list(ids)
            or not ids
            or not all(isinstance(i, str) and i.strip() for i in ids)
        ):
            raise ValueError(
                f"{name}.{param} must be a non-empty list of Prolific participant "
                f"ids (got {ids!r})"
            )
        return
    if name == "ParticipantGroupEligibilityRequirement":
        group = requirement.get("id")
        if not isinstance(group, str) or not group.strip():
            raise ValueError(
                f"{name}.id must be a Prolific participant group id (got {group!r})"
            )
        return
    _, lower, upper = RANGE_REQUIREMENTS[name]
    smallest, largest = RANGE_LIMITS[name]
    bounds = {}
    for param in (lower, upper):
        value = requirement.get(param)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}.{param} must be a whole number (got {value!r})")
        if value < smallest or (largest is not None and value > largest):
            limit = (
                f"{smallest} to {largest}"
                if largest is not None
                else f"{smallest} or more"
            )
            raise ValueError(f"{name}.{param} must be {limit} (got {value})")
        bounds[param] = value
    if not bounds:
        raise ValueError(f"{name} needs {lower} or {upper}")
    if len(bounds) == 2 and bounds[lower] > bounds[upper]:
        raise ValueError(
            f"{name}.{lower} ({bounds[lower]}) is more than {upper} ({bounds[upper]})"
        )


def rejection(feedback: str) -> dict[str, Any]:
    """The transition body that rejects with `feedback`, checked against
    Prolific's rules first (a non-transient ProviderError, nothing sent).

    The feedback is the message the participant reads; Prolific wants at least
    100 characters. A category may lead it, `LOW_EFFORT: ...` (one of
    REJECTION_CATEGORIES, which is then not part of the message); without one
    the category is OTHER.
    """
    category, _, rest = feedback.partition(":")
    if category.strip() in REJECTION_CATEGORIES and rest.strip():
        category, message = category.strip(), rest.strip()
    else:
        category, message = DEFAULT_REJECTION_CATEGORY, feedback.strip()
    if len(message) < MIN_REJECTION_MESSAGE:
        raise ProlificError(
            "Prolific reject submission refused: Prolific wants the message to the "
            f"participant to be at least {MIN_REJECTION_MESSAGE} characters long, "
            f"and this feedback is {len(message)}; say more about why, and reject "
            "again. Nothing was sent",
            transient=False,
        )
    return {"action": "REJECT", "message": message, "rejection_category": category}


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


def _check_not_processing(submission: Mapping[str, Any], operation: str) -> None:
    """Raise a transient error while Prolific is still applying a decision (its
    PROCESSING status, shown for a short while after one): retried later, the
    submission shows how it ended."""
    if submission.get("status") == PROCESSING:
        raise ProlificError(
            f"Prolific {operation}: submission {submission.get('id')} is still "
            "PROCESSING an earlier decision; try again shortly",
            transient=True,
            ambiguous=False,
        )


def _decided(submission: Mapping[str, Any], *, already: bool) -> dict[str, Any]:
    return {
        "submission": submission.get("id"),
        "status": submission.get("status"),
        "already": already,
    }


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
