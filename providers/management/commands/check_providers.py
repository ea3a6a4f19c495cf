"""`manage.py check_providers`: is everything a launch needs in place?"""

from __future__ import annotations

import json

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from crowdsite.money import parse_dollars
from providers import checks
from providers.registry import PROVIDER_CLASSES

EXAMPLES = """\
Examples:
  manage.py check_providers
  manage.py check_providers --provider mturk_sandbox
  manage.py check_providers --provider mturk --min-balance 250
  manage.py check_providers --provider prolific --json
  AWS_PROFILE=lab manage.py check_providers --provider mturk --provider mturk_sandbox

For each provider: its credentials (MTurk: the AWS chain, i.e. AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY or AWS_PROFILE; Prolific: PROLIFIC_API_KEY), the
endpoint its calls go to (MTurk: AWS_ENDPOINT_URL_MTURK, then AWS_ENDPOINT_URL,
then the AWS config file, else the sandbox's or live MTurk's own) and whether it
answered, and the account's balance (MTurk: GetAccountBalance; Prolific's is not
read). Then the Celery broker (CELERY_BROKER_URL) and beat. crowdsite records
no beat heartbeat: beat is reported failed when queued tasks wait in the outbox
although the broker answers (beat's send-outbox would have sent them), and
"cannot tell" otherwise.

Without --provider, every provider with credentials configured is checked and
the others are listed as skipped, with why. Each check calls out at most once
(GetAccountBalance; Prolific's users/me). Exit status 1 if any check failed.

--json prints one object: {"ok", "checks": [{"check", "provider", "status"
(ok | failed | unknown | skipped), "detail", "fix"}], "skipped": {provider:
why}}.
"""

MARKS = {
    checks.OK: "ok",
    checks.FAILED: "FAILED",
    checks.UNKNOWN: "?",
    checks.SKIPPED: "-",
}


class Command(ExamplesCommand):
    help = (
        "Check provider credentials, endpoints and balances, the Celery broker "
        "and beat; say what is wrong and how to fix it."
    )

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--provider",
            action="append",
            choices=list(PROVIDER_CLASSES),
            help=(
                "Check this provider (repeat for several); default: every one "
                "with credentials configured."
            ),
        )
        parser.add_argument(
            "--min-balance",
            default=str(checks.DEFAULT_MIN_BALANCE),
            metavar="DOLLARS",
            help="Fail the balance check below this many dollars, in plain digits "
            "such as 250 or 0.50 (default 0.01: empty fails).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )

    def handle(self, *args, **options) -> None:
        try:
            min_balance = parse_dollars(options["min_balance"], what="--min-balance")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if min_balance < 0:
            raise CommandError(
                f"--min-balance: {options['min_balance']!r} is not an amount of "
                "dollars of 0 or more (e.g. 25 or 0.50)"
            )
        if options["provider"]:
            chosen = list(dict.fromkeys(options["provider"]))
            skipped: dict[str, str] = {}
        else:
            chosen, skipped = checks.default_providers()
        found: list[checks.Check] = []
        if not chosen:
            found.append(
                checks.Check(
                    "credentials",
                    checks.FAILED,
                    "no provider has credentials configured",
                    checks.credentials_fix(),
                )
            )
        for provider_type in chosen:
            found += checks.check_provider(provider_type, min_balance=min_balance)
        found += checks.check_celery()
        failed = [check for check in found if check.status == checks.FAILED]

        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": not failed,
                        "checks": [check.as_dict() for check in found],
                        "skipped": skipped,
                    }
                )
            )
        else:
            self._print(found, skipped)
        if failed:
            raise CommandError(
                f"{len(failed)} check(s) failed: "
                + ", ".join(
                    f"{check.provider} {check.check}" if check.provider else check.check
                    for check in failed
                )
            )

    def _print(self, found: list[checks.Check], skipped: dict[str, str]) -> None:
        group = None
        for check in found:
            heading = check.provider or (
                "celery" if check.check in ("broker", "beat") else "providers"
            )
            if heading != group:
                group = heading
                self.stdout.write(heading)
            mark = MARKS[check.status]
            if check.status == checks.FAILED:
                mark = self.style.ERROR(f"{mark:<6}")
            elif check.status == checks.OK:
                mark = self.style.SUCCESS(f"{mark:<6}")
            else:
                mark = f"{mark:<6}"
            self.stdout.write(f"  {mark} {check.check:<12} {check.detail}")
            if check.fix:
                self.stdout.write(f"         {'':<12} fix: {check.fix}")
        for provider_type, why in skipped.items():
            self.stdout.write(f"skipped {provider_type}: {why}")
        if not any(check.status == checks.FAILED for check in found):
            self.stdout.write(self.style.SUCCESS("No check failed."))
