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
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError
from django.core.cache import cache

from providers.base import Arrival, ProviderError, RunSpec, SubmittedWork, url_param
from providers.checks import Check
from providers.mturk import checks as health
from providers.mturk import config as config_checks
from providers.mturk.client import (
    SANDBOX_ENDPOINT,
    _aws_errors,
    _is_repeated_token,
    logger,
)
from providers.mturk.review import MAX_REQUESTER_FEEDBACK, MTurkReview

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

# How long an arrival remembers what MTurk said of an assignment: whose it is
# once submitted (that never changes), or that MTurk doesn't show it yet.
ASSIGNMENT_OWNER_CACHE_SECONDS = 60 * 60 * 24
NOT_SHOWN_YET_CACHE_SECONDS = 60


def run_token_prefix(run: RunSpec) -> str:
    """What every HIT request token of `run` starts with."""
    # The run's creation time tells apart runs that share a pk across databases
    # (a reset development database posting to the same sandbox account).
    return f"crowdsite-{run.run_id}-{int(run.created_at.timestamp())}-"


def hit_request_token(run: RunSpec, unit_id: int) -> str:
    """The `UniqueRequestToken` of `unit_id`'s HIT: at most 64 chars, never changing."""
    return f"{run_token_prefix(run)}{unit_id}"


def auto_approval_delay(run: RunSpec) -> int:
    """When MTurk approves an assignment nobody reviewed: the run's own
    `mephisto.task.auto_approve_delay_in_seconds` (the config allows at most
    MTurk's 30 days), so MTurk and crowdsite's auto-approval agree."""
    delay = run.auto_approve_delay
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


class MTurkProvider(MTurkReview):
    """Live MTurk: real workers, real money."""

    provider_type = "mturk"
    can_override_rejection = True
    override_rejection_within = timedelta(days=30)
    feedback_max_length = MAX_REQUESTER_FEEDBACK

    # MTurk's commission for HITs with fewer than 10 assignments (ours have 1).
    fee_rate = Decimal("0.20")

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

    args_class = config_checks.MTurkProviderArgs
    # MTurk's own QualificationRequirements, sent on the HIT type as given.
    specific_state_key = "mturk_specific_qualifications"

    @classmethod
    def check_can_launch(cls, *, provider_args: Mapping[str, Any]) -> None:
        """Raise ConfigError unless boto3 can find AWS credentials (no MTurk call)."""
        config_checks.check_can_launch(cls.provider_type)

    @classmethod
    def check_provider_args(
        cls, *, provider_args: Mapping[str, Any], shared_state: Mapping[str, Any]
    ) -> None:
        """Refuse `mturk_specific_qualifications` that are not MTurk's
        QualificationRequirements (config.check_specific_qualifications)."""
        config_checks.check_specific_qualifications(
            shared_state.get(cls.specific_state_key)
        )

    @classmethod
    def unconfigured(cls) -> str:
        return health.unconfigured()

    @classmethod
    def health_checks(cls, *, min_balance: Decimal) -> list[Check]:
        return health.check_mturk(cls, min_balance=min_balance)

    @classmethod
    def credentials_hint(cls) -> str:
        return f"for MTurk, {health.AWS_CREDENTIALS_FIX}"

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
    def page_config(cls, run: RunSpec) -> dict[str, Any]:
        """Where mturk.js may post the worker's externalSubmit form."""
        return {
            "mturk_submit_to": cls.submit_hosts[0],
            "mturk_submit_hosts": list(cls.submit_hosts),
        }

    def launch_units(
        self,
        *,
        run: RunSpec,
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
        lifetime = int(run.task_lifetime or DEFAULT_LIFETIME_SECONDS)
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

    def expire_units(self, *, run: RunSpec, provider_unit_ids: list[str]) -> None:
        """Expire each HIT now. Expiring an expired HIT is harmless."""
        for hit_id in provider_unit_ids:
            with _aws_errors("update_expiration_for_hit"):
                self.client.update_expiration_for_hit(HITId=hit_id, ExpireAt=EXPIRED_AT)

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

    def _create_hit_type(
        self, run: RunSpec, requirements: Sequence[Mapping[str, Any]]
    ) -> str:
        # MTurk answers equal parameters with the same HIT type id, so a
        # retried launch reuses the type its first attempt made.
        params: dict[str, Any] = {
            "AutoApprovalDelayInSeconds": auto_approval_delay(run),
            "AssignmentDurationInSeconds": run.assignment_duration,
            "Reward": f"{run.reward:.2f}",
            "Title": run.title,
            "Description": run.description,
        }
        if run.keywords:
            params["Keywords"] = run.keywords
        qualification_requirements = [
            *self.qualification_requirements(requirements),
            *run.specific_requirements,
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
    args_class = config_checks.SandboxMTurkProviderArgs
    endpoint_url = SANDBOX_ENDPOINT
    # Sandbox and live share worker ids; the suffix keeps their records apart.
    worker_name_suffix = "_sandbox"
    submit_hosts = ("https://workersandbox.mturk.com",)
    frame_ancestors = "https://workersandbox.mturk.com"
