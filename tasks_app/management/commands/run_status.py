"""`manage.py run_status --run N [--json] [--watch]`: a run's figures, for people
and scripts.

The same figures as the run's dashboard in the admin (tasks_app/run_stats.py).
"""

from __future__ import annotations

import json
import time

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from tasks_app.models import TaskRun, UnitStatus
from tasks_app.selectors import agreement
from tasks_app.selectors import stats as run_stats

EXAMPLES = """\
Examples:
  manage.py run_status --run 12
  manage.py run_status --run 12 --json
  manage.py run_status --run 12 --workers 25
  manage.py run_status --run 12 --watch
  manage.py run_status --run 12 --agreement rating
  manage.py run_status --run 12 --agreement score --level interval --json
  manage.py run_status --run 12 --watch --interval 30 --json

Shows the run's status (a run is completed once no unit is created, launched
or assigned, as in Mephisto; review goes on after it), when it was launched and
when and why it ended, its units by status, its approval rate (approved / (approved +
rejected); soft-rejected units are left out, as in Mephisto), money spent (the
payments paid) and committed (the rewards of every unit not rejected or
expired, decided or not, with the provider's fee, plus the bonuses that did not
fail: what the budget check counts) against mephisto.task.budget, the work
time (median and 90th percentile of submitted minus accepted), how many units
were submitted and when, the workers with the most units (units, approved,
rejected, late, median time) and how many provider calls failed.

Units by status, the approval rate and the submitted count are the run's
progress: its data units only. Screening and gold units (made for one worker
each) are not data, so they are left out of them; their submissions are in
the money, work time, submissions, workers and awaiting review, as they are
reviewed and paid. A screening run adds its verdicts: of the workers who
submitted a screening unit (with max_screening_units 0, any unit: they are
screened on real units), how many passed (hold passed_qualification_name),
failed (hold block_qualification) or are pending (neither yet), and the
screening units made. A gold run lists the workers who took one of its gold
units with their gold record (the counters under gold_qualification_base,
shared by the runs using it), the disqualified and most wrong first, as many
as --workers.

--json prints one JSON object: {"run_id", "task_name", "status",
"provider_type", "launched_at", "ended_at", "end_reason" (why it ended,
naming the rule, e.g. "no submission for 600 seconds (no_submission_patience)";
"" while it runs), "units", "units_by_status", "submitted", "reviewed",
"approval_rate", "awaiting_review" (submissions without a decision, late
ones included), "money": {"spent", "pending", "failed", "ambiguous",
"committed", "committed_rewards", "committed_bonuses", "budget", "budget_used",
"budget_left"}, "work_time": {"submissions", "median", "p90"}, "timeline":
{"bucket_seconds", "first", "last", "buckets": [{"start", "submissions",
"late"}]}, "workers": [{"worker_id", "provider_type", "worker_name", "units",
"approved", "rejected", "late", "median_seconds"}], "workers_total",
"other_workers", "provider_failures", "recent_failures": [{"call_id",
"operation", "attempts", "error", "updated_at"}]}. A screening run's object
also has "screening": {"passed", "failed", "pending", "units" (screening
units made, not expired), "max_units" (0: screened on real units)}, a gold
run's "golds": [{"worker" (PROVIDER:ID), "correct", "wrong",
"disqualified"}] (every worker who took a gold unit of the run, ordered by
PROVIDER:ID); other runs have neither key. Dollars are strings ("2.50"),
times ISO 8601 in UTC, durations seconds, rates fractions (0.8). An unknown
run exits with status 1.

--agreement FIELD adds the agreement on one output field: Krippendorff's
alpha over the data rows with two answers or more (--level nominal, the
default, ordinal or interval), and each worker's agreement with the
aggregated label (--method majority, the default, or dawid-skene); with
--json, {"agreement": {"field", "krippendorff_alpha", "items", "workers":
[{"worker", "units", "agreement"}]}} (each worker's "gold_accuracy" too on a
gold run). "units" counts a worker's answers on rows someone else answered
too; alpha is null when no row has two answers. See docs/quality.md.

--watch shows the figures again every --interval seconds (default 10) until
the run has ended and nothing awaits review, or until Ctrl-C; with --json, one
JSON object per line each time.
"""


class Command(ExamplesCommand):
    help = (
        "Show a run's progress: units by status, approval rate, money spent and "
        "committed against the budget, work time, workers, provider failures."
    )

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="The task run id.")
        parser.add_argument(
            "--workers",
            type=int,
            default=run_stats.TOP_WORKERS,
            metavar="N",
            help=f"List the N workers with the most units (default "
            f"{run_stats.TOP_WORKERS}); the rest are counted.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )
        parser.add_argument(
            "--agreement",
            metavar="FIELD",
            help="Add the workers' agreement on this output field.",
        )
        parser.add_argument(
            "--level",
            choices=agreement.LEVELS,
            default="nominal",
            help="With --agreement: the level of measurement of alpha "
            "(default nominal).",
        )
        parser.add_argument(
            "--method",
            choices=agreement.METHODS,
            default="majority",
            help="With --agreement: how the aggregate label is made (default "
            "majority).",
        )
        parser.add_argument(
            "--watch",
            action="store_true",
            help="Show the figures again every --interval seconds until the run "
            "has ended and nothing awaits review (or Ctrl-C).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="How often --watch refreshes (default 10, at least 1).",
        )

    def handle(self, *args, **options) -> None:
        run = TaskRun.objects.select_related("task").filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"there is no task run {options['run']}")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if options["interval"] < 1:
            raise CommandError("--interval must be at least 1 second")
        if not options["watch"]:
            self._show(run, options)
            return
        try:
            while True:
                stats = self._show(run, options)
                if stats.ended_at is not None and not stats.awaiting_review:
                    return
                time.sleep(options["interval"])
                run.refresh_from_db()
                if not options["json"]:
                    self.stdout.write("")
        except KeyboardInterrupt:
            return

    def _agreement(self, run: TaskRun, options: dict) -> agreement.Agreement | None:
        field = options["agreement"]
        if field is None:
            return None
        try:
            figures = agreement.run_agreement(
                run=run,
                field=field,
                level=options["level"],
                method=options["method"],
            )
        except agreement.AgreementError as exc:
            raise CommandError(f"--agreement {field}: {exc}") from None
        if not figures.workers:
            raise CommandError(
                f"--agreement {field}: no submission of run {run.pk} has the output "
                f"field {field!r}"
            )
        return figures

    def _show(self, run: TaskRun, options: dict) -> run_stats.RunStats:
        stats = run_stats.run_stats(run=run, top_workers=options["workers"])
        figures = self._agreement(run, options)
        if options["json"]:
            data = stats.as_dict()
            if figures is not None:
                data["agreement"] = figures.as_dict()
            self.stdout.write(json.dumps(data))
        else:
            lines = report(stats, shown=options["workers"])
            if figures is not None:
                lines += ["", *agreement_lines(figures)]
            self.stdout.write("\n".join(lines))
        self.stdout.flush()
        return stats


def agreement_lines(figures: agreement.Agreement) -> list[str]:
    """The agreement figures as lines of text."""
    alpha = (
        f"{figures.krippendorff_alpha:.3f}"
        if figures.krippendorff_alpha is not None
        else "- (no row has two answers)"
    )
    lines = [
        f"Agreement on '{figures.field}': Krippendorff's alpha {alpha} over "
        f"{figures.items} row(s) ({figures.level}; aggregate by {figures.method})"
    ]
    if figures.workers:
        width = max(len(w.worker) for w in figures.workers) + 2
        golds = any(w.gold_accuracy is not None for w in figures.workers)
        lines.append(
            f"  {'worker':<{width}}{'units':>7}{'agreement':>11}"
            + (f"{'golds right':>13}" if golds else "")
        )
        for w in figures.workers:
            share = f"{100 * w.agreement:.0f}%" if w.agreement is not None else "-"
            gold = (
                f"{100 * w.gold_accuracy:.0f}%" if w.gold_accuracy is not None else "-"
            )
            lines.append(
                f"  {w.worker:<{width}}{w.units:>7}{share:>11}"
                + (f"{gold:>13}" if golds else "")
            )
    return lines


def report(
    stats: run_stats.RunStats, *, shown: int = run_stats.TOP_WORKERS
) -> list[str]:
    """The figures as lines of text; the gold table lists `shown` workers."""
    lines = [
        f"Run {stats.run_id} ({stats.task_name}): {stats.status}, on "
        f"{stats.provider_type}",
        *_when(stats),
        "",
        f"Units:         {stats.units}",
    ]
    for status in UnitStatus:
        if status in stats.units_by_status:
            count = stats.units_by_status[status]
            share = 100 * count / stats.units
            lines.append(f"  {status.value:<14}{count:>8}  {share:5.1f}%")
    rate = stats.approval_rate
    lines.append(
        f"Approval rate: {100 * rate:.1f}% ({stats.units_by_status.get('accepted', 0)}"
        f" approved of {stats.reviewed} reviewed)"
        if rate is not None
        else "Approval rate: - (nothing reviewed yet)"
    )
    lines.append(f"Awaiting review: {stats.awaiting_review} submission(s)")
    money = stats.money
    budget = (
        f"of a ${money.budget} budget ({_percent(money.budget_used)}, "
        f"${money.budget_left} left)"
        if money.budget is not None
        else "(no budget set)"
    )
    lines += [
        f"Spent:         ${money.spent} paid; ${money.pending} pending"
        + (f", ${money.ambiguous} ambiguous" if money.ambiguous else "")
        + (f", ${money.failed} failed" if money.failed else ""),
        f"Committed:     ${money.committed} {budget}",
        f"               rewards ${money.committed_rewards} (with fees), bonuses "
        f"${money.committed_bonuses}",
    ]
    work, timeline = stats.work_time, stats.timeline
    lines.append(
        f"Submissions:   {work.submissions}"
        + (
            f" (first {timeline.first:%Y-%m-%d %H:%M}, last "
            f"{timeline.last:%Y-%m-%d %H:%M} UTC)"
            if timeline.first and timeline.last
            else ""
        )
    )
    lines.append(
        f"Work time:     median {run_stats.format_seconds(work.median)}, "
        f"p90 {run_stats.format_seconds(work.p90)}"
    )
    lines += ["", _workers_heading(stats)]
    if stats.workers:
        width = max(len(w.worker_name) for w in stats.workers) + 2
        width = max(width, len("worker") + 2)
        lines.append(
            f"  {'worker':<{width}}{'units':>7}{'approved':>10}{'rejected':>10}"
            f"{'late':>6}  median time"
        )
        for w in stats.workers:
            lines.append(
                f"  {w.worker_name:<{width}}{w.units:>7}{w.approved:>10}"
                f"{w.rejected:>10}{w.late:>6}  "
                f"{run_stats.format_seconds(w.median_seconds)}"
            )
        if stats.other_workers:
            lines.append(f"  and {stats.other_workers} more")
    lines += _screening(stats.screening) + _golds(stats.golds, shown)
    lines += ["", f"Provider call failures: {stats.provider_failures}"]
    for call in stats.recent_failures:
        error = " ".join(call.error.split())
        error = error if len(error) <= 100 else error[:99] + "…"
        lines.append(
            f"  {call.updated_at:%Y-%m-%d %H:%M} {call.operation} "
            f"(call {call.call_id}, {call.attempts} attempts): {error}"
        )
    return lines


def _when(stats: run_stats.RunStats) -> list[str]:
    """When the run was launched, and when and why it ended."""
    lines = []
    if stats.launched_at:
        lines.append(f"Launched:      {stats.launched_at:%Y-%m-%d %H:%M} UTC")
    if stats.ended_at:
        why = f": {stats.end_reason}" if stats.end_reason else ""
        lines.append(f"Ended:         {stats.ended_at:%Y-%m-%d %H:%M} UTC{why}")
        if stats.awaiting_review:
            lines.append(
                f"               collection is over; {stats.awaiting_review} "
                "submission(s) still await review"
            )
    return lines


def _workers_heading(stats: run_stats.RunStats) -> str:
    if not stats.workers_total:
        return "Workers:       none has taken a unit yet"
    if stats.other_workers:
        return (
            f"Workers:       {stats.workers_total} (the {len(stats.workers)} with "
            "the most units)"
        )
    return f"Workers:       {stats.workers_total}"


def _screening(screening: run_stats.ScreeningFigures | None) -> list[str]:
    if screening is None:
        return []
    verdicts = (
        f"{screening.passed} passed, {screening.failed} failed, "
        f"{screening.pending} pending"
    )
    if not screening.max_units:
        return ["", f"Screening:     {verdicts} (screened on their first real unit)"]
    return [
        "",
        f"Screening:     {verdicts}",
        f"               {screening.units} screening unit(s) made of "
        f"{screening.max_units} at most (not counted in the units above)",
    ]


def _golds(golds: list[run_stats.GoldRow] | None, shown: int) -> list[str]:
    """The gold-tested workers, the disqualified and most wrong first."""
    if golds is None:
        return []
    if not golds:
        return ["", "Golds:         no worker has taken a gold unit yet"]
    disqualified = sum(row.disqualified for row in golds)
    lines = [
        "",
        f"Golds:         {len(golds)} worker(s) took gold units, "
        f"{disqualified} disqualified",
    ]
    first = sorted(golds, key=lambda row: (not row.disqualified, -row.wrong))[:shown]
    width = max(len("worker"), *(len(row.worker) for row in first)) + 2
    lines.append(f"  {'worker':<{width}}{'correct':>7}{'wrong':>7}  disqualified")
    for row in first:
        lines.append(
            f"  {row.worker:<{width}}{row.correct:>7}{row.wrong:>7}  "
            f"{'yes' if row.disqualified else 'no'}"
        )
    if len(golds) > len(first):
        lines.append(f"  and {len(golds) - len(first)} more (--json lists them all)")
    return lines


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    if fraction == float("inf"):
        return "over 100%"
    return f"{100 * fraction:.1f}%"
