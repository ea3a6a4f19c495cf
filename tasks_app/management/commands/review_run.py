"""`manage.py review_run --run N`: review a run's submissions from the terminal.

Without a decision flag it is interactive: one submission at a time (inputs,
submission, worker), a key per decision, as Mephisto's review script was. The
scripted forms decide on many units at once (DESIGN §8), or on the units a
filled-in export CSV marks (--from-csv, MTurk's offline review). Any of them
but the CSV can grant the run's allowlist qualification to the workers it
approved, the pilot's last step.
"""

from __future__ import annotations

import json
import sys
from typing import IO, TYPE_CHECKING, Any

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from providers.registry import parse_worker_ref
from qualifications_app import services as qualification_services
from qualifications_app.selectors import find_worker
from qualifications_app.services import GRANT_PERMISSION, QualificationError
from tasks_app import selectors, services
from tasks_app.exceptions import ReviewError
from tasks_app.management.commands._review_csv import review_from_csv
from tasks_app.management.commands._review_session import ReviewSession
from tasks_app.management.commands._reviewing import (
    blocked_mark,
    find_reviewer,
    terminal_text,
    worker_label,
)
from tasks_app.models import Agent, TaskRun

if TYPE_CHECKING:
    from tasks_app.models import Worker

EXAMPLES = """\
Examples:
  manage.py review_run --run 12
  manage.py review_run --run 12 --worker mturk:A1B2C3D4E5
  manage.py review_run --run 12 --approve 41 42 43
  manage.py review_run --run 12 --approve-all --grant-allowlist
  manage.py review_run --run 12 --approve-all --worker mturk:A1B2C3D4E5 --json
  manage.py review_run --run 12 --approve 41 --grant sentence-rating-allowlist
  manage.py review_run --run 12 --reject 44 --feedback "The answer field is empty"
  manage.py review_run --run 12 --soft-reject 45 46 --feedback "Too short"
  manage.py review_run --run 12 --approve-unreported 47
  manage.py review_run --run 12 --approve 48 --override-rejection
  manage.py review_run --run 12 --from-csv results.csv --dry-run
  manage.py review_run --run 12 --from-csv results.csv --json

Interactive keys (one submission at a time; reads stdin, so it can be piped):
  a approve   r reject (asks for feedback)   s soft-reject (asks for a reason)
  b bonus (asks for the amount and reason)   n next   p previous
  x block the worker (asks for a reason; the unit stays to be decided)
  g grant the allowlist to the workers approved in this session   q quit   ? help

--approve, --reject and --soft-reject decide on every unit named or on none:
one refusal (an unknown unit, one with no submission or already decided)
changes nothing and exits with status 1. --approve-all approves every undecided
submission of the run (of --worker's, if given) that it can, and lists the ones
left for review one at a time (a unit with two submissions). Soft-rejecting
pays the reward, as Mephisto does, and leaves the unit out of the worker's
approval rate.

A submission the task page never reported (recorded from the provider's list
of submitted work by the recovery sweep: the worker may never have seen the
task) is shown with a warning and is never approved in bulk or automatically:
--approve, --approve-all and --soft-reject refuse it, and so does the
interactive a or s until you type "yes" to confirm. --approve-unreported
UNIT_ID approves one such unit, after you looked at it.

--override-rejection, with --approve, approves units that were rejected: the
reward is paid once, the rejection stays on record as overridden, and the
provider is told (MTurk: OverrideRejection). Every unit named must be rejected,
and the provider must allow it (Prolific does not); otherwise nothing changes.
Without it, approving a rejected unit is refused.

--from-csv FILE reviews offline, as MTurk's batch CSV does: export the run's
results (export_results --run N --format csv), fill in the Approve column (any
text approves) or the Reject column (its text is the worker's feedback) of the
rows to decide, leave the others blank, and give the file back. The whole file
is checked before anything is written; one bad row (an unknown unit or agent,
both columns filled, a Reject of only spaces, one submission marked twice with
different decisions, a decision contradicting the one recorded) refuses it all,
each bad row listed by its line (the header is line 1), exit status 1. Rows
already decided as the file asks are reported, not decided again, so the same
file given twice changes nothing. --dry-run checks and prints what would be
done. The file is UTF-8 (a byte-order mark is fine), separated by commas,
semicolons or tabs.

--grant-allowlist grants the run's allowlist qualification (its config's
allowlist_qualification) to the workers just approved, in the same transaction;
--grant NAME grants another existing qualification. Interactive, g grants it at
any time and quitting grants it to the rest if either flag was given.

--json prints one JSON object on stdout: {"run", "action", "decided" (unit
ids), "refused" (unit id: why), "amount" (paid), "undecided_agents" (a second
submission left), "granted"}. Interactive with --json, the
submissions and prompts go to stderr and stdout gets one object at the end:
{"run", "decisions": [...], "blocked" (workers), "granted", "undecided"}.
With --from-csv: {"run", "file", "dry_run", "rows" (read), "approved" (unit
ids), "rejected" (unit ids), "already_decided" (unit ids), "skipped" (rows left
blank), "refused": [{"row" (line), "unit_id", "error"}], "amount" (rewards
paid, or to be paid with --dry-run)}; approved and rejected are empty when a row
is refused, as nothing is done then.
"""

VERBS = {
    "approve": "Approved",
    "approve_unreported": "Approved",
    "approve_all": "Approved",
    "reject": "Rejected",
    "soft_reject": "Soft-rejected",
}


class Command(ExamplesCommand):
    help = "Review a run's submissions: interactively, or approve/reject by unit id."
    # Tests (and scripts) hand the interactive review its input.
    stealth_options = ("stdin",)

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="The task run id.")
        form = parser.add_mutually_exclusive_group()
        form.add_argument(
            "--approve", nargs="+", type=int, metavar="UNIT_ID", help="Approve these."
        )
        form.add_argument(
            "--approve-unreported",
            type=int,
            metavar="UNIT_ID",
            help="Approve this one unit whose submission the task page never "
            "reported (look at it first).",
        )
        form.add_argument(
            "--approve-all",
            action="store_true",
            help="Approve every undecided submission of the run (or of --worker).",
        )
        form.add_argument(
            "--reject",
            nargs="+",
            type=int,
            metavar="UNIT_ID",
            help="Reject these, unpaid; needs --feedback.",
        )
        form.add_argument(
            "--soft-reject",
            nargs="+",
            type=int,
            metavar="UNIT_ID",
            help="Pay these but mark them below the bar.",
        )
        form.add_argument(
            "--from-csv",
            metavar="FILE",
            help="Approve and reject as the export's CSV, filled in, says "
            "(its Approve and Reject columns).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="With --from-csv: check the file and print what it would do; "
            "write nothing.",
        )
        parser.add_argument(
            "--override-rejection",
            action="store_true",
            help="With --approve: approve units that were rejected (paid once; "
            "where the provider allows it).",
        )
        parser.add_argument(
            "--feedback",
            metavar="TEXT",
            help="Why (required with --reject: the worker is shown it; optional "
            "with --soft-reject).",
        )
        parser.add_argument(
            "--worker",
            metavar="PROVIDER:ID",
            help="Only this worker's submissions (--approve-all, interactive).",
        )
        parser.add_argument(
            "--grant-allowlist",
            action="store_true",
            help="Grant the run's allowlist_qualification to the workers approved.",
        )
        parser.add_argument(
            "--grant",
            metavar="NAME",
            help="Grant this existing qualification to the workers approved.",
        )
        parser.add_argument(
            "--reviewer",
            metavar="USERNAME",
            help="Decide as this user (they need the review permission; granting "
            "needs the qualifications grant permission); without it, as the "
            "operator.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )

    def handle(self, *args, **options) -> None:
        run = TaskRun.objects.select_related("task").filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"there is no task run {options['run']}")
        self.task_run = run
        self.as_json = options["json"]
        self.reviewer = find_reviewer(options["reviewer"])
        form = next(
            (
                name
                for name in (
                    "approve",
                    "approve_unreported",
                    "approve_all",
                    "reject",
                    "soft_reject",
                    "from_csv",
                )
                if options[name]
            ),
            None,
        )
        self._check_flags(form, options)
        if form == "from_csv":
            review_from_csv(self, options["from_csv"], dry_run=options["dry_run"])
            return
        worker = self._worker(options["worker"])
        wants_grant = bool(options["grant_allowlist"] or options["grant"])
        # Checked before any decision, so a grant that can't be made changes nothing.
        grant = self._grant_name(options) if wants_grant else None
        if form is None:
            self._interactive(worker, grant, options.get("stdin") or sys.stdin)
            return
        try:
            report, lines = self._scripted(form, options, worker, grant)
        except (ReviewError, QualificationError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            json.dumps(report) if self.as_json else terminal_text("\n".join(lines))
        )

    # --- flags ---------------------------------------------------------------------

    def _check_flags(self, form: str | None, options: dict) -> None:
        flag = {
            "approve": "--approve",
            "approve_unreported": "--approve-unreported",
            "approve_all": "--approve-all",
            "reject": "--reject",
            "soft_reject": "--soft-reject",
            "from_csv": "--from-csv",
        }.get(form or "", "the interactive review")
        if options["dry_run"] and form != "from_csv":
            raise CommandError(
                f"--dry-run goes with --from-csv, not {flag}; nothing was changed"
            )
        if options["override_rejection"] and form != "approve":
            raise CommandError(
                f"--override-rejection goes with --approve UNIT_ID..., not {flag}; "
                "nothing was changed"
            )
        if form == "from_csv" and (options["grant_allowlist"] or options["grant"]):
            raise CommandError(
                "--from-csv grants nothing: review the file, then grant from the "
                "review queue or with manage.py qualifications grant; nothing was "
                "changed"
            )
        feedback = options["feedback"]
        if feedback is not None and form not in ("reject", "soft_reject"):
            raise CommandError(
                f"--feedback goes with --reject or --soft-reject, not {flag}"
            )
        if form == "reject" and not (feedback or "").strip():
            raise CommandError(
                "--reject needs --feedback TEXT: the worker is shown why their work "
                "was refused; nothing was changed"
            )
        if options["worker"] and form not in (None, "approve_all"):
            raise CommandError(
                f"--worker goes with --approve-all or the interactive review, not "
                f"{flag} (which names its units)"
            )
        if options["grant_allowlist"] and options["grant"]:
            raise CommandError("give --grant-allowlist or --grant NAME, not both")
        if (options["grant_allowlist"] or options["grant"]) and form in (
            "reject",
            "soft_reject",
        ):
            raise CommandError(
                f"a grant goes to the workers approved; {flag} approves nobody"
            )

    def _worker(self, text: str | None) -> Worker | None:
        if text is None:
            return None
        try:
            ref = parse_worker_ref(text)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        worker = find_worker(ref)
        if worker is None:
            raise CommandError(f"unknown worker {ref.label}")
        return worker

    def _grant_name(self, options: dict) -> str:
        """The qualification to grant, checked to exist and be grantable by us."""
        name = (options["grant"] or "").strip() or selectors.run_allowlist(
            self.task_run
        )
        if not name:
            raise CommandError(
                f"run {self.task_run.pk} has no allowlist qualification: its config "
                "sets no allowlist_qualification. Name one with --grant NAME; "
                "nothing was changed"
            )
        if self.reviewer is not None and not self.reviewer.has_perm(GRANT_PERMISSION):
            raise CommandError(
                f"{self.reviewer.get_username()} may not grant qualifications "
                f"(needs the {GRANT_PERMISSION} permission); nothing was changed"
            )
        try:
            qualification_services.get_qualification(name)
        except QualificationError as exc:
            raise CommandError(
                f"{exc}: create it first (manage.py qualifications create {name}); "
                "nothing was changed"
            ) from exc
        return name

    # --- scripted ------------------------------------------------------------------

    def _scripted(
        self, form: str, options: dict, worker: Worker | None, grant: str | None
    ) -> tuple[dict[str, Any], list[str]]:
        """Carry out one scripted form: (the JSON report, the lines of text).

        The decisions are services.review_units': a refusal of a named unit
        raises and nothing is written; --approve-all lists the units it can't
        approve instead.
        """
        waiting = self._awaiting(worker)
        if form == "approve_all":
            unit_ids = list(dict.fromkeys(agent.unit_id for agent in waiting))
        elif form == "approve_unreported":
            unit_ids = [options[form]]
        else:
            unit_ids = list(dict.fromkeys(options[form]))
        named = set(unit_ids)
        candidates = [agent.pk for agent in waiting if agent.unit_id in named]
        candidates_set = set(candidates)
        lines: list[str] = []
        result = services.review_units(
            run=self.task_run,
            action=form,
            unit_ids=unit_ids,
            reviewer=self.reviewer,
            feedback=options["feedback"] or "",
            grant=grant,
            grant_reason=f"approved in review of run {self.task_run.pk}",
            override_rejection=options["override_rejection"],
        )
        decided, refused, paid = result.approved, result.refused, result.paid
        granted = result.granted
        agents = list(
            Agent.objects.filter(pk__in=result.approved_agents)
            .select_related("unit", "worker")
            .order_by("unit_id", "pk")
        )
        verb = VERBS[form]
        overridden = (
            " (its rejection overridden)" if options["override_rejection"] else ""
        )
        for agent in agents:
            late = " (late submission)" if agent.is_late else ""
            pay = f", paid ${agent.unit.pay_amount}" if form != "reject" else ""
            lines.append(
                f"{verb} unit {agent.unit_id} by {worker_label(agent.worker)}"
                f"{blocked_mark(agent.worker)}{late}{overridden}{pay}."
            )
        for unit_id, why in refused.items():
            lines.append(f"Left for review one at a time: unit {unit_id}: {why}")
        # A second submission of a unit decided here (a late one) stays for review.
        decided_agents = {agent.pk for agent in agents}
        undecided = [
            agent
            for agent in waiting
            if agent.pk in candidates_set
            and agent.pk not in decided_agents
            and agent.unit_id not in refused
        ]
        for agent in undecided:
            late = "late " if agent.is_late else ""
            lines.append(
                f"Left for review one at a time: the {late}submission of "
                f"{worker_label(agent.worker)} on unit {agent.unit_id} "
                f"(agent {agent.pk})."
            )
        if not unit_ids:
            lines.append(f"No submissions awaiting review in run {self.task_run.pk}.")
        if granted is not None:
            lines.append(
                f"Granted '{grant}' to {granted['workers']} approved worker(s)."
            )
        report = {
            "run": self.task_run.pk,
            "action": form.replace("_", "-"),
            "decided": decided,
            "refused": {str(pk): why for pk, why in refused.items()},
            "amount": str(paid),
            "undecided_agents": [agent.pk for agent in undecided],
            "granted": granted,
        }
        return report, lines

    def _awaiting(self, worker: Worker | None) -> list[Agent]:
        """What awaits a decision in the run (of `worker`): late ones included."""
        worker_id = worker.pk if worker is not None else None
        return list(selectors.awaiting_review(run=self.task_run, worker_id=worker_id))

    # --- interactive ---------------------------------------------------------------

    def _interactive(self, worker: Worker | None, grant: str | None, stdin: IO) -> None:
        session = ReviewSession(
            command=self,
            items=self._awaiting(worker),
            grant=grant,
            stdin=stdin,
        )
        session.run()
        if self.as_json:
            self.stdout.write(json.dumps(session.summary()))
