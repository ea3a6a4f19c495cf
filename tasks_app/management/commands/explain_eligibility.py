"""`manage.py explain_eligibility --run N --worker PROVIDER:ID`: why (no) work?"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.registry import parse_worker_ref
from qualifications_app.selectors import find_worker
from tasks_app import eligibility
from tasks_app.models import TaskRun, Worker


class Command(BaseCommand):
    help = (
        "Show every eligibility rule for a worker on a run, passed or failed, and why. "
        "Example: manage.py explain_eligibility --run 12 --worker mturk:A1B2C3D4E5"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="The task run id.")
        parser.add_argument("--worker", required=True, metavar="PROVIDER:ID")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        run = TaskRun.objects.select_related("task").filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"there is no task run {options['run']}")
        try:
            ref = parse_worker_ref(options["worker"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # A worker never seen is explained as a newcomer would be treated.
        worker = find_worker(ref) or Worker(
            provider_type=ref.provider_type, worker_name=ref.worker_name
        )
        verdicts = eligibility.explain(run=run, worker=worker)
        eligible = all(v.passed for v in verdicts)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "run": run.pk,
                        "worker": ref.label,
                        "known_worker": worker.pk is not None,
                        "eligible": eligible,
                        "rules": [
                            {
                                "rule": v.rule,
                                "passed": v.passed,
                                "reason": "" if v.passed else v.reason,
                            }
                            for v in verdicts
                        ],
                    }
                )
            )
            return
        seen = "" if worker.pk else " (never seen: explained as a newcomer)"
        self.stdout.write(
            f"Run {run.pk} ({run.task.task_name}), worker {ref.label}{seen}"
        )
        for verdict in verdicts:
            mark = "pass" if verdict.passed else "FAIL"
            line = f"  [{mark}] {verdict.rule}"
            if not verdict.passed:
                line += f" — {verdict.reason}"
            self.stdout.write(line)
        summary = "can get work" if eligible else "gets no work"
        self.stdout.write(f"=> {ref.label} {summary} in run {run.pk}.")
