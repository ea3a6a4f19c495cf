"""Review and money on MTurk: approve, reject, bonus, block, notify, balance,
and qualifications mirrored on MTurk's qualification types.

Each decision and payment first reads the assignment back from MTurk: money
moves only if it is that worker's assignment of that HIT.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from providers.base import ProviderError, WorkRef
from providers.calllog import run_logged_call
from providers.mturk.client import MTurkBase, _aws_errors, _is_repeated_token, logger

# How long MTurk remembers a UniqueRequestToken (24 hours), less a margin for
# clocks and for the time between asking for a call and its first attempt.
TOKEN_MEMORY = timedelta(hours=23)
# Requirements keep ineligible workers from accepting; they may still preview.
ACTIONS_GUARDED = "Accept"
# RequesterFeedback's length limit (ApproveAssignment, RejectAssignment).
MAX_REQUESTER_FEEDBACK = 1024
# Our comparators are MTurk's own names (DESIGN §4); these take no value.
VALUELESS_COMPARATORS = ("Exists", "DoesNotExist")
# What a revoke tells the worker when the requester gave no reason.
DEFAULT_REVOKE_REASON = "The requester withdrew this qualification."


def approval_params(note: str, override_rejection: bool) -> dict[str, Any]:
    """ApproveAssignment's optional parameters: the note as RequesterFeedback
    (the review services refuse one past MTurk's limit) and OverrideRejection."""
    params: dict[str, Any] = {}
    if note.strip():
        params["RequesterFeedback"] = note.strip()
    if override_rejection:
        params["OverrideRejection"] = True
    return params


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


class MTurkReview(MTurkBase):
    """MTurk's decisions, bonuses, blocks, notifications and qualifications."""

    # NotifyWorkers: a subject of at most 200 characters, a message of 4,096.
    notify_limits = (200, 4096)

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

    def approve_work(
        self,
        *,
        work: WorkRef,
        token: str,
        note: str = "",
        override_rejection: bool = False,
    ) -> dict[str, Any]:
        """Approve the assignment (paying its reward), with `note` as the
        RequesterFeedback the worker sees; `override_rejection` approves an
        assignment MTurk has rejected (OverrideRejection). Approved already:
        done."""
        assignment = self._confirmed_assignment(work, "approve_assignment")
        if assignment["AssignmentStatus"] == "Approved":
            return self._decided(assignment, already=True)
        if assignment["AssignmentStatus"] == "Rejected" and not override_rejection:
            raise ProviderError(
                f"MTurk approve_assignment refused: assignment "
                f"{work.provider_assignment_id} was rejected on MTurk; approving it "
                "now would override that rejection, which is not done automatically"
            )
        try:
            with _aws_errors("approve_assignment"):
                self.client.approve_assignment(
                    AssignmentId=work.provider_assignment_id,
                    **approval_params(note, override_rejection),
                )
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
