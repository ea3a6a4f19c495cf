"""A requester's review of submitted work, by concern: `decisions` (approve,
reject, soft-reject, one or many, block, undo a rejection), `checks` (the rules a
decision is checked against first), `bonuses`, `ledger` (the payments and
fees they write), `sending` (the provider calls, and the sweeps that finish lost
ones), `workflows` (auto-approval) and `csv_review` (a filled-in export CSV)."""

from tasks_app.services.review.bonuses import (
    LARGE_BONUS_FACTOR,
    check_not_large,
    parse_amount,
    pay_bonus,
)
from tasks_app.services.review.checks import (
    DECIDED,
    OUTCOMES,
    REVIEW_PERMISSION,
    unreported_refusal,
)
from tasks_app.services.review.csv_reading import CsvFileError
from tasks_app.services.review.csv_review import (
    CsvReviewPlan,
    CsvReviewResult,
    apply_csv_review,
    csv_review_report,
    plan_csv_review,
    replan_csv_review,
)
from tasks_app.services.review.decisions import (
    SEND_BATCH,
    BulkApproval,
    Decision,
    approve_unit,
    approve_units,
    block_from_review,
    decide,
    reject_unit,
    soft_reject_unit,
)
from tasks_app.services.review.ledger import CENT, PAID_DECISIONS
from tasks_app.services.review.sending import (
    RECONCILE_AFTER,
    STALLED_AFTER,
    Reconciled,
    reconcile_lost_bonuses,
    send_review,
    send_reviews,
    stalled_reviews,
)
from tasks_app.services.review.workflows import (
    DEFAULT_AUTO_APPROVE_DELAY,
    Approvals,
    approve_and_grant,
    approve_submissions,
    auto_approve_due,
    grant_to_approved,
    review_units,
)

__all__ = [
    "CENT",
    "LARGE_BONUS_FACTOR",
    "DECIDED",
    "DEFAULT_AUTO_APPROVE_DELAY",
    "OUTCOMES",
    "PAID_DECISIONS",
    "RECONCILE_AFTER",
    "REVIEW_PERMISSION",
    "SEND_BATCH",
    "STALLED_AFTER",
    "Approvals",
    "BulkApproval",
    "CsvFileError",
    "CsvReviewPlan",
    "CsvReviewResult",
    "Decision",
    "Reconciled",
    "apply_csv_review",
    "approve_and_grant",
    "approve_submissions",
    "approve_unit",
    "approve_units",
    "auto_approve_due",
    "check_not_large",
    "block_from_review",
    "csv_review_report",
    "decide",
    "grant_to_approved",
    "review_units",
    "parse_amount",
    "pay_bonus",
    "plan_csv_review",
    "reconcile_lost_bonuses",
    "reject_unit",
    "replan_csv_review",
    "send_review",
    "send_reviews",
    "soft_reject_unit",
    "stalled_reviews",
    "unreported_refusal",
]
