"""`manage.py launch_run --config PATH [overrides ...]`: launch a run from YAML."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tasks_app import selectors, services
from tasks_app.run_config import ConfigError, load_run_config


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
        "mephisto/provider=mock --json"
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Keep the examples' line breaks in --help.
        from argparse import RawDescriptionHelpFormatter

        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--config", required=True, help="Path to the YAML config.")
        parser.add_argument(
            "overrides",
            nargs="*",
            metavar="key=value",
            help=(
                "Hydra-style overrides: mephisto.task.task_name=NAME, "
                "mephisto/provider=mock, task_dir=PATH, your_flag=value."
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
        try:
            config = load_run_config(options["config"], options["overrides"])
            if options["dry_run"]:
                plan = services.plan_launch(config=config)
            else:
                run = services.launch_run(config=config)
        except ConfigError as exc:
            raise CommandError(f"Invalid config {options['config']}: {exc}") from exc

        if options["dry_run"]:
            self._print_plan(plan, as_json=options["json"])
            return
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
            f"  reward:      ${plan.reward} per unit",
            f"  provider fee: ${plan.provider_fee}",
            f"  est. cost:   ${plan.estimated_cost}",
        ]
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
