"""The task page's side of each provider (DESIGN §5, §7): who arrived, who may frame
the page, which wrap script it loads and what that script finds in the page config."""

from __future__ import annotations

import pytest

from providers.base import Arrival
from providers.mock import MockProvider
from providers.mturk import MTurkProvider, MTurkSandboxProvider
from providers.prolific import ProlificProvider
from providers.prolific.provider import completion_code
from providers.registry import PROVIDER_CLASSES, get_provider_class
from tasks_app.selectors import run_spec
from tests.conftest import PROJECT_DIR
from tests.factories import TaskRunFactory

WRAP_DIR = PROJECT_DIR / "tasks_app" / "static" / "tasks_app" / "wrap_crowd_source"
MTURK_CLASSES = [MTurkProvider, MTurkSandboxProvider]


# --- arrival params -------------------------------------------------------------------


def test_a_mock_worker_arrives_by_worker_id_and_assignment_id():
    arrival = MockProvider.arrival_params({"worker_id": "w1", "assignment_id": "a1"})

    assert arrival == Arrival(worker_id="w1", assignment_id="a1", unit_id="")
    assert arrival.preview is False


@pytest.mark.parametrize("provider", MTURK_CLASSES)
def test_an_mturk_worker_arrives_by_worker_assignment_and_hit_id(provider):
    arrival = provider.arrival_params(
        {"workerId": "A1W", "assignmentId": "AS1", "hitId": "H1", "turkSubmitTo": "x"}
    )

    assert arrival == Arrival(worker_id="A1W", assignment_id="AS1", unit_id="H1")
    assert arrival.preview is False


@pytest.mark.parametrize("provider", MTURK_CLASSES)
def test_mturks_assignment_id_not_available_is_a_preview(provider):
    arrival = provider.arrival_params(
        {
            "workerId": "A1W",
            "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE",
            "hitId": "H1",
        }
    )

    assert arrival == Arrival(worker_id="A1W", assignment_id="", unit_id="H1")
    assert arrival.preview is True


def test_a_prolific_participant_arrives_by_participant_submission_and_study_id():
    arrival = ProlificProvider.arrival_params(
        {"participant_id": "P1", "submission_id": "S1", "study_id": "ST1"}
    )

    assert arrival == Arrival(worker_id="P1", assignment_id="S1", unit_id="ST1")
    assert arrival.preview is False


@pytest.mark.parametrize(
    "provider, params",
    [
        (MockProvider, {"assignment_id": "a1"}),
        (MockProvider, {"worker_id": "", "assignment_id": "a1"}),
        (MockProvider, {"worker_id": "w1"}),
        (MTurkProvider, {"assignmentId": "AS1", "hitId": "H1"}),
        (MTurkSandboxProvider, {"workerId": "A1W", "hitId": "H1"}),
        (ProlificProvider, {"submission_id": "S1", "study_id": "ST1"}),
        (ProlificProvider, {"participant_id": "P1", "study_id": "ST1"}),
    ],
)
def test_a_missing_or_empty_worker_or_assignment_is_a_preview(provider, params):
    assert provider.arrival_params(params).preview is True


@pytest.mark.parametrize("provider_type", PROVIDER_CLASSES)
def test_no_parameters_at_all_is_a_preview(provider_type):
    arrival = get_provider_class(provider_type).arrival_params({})

    assert arrival == Arrival()
    assert arrival.preview is True


@pytest.mark.parametrize(
    "provider, params",
    [
        (MockProvider, {"workerId": "A1W", "assignmentId": "AS1"}),
        (MockProvider, {"participant_id": "P1", "submission_id": "S1"}),
        (MTurkProvider, {"worker_id": "w1", "assignment_id": "a1"}),
        (ProlificProvider, {"worker_id": "w1", "assignment_id": "a1"}),
    ],
)
def test_only_the_providers_own_parameter_names_count(provider, params):
    # As in each provider's wrap script, which reads only its own names.
    assert provider.arrival_params(params).preview is True


# --- framing and the wrap script ------------------------------------------------------


@pytest.mark.parametrize(
    "provider, ancestors",
    [
        (MockProvider, "*"),
        (MTurkProvider, "https://worker.mturk.com https://www.mturk.com"),
        (MTurkSandboxProvider, "https://workersandbox.mturk.com"),
        (ProlificProvider, "'self'"),
    ],
)
def test_each_provider_names_who_may_frame_the_task_page(provider, ancestors):
    assert provider.frame_ancestors == ancestors


@pytest.mark.parametrize(
    "provider, script",
    [
        (MockProvider, "mock.js"),
        (MTurkProvider, "mturk.js"),
        (MTurkSandboxProvider, "mturk.js"),
        (ProlificProvider, "prolific.js"),
    ],
)
def test_each_provider_names_its_wrap_script(provider, script):
    assert provider.wrap_script == script


@pytest.mark.parametrize("provider_type", PROVIDER_CLASSES)
def test_every_providers_wrap_script_is_in_the_static_folder(provider_type):
    script = get_provider_class(provider_type).wrap_script

    assert (WRAP_DIR / script).is_file()


# --- page config ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_mock_adds_nothing_to_the_page_config():
    run = TaskRunFactory(units=1, provider_type="mock")

    assert MockProvider.page_config(run_spec(run)) == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "provider, submit_to, submit_hosts",
    [
        (
            MTurkProvider,
            "https://www.mturk.com",
            ["https://www.mturk.com", "https://worker.mturk.com"],
        ),
        (
            MTurkSandboxProvider,
            "https://workersandbox.mturk.com",
            ["https://workersandbox.mturk.com"],
        ),
    ],
)
def test_mturk_tells_the_page_where_to_submit(provider, submit_to, submit_hosts):
    run = TaskRunFactory(units=1, provider_type=provider.provider_type)

    assert provider.page_config(run_spec(run)) == {
        "mturk_submit_to": submit_to,
        "mturk_submit_hosts": submit_hosts,
    }


@pytest.mark.django_db
def test_prolific_keeps_the_completion_code_off_the_page():
    spec = run_spec(TaskRunFactory(units=1, provider_type="prolific"))

    assert "completion_code" not in ProlificProvider.page_config(spec)
    assert ProlificProvider.completion_code_for(spec) == completion_code(spec)


@pytest.mark.django_db
@pytest.mark.parametrize("provider_type", PROVIDER_CLASSES)
def test_the_task_page_config_carries_the_providers_keys(client, provider_type):
    run = TaskRunFactory(units=1, provider_type=provider_type)

    page_config = client.get(f"/?task_run_id={run.pk}").context["page_config"]

    assert page_config == {
        "task_run_id": run.pk,
        "provider_type": provider_type,
        **get_provider_class(provider_type).page_config(run_spec(run)),
    }
