"""What a run config may ask of Prolific, checked when it is loaded, before
anything is written: the `prolific_*` settings of `mephisto.provider`, the
Mephisto eligibility requirements, and the API token a launch needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from crowdsite.config_errors import ConfigError
from providers.base import ProviderArgs
from providers.prolific.client import (
    BLOCK_LIST_GROUP_NAME,
    _api_key,
    workspace_name,
)

# Mephisto's default allow-list group name: a config that leaves it there
# names no allow list.
MEPHISTO_ALLOW_LIST_GROUP_NAME = "Allow list"
# Mephisto's default place count; crowdsite's places follow the units launched.
MEPHISTO_TOTAL_AVAILABLE_PLACES = 1
# Prolific's participant-group filters: only members / no members of the groups.
ALLOWLIST = "participant_group_allowlist"
BLOCKLIST = "participant_group_blocklist"

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


# Mirrors mephisto.abstractions.providers.prolific.prolific_provider
# .ProlificProviderArgs (union of the 1.x revisions).
@dataclass
class ProlificProviderArgs(ProviderArgs):
    _provider_type: str = "prolific"
    prolific_external_study_url: str = ""
    prolific_id_option: str = "url_parameters"
    prolific_estimated_completion_time_in_minutes: int = 5
    # Only in early Prolific revisions; later derived from the number of units.
    prolific_total_available_places: int = 1
    prolific_eligibility_requirements: list[Any] = field(default_factory=list)
    prolific_workspace_name: str = "My Workspace"
    prolific_project_name: str = "Project"
    prolific_allow_list_group_name: str = "Allow list"
    prolific_block_list_group_name: str = "Block list"


def check_can_launch() -> None:
    """Raise ConfigError unless a Prolific API token is configured."""
    if not _api_key():
        raise ConfigError(
            "prolific needs an API token: create one in Prolific (Settings → "
            "API tokens) and set PROLIFIC_API_KEY in the environment",
            key="mephisto.provider",
        )


def check_provider_args(
    *, provider_args: Mapping[str, Any], shared_state: Mapping[str, Any]
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
