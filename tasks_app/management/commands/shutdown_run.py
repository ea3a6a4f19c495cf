"""`manage.py shutdown_run --run N`: stop a run taking workers."""

from __future__ import annotations

import json

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from providers.outbox import publishing_together
from tasks_app import services
from tasks_app.exceptions import RunLifecycleError

EXAMPLES = """\
Examples:
  manage.py shutdown_run --run 12
  manage.py shutdown_run --run 12 --reason "pilot has enough answers"
  manage.py shutdown_run --run 12 --json

Every unit no worker has taken yet is expired, here at once and on the
provider through Celery (MTurk HITs and Prolific places withdrawn). Units a
worker holds may still be submitted, and are reviewed as usual; a worker
arriving now is told the task has no units left. The run ends shut_down.
Refused (nothing changed, exit status 1): an unknown run, or a run that has
already ended (completed or shut_down).

--json prints one JSON object: {"run", "status", "expired" (units expired now),
"held" (units workers still hold, not yet submitted), "awaiting_review" (units
submitted and not yet decided), "reason"}.
"""

DEFAULT_REASON = "shut down by the operator (shutdown_run)"


class Command(ExamplesCommand):
    help = "Shut a run down: expire its untaken units (on the provider too)."

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="The task run id.")
        parser.add_argument(
            "--reason",
            default=DEFAULT_REASON,
            help="Why, kept on the run (default: shut down by the operator).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )

    def handle(self, *args, **options) -> None:
        try:
            # Its two provider tasks in one publish pass: one wait, not two, if
            # the broker is down.
            with publishing_together():
                done = services.shutdown_run(
                    run_id=options["run"],
                    reason=options["reason"].strip() or DEFAULT_REASON,
                )
        except RunLifecycleError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(done.as_dict()))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {done.run_id} is shut down: {done.expired} unit(s) not yet "
                f"taken expired (and withdrawn through Celery from the provider, where "
                f"posted); "
                f"{done.held} unit(s) held by workers may still be submitted; "
                f"{done.awaiting_review} submitted unit(s) await review."
            )
        )
