"""`manage.py list_runs [--task-name NAME] [--status S] [--json]`: the runs, newest
first, with their progress."""

from __future__ import annotations

import json

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from tasks_app import selectors
from tasks_app.models import TaskRunStatus

EXAMPLES = """\
Examples:
  manage.py list_runs
  manage.py list_runs --task-name sentence-rating-pilot
  manage.py list_runs --status running --status completed
  manage.py list_runs --limit 200 --json

One line per run, newest first: its id, task name, provider, status, units
submitted of all its units (data units: screening and gold units are not
progress), submissions awaiting review (of every unit), and when it was
launched and ended (times in UTC). A run is completed once no unit is created,
launched or assigned (as in Mephisto); review goes on after it, so a completed
run may still have submissions awaiting review.

--json prints one JSON object: {"runs": [{"run_id", "task_name",
"provider_type", "status", "units", "submitted", "awaiting_review",
"created_at", "launched_at", "ended_at", "end_reason"}], "more": true when
--limit left runs out}. Times are ISO 8601 in UTC (null when not yet).
"""

STATUSES = tuple(TaskRunStatus.values)


class Command(ExamplesCommand):
    help = "List task runs, newest first, with their status and progress."

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--task-name", metavar="NAME", help="Only the runs of this task."
        )
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            metavar="STATUS",
            help=f"Only runs in this status ({', '.join(STATUSES)}); repeat it "
            "or separate statuses with commas for several.",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=50,
            metavar="N",
            help="Show at most the N newest runs (default 50).",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options) -> None:
        statuses = _statuses(options["status"])
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        rows = selectors.run_rows(
            task_name=options["task_name"],
            statuses=statuses,
            limit=options["limit"] + 1,
        )
        more = len(rows) > options["limit"]
        rows = rows[: options["limit"]]
        if options["json"]:
            self.stdout.write(
                json.dumps({"runs": [row.as_dict() for row in rows], "more": more})
            )
            return
        if not rows:
            self.stdout.write("No runs" + _filters(options["task_name"], statuses))
            return
        self.stdout.write("\n".join(table(rows)))
        if more:
            self.stdout.write(f"(the {options['limit']} newest; --limit N shows more)")


def table(rows: list[selectors.RunRow]) -> list[str]:
    """The runs as aligned lines of text."""
    width = max(len("task"), *(len(row.task_name) for row in rows))
    lines = [
        f"{'run':>5}  {'task':<{width}}  {'provider':<13} {'status':<10}"
        f"{'submitted':>16}  {'to review':>9}  {'launched':<16}  ended"
    ]
    for row in rows:
        share = f"{100 * row.submitted / row.units:.0f}%" if row.units else "-"
        progress = f"{row.submitted}/{row.units} {share:>4}"
        launched = f"{row.launched_at:%Y-%m-%d %H:%M}" if row.launched_at else "-"
        ended = f"{row.ended_at:%Y-%m-%d %H:%M}" if row.ended_at else "-"
        lines.append(
            f"{row.run_id:>5}  {row.task_name:<{width}}  {row.provider_type:<13} "
            f"{row.status:<10}{progress:>16}  {row.awaiting_review:>9}  "
            f"{launched:<16}  {ended}"
        )
    return lines


def _statuses(values: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        for status in filter(None, (part.strip() for part in value.split(","))):
            if status not in STATUSES:
                raise CommandError(
                    f"--status {status!r} is not a run status; valid: "
                    f"{', '.join(STATUSES)}"
                )
            found.append(status)
    return tuple(found)


def _filters(task_name: str | None, statuses: tuple[str, ...]) -> str:
    parts = []
    if task_name:
        parts.append(f"of task {task_name!r}")
    if statuses:
        parts.append(f"in status {' or '.join(statuses)}")
    return (" " + " ".join(parts) if parts else "") + "."
