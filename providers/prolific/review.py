"""Review and money on Prolific: decisions through the submission transition,
bonuses set up and then paid (the pay call never repeated blind), and
qualifications and blocks as participant groups."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers.base import ProviderError, WorkRef
from providers.calllog import NotRepeated, run_logged_call
from providers.prolific.client import (
    BLOCK_LIST_GROUP_NAME,
    ProlificBase,
    ProlificError,
    _members,
    _participant,
    _request,
    _study_of,
    _submission,
)

AWAITING_REVIEW = "AWAITING REVIEW"
# Shown for a short while after a decision, before APPROVED or REJECTED.
PROCESSING = "PROCESSING"

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


class ProlificReview(ProlificBase):
    """Prolific's decisions, bonuses, qualifications and blocks."""

    mirrors_qualifications = True

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

    # Paying a set-up bonus can't be deduplicated (see pay_bonus): the review's
    # own call is not repeated after an outcome that is not known.
    bonus_is_repeatable = False

    def approve_work(
        self,
        *,
        work: WorkRef,
        token: str,
        note: str = "",
        override_rejection: bool = False,
    ) -> dict[str, Any]:
        """Approve the submission (paying its reward). Approved already: done.

        Prolific's approval carries no message (`note` stays with the review)
        and a rejected submission can't be approved (`can_override_rejection`
        is False, so the review services refuse it before this is called)."""
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
