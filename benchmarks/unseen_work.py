"""Attack 14 of benchmarks/attacks.py, in a process of its own: Prolific work the
task page never saw, against the attacked server's database.

A participant finishes a Prolific study with a completion code passed on, never
opening the task page. Prolific (the stand-in of tests/prolific_fake.py, over
`responses`: nothing leaves the process) lists the submission AWAITING REVIEW;
the recovery sweep records it; then everything that pays without a person
deciding on that one submission runs: `review_run --approve-all`, auto-approval
a month later, a bulk approval. Prints one JSON object: what was recorded and
paid, and what Prolific holds.

    DATABASE_URL=... python benchmarks/unseen_work.py
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))


def main() -> int:
    import django

    django.setup()
    import responses
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from tasks_app import services
    from tasks_app.models import Agent, Payment, Unit
    from tests.mturk_fake import launch_task
    from tests.prolific_fake import FAKE_API_URL, TOKEN, ProlificFake
    from tests.test_prolific_flow import CONFIG  # the flow tests' Prolific run

    settings.PROLIFIC_API_URL = FAKE_API_URL
    settings.PROLIFIC_API_KEY = TOKEN
    settings.PUBLIC_URL = "https://crowd.example.org"
    fake = ProlificFake()
    with (
        responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
        tempfile.TemporaryDirectory() as folder,
    ):
        fake.install(mock)
        run = launch_task(Path(folder), lambda action: action(), CONFIG, rows=2)
        (study,) = set(Unit.objects.filter(run=run).values_list("provider_unit_id"))
        submission = fake.submit(study[0], "P-UNSEEN", status="AWAITING REVIEW")
        recovered = services.recover_submissions(run_id=run.pk)
        out = io.StringIO()
        try:
            call_command(
                "review_run", "--run", str(run.pk), "--approve-all", stdout=out
            )
        except Exception as exc:  # reported, and the checks below still run
            out.write(f"review_run failed: {exc!r}")
        auto = services.auto_approve_due(now=timezone.now() + timedelta(days=30))
        bulk = services.approve_units(unit_ids=[r.unit_id for r in recovered])
        agent = Agent.objects.filter(provider_assignment_id=submission).first()
        print(
            json.dumps(
                {
                    "run": run.pk,
                    "recorded": len(recovered),
                    "marked": bool(agent and agent.from_provider_listing),
                    "agent_status": agent.status if agent else None,
                    "payments": Payment.objects.filter(agent=agent).count(),
                    "auto_approved_elsewhere": auto,
                    "bulk_refused": [str(why) for why in bulk.refused.values()],
                    "approve_all": out.getvalue().strip().splitlines(),
                    "on_prolific": fake.submissions[submission]["status"],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
