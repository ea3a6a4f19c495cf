"""The boto3 MTurk client crowdsite builds (endpoint, timeouts, pacing), and
botocore's failures as ProviderError.

The client is built lazily from the usual AWS chain; every request, retries
too, is paced under MTurk's rate by one RequestPacer per process (MTurk
throttles per account, not per client).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.conf import settings

from providers.base import Provider, ProviderError
from providers.http import RequestPacer

if TYPE_CHECKING:
    from botocore.client import BaseClient

logger = logging.getLogger(__name__)

REGION = "us-east-1"
# Where botocore sends MTurk calls when no endpoint is configured.
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"

# Error codes that say "try again later" rather than "this request is wrong".
# ServiceFault is MTurk's own "temporarily unable to process your request".
TRANSIENT_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFault",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def _is_transient(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return (
        error.get("Code", "") in TRANSIENT_ERROR_CODES
        or "rate exceeded" in error.get("Message", "").lower()
        or status >= 500
    )


def _is_repeated_token(exc: ClientError) -> bool:
    """Whether MTurk refused a create because its UniqueRequestToken was used."""
    error = exc.response.get("Error", {})
    message = error.get("Message", "").lower()
    # Documented as AWS.MechanicalTurk.HitAlreadyExists; the API answers with a
    # RequestError saying the idempotency token "has already been processed".
    return error.get("Code") == "RequestError" and (
        "already been processed" in message
        or "hitalreadyexists" in message
        or "already exists" in message
    )


# Shared by every MTurk client of the process (MTurk throttles per account,
# not per client), so Celery's threads and retries don't outrun it together.
PACER = RequestPacer()


def _pace(**kwargs: Any) -> None:
    """botocore's `before-send` hook: every attempt, retries too, is paced."""
    PACER.wait(settings.MTURK_MAX_REQUESTS_PER_SECOND)


@contextmanager
def _aws_errors(operation: str) -> Iterator[None]:
    """Turn botocore failures inside the block into ProviderError."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProviderError(
            f"MTurk {operation} failed: {error.get('Code', 'error')}: "
            f"{error.get('Message', '')}",
            transient=_is_transient(exc),
        ) from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise ProviderError(
            f"MTurk {operation} failed: could not reach MTurk: {exc}", transient=True
        ) from exc
    except NoCredentialsError as exc:
        raise ProviderError(
            f"MTurk {operation} failed: no AWS credentials found", transient=False
        ) from exc
    except BotoCoreError as exc:
        raise ProviderError(
            f"MTurk {operation} failed: {exc}", transient=False
        ) from exc


class MTurkBase(Provider):
    """What launching and reviewing on MTurk share: the client, and crowdsite's
    names for MTurk's workers (sandbox names end `_sandbox`)."""

    endpoint_url: ClassVar[str | None] = None

    worker_name_suffix: ClassVar[str] = ""

    @classmethod
    def worker_name(cls, provider_worker_id: str) -> str:
        """crowdsite's name for the MTurk worker `provider_worker_id`."""
        return f"{provider_worker_id}{cls.worker_name_suffix}"

    @cached_property
    def client(self) -> BaseClient:
        """The boto3 MTurk client, built on first use from the usual AWS chain.

        An endpoint configured the botocore way (`AWS_ENDPOINT_URL_MTURK`, then
        `AWS_ENDPOINT_URL`, then the config file's) wins over the provider's own,
        for the sandbox as for live (DESIGN §7): that is how test doubles and
        private gateways stand in for MTurk.
        """
        client = self._build_client(endpoint_url=None)
        if self.endpoint_url is not None and client.meta.endpoint_url == (
            LIVE_ENDPOINT
        ):
            # botocore found no configured endpoint and fell back to live MTurk;
            # an explicit endpoint_url would have hidden a configured one, so it
            # is only given now.
            client = self._build_client(endpoint_url=self.endpoint_url)
        return client

    def _build_client(self, *, endpoint_url: str | None) -> BaseClient:
        client = boto3.session.Session().client(
            "mturk",
            region_name=REGION,
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=10,
                read_timeout=30,
                # botocore absorbs brief throttling itself; what remains is
                # reported as transient and retried by Celery with backoff.
                retries={"mode": "standard", "max_attempts": 3},
            ),
        )
        client.meta.events.register("before-send.mturk", _pace)
        return client

    @classmethod
    def provider_worker_id(cls, worker_name: str) -> str:
        """MTurk's worker id for crowdsite's worker `worker_name`."""
        suffix = cls.worker_name_suffix
        if suffix and worker_name.endswith(suffix):
            return worker_name[: -len(suffix)]
        return worker_name
