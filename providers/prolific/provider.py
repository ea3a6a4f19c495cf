"""Prolific, through its REST API (https://api.prolific.com/api/v1/).

Prolific has no per-unit object: a run is one study, its `total_available_places`
raised to the number of units launched so far, and every unit's provider id is
the study id. Prolific takes no idempotency keys, so a launch first looks for the
study an earlier attempt may have made, by its deterministic `internal_name`.

Qualifications are mirrored as participant groups and sent as the study's
filters; decisions go through the submission transition, after the submission
is read back and found to be that participant's in that study (review.py); a
bonus is set up and then paid, the pay call (documented as not idempotent)
never repeated blind. docs/providers/prolific.md says which Prolific endpoints
are used and why.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

from django.utils.crypto import salted_hmac

from crowdsite.config_errors import ConfigError
from providers.base import AbandonedWork, Arrival, RunSpec, SubmittedWork, url_param
from providers.checks import Check
from providers.prolific import checks as health
from providers.prolific import config as config_checks
from providers.prolific.client import (
    BLOCK_LIST_GROUP_NAME,
    DEFAULT_PROJECT_NAME,
    ProlificError,
    _listed,
    _mismatch,
    _participant,
    _request,
    _study_submissions,
    _submission,
    _timestamp,
    _transition,
)
from providers.prolific.config import (
    ALLOWLIST,
    BLOCKLIST,
    LIST_REQUIREMENTS,
    MEPHISTO_ALLOW_LIST_GROUP_NAME,
    RANGE_REQUIREMENTS,
    check_eligibility_requirements,
)
from providers.prolific.review import AWAITING_REVIEW, ProlificReview

# Prolific substitutes these per participant when they open the study;
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

ABANDONED = frozenset({"RETURNED", "TIMED-OUT"})


def study_internal_name(run: RunSpec) -> str:
    """The `internal_name` that finds `run`'s study again; never changes."""
    # The run's creation time tells apart runs that share a pk across databases
    # (a reset development database launching on the same Prolific account).
    return f"crowdsite-run-{run.run_id}-{int(run.created_at.timestamp())}"


def completion_code(run: RunSpec) -> str:
    """The code (8 characters, A-Z2-7) a worker brings back on finishing `run`."""
    # Keyed by SECRET_KEY, so a worker can't derive one run's code from another's.
    digest = salted_hmac(
        "crowdsite.providers.prolific.completion_code", str(run.run_id)
    )
    return base64.b32encode(digest.digest()).decode()[:8]


def reward_in_cents(amount: Decimal) -> int:
    """`amount` in the account currency's minor unit, as Prolific prices rewards."""
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


class ProlificProvider(ProlificReview):
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

    args_class = config_checks.ProlificProviderArgs
    # Mephisto's eligibility requirements, sent as the study's filters.
    specific_state_key = "prolific_specific_qualifications"

    @classmethod
    def check_can_launch(cls, *, provider_args: Mapping[str, Any]) -> None:
        """Raise ConfigError unless a Prolific API token is configured."""
        config_checks.check_can_launch()

    @classmethod
    def check_provider_args(
        cls, *, provider_args: Mapping[str, Any], shared_state: Mapping[str, Any]
    ) -> None:
        """Refuse, by name, every `prolific_*` setting crowdsite can't honour
        (config.check_provider_args)."""
        config_checks.check_provider_args(
            provider_args=provider_args, shared_state=shared_state
        )

    @classmethod
    def unconfigured(cls) -> str:
        return health.unconfigured()

    @classmethod
    def health_checks(cls, *, min_balance: Decimal) -> list[Check]:
        return health.check_prolific()

    @classmethod
    def credentials_hint(cls) -> str:
        return f"for Prolific, {health.PROLIFIC_CREDENTIALS_FIX}"

    @classmethod
    def arrival_params(cls, params: Mapping[str, str]) -> Arrival:
        """The participant from the study URL's parameters (STUDY_URL_PARAMETERS)."""
        return Arrival(
            worker_id=url_param(params, "participant_id"),
            assignment_id=url_param(params, "submission_id"),
            unit_id=url_param(params, "study_id"),
        )

    @classmethod
    def completion_code_for(cls, run: RunSpec) -> str:
        """The code prolific.js fetches after the submission is stored, and hands
        back to Prolific; never on the page itself (not even in preview)."""
        return completion_code(run)

    def launch_units(
        self,
        *,
        run: RunSpec,
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

    def expire_units(self, *, run: RunSpec, provider_unit_ids: list[str]) -> None:
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

    def end_run(self, *, run: RunSpec, provider_unit_ids: list[str]) -> dict[str, Any]:
        """Stop the ended run's study, so no one new can start; participants
        with a place may still submit. Safe to repeat."""
        studies = list(dict.fromkeys(provider_unit_ids))
        self.expire_units(run=run, provider_unit_ids=studies)
        return {"stopped": studies}

    @staticmethod
    def study_draft(run: RunSpec, *, places: int, task_url: str) -> dict[str, Any]:
        """The body that creates `run`'s study as a draft with `places` places."""
        provider_config = provider_args(run)
        minutes = provider_config.get(
            "prolific_estimated_completion_time_in_minutes", DEFAULT_COMPLETION_MINUTES
        )
        return {
            "name": run.title,
            "internal_name": study_internal_name(run),
            "description": run.description,
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
            "reward": reward_in_cents(run.reward),
            "total_available_places": places,
            "device_compatibility": ["desktop"],
            # Prolific's docs mark `filters` required; an empty list admits anyone.
            "filters": [],
        }

    def study_eligibility(
        self, run: RunSpec, requirements: Sequence[Mapping[str, Any]]
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

    def study_filters(
        self,
        run: RunSpec,
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
        self, run: RunSpec, requirement: Mapping[str, Any], workspace_id: str
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

    @staticmethod
    def _find_study(internal_name: str) -> dict[str, Any] | None:
        """This account's study named `internal_name`, or None."""
        for study in _listed("studies/", operation="list studies"):
            if study.get("internal_name") == internal_name:
                return study
        return None


def study_url(task_url: str) -> str:
    """`task_url` with Prolific's per-participant parameters added to its query."""
    # The task URL has a query of its own (?task_run_id=...): join with "&".
    if task_url.endswith(("?", "&")):
        joiner = ""
    else:
        joiner = "&" if urlsplit(task_url).query else "?"
    return f"{task_url}{joiner}{STUDY_URL_PARAMETERS}"


def provider_args(run: RunSpec) -> Mapping[str, Any]:
    """The run's `mephisto.provider` settings."""
    return run.provider_args


def run_eligibility_requirements(run: RunSpec) -> list[Mapping[str, Any]]:
    """The run's Mephisto eligibility requirements: the config's and the shared
    state's `prolific_specific_qualifications`, checked (a bad one is a
    non-transient ProviderError, as the config check would have refused it)."""
    found = [
        *(provider_args(run).get("prolific_eligibility_requirements") or []),
        *run.specific_requirements,
    ]
    try:
        check_eligibility_requirements(found, key="prolific eligibility requirements")
    except ConfigError as exc:
        raise ProlificError(f"{exc}; nothing was sent", transient=False) from exc
    return found


def needs_workspace(run: RunSpec, requirements: Sequence[Mapping[str, Any]]) -> bool:
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
