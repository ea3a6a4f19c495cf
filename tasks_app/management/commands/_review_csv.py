"""`review_run --run N --from-csv FILE [--dry-run] [--json]`: the offline review
of tasks_app/services/review/csv_review.py, read from a file and reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.management.base import CommandError

from tasks_app.exceptions import ReviewError
from tasks_app.management.commands._reviewing import one_line, terminal_text
from tasks_app.selectors.stats import format_seconds
from tasks_app.services.review.csv_reading import CsvFileError
from tasks_app.services.review.csv_review import (
    CsvReviewPlan,
    CsvReviewResult,
    Planned,
    apply_csv_review,
    csv_review_report,
    plan_csv_review,
)

if TYPE_CHECKING:
    from tasks_app.management.commands.review_run import Command

# Refused rows printed as text; --json lists them all.
SHOWN_REFUSALS = 50


def review_from_csv(command: Command, name: str, *, dry_run: bool) -> None:
    """Check the file, apply it unless `dry_run` or a row is refused, and print
    the report; a refused file exits with status 1."""
    run = command.task_run
    path = Path(name)
    try:
        with path.open("rb") as file:
            plan = plan_csv_review(run_id=run.pk, file=file, source=name)
    except OSError as exc:
        raise CommandError(
            f"--from-csv {name}: {exc.strerror or exc}; nothing was written"
        ) from None
    except CsvFileError as exc:
        if command.as_json:
            unread = CsvReviewPlan(run_id=run.pk, source=name)
            unread.refuse(exc.line, None, str(exc))
            command.stdout.write(json.dumps(csv_review_report(unread, dry_run=dry_run)))
        raise CommandError(str(exc)) from None
    result = None
    if not plan.refused and not dry_run:
        try:
            result = apply_csv_review(plan=plan, reviewer=command.reviewer)
        except ReviewError as exc:
            raise CommandError(str(exc)) from None
    if command.as_json:
        report = csv_review_report(plan, dry_run=dry_run, result=result)
        command.stdout.write(json.dumps(report))
    else:
        command.stdout.write(terminal_text("\n".join(_lines(plan, dry_run, result))))
    if plan.refused:
        raise CommandError(
            f"{name}: {len(plan.refused)} row(s) refused; nothing was written"
        )


def _lines(
    plan: CsvReviewPlan, dry_run: bool, result: CsvReviewResult | None
) -> list[str]:
    lines = [
        f"{plan.source}, run {plan.run_id}: {plan.rows} row(s): "
        f"{len(plan.approve)} to approve, {len(plan.reject)} to reject, "
        f"{len(plan.already_decided)} already decided, {plan.skipped} left "
        f"blank, {len(plan.refused)} refused."
    ]
    if plan.refused:
        for refusal in plan.refused[:SHOWN_REFUSALS]:
            unit = f" (unit {refusal.unit_id})" if refusal.unit_id is not None else ""
            lines.append(f"Refused line {refusal.line}{unit}: {refusal.error}")
        hidden = len(plan.refused) - SHOWN_REFUSALS
        if hidden > 0:
            lines.append(f"... and {hidden} more refused row(s); --json lists all.")
        lines.append("Nothing was written: correct the rows above and run again.")
        return lines
    done = result is not None
    for planned in plan.approve:
        verb = "Approved" if done else "Would approve"
        lines.append(
            f"{verb} {_submission(planned)}, {'paid' if done else 'paying'} "
            f"${planned.reward}."
        )
    for planned in plan.reject:
        verb = "Rejected" if done else "Would reject"
        lines.append(f"{verb} {_submission(planned)}: {json.dumps(planned.feedback)}")
    for planned in plan.already_decided:
        lines.append(
            f"Already {planned.action}d, left as it is: {_submission(planned)}."
        )
    if dry_run:
        lines.append(
            f"Dry run: nothing was written; the approvals would pay "
            f"${plan.reward} in rewards."
        )
    elif result is not None and (result.approved or result.rejected):
        lines.append(
            f"Decided {len(result.approved) + len(result.rejected)} submission(s); "
            f"${result.paid} in rewards to be paid through the provider."
        )
    else:
        lines.append("Nothing to decide.")
    return lines


def _submission(planned: Planned) -> str:
    blocked = " (BLOCKED)" if planned.worker_blocked else ""
    took = planned.work_seconds
    work = f", work time {format_seconds(took)}" if took is not None else ""
    return (
        f"unit {planned.unit_id} (line {planned.line}, agent {planned.agent_id}) "
        f"by {one_line(planned.worker)}{blocked}{work}"
    )
