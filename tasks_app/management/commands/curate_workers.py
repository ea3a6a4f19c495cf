"""`manage.py curate_workers --run N --field F (--min-agreement X |
--min-gold-accuracy X) --min-units K (--grant NAME | --revoke NAME) [--dry-run]
[--json]`: grant a qualification to the workers a run's figures show reliable,
or revoke it from those they show not."""

from __future__ import annotations

import json

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from providers.outbox import publishing_together
from qualifications_app.services import QualificationError
from tasks_app import services
from tasks_app.selectors.agreement import LEVELS, METHODS

EXAMPLES = """\
Examples:
  manage.py curate_workers --run 12 --field label --min-agreement 0.8 \\
      --min-units 10 --grant sentence-allowlist
  manage.py curate_workers --run 12 --field label --min-agreement 0.8 \\
      --min-units 10 --grant sentence-allowlist --dry-run
  manage.py curate_workers --run 12 --field label --min-agreement 0.5 \\
      --min-units 10 --revoke sentence-allowlist --json
  manage.py curate_workers --run 12 --field label --min-agreement 0.8 \\
      --min-units 10 --grant sentence-allowlist --method dawid-skene
  manage.py curate_workers --run 14 --field label --min-gold-accuracy 0.9 \\
      --min-units 5 --grant sentence-allowlist

The figures are run_status --agreement's, over the workers who answered
--field in the run's data units (screening and gold units left out, rejected
submissions too). --min-agreement X: a worker's agreement is the share of
their answers equal to the row's aggregate label (--method: majority or
dawid-skene), and their units are their answers on rows with two answers or
more (a row answered once has nothing to agree with). --min-gold-accuracy X,
on a run with golds only: their right golds over their judged golds (right +
wrong, the counters under the run's gold_qualification_base, shared by the
runs using it), and their units are those judged golds. --level (nominal,
ordinal, interval) is the level of the Krippendorff's alpha shown beside them;
it doesn't change a worker's figures, but ordinal and interval need labels
that are numbers.

--grant NAME grants NAME (value 1) to each worker with at least --min-units
units and a figure of at least X; a worker already holding NAME is skipped. A
NAME that doesn't exist yet is created with the first grant (the output says
so). --revoke NAME revokes NAME from each worker with at least --min-units
units and a figure below X; a worker not holding it is skipped, and NAME must
exist. Everyone else is skipped too, with why: too few units, a figure below
(or, revoking, at least) X. Running it twice changes nothing more.

Each grant and revoke leaves an audit row (WorkerReview) whose reason carries
the figures, e.g. "curate_workers run 12: agreement 0.93 with the majority
label on 40 units of field 'label' (min 0.8, 10 units)", and is repeated on
the worker's provider (MTurk, Prolific) after commit. All the grants and
revokes are made in one transaction: all or none. --dry-run shows the same
decisions and writes nothing.

The text lists each worker with the decision and their figures. --json prints
one JSON object: {"dry_run", "granted": ["PROVIDER:ID", ...], "revoked": [...],
"skipped": [...]} (under --dry-run, what would be granted and revoked).

Refused (nothing changed, exit status 1): an unknown run; a field nobody
answered (the run's output fields are listed); X not between 0 and 1;
--min-units below 1; --min-gold-accuracy on a run without golds; --revoke of a
qualification that doesn't exist; an ordinal or interval --level on labels
that aren't numbers. One of --min-agreement and --min-gold-accuracy, and one
of --grant and --revoke, is required (both or neither: a usage error, status 2).
"""


class Command(ExamplesCommand):
    help = (
        "Grant a qualification to the workers whose agreement or gold accuracy "
        "in a run reaches a minimum, or revoke it from those below it."
    )

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="The task run id.")
        parser.add_argument(
            "--field",
            required=True,
            help="The output field whose answers the figures are made on.",
        )
        threshold = parser.add_mutually_exclusive_group(required=True)
        threshold.add_argument(
            "--min-agreement",
            type=float,
            metavar="X",
            help="The least agreement with the aggregate label (0 to 1).",
        )
        threshold.add_argument(
            "--min-gold-accuracy",
            type=float,
            metavar="X",
            help="The least share of judged golds right (0 to 1); gold runs only.",
        )
        parser.add_argument(
            "--min-units",
            type=int,
            required=True,
            metavar="K",
            help="The least units (answers on rows with two answers or more; "
            "with --min-gold-accuracy, judged golds) a worker is decided on.",
        )
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument(
            "--grant",
            metavar="NAME",
            help="Grant NAME to the workers who qualify (created if missing).",
        )
        action.add_argument(
            "--revoke",
            metavar="NAME",
            help="Revoke NAME from the workers below the minimum.",
        )
        parser.add_argument(
            "--level",
            choices=LEVELS,
            default="nominal",
            help="The level of measurement of the alpha shown (default nominal).",
        )
        parser.add_argument(
            "--method",
            choices=METHODS,
            default="majority",
            help="How rows are aggregated into the label agreement is measured "
            "against (default majority).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would be granted or revoked; write nothing.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help='Print one JSON object: {"dry_run", "granted", "revoked", '
            '"skipped"}, workers as PROVIDER:ID.',
        )

    def handle(self, *args, **options) -> None:
        grant = options["grant"]
        try:
            # A mirror task per grant or revoke: one publish pass at the end,
            # so a broker that is down costs one wait, not one per worker.
            with publishing_together():
                curation = services.curate_workers(
                    run_id=options["run"],
                    field=options["field"],
                    qualification=grant if grant is not None else options["revoke"],
                    action="grant" if grant is not None else "revoke",
                    min_units=options["min_units"],
                    min_agreement=options["min_agreement"],
                    min_gold_accuracy=options["min_gold_accuracy"],
                    level=options["level"],
                    method=options["method"],
                    dry_run=options["dry_run"],
                )
        except (services.CurationError, QualificationError) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(curation.as_dict()))
        else:
            self.stdout.write("\n".join(report(curation)))


def report(curation: services.Curation) -> list[str]:
    """The text output: the figures' basis, each worker's decision, a total."""
    c = curation
    units = c.units_name
    against = f" with the {c.method} label" if c.measure == "agreement" else ""
    lines = [
        f"Run {c.run_id}, field {c.field!r}: Krippendorff's alpha {c.alpha_shown} "
        f"({c.level}) over {c.items} rows with two answers or more.",
        f"Minimum {c.measure}{against} {c.minimum:g} on at least {c.min_units} "
        f"{units}.",
    ]
    done = {
        "grant": "would grant" if c.dry_run else "granted",
        "revoke": "would revoke" if c.dry_run else "revoked",
        "skip": "skipped",
    }
    width = max(len(label) for label in done.values())
    named = max((len(d.worker) for d in c.decisions), default=0)
    for d in c.decisions:
        figures = f"{c.measure} {d.figure_shown} on {d.units} {units}"
        why = f": {d.why}" if d.action == "skip" else ""
        lines.append(
            f"  {done[d.action]:<{width}}  {d.worker:<{named}}  {figures}{why}"
        )
    moved = len(c.granted if c.action == "grant" else c.revoked)
    to = "to" if c.action == "grant" else "from"
    tally = (
        f"{c.qualification!r} {to} {moved} of {len(c.decisions)} workers "
        f"({len(c.skipped)} skipped)"
    )
    if c.dry_run:
        lines.append(f"Dry run: would {c.action} {tally}; nothing written.")
    else:
        lines.append(f"{done[c.action].capitalize()} {tally}.")
    if c.creates_qualification:
        lines.append(
            f"Qualification {c.qualification!r} did not exist: "
            + ("the grant would create it." if c.dry_run else "created by the grant.")
        )
    return lines
