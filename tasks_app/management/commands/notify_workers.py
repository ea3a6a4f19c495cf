"""`manage.py notify_workers`: send workers a message through their provider."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from providers import notify, outbox
from providers.models import CallStatus, ProviderCall
from providers.registry import get_provider_class, parse_worker_ref
from qualifications_app.selectors import find_worker
from tasks_app.models import AgentStatus, TaskRun, Worker

EXAMPLES = """\
Examples:
  manage.py notify_workers --run 7 --subject "More HITs tomorrow" \\
      --message "Thanks for your work on our sentences: a new batch opens at 9:00 UTC."
  manage.py notify_workers --run 7 --status approved --subject "Bonus sent" \\
      --message-file note.txt
  manage.py notify_workers mturk:A1B2C3D4E5 mturk_sandbox:A2XYZ --subject "Hi" \\
      --message "A question about your answer" --dry-run

Workers are named as PROVIDER:ID, or taken from a run (--run: every worker who
had a unit of it; --status: only those whose agent ended so). On MTurk each call
names at most 100 workers (NotifyWorkers), with a subject of at most 200
characters and a message of at most 4,096. The same message to the same workers
again is not sent twice: the provider call log keys each batch by its content.
Refused, nothing sent (exit status 1): no workers, an empty or over-long subject
or message, a provider that can't send messages.
"""


class Command(ExamplesCommand):
    help = "Send workers a message (an email, on MTurk) from the requester."

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workers", nargs="*", metavar="PROVIDER:ID")
        parser.add_argument("--run", type=int, metavar="RUN_ID")
        parser.add_argument(
            "--status",
            action="append",
            choices=[s.value for s in AgentStatus],
            help="With --run: only workers whose agent is in this state (repeatable).",
        )
        parser.add_argument("--subject", required=True)
        message = parser.add_mutually_exclusive_group(required=True)
        message.add_argument("--message")
        message.add_argument("--message-file", type=Path, metavar="FILE")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say who would get it; send nothing."
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        message = self.message(options)
        workers = self.workers(options)
        by_provider: dict[str, list[str]] = {}
        for worker in workers:
            by_provider.setdefault(worker.provider_type, []).append(worker.worker_name)
        report = []
        # A task per batch of workers: one publish pass at the end, so a broker
        # that is down costs one wait, not one per batch.
        with outbox.publishing_together():
            for provider_type, names in sorted(by_provider.items()):
                report.append(
                    self.send(
                        provider_type,
                        names,
                        subject=options["subject"],
                        message=message,
                        dry_run=options["dry_run"],
                    )
                )
        if options["json"]:
            self.stdout.write(json.dumps({"providers": report}, indent=2))
            return
        for entry in report:
            self.stdout.write(self.describe(entry, dry_run=options["dry_run"]))

    def message(self, options) -> str:
        if options["message_file"] is None:
            return options["message"]
        try:
            return options["message_file"].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"--message-file: can't read it: {exc}") from exc

    def workers(self, options) -> list[Worker]:
        if options["status"] and options["run"] is None:
            raise CommandError("--status picks workers of a run: give --run too")
        found: dict[int, Worker] = {}
        for text in options["workers"]:
            try:
                ref = parse_worker_ref(text)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            worker = find_worker(ref)
            if worker is None:
                raise CommandError(f"unknown worker {ref.label}")
            found[worker.pk] = worker
        if options["run"] is not None:
            if not TaskRun.objects.filter(pk=options["run"]).exists():
                raise CommandError(f"there is no task run {options['run']}")
            agents = {"agents__run_id": options["run"]}
            if options["status"]:
                agents["agents__status__in"] = options["status"]
            for worker in Worker.objects.filter(**agents).distinct():
                found[worker.pk] = worker
        if not found:
            raise CommandError(
                "no workers to notify: name them as PROVIDER:ID, or give --run"
            )
        return list(found.values())

    def send(
        self,
        provider_type: str,
        names: list[str],
        *,
        subject: str,
        message: str,
        dry_run: bool,
    ) -> dict:
        try:
            if dry_run:
                get_provider_class(provider_type).check_notification(
                    subject=subject, message=message
                )
                keys = []
            else:
                keys = notify.notify_workers(
                    provider_type=provider_type,
                    worker_names=names,
                    subject=subject,
                    message=message,
                )
        except ValueError as exc:
            raise CommandError(f"{provider_type}: {exc}; nothing was sent") from exc
        calls = {
            c.idempotency_key: c
            for c in ProviderCall.objects.filter(idempotency_key__in=keys)
        }
        batches = []
        for key in keys:
            call = calls.get(key)
            batch = {"key": key, "status": call.status if call else "queued"}
            if call is not None and call.status == CallStatus.SUCCEEDED:
                batch["failed"] = (call.response or {}).get("failed", {})
            elif call is not None and call.error:
                batch["error"] = call.error
            batches.append(batch)
        return {"provider": provider_type, "workers": sorted(names), "batches": batches}

    @staticmethod
    def describe(entry: dict, *, dry_run: bool) -> str:
        count = len(entry["workers"])
        provider = entry["provider"]
        if dry_run:
            return f"{provider}: would send to {count} workers: " + ", ".join(
                entry["workers"]
            )
        lines = [f"{provider}: {count} workers, {len(entry['batches'])} calls"]
        for number, batch in enumerate(entry["batches"], start=1):
            line = f"  call {number}: {batch['status']}"
            if batch.get("failed"):
                line += "; not reached: " + ", ".join(
                    f"{worker} ({why})" for worker, why in batch["failed"].items()
                )
            if batch.get("error"):
                line += f": {batch['error']}"
            lines.append(line)
        return "\n".join(lines)
