"""`manage.py block_worker PROVIDER:ID`: keep a worker away from every run."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.registry import parse_worker_ref
from qualifications_app.selectors import find_worker
from qualifications_app.services import set_blocked


class Command(BaseCommand):
    help = (
        "Put a worker on the local blocklist: they get no work from any run. "
        "Example: manage.py block_worker mturk:A1B2C3D4E5 --reason 'copied answers'"
    )
    blocked = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("worker", metavar="PROVIDER:ID")
        parser.add_argument("--reason", default="")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        try:
            ref = parse_worker_ref(options["worker"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        worker = find_worker(ref)
        if worker is None:
            raise CommandError(f"unknown worker {ref.label}")
        changed = set_blocked(
            worker=worker, blocked=self.blocked, reason=options["reason"]
        )
        state = "blocked" if self.blocked else "unblocked"
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"worker": ref.label, "blocked": self.blocked, "changed": changed}
                )
            )
        else:
            already = "" if changed else " (already)"
            self.stdout.write(f"{ref.label} {state}{already}.")
