"""`manage.py launch_run --config PATH [overrides ...]`: launch a run from YAML.

`--resume N` finishes the launch of run N when its launch task was lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers import outbox
from tasks_app import selectors, services
from tasks_app.exceptions import RunLifecycleError
from tasks_app.models import TaskRun
from tasks_app.run_config import ConfigError, load_run_config

# The loggers `mephisto.log_level` sets for the launch, as Mephisto's does.
PROJECT_LOGGERS = ("tasks_app", "qualifications_app", "providers")


@contextmanager
def project_log_level(level: str) -> Iterator[None]:
    """Log the project's records from `level` up while the launch runs."""
    loggers = [logging.getLogger(name) for name in PROJECT_LOGGERS]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level.upper())
    try:
        yield
    finally:
        for logger, saved in zip(loggers, before, strict=True):
            logger.setLevel(saved)


class Command(BaseCommand):
    help = (
        "Launch a task run from a Mephisto-style YAML config.\n\n"
        "Examples:\n"
        "  manage.py launch_run --config examples/static_react_task/conf/"
        "local_testing.yaml\n"
        "  manage.py launch_run --config conf/pilot_1.yaml "
        "mephisto.task.task_name=my-task-pilot-2 am_qualifying_new_workers=true\n"
        "  manage.py launch_run --config conf/live_batch_1.yaml --dry-run\n"
        "  manage.py launch_run --config conf/local_testing.yaml "
        "mephisto/provider=mock --json\n"
        "  manage.py launch_run --resume 12\n\n"
        "With a broker (CELERY_BROKER_URL) the broker is checked before anything is\n"
        "written: if it is down the launch is refused and nothing is created. If it\n"
        "is lost just after the run is written, the run stays 'launching' and Celery\n"
        "beat finishes the launch when the broker is back; --resume N does it now.\n\n"
        "On MTurk (live and sandbox) the account's balance is read before anything\n"
        "is written (GetAccountBalance): a launch costing more (rewards plus MTurk's\n"
        "fee) is refused with both figures; --dry-run shows the balance.\n\n"
        "On Prolific task_reward is read in cents, as Mephisto reads it there\n"
        "(task_reward: 150 pays $1.50); --dry-run shows the reward in dollars, the\n"
        "study's places, Prolific's fee and the budget (always in dollars)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Keep the examples' line breaks in --help.
        from argparse import RawDescriptionHelpFormatter

        parser.formatter_class = RawDescriptionHelpFormatter
        # Overrides may sit on either side of the flags, as Hydra's command lines
        # allow (`--config X a=1 --dry-run b=2`); plain parse_args stops the
        # positionals at the first flag.
        intermixed = parser.parse_intermixed_args
        parser.parse_args = intermixed  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--config", help="Path to the YAML config.")
        source.add_argument(
            "--resume",
            type=int,
            metavar="RUN_ID",
            help=(
                "Finish launching run RUN_ID, left 'launching' because its launch "
                "task was lost (broker down, worker killed), or top up a running "
                "run: queue the launch of the units its max_num_concurrent_units "
                "has room for (with no broker, launch them now). Creates nothing."
            ),
        )
        parser.add_argument(
            "overrides",
            nargs="*",
            metavar="key=value",
            help=(
                "Hydra-style overrides: any Mephisto key "
                "(mephisto.task.task_name=NAME, mephisto.task.allowed_concurrent=1, "
                "mephisto.log_level=debug), "
                "mephisto/provider=mock, task_dir=PATH, a flag the task's hooks "
                "declare in Flags (am_qualifying_new_workers=true) or one in the "
                "YAML; +name=value adds a key neither has. They may come before, "
                "between or after the flags."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate, print what would be created and its cost; write nothing.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object (task_run_id, task_name, units, task_url).",
        )

    def handle(self, *args, **options) -> None:
        if options["resume"] is not None:
            self._resume(options)
            return
        try:
            config = load_run_config(options["config"], options["overrides"])
            with project_log_level(config.resolved["mephisto"]["log_level"]):
                if options["dry_run"]:
                    # The balance too, when the provider keeps one: a dry run
                    # that can't read it says why and goes on.
                    plan = services.with_balance(
                        services.plan_launch(config=config), strict=False
                    )
                else:
                    # Before anything is written: a launch the broker can't take
                    # would leave a run no worker ever launches.
                    self._check_broker(then="Nothing was written.")
                    created = services.created_empty(requirements=config.qualifications)
                    run = services.launch_run(config=config)
        except ConfigError as exc:
            raise CommandError(f"Invalid config {options['config']}: {exc}") from exc

        if options["dry_run"]:
            self._print_plan(plan, as_json=options["json"])
            return
        self._warn_if_not_queued(run)
        for name in created:
            # On stderr, so that --json's stdout stays one JSON object.
            self.stderr.write(
                f"Created qualification '{name}', empty: the requirement "
                f"'{name} DoesNotExist' admits every worker until you grant it."
            )
        units = run.units.count()
        url = selectors.task_url(run)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "task_run_id": run.pk,
                        "task_name": run.task.task_name,
                        "units": units,
                        "task_url": url,
                    }
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Launched run {run.pk} of '{run.task.task_name}': {units} units "
                f"on {run.provider_type} (config {run.config_hash[:12]})."
            )
        )
        self.stdout.write(f"Task page: {url}")

    def _check_broker(self, *, then: str) -> None:
        try:
            outbox.check_broker()
        except outbox.BrokerUnavailable as exc:
            raise CommandError(f"{exc} {then}") from exc

    def _warn_if_not_queued(self, run: TaskRun) -> None:
        """The broker went away between the check and the commit: say what now."""
        unsent = outbox.unsent_messages(task=services.LAUNCH_TASK, run_id=run.pk)
        if not unsent:
            return
        self.stderr.write(
            f"Run {run.pk} was created, but its launch could not be queued: "
            f"{unsent[0].last_error or 'the broker did not answer'} "
            f"(broker {outbox.broker_url()}). The run stays 'launching'; "
            "Celery beat launches it when the broker is back, or run "
            f"`manage.py launch_run --resume {run.pk}`. Do not launch it again."
        )

    def _resume(self, options: dict) -> None:
        run_id = options["resume"]
        if options["overrides"] or options["dry_run"]:
            raise CommandError("--resume takes no overrides and no --dry-run.")
        try:
            resumed = services.resume_launch(run_id=run_id)
        except RunLifecycleError as exc:
            raise CommandError(str(exc)) from exc
        except outbox.BrokerUnavailable as exc:
            raise CommandError(f"{exc} Run {run_id} is still launching.") from exc
        run, pending, in_process = (
            resumed.run,
            resumed.pending_units,
            resumed.in_process,
        )
        if in_process:
            done = f"launched in this process; run {run_id} is {run.status}"
        elif resumed.queued:
            done = f"queued on {outbox.broker_url()} for a worker"
        else:
            raise CommandError(
                f"Run {run_id}'s launch could not be queued "
                f"(broker {outbox.broker_url()}). It is recorded: Celery "
                "beat sends it when the broker is back."
            )
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "task_run_id": run.pk,
                        "task_name": run.task.task_name,
                        "pending_units": pending,
                        "status": run.status,
                        "in_process": in_process,
                    }
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Resumed run {run_id} of '{run.task.task_name}': the launch of its "
                f"{pending} pending units was {done}."
            )
        )

    @staticmethod
    def _reward_note(plan: services.LaunchPlan) -> str:
        if plan.reward_unit == "dollars":
            return ""
        return (
            f" (task_reward {plan.config_reward} is read in {plan.reward_unit} on "
            f"{plan.provider_type}, as Mephisto does)"
        )

    def _print_plan(self, plan: services.LaunchPlan, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"dry_run": True, **plan.as_dict()}))
            return
        existing = "existing task" if plan.task_exists else "new task"
        lines = [
            "Dry run: nothing was written.",
            f"  task_name:   {plan.task_name} ({existing})",
            f"  blueprint:   {plan.blueprint_type}",
            f"  architect:   {plan.architect_type}",
            f"  provider:    {plan.provider_type} (requester {plan.requester_name})",
            f"  units:       {plan.units} ({plan.assignments} assignments)",
            f"  reward:      ${plan.reward} per unit{self._reward_note(plan)}",
        ]
        if plan.units_are_places:
            lines.append(f"  places:      {plan.units} on one study")
        lines += [
            f"  provider fee: ${plan.provider_fee}"
            + (
                f" ({(plan.fee_rate * 100).normalize():f}% of rewards)"
                if plan.fee_rate
                else ""
            ),
            f"  est. cost:   ${plan.estimated_cost}",
        ]
        if plan.budget is not None:
            verdict = "within it" if plan.within_budget else "OVER BUDGET: refused"
            lines.append(f"  budget:      ${plan.budget} ({verdict})")
        if plan.balance is not None:
            verdict = (
                "covers the cost"
                if plan.funded
                else "LESS THAN THE COST: a launch would be refused"
            )
            lines.append(f"  balance:     ${plan.balance} ({verdict})")
        elif plan.balance_error:
            lines.append(
                f"  balance:     not read ({plan.balance_error}); a launch reads "
                "it first and is refused if it can't"
            )
        for requirement in plan.qualifications:
            value = requirement["value"]
            lines.append(
                f"  requires:    {requirement['qualification_name']} "
                f"{requirement['comparator']}"
                + (f" {value}" if value is not None else "")
            )
        if plan.created_qualifications:
            names = ", ".join(plan.created_qualifications)
            lines.append(f"  would create qualifications: {names}")
        self.stdout.write("\n".join(lines))
