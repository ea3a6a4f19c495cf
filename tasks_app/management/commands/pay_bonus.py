"""`manage.py pay_bonus --unit UNIT_ID --amount 0.50 --reason TEXT`: pay a bonus."""

from __future__ import annotations

import json

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from tasks_app import services
from tasks_app.exceptions import LargeBonusError, ReviewError
from tasks_app.management.commands._reviewing import find_reviewer

EXAMPLES = """\
Examples:
  manage.py pay_bonus --unit 41 --amount 0.50 --reason "thorough answers"
  manage.py pay_bonus --unit 41 --amount 0.25 --reason "second batch" --json
  manage.py pay_bonus --unit 41 --agent 97 --amount 0.50 --reason "late but good"
  manage.py pay_bonus --unit 41 --amount 1.00 --reason "great" --reviewer rita
  manage.py pay_bonus --unit 41 --amount 5.00 --reason "found a bug" --yes

The amount is in dollars, a positive number of whole cents written in plain
digits 0-9 with one '.' (0.50, 12, 12.50). The worker is shown the reason. A unit
may get several bonuses, each for its own reason; the same amount for the same
reason again is refused as a replay, so running this twice pays once. Refused
(nothing paid, exit status 1): an amount that is zero, negative, not whole cents
or not in plain digits (1_000, 1e2, 1,000, digits of other scripts); no reason;
a unit that does not exist, has no submission or was rejected; a --reviewer
without the review permission; a bonus above 10 times the unit's reward without
--yes (a slipped decimal point: 1000 for 10.00).
"""


class Command(ExamplesCommand):
    help = "Pay the worker of a submitted unit a bonus, with the reason they are shown."

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--unit", type=int, required=True, metavar="UNIT_ID")
        parser.add_argument(
            "--amount",
            required=True,
            help="Dollars in plain digits, e.g. 0.50 (whole cents).",
        )
        parser.add_argument(
            "--reason", required=True, help="Why; the worker is shown it."
        )
        parser.add_argument(
            "--agent",
            type=int,
            metavar="AGENT_ID",
            help="The submission to pay for, when the unit has more than one "
            "(a late one beside its worker's).",
        )
        parser.add_argument(
            "--reviewer",
            metavar="USERNAME",
            help="Record the bonus as this user's (they need the review "
            "permission); without it, as the operator's.",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Pay a bonus above 10 times the unit's reward (refused without "
            "it, saying how many times the reward it is).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object (action, unit_id, agent_id, worker, "
            "review_id, late, amount).",
        )

    def handle(self, *args, **options) -> None:
        reviewer = find_reviewer(options["reviewer"])
        try:
            decision = services.pay_bonus(
                unit_id=options["unit"],
                amount=options["amount"],
                reason=options["reason"],
                reviewer=reviewer,
                agent_id=options["agent"],
                confirm_large=options["yes"],
            )
        except LargeBonusError as exc:
            raise CommandError(f"{exc} (--yes confirms it)") from exc
        except ReviewError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(decision.as_dict()))
            return
        late = " (late submission)" if decision.late else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Paid a bonus of ${decision.paid} to {decision.worker_name} for "
                f"unit {decision.unit_id}{late} (review {decision.review_id})."
            )
        )
