"""Amazon Mechanical Turk, live and sandbox, through boto3.

One HIT per unit, all of a run's HITs under one HIT type, each HIT an
ExternalQuestion that opens the run's task page. Every HIT carries a
deterministic `UniqueRequestToken` (also stored as its `RequesterAnnotation`),
so a retried launch never posts a unit twice: MTurk refuses the repeated token
and the HIT the first attempt made is looked up by its annotation instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from crowdsite.config_errors import ConfigError
from providers.base import (
    Arrival,
    Provider,
    ProviderError,
    ReviewNotYetSupported,
    url_param,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from botocore.client import BaseClient

    from tasks_app.models import TaskRun
    from tasks_app.run_config import RunConfig

REGION = "us-east-1"
# Where botocore sends MTurk calls when no endpoint is configured.
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
EXTERNAL_QUESTION_XMLNS = (
    "http://mechanicalturk.amazonaws.com/"
    "AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)
# Mephisto's defaults: HITs live 31 days, work auto-approves after one week.
DEFAULT_LIFETIME_SECONDS = 60 * 60 * 24 * 31
AUTO_APPROVAL_DELAY_SECONDS = 60 * 60 * 24 * 7
# Any moment in the past: MTurk expires a HIT at once when moved there.
EXPIRED_AT = datetime(2015, 1, 1)
# The assignmentId MTurk sends while a worker only previews the HIT.
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"

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


def run_token_prefix(run: TaskRun) -> str:
    """What every HIT request token of `run` starts with."""
    # The run's creation time tells apart runs that share a pk across databases
    # (a reset development database posting to the same sandbox account).
    return f"crowdsite-{run.pk}-{int(run.created_at.timestamp())}-"


def hit_request_token(run: TaskRun, unit_id: int) -> str:
    """The `UniqueRequestToken` of `unit_id`'s HIT: at most 64 chars, never changing."""
    return f"{run_token_prefix(run)}{unit_id}"


def external_question(url: str) -> str:
    """The ExternalQuestion XML that shows `url` in the worker's HIT frame."""
    # FrameHeight 0 lets the task page take the whole window, as in Mephisto.
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_XMLNS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        "<FrameHeight>0</FrameHeight>"
        "</ExternalQuestion>"
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


class MTurkProvider(ReviewNotYetSupported, Provider):
    """Live MTurk: real workers, real money."""

    provider_type = "mturk"
    # MTurk's commission for HITs with fewer than 10 assignments (ours have 1).
    fee_rate = Decimal("0.20")
    endpoint_url: ClassVar[str | None] = None
    worker_name_suffix: ClassVar[str] = ""
    # The only origins a task page may post a worker's externalSubmit form to: the
    # page's turkSubmitTo comes from the URL, which anyone can write. The first is
    # the default when the URL has none.
    submit_hosts: ClassVar[tuple[str, ...]] = (
        "https://www.mturk.com",
        "https://worker.mturk.com",
    )
    # MTurk shows the task page in an iframe on its worker sites.
    frame_ancestors = "https://worker.mturk.com https://www.mturk.com"
    wrap_script = "mturk.js"

    @classmethod
    def check_can_launch(cls, *, config: RunConfig) -> None:
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
                f"{cls.provider_type} needs AWS credentials for the MTurk requester "
                "account: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE naming a profile in ~/.aws/credentials",
                key="mephisto.provider",
            )

    @classmethod
    def worker_name(cls, provider_worker_id: str) -> str:
        """crowdsite's name for the MTurk worker `provider_worker_id`."""
        return f"{provider_worker_id}{cls.worker_name_suffix}"

    @classmethod
    def arrival_params(cls, params: Mapping[str, str]) -> Arrival:
        """The worker from `?workerId=&assignmentId=&hitId=`."""
        assignment_id = url_param(params, "assignmentId")
        # A previewing worker has accepted nothing yet: no assignment, a preview.
        if assignment_id == PREVIEW_ASSIGNMENT_ID:
            assignment_id = ""
        return Arrival(
            worker_id=url_param(params, "workerId"),
            assignment_id=assignment_id,
            unit_id=url_param(params, "hitId"),
        )

    @classmethod
    def page_config(cls, run: TaskRun) -> dict[str, Any]:
        """Where mturk.js may post the worker's externalSubmit form."""
        return {
            "mturk_submit_to": cls.submit_hosts[0],
            "mturk_submit_hosts": list(cls.submit_hosts),
        }

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
        return boto3.session.Session().client(
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

    def launch_units(
        self,
        *,
        run: TaskRun,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
    ) -> dict[int, str]:
        """Post one HIT per unit; return {unit_id: HITId}. Safe to retry."""
        if not unit_ids:
            return {}
        hit_type_id = self._create_hit_type(run)
        question = external_question(task_url)
        lifetime = int(
            run.resolved_config.get("mephisto", {})
            .get("task", {})
            .get("task_lifetime_in_seconds")
            or DEFAULT_LIFETIME_SECONDS
        )
        existing: dict[str, str] | None = None
        hit_ids = {}
        for unit_id in unit_ids:
            token = hit_request_token(run, unit_id)
            hit_id = self._create_hit(hit_type_id, question, lifetime, token)
            if hit_id is None:
                # One listing serves every unit an earlier attempt already posted.
                if existing is None:
                    existing = self._hits_by_annotation(prefix=run_token_prefix(run))
                hit_id = existing.get(token)
                if hit_id is None:
                    # MTurk knows the token but doesn't list the HIT yet.
                    raise ProviderError(
                        f"MTurk create_hit_with_hit_type: token {token} was already "
                        "used but its HIT is not listed yet",
                        transient=True,
                    )
            hit_ids[unit_id] = hit_id
        return hit_ids

    def expire_units(self, *, run: TaskRun, provider_unit_ids: list[str]) -> None:
        """Expire each HIT now. Expiring an expired HIT is harmless."""
        for hit_id in provider_unit_ids:
            with _aws_errors("update_expiration_for_hit"):
                self.client.update_expiration_for_hit(HITId=hit_id, ExpireAt=EXPIRED_AT)

    def _create_hit_type(self, run: TaskRun) -> str:
        # MTurk answers equal parameters with the same HIT type id, so a
        # retried launch reuses the type its first attempt made.
        params: dict[str, Any] = {
            "AutoApprovalDelayInSeconds": AUTO_APPROVAL_DELAY_SECONDS,
            "AssignmentDurationInSeconds": run.assignment_duration_in_seconds,
            "Reward": f"{run.task_reward:.2f}",
            "Title": run.task_title,
            "Description": run.task_description,
        }
        if run.task_tags:
            params["Keywords"] = run.task_tags
        with _aws_errors("create_hit_type"):
            return self.client.create_hit_type(**params)["HITTypeId"]

    def _create_hit(
        self, hit_type_id: str, question: str, lifetime: int, token: str
    ) -> str | None:
        """The new HIT's id, or None if `token` already made one."""
        with _aws_errors("create_hit_with_hit_type"):
            try:
                response = self.client.create_hit_with_hit_type(
                    HITTypeId=hit_type_id,
                    MaxAssignments=1,
                    LifetimeInSeconds=lifetime,
                    Question=question,
                    RequesterAnnotation=token,
                    UniqueRequestToken=token,
                )
            except ClientError as exc:
                if _is_repeated_token(exc):
                    return None
                raise
        return response["HIT"]["HITId"]

    def _hits_by_annotation(self, *, prefix: str) -> dict[str, str]:
        """{RequesterAnnotation: HITId} of this account's HITs annotated `prefix...`."""
        found: dict[str, str] = {}
        params: dict[str, Any] = {"MaxResults": 100}
        while True:
            with _aws_errors("list_hits"):
                page = self.client.list_hits(**params)
            hits = page.get("HITs", [])
            for hit in hits:
                annotation = hit.get("RequesterAnnotation") or ""
                if annotation.startswith(prefix):
                    found[annotation] = hit["HITId"]
            if not hits or not page.get("NextToken"):
                return found
            params["NextToken"] = page["NextToken"]


class MTurkSandboxProvider(MTurkProvider):
    """The MTurk sandbox: the live API against pretend money and test workers."""

    provider_type = "mturk_sandbox"
    endpoint_url = SANDBOX_ENDPOINT
    # Sandbox and live share worker ids; the suffix keeps their records apart.
    worker_name_suffix = "_sandbox"
    submit_hosts = ("https://workersandbox.mturk.com",)
    frame_ancestors = "https://workersandbox.mturk.com"
