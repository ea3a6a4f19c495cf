"""What a run config may ask of MTurk, checked when it is loaded or launched,
before anything is written."""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError

from crowdsite.config_errors import ConfigError


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
