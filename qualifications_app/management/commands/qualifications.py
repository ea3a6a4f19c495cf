"""`manage.py qualifications ...`: create, list, grant, revoke, import and export."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Count

from crowdsite import csv_safety
from crowdsite.commands import ExamplesCommand
from providers.outbox import publishing_together
from providers.registry import parse_worker_ref
from qualifications_app import services
from qualifications_app.models import GrantedQualification, Qualification
from qualifications_app.selectors import find_worker
from qualifications_app.services import QualificationError

EXAMPLES = """\
Workers are named PROVIDER:ID, e.g. mock:alice, mturk:A1B2C3D4E5,
mturk_sandbox:A1B2C3D4E5, prolific:5f1c...

Examples:
  manage.py qualifications create my-task-allowlist --description "good pilot workers"
  manage.py qualifications list --json
  manage.py qualifications grant my-task-allowlist mturk:A1B2C3 mturk:B2C3D4
  manage.py qualifications grant english-level mturk:A1B2C3 --value 4
  manage.py qualifications revoke my-task-allowlist mturk:A1B2C3 --reason "spam"
  manage.py qualifications import my-task-allowlist --csv workers.csv
  manage.py qualifications import my-task-allowlist --csv workers.csv --skip-bad-rows
  manage.py qualifications export my-task-allowlist --output allowlist.csv
  manage.py qualifications workers my-task-allowlist --json
"""


class Command(ExamplesCommand):
    help = "Manage qualifications and the workers on them (allowlists, blocklists)."

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)

        create = actions.add_parser("create", help="Create a qualification.")
        create.add_argument("name")
        create.add_argument("--description", default="")

        actions.add_parser("list", help="List qualifications with worker counts.")

        workers = actions.add_parser("workers", help="List the workers on one.")
        workers.add_argument("name")

        grant = actions.add_parser("grant", help="Grant to workers (all or none).")
        grant.add_argument("name")
        grant.add_argument("workers", nargs="+", metavar="PROVIDER:ID")
        grant.add_argument("--value", type=int, default=1)
        grant.add_argument("--reason", default="")

        revoke = actions.add_parser("revoke", help="Revoke from workers (all or none).")
        revoke.add_argument("name")
        revoke.add_argument("workers", nargs="+", metavar="PROVIDER:ID")
        revoke.add_argument("--reason", default="")

        imp = actions.add_parser(
            "import", help="Grant to the workers listed in a CSV (or one id per line)."
        )
        imp.add_argument("name")
        imp.add_argument("--csv", required=True, help="File path, or - for stdin.")
        imp.add_argument("--value", type=int, default=1)
        imp.add_argument("--provider", help="Provider for ids given without one.")
        imp.add_argument("--reason", default="imported")
        imp.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="Import the good rows even if some are bad (they are reported).",
        )

        exp = actions.add_parser("export", help="Write the workers on one as CSV.")
        exp.add_argument("name")
        exp.add_argument("--output", default="-", help="File path, or - for stdout.")

        for sub in actions.choices.values():
            sub.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        try:
            # A grant or revoke to many workers enqueues a mirror task for each:
            # one publish pass at the end, so a broker that is down costs one
            # wait, not one per worker.
            with publishing_together():
                result = getattr(self, f"do_{options['action']}")(options)
        except (QualificationError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if result is None:
            return
        text = result.pop("_text")
        self.stdout.write(json.dumps(result) if options["json"] else text)

    def do_create(self, options: dict) -> dict[str, Any]:
        qualification = services.create_qualification(
            name=options["name"], description=options["description"]
        )
        return {
            "name": qualification.name,
            "created": True,
            "_text": f"Created qualification '{qualification.name}'.",
        }

    def do_list(self, options: dict) -> dict[str, Any]:
        rows = list(
            Qualification.objects.annotate(workers=Count("grants"))
            .order_by("name")
            .values("name", "description", "workers")
        )
        text = "\n".join(f"{r['name']}\t{r['workers']} workers" for r in rows)
        return {"qualifications": rows, "_text": text or "No qualifications."}

    def do_workers(self, options: dict) -> dict[str, Any]:
        qualification = services.get_qualification(options["name"])
        rows = [
            {"worker": f"{provider}:{name}", "value": value}
            for provider, name, value in GrantedQualification.objects.filter(
                qualification=qualification
            )
            .order_by("worker__provider_type", "worker__worker_name")
            .values_list("worker__provider_type", "worker__worker_name", "value")
        ]
        text = "\n".join(f"{r['worker']}\t{r['value']}" for r in rows)
        return {
            "name": qualification.name,
            "workers": rows,
            "_text": text or "No workers.",
        }

    def do_grant(self, options: dict) -> dict[str, Any]:
        refs = [parse_worker_ref(raw) for raw in options["workers"]]
        changed = services.bulk_grant(
            name=options["name"],
            refs=refs,
            value=options["value"],
            reason=options["reason"],
        )
        return {
            "name": options["name"],
            "granted": changed,
            "_text": f"Granted '{options['name']}' = {options['value']} to {changed} "
            f"worker(s) ({len(refs) - changed} already had it).",
        }

    def do_revoke(self, options: dict) -> dict[str, Any]:
        refs = [parse_worker_ref(raw) for raw in options["workers"]]
        found = {ref: find_worker(ref) for ref in refs}
        unknown = [ref.label for ref, worker in found.items() if worker is None]
        if unknown:
            raise QualificationError(f"unknown workers: {', '.join(unknown)}")
        revoked = services.bulk_revoke(
            name=options["name"],
            workers=[worker for worker in found.values() if worker is not None],
            reason=options["reason"],
        )
        return {
            "name": options["name"],
            "revoked": revoked,
            "_text": f"Revoked '{options['name']}' from {revoked} worker(s).",
        }

    def do_import(self, options: dict) -> dict[str, Any]:
        source = options["csv"]
        if source == "-":
            text = sys.stdin.read()
        else:
            path = Path(source)
            if not path.is_file():
                raise QualificationError(f"file not found: {path}")
            text = path.read_text(encoding="utf-8-sig")
        parsed = services.parse_worker_list(text, default_provider=options["provider"])
        bad = [f"line {number}: {message}" for number, message in parsed.errors]
        if bad and not options["skip_bad_rows"]:
            raise QualificationError(
                "nothing imported; bad rows:\n  "
                + "\n  ".join(bad)
                + "\n(fix them, or import the good rows with --skip-bad-rows)"
            )
        if not parsed.refs:
            raise QualificationError("no worker ids found in the file")
        changed = services.bulk_grant(
            name=options["name"],
            refs=parsed.refs,
            value=options["value"],
            reason=options["reason"],
        )
        text = f"Imported {len(parsed.refs)} worker(s) into '{options['name']}' "
        text += f"({changed} new or changed)."
        if bad:
            text += "\nSkipped bad rows:\n  " + "\n  ".join(bad)
        return {
            "name": options["name"],
            "workers": len(parsed.refs),
            "granted": changed,
            "skipped": [{"line": n, "error": m} for n, m in parsed.errors],
            "_text": text,
        }

    def do_export(self, options: dict) -> dict[str, Any] | None:
        qualification = services.get_qualification(options["name"])
        rows = (
            GrantedQualification.objects.filter(qualification=qualification)
            .order_by("worker__provider_type", "worker__worker_name")
            .values_list("worker__provider_type", "worker__worker_name", "value")
        )
        if options["output"] == "-" and options["json"]:
            return {
                "name": qualification.name,
                "workers": [
                    {"provider": p, "worker_id": n, "value": v} for p, n, v in rows
                ],
                "_text": "",
            }
        output = (
            self.stdout
            if options["output"] == "-"
            else open(options["output"], "w", newline="", encoding="utf-8")  # noqa: SIM115
        )
        try:
            writer = csv_safety.writer(output)
            writer.writerow(["provider", "worker_id", "value"])
            count = 0
            for provider, name, value in rows.iterator():
                writer.writerow([provider, name, value])
                count += 1
        finally:
            if output is not self.stdout:
                output.close()
        if options["output"] == "-":
            return None
        return {
            "name": qualification.name,
            "workers": count,
            "output": options["output"],
            "_text": f"Wrote {count} worker(s) to {options['output']}.",
        }
