"""Amazon Mechanical Turk, live and sandbox, through boto3.

One HIT per unit, all of a run's HITs under one HIT type, each HIT an
ExternalQuestion that opens the run's task page. The run's qualification
requirements ride on the HIT type, so MTurk keeps ineligible workers from
accepting; grants and revokes are mirrored on MTurk's qualification types.

Every HIT carries a deterministic `UniqueRequestToken` (also stored as its
`RequesterAnnotation`), so a retried launch never posts a unit twice: MTurk
refuses the repeated token and the HIT the first attempt made is looked up by
its annotation instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
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
from django.conf import settings
from django.core.cache import cache

from crowdsite.config_errors import ConfigError
from providers.base import (
    Arrival,
    Provider,
    ProviderError,
    SubmittedWork,
    WorkRef,
    url_param,
)
from providers.services import run_logged_call

if TYPE_CHECKING:
    from collections.abc import Mapping

    from botocore.client import BaseClient

    from tasks_app.models import TaskRun
    from tasks_app.run_config import RunConfig

logger = logging.getLogger(__name__)

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

# How long MTurk remembers a UniqueRequestToken (24 hours), less a margin for
# clocks and for the time between asking for a call and its first attempt.
TOKEN_MEMORY = timedelta(hours=23)
# Requirements keep ineligible workers from accepting; they may still preview.
ACTIONS_GUARDED = "Accept"
# Our comparators are MTurk's own names (DESIGN §4); these take no value.
VALUELESS_COMPARATORS = ("Exists", "DoesNotExist")
# What a revoke tells the worker when the requester gave no reason.
DEFAULT_REVOKE_REASON = "The requester withdrew this qualification."

# How long an arrival remembers what MTurk said of an assignment: whose it is
# once submitted (that never changes), or that MTurk doesn't show it yet.
ASSIGNMENT_OWNER_CACHE_SECONDS = 60 * 60 * 24
NOT_SHOWN_YET_CACHE_SECONDS = 60

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


def bonus_request_token(token: str, requested_at: datetime | None) -> str:
    """The `UniqueRequestToken` of the bonus call `token`: at most 64 chars.

    The time the bonus was asked for tells apart calls that share a name across
    databases (a reset development database paying from the same account), as
    the run's creation time does for HITs.
    """
    name = re.sub(r"[^A-Za-z0-9]+", "-", token).strip("-")
    stamp = f"-{int(requested_at.timestamp())}" if requested_at is not None else ""
    unique = f"crowdsite-{name}{stamp}"
    if len(unique) > 64:
        digest = hashlib.sha256(unique.encode()).hexdigest()[:40]
        unique = f"crowdsite-{digest}{stamp}"
    return unique


def auto_approval_delay(run: TaskRun) -> int:
    """When MTurk approves an assignment nobody reviewed: the run's own
    `mephisto.task.auto_approve_delay_in_seconds` (the config allows at most
    MTurk's 30 days), so MTurk and crowdsite's auto-approval agree."""
    delay = (
        run.resolved_config.get("mephisto", {})
        .get("task", {})
        .get("auto_approve_delay_in_seconds")
    )
    return AUTO_APPROVAL_DELAY_SECONDS if delay is None else int(delay)


def external_question(url: str) -> str:
    """The ExternalQuestion XML that shows `url` in the worker's HIT frame."""
    # FrameHeight 0 lets the task page take the whole window, as in Mephisto.
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_XMLNS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        "<FrameHeight>0</FrameHeight>"
        "</ExternalQuestion>"
    )


def parse_answer(xml: str) -> dict[str, Any]:
    """The fields of MTurk's Answer XML (QuestionFormAnswers): {identifier: value}.

    FreeText gives a string, selections a list, an upload its file key. {} when
    the text is not such a document; the caller keeps the raw text either way.
    """
    # No DTDs: entity tricks in a document from outside are not expanded.
    if not xml.strip() or "<!DOCTYPE" in xml.upper():
        return {}
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return {}
    fields: dict[str, Any] = {}
    for answer in root:
        if _local(answer.tag) != "Answer":
            continue
        parts = {_local(child.tag): child for child in answer}
        identifier = parts.get("QuestionIdentifier")
        if identifier is None or not (identifier.text or "").strip():
            continue
        name = identifier.text.strip()  # type: ignore[union-attr]
        if "FreeText" in parts:
            fields[name] = parts["FreeText"].text or ""
        elif "UploadedFileKey" in parts:
            fields[name] = {"uploaded_file_key": parts["UploadedFileKey"].text or ""}
        else:
            selections = [
                child.text or ""
                for child in answer
                if _local(child.tag) in ("SelectionIdentifier", "OtherSelectionText")
            ]
            fields[name] = selections
    return fields


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


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


class RequestPacer:
    """A token bucket: at most `rate` requests a second, `burst` at once.

    Shared by every MTurk client of the process (MTurk throttles per account,
    not per client), so Celery's threads and retries don't outrun it together.
    """

    def __init__(
        self,
        *,
        clock: Any = time.monotonic,
        sleep: Any = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._last = 0.0

    def wait(self, rate: float) -> float:
        """Block until one more request may go at `rate` a second; the pause."""
        if rate <= 0:
            return 0.0
        burst = max(1.0, 2 * rate)
        with self._lock:
            now = self._clock()
            if self._tokens is None:
                self._tokens = burst
            else:
                self._tokens = min(burst, self._tokens + (now - self._last) * rate)
            self._last = now
            self._tokens -= 1
            pause = 0.0 if self._tokens >= 0 else -self._tokens / rate
        # Sleep outside the lock: the next caller's share is already counted.
        if pause:
            self._sleep(pause)
        return pause


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


class MTurkProvider(Provider):
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
    # NotifyWorkers: a subject of at most 200 characters, a message of 4,096.
    notify_limits = (200, 4096)

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

    def launch_units(
        self,
        *,
        run: TaskRun,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
        requirements: Sequence[Mapping[str, Any]] = (),
    ) -> dict[int, str]:
        """Post one HIT per unit; return {unit_id: HITId}. Safe to retry.

        `requirements` (ours, applicable to this provider) become the HIT type's
        QualificationRequirements, with the run's `mturk_specific_qualifications`
        passed through as given.
        """
        if not unit_ids:
            return {}
        hit_type_id = self._create_hit_type(run, requirements)
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

    # Qualifications. Each of ours has an MTurk qualification type of the same
    # name, created the first time it is needed; sandbox and live are separate
    # MTurk accounts, and their ids are remembered apart (see below).

    mirrors_qualifications = True

    def grant_qualification(
        self, *, worker_name: str, qualification_name: str, value: int
    ) -> dict[str, Any]:
        """Give the worker the qualification on MTurk, silently. Safe to repeat:
        granting again sets the same value."""
        type_id = self.qualification_type_id(qualification_name)
        worker_id = self.provider_worker_id(worker_name)
        with _aws_errors("associate_qualification_with_worker"):
            self.client.associate_qualification_with_worker(
                QualificationTypeId=type_id,
                WorkerId=worker_id,
                IntegerValue=value,
                SendNotification=False,
            )
        return {"qualification_type": type_id, "worker": worker_id, "value": value}

    def revoke_qualification(
        self, *, worker_name: str, qualification_name: str, reason: str = ""
    ) -> dict[str, Any]:
        """Take the qualification away on MTurk. A worker who no longer holds it
        there (a repeat, or never mirrored) counts as done."""
        type_id = self.qualification_type_id(qualification_name)
        worker_id = self.provider_worker_id(worker_name)
        try:
            with _aws_errors("disassociate_qualification_from_worker"):
                self.client.disassociate_qualification_from_worker(
                    QualificationTypeId=type_id,
                    WorkerId=worker_id,
                    Reason=reason.strip() or DEFAULT_REVOKE_REASON,
                )
        except ProviderError as exc:
            if exc.transient or self._holds_qualification(type_id, worker_id):
                raise
            return {"qualification_type": type_id, "worker": worker_id, "held": False}
        return {"qualification_type": type_id, "worker": worker_id}

    def qualification_requirements(
        self, requirements: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Our requirements as MTurk's QualificationRequirements (creating the
        qualification types they name)."""
        converted = []
        for requirement in requirements:
            comparator = requirement["comparator"]
            entry: dict[str, Any] = {
                "QualificationTypeId": self.qualification_type_id(
                    requirement["qualification_name"]
                ),
                "Comparator": comparator,
                "ActionsGuarded": ACTIONS_GUARDED,
            }
            if comparator not in VALUELESS_COMPARATORS:
                value = requirement["value"]
                values = value if isinstance(value, list) else [value]
                entry["IntegerValues"] = [int(v) for v in values]
            converted.append(entry)
        return converted

    def qualification_type_id(self, name: str) -> str:
        """MTurk's id for our qualification `name`, its type created if missing.

        The id is remembered in the provider call log, keyed by provider type
        and name: the log already keeps "done once, found again" for every
        outside call, so the mapping needs no table of its own, the sandbox's
        and live's ids can't mix, and the admin shows when each was made. The
        first lookup lists MTurk's types before creating one, so a retry after
        a lost answer, or a database reset against the same account, finds the
        type instead of making a second.
        """
        known = self._qualification_type_ids.get(name)
        if known is None:
            result = run_logged_call(
                provider_type=self.provider_type,
                operation="create_qualification_type",
                key=f"qualification_type:{self.provider_type}:{name}",
                run_id=None,
                request={"name": name},
                call=lambda: {
                    "QualificationTypeId": self._find_or_create_type(name),
                    "Name": name,
                },
            )
            known = self._qualification_type_ids[name] = result["QualificationTypeId"]
        return known

    @cached_property
    def _qualification_type_ids(self) -> dict[str, str]:
        return {}

    def _find_or_create_type(self, name: str) -> str:
        found = self._listed_qualification_type(name)
        if found is not None:
            return found
        try:
            with _aws_errors("create_qualification_type"):
                response = self.client.create_qualification_type(
                    Name=name,
                    Description=f"crowdsite qualification {name}",
                    QualificationTypeStatus="Active",
                )
        except ProviderError:
            # Made meanwhile (another process), or by a create whose answer
            # was lost and retried by botocore: MTurk refuses the name.
            found = self._listed_qualification_type(name)
            if found is None:
                raise
            return found
        return response["QualificationType"]["QualificationTypeId"]

    def _listed_qualification_type(self, name: str) -> str | None:
        """The id of this account's qualification type named exactly `name`."""
        params: dict[str, Any] = {
            "Query": name,
            "MustBeRequestable": False,
            "MustBeOwnedByCaller": True,
            "MaxResults": 100,
        }
        while True:
            with _aws_errors("list_qualification_types"):
                page = self.client.list_qualification_types(**params)
            types = page.get("QualificationTypes", [])
            for qualification_type in types:
                # Query is a text search: it also finds names that contain ours.
                if qualification_type.get("Name") == name:
                    return qualification_type["QualificationTypeId"]
            if not types or not page.get("NextToken"):
                return None
            params["NextToken"] = page["NextToken"]

    def _holds_qualification(self, type_id: str, worker_id: str) -> bool:
        """Whether MTurk shows the worker holding the qualification type."""
        try:
            with _aws_errors("get_qualification_score"):
                response = self.client.get_qualification_score(
                    QualificationTypeId=type_id, WorkerId=worker_id
                )
        except ProviderError as exc:
            if exc.transient:
                raise
            return False
        return response.get("Qualification", {}).get("Status") == "Granted"

    # Submissions MTurk has that the task page may have failed to report.

    lists_submitted_work = True

    def submitted_work(
        self, *, provider_unit_ids: Sequence[str]
    ) -> list[SubmittedWork]:
        """Each HIT's Submitted assignments (awaiting review), one
        ListAssignmentsForHIT call per page of each HIT."""
        found = []
        for hit_id in provider_unit_ids:
            params: dict[str, Any] = {
                "HITId": hit_id,
                "AssignmentStatuses": ["Submitted"],
                "MaxResults": 100,
            }
            while True:
                with _aws_errors("list_assignments_for_hit"):
                    page = self.client.list_assignments_for_hit(**params)
                assignments = page.get("Assignments", [])
                for assignment in assignments:
                    raw = assignment.get("Answer") or ""
                    found.append(
                        SubmittedWork(
                            provider_unit_id=assignment.get("HITId") or hit_id,
                            provider_assignment_id=assignment["AssignmentId"],
                            worker_name=self.worker_name(assignment["WorkerId"]),
                            raw_answer=raw,
                            answer=parse_answer(raw),
                            submitted_at=assignment.get("SubmitTime"),
                        )
                    )
                if not assignments or not page.get("NextToken"):
                    break
                params["NextToken"] = page["NextToken"]
        return found

    # Review and money. Each first reads the assignment back from MTurk: money
    # moves only if it is that worker's assignment of that HIT.

    def approve_work(self, *, work: WorkRef, token: str) -> dict[str, Any]:
        """Approve the assignment (paying its reward). Approved already: done."""
        assignment = self._confirmed_assignment(work, "approve_assignment")
        if assignment["AssignmentStatus"] == "Approved":
            return self._decided(assignment, already=True)
        if assignment["AssignmentStatus"] == "Rejected":
            raise ProviderError(
                f"MTurk approve_assignment refused: assignment "
                f"{work.provider_assignment_id} was rejected on MTurk; approving it "
                "now would override that rejection, which is not done automatically"
            )
        try:
            with _aws_errors("approve_assignment"):
                self.client.approve_assignment(AssignmentId=work.provider_assignment_id)
        except ProviderError:
            # A lost answer retried by botocore finds it approved: that is done.
            settled = self._settled(work, "Approved")
            if settled is None:
                raise
            return settled
        return {"assignment": work.provider_assignment_id, "status": "Approved"}

    def reject_work(
        self, *, work: WorkRef, feedback: str, token: str
    ) -> dict[str, Any]:
        """Reject the assignment, telling the worker why. Rejected already: done."""
        if not feedback.strip():
            raise ProviderError(
                "MTurk reject_assignment needs feedback for the worker; nothing "
                "was sent"
            )
        assignment = self._confirmed_assignment(work, "reject_assignment")
        if assignment["AssignmentStatus"] == "Rejected":
            return self._decided(assignment, already=True)
        if assignment["AssignmentStatus"] == "Approved":
            raise ProviderError(
                f"MTurk reject_assignment refused: assignment "
                f"{work.provider_assignment_id} is already approved on MTurk "
                "(perhaps automatically, after the HIT type's auto-approval "
                "delay); its reward was paid and can't be taken back"
            )
        try:
            with _aws_errors("reject_assignment"):
                self.client.reject_assignment(
                    AssignmentId=work.provider_assignment_id,
                    RequesterFeedback=feedback,
                )
        except ProviderError:
            settled = self._settled(work, "Rejected")
            if settled is None:
                raise
            return settled
        return {"assignment": work.provider_assignment_id, "status": "Rejected"}

    def pay_bonus(
        self,
        *,
        work: WorkRef,
        amount: Decimal,
        reason: str,
        token: str,
        requested_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Send the worker a bonus on their assignment, at most once.

        A retry after a lost answer is made with the same UniqueRequestToken;
        MTurk refusing it as used, or a token too old for MTurk to remember, is
        settled by the assignment's bonus listing, never by sending again blind.
        """
        bonus_amount = f"{amount:.2f}"
        assignment = self._confirmed_assignment(work, "send_bonus")
        unique = bonus_request_token(token, requested_at)
        if requested_at is not None and datetime.now(UTC) - requested_at > (
            TOKEN_MEMORY
        ):
            # MTurk may have forgotten the token: a repeat would pay again.
            paid = self._listed_bonus(work, bonus_amount, reason)
            if paid is not None:
                return paid
        try:
            with _aws_errors("send_bonus"):
                self.client.send_bonus(
                    WorkerId=assignment["WorkerId"],
                    AssignmentId=work.provider_assignment_id,
                    BonusAmount=bonus_amount,
                    Reason=reason,
                    UniqueRequestToken=unique,
                )
        except ProviderError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and _is_repeated_token(cause)):
                raise
            paid = self._listed_bonus(work, bonus_amount, reason)
            if paid is None:
                raise ProviderError(
                    f"MTurk send_bonus: token {unique} was already used but the "
                    f"bonus is not listed on assignment "
                    f"{work.provider_assignment_id} yet",
                    transient=True,
                ) from exc
            return paid
        return {
            "assignment": work.provider_assignment_id,
            "amount": bonus_amount,
            "token": unique,
        }

    def block_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        """Block the worker from this requester's HITs. Blocking twice is harmless."""
        worker_id = self.provider_worker_id(worker_name)
        with _aws_errors("create_worker_block"):
            self.client.create_worker_block(WorkerId=worker_id, Reason=reason)
        return {"blocked": worker_id}

    def unblock_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        """Lift the worker's block on MTurk. Unblocking twice is harmless."""
        worker_id = self.provider_worker_id(worker_name)
        with _aws_errors("delete_worker_block"):
            self.client.delete_worker_block(
                WorkerId=worker_id,
                Reason=reason.strip() or "Unblocked by the requester.",
            )
        return {"unblocked": worker_id}

    def notify_workers(
        self, *, worker_names: Sequence[str], subject: str, message: str
    ) -> dict[str, Any]:
        """Email the workers through MTurk, 100 at a time; who could not be reached."""
        worker_ids = [self.provider_worker_id(name) for name in worker_names]
        failed: dict[str, str] = {}
        for start in range(0, len(worker_ids), self.notify_batch):
            with _aws_errors("notify_workers"):
                response = self.client.notify_workers(
                    Subject=subject,
                    MessageText=message,
                    WorkerIds=worker_ids[start : start + self.notify_batch],
                )
            for failure in response.get("NotifyWorkersFailureStatuses", []):
                failed[failure["WorkerId"]] = failure.get(
                    "NotifyWorkersFailureMessage", ""
                )
        return {
            "notified": len(worker_ids) - len(failed),
            "failed": failed,
        }

    def account_balance(self) -> Decimal:
        """The requester account's available balance, in dollars."""
        with _aws_errors("get_account_balance"):
            response = self.client.get_account_balance()
        return Decimal(response["AvailableBalance"])

    @classmethod
    def provider_worker_id(cls, worker_name: str) -> str:
        """MTurk's worker id for crowdsite's worker `worker_name`."""
        suffix = cls.worker_name_suffix
        if suffix and worker_name.endswith(suffix):
            return worker_name[: -len(suffix)]
        return worker_name

    verifies_arrivals = True

    def verify_arrival(self, arrival: Arrival) -> str:
        """Why MTurk says the assignment is another worker's or HIT's, or "".

        MTurk shows its requester an assignment only once it is submitted: a
        worker arriving at an assignment they just accepted can't be checked
        yet (that comes before any money, `_confirmed_assignment`); one
        arriving with an assignment already submitted is checked, so a forged
        workerId can't take over another worker's work. Answers are cached.
        """
        if arrival.preview:
            return ""
        key = self._assignment_cache_key(arrival.assignment_id)
        known = cache.get(key)
        if known is None:
            known = self._assignment_owner(arrival.assignment_id)
            cache.set(
                key,
                known,
                ASSIGNMENT_OWNER_CACHE_SECONDS
                if known
                else NOT_SHOWN_YET_CACHE_SECONDS,
            )
        if not known:
            return ""
        worker_id, _, hit_id = known.partition("\t")
        if worker_id != arrival.worker_id or (
            arrival.unit_id and hit_id != arrival.unit_id
        ):
            logger.warning(
                "MTurk arrival refused: assignment %s is worker %s's on HIT %s, "
                "but the page claimed worker %s on HIT %s",
                arrival.assignment_id,
                worker_id,
                hit_id,
                arrival.worker_id,
                arrival.unit_id or "(none)",
            )
            return (
                "This assignment belongs to another MTurk worker. Please open the "
                "HIT from your own MTurk account."
            )
        return ""

    def _assignment_cache_key(self, assignment_id: str) -> str:
        digest = hashlib.sha256(assignment_id.encode()).hexdigest()[:32]
        return f"crowdsite:{self.provider_type}:assignment-owner:{digest}"

    def _assignment_owner(self, assignment_id: str) -> str:
        """ "<WorkerId>\t<HITId>" of a submitted assignment; "" while MTurk
        doesn't show it (accepted, not yet submitted) or knows no such id."""
        try:
            with _aws_errors("get_assignment"):
                assignment = self.client.get_assignment(AssignmentId=assignment_id)[
                    "Assignment"
                ]
        except ProviderError as exc:
            if exc.transient:
                raise
            # MTurk's RequestError "Assignment ... does not exist": not shown yet.
            return ""
        return f"{assignment.get('WorkerId', '')}\t{assignment.get('HITId', '')}"

    def _confirmed_assignment(self, work: WorkRef, operation: str) -> dict[str, Any]:
        """The assignment, read back from MTurk, after checking whose it is.

        Raises a ProviderError (not transient) when MTurk says it is another
        worker's or another HIT's: nothing is approved, rejected or paid.
        """
        if not work.provider_assignment_id:
            raise ProviderError(
                f"MTurk {operation}: {work.worker_name}'s submission has no MTurk "
                "assignment id; nothing was sent"
            )
        with _aws_errors("get_assignment"):
            assignment = self.client.get_assignment(
                AssignmentId=work.provider_assignment_id
            )["Assignment"]
        owner = self.worker_name(assignment.get("WorkerId", ""))
        hit_id = assignment.get("HITId", "")
        if owner != work.worker_name or (
            work.provider_unit_id and hit_id != work.provider_unit_id
        ):
            logger.warning(
                "MTurk %s refused: assignment %s is %s's on HIT %s, not %s's on %s",
                operation,
                work.provider_assignment_id,
                owner,
                hit_id,
                work.worker_name,
                work.provider_unit_id or "(unknown)",
            )
            raise ProviderError(
                f"MTurk {operation} refused: assignment "
                f"{work.provider_assignment_id} belongs to worker {owner} on HIT "
                f"{hit_id}, not to {work.worker_name} on HIT "
                f"{work.provider_unit_id or '(unknown)'}; nothing was sent"
            )
        return assignment

    def _settled(self, work: WorkRef, status: str) -> dict[str, Any] | None:
        """The decision's result if MTurk now shows the assignment `status`."""
        try:
            with _aws_errors("get_assignment"):
                assignment = self.client.get_assignment(
                    AssignmentId=work.provider_assignment_id
                )["Assignment"]
        except ProviderError:
            return None
        if assignment.get("AssignmentStatus") != status:
            return None
        return self._decided(assignment, already=True)

    @staticmethod
    def _decided(assignment: dict[str, Any], *, already: bool) -> dict[str, Any]:
        return {
            "assignment": assignment["AssignmentId"],
            "status": assignment["AssignmentStatus"],
            "already": already,
        }

    def _listed_bonus(
        self, work: WorkRef, amount: str, reason: str
    ) -> dict[str, Any] | None:
        """The bonus of `amount` for `reason` MTurk lists on the assignment, if any."""
        params: dict[str, Any] = {
            "AssignmentId": work.provider_assignment_id,
            "MaxResults": 100,
        }
        while True:
            with _aws_errors("list_bonus_payments"):
                page = self.client.list_bonus_payments(**params)
            for bonus in page.get("BonusPayments", []):
                if (
                    Decimal(bonus.get("BonusAmount", "0")) == Decimal(amount)
                    and bonus.get("Reason") == reason
                ):
                    return {
                        "assignment": work.provider_assignment_id,
                        "amount": amount,
                        "reconciled": True,
                    }
            if not page.get("BonusPayments") or not page.get("NextToken"):
                return None
            params["NextToken"] = page["NextToken"]

    def _create_hit_type(
        self, run: TaskRun, requirements: Sequence[Mapping[str, Any]]
    ) -> str:
        # MTurk answers equal parameters with the same HIT type id, so a
        # retried launch reuses the type its first attempt made.
        params: dict[str, Any] = {
            "AutoApprovalDelayInSeconds": auto_approval_delay(run),
            "AssignmentDurationInSeconds": run.assignment_duration_in_seconds,
            "Reward": f"{run.task_reward:.2f}",
            "Title": run.task_title,
            "Description": run.task_description,
        }
        if run.task_tags:
            params["Keywords"] = run.task_tags
        qualification_requirements = [
            *self.qualification_requirements(requirements),
            *(run.shared_state or {}).get("mturk_specific_qualifications", []),
        ]
        if qualification_requirements:
            params["QualificationRequirements"] = qualification_requirements
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
