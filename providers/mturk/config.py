"""What a run config may ask of MTurk, checked when it is loaded or launched,
before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError

from crowdsite.config_errors import ConfigError
from providers.base import QUALIFICATION_COMPARATORS, ProviderArgs


# Mirrors mephisto.abstractions.providers.mturk.mturk_provider.MTurkProviderArgs.
@dataclass
class MTurkProviderArgs(ProviderArgs):
    _provider_type: str = "mturk"


# Mirrors mephisto.abstractions.providers.mturk_sandbox.sandbox_mturk_provider
# .SandboxMTurkProviderArgs.
@dataclass
class SandboxMTurkProviderArgs(MTurkProviderArgs):
    _provider_type: str = "mturk_sandbox"


def check_can_launch(provider_type: str) -> None:
    """Raise ConfigError unless boto3 can find AWS credentials (no MTurk call)."""
    try:
        credentials = boto3.session.Session().get_credentials()
    except BotoCoreError as exc:
        raise ConfigError(
            f"AWS credentials for MTurk could not be loaded: {exc}",
            key="mephisto.provider",
        ) from exc
    if credentials is None:
        raise ConfigError(
            f"{provider_type} needs AWS credentials for the MTurk requester "
            "account: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE naming a profile in ~/.aws/credentials",
            key="mephisto.provider",
        )


# MTurk's Comparator values: a config's comparators are MTurk's own names.
COMPARATORS = QUALIFICATION_COMPARATORS


def check_specific_qualifications(requirements: Any) -> None:
    """MTurk's own QualificationRequirements, sent as given: check their shape."""
    if requirements is None:
        return
    key = "mephisto.blueprint.hooks"
    if not isinstance(requirements, list):
        raise ConfigError(
            "mturk_specific_qualifications must be a list of MTurk "
            f"QualificationRequirements, not {type(requirements).__name__}",
            key=key,
        )
    for index, item in enumerate(requirements):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("QualificationTypeId"), str)
            and item.get("Comparator") in COMPARATORS
        ):
            raise ConfigError(
                f"mturk_specific_qualifications[{index}] must be an MTurk "
                "QualificationRequirement with QualificationTypeId and one of "
                f"the comparators {', '.join(COMPARATORS)} "
                f"(got {item!r})",
                key=key,
            )
