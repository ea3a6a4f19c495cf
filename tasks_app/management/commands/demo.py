"""`manage.py demo`: set up locally and launch the example run on the mock provider."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tasks_app import selectors, services
from tasks_app.demo_crowd import MockWorker, local_server
from tasks_app.models import TaskRun
from tasks_app.run_config import ConfigError, load_run_config

EXAMPLE_CONFIG = (
    Path(settings.BASE_DIR)
    / "examples"
    / "static_react_task"
    / "conf"
    / "local_testing.yaml"
)


class Command(BaseCommand):
    help = (
        "Set up crowdsite locally (database, an admin account) and launch the example "
        "run examples/static_react_task/conf/local_testing.yaml on the mock provider, "
        "through the same code as `launch_run`. Safe to run again: each run of the "
        "demo launches a new run of the same task."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--config",
            default=str(EXAMPLE_CONFIG),
            help="The config to launch (default: the example's local_testing.yaml).",
        )
        parser.add_argument(
            "--no-workers",
            action="store_true",
            help="Only launch; don't send the scripted mock workers.",
        )
        parser.add_argument(
            "--admin-username",
            default="admin",
            help="The local admin account to create or reset (default: admin).",
        )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "The demo creates an admin account with a printed password; it runs "
                "only with DEBUG on (a local setup)."
            )
        self.stdout.write("Setting up the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        password = self._reset_admin(options["admin_username"])

        try:
            config = load_run_config(options["config"])
            run = services.launch_run(config=config)
        except ConfigError as exc:
            raise CommandError(f"Invalid config {options['config']}: {exc}") from exc
        run = TaskRun.objects.select_related("task").get(pk=run.pk)
        if not options["no_workers"]:
            self._send_workers(run)
        self._report(run, options["admin_username"], password)

    def _send_workers(self, run: TaskRun) -> None:
        """Three mock workers go through the real HTTP endpoints."""
        limit = run.maximum_units_per_worker
        self.stdout.write(
            f"\nSending mock workers through the task's HTTP endpoints (run {run.pk}):"
        )
        tag = f"r{run.pk}"
        with local_server() as base_url:
            plans = [
                # (worker, onboarding answer, units they try, what they show)
                (f"alice-{tag}", "good", 2, "completes units"),
                (f"bob-{tag}", "bad", 1, "fails onboarding"),
                (f"carol-{tag}", "good", (limit or 3) + 1, "reaches the maximum"),
            ]
            for name, answer, units, role in plans:
                worker = MockWorker(base_url, run.pk, name, onboarding_answer=answer)
                done = worker.work(units=units)
                self.stdout.write(f"  {name} ({role}): submitted {done} unit(s)")
                for line in worker.log:
                    self.stdout.write(f"    - {line}")

    @transaction.atomic
    def _reset_admin(self, username: str) -> str:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _report(self, run: TaskRun, username: str, password: str) -> None:
        counts = selectors.unit_counts(run=run)
        url = selectors.task_url(run)
        site = settings.SITE_URL
        out = self.stdout
        out.write(
            self.style.SUCCESS(f"\nLaunched run {run.pk} of '{run.task.task_name}'")
        )
        out.write(
            f"  {run.assignments.count()} assignments, "
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + f" units, ${run.task_reward} each, on the {run.provider_type} provider"
        )
        out.write(f"  config: {run.config_path} (hash {run.config_hash[:12]})")
        out.write(
            "\nWhere to look (start the server with `python manage.py runserver`):"
        )
        out.write(f"  admin:     {site}/admin/  (user {username}, password {password})")
        out.write(f"  this run:  {site}/admin/tasks_app/taskrun/{run.pk}/change/")
        worker_url = selectors.task_url(
            run, worker_id="demo-worker-1", assignment_id="demo-1"
        )
        out.write(f"  task page: {worker_url}")
        out.write(
            "  (each mock worker is a `worker_id`; preview the task without one: "
            f"{url})"
        )
