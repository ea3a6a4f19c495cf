"""What the Prolific provider tests share: a run, its study launched on the
stateful fake, and a participant's submission on it.

A test module takes a fixture by importing it under its function name with a
redundant alias (`from tests.prolific_provider_calls import study_fixture as
study_fixture`); `public_url` is autouse, so importing it is enough.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.base import WorkRef
from providers.prolific import ProlificProvider
from tasks_app.selectors import run_spec
from tests.factories import TaskRunFactory
from tests.prolific_fake import ProlificFake

TASK_URL = "https://crowd.example.org/?task_run_id=1"


@pytest.fixture(name="public_url", autouse=True)
def public_url_fixture(settings):
    settings.PUBLIC_URL = "https://crowd.example.org"


def make_run(*, units: int = 2, provider: dict | None = None, shared_state=None):
    return TaskRunFactory(
        units=units,
        launching=True,
        provider_type="prolific",
        resolved_config={"mephisto": {"provider": provider or {}}},
        shared_state=shared_state or {},
        task_reward=Decimal("1.50"),
    )


def launch(run, requirements=()) -> str:
    unit_ids = list(run.units.order_by("pk").values_list("pk", flat=True))
    ids = ProlificProvider().launch_units(
        run=run_spec(run),
        unit_ids=unit_ids,
        task_url=TASK_URL,
        requirements=requirements,
    )
    return next(iter(ids.values()))


BLOCK = {
    "qualification_name": "lab-blocked",
    "comparator": "DoesNotExist",
    "value": None,
    "automatic": "block",
}


@pytest.fixture(name="study")
def study_fixture(prolific: ProlificFake) -> str:
    return launch(make_run(), [BLOCK])


def work(prolific: ProlificFake, study_id: str, participant: str = "P1") -> WorkRef:
    submission = prolific.submit(study_id, participant)
    return WorkRef(
        worker_name=participant,
        provider_unit_id=study_id,
        provider_assignment_id=submission,
    )
