"""Eligibility enforced by MTurk: our qualifications as MTurk qualification types
(made once, found again), grants and revokes mirrored on them, and a run's
requirements on its HIT type, so that an ineligible worker can't accept."""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.stub import Stubber

from providers.base import ProviderError
from providers.models import CallStatus, ProviderCall
from providers.mturk import MTurkProvider, MTurkSandboxProvider
from providers.mturk import config as mturk_config
from qualifications_app.services import (
    grant_qualification,
    revoke_qualification,
    set_blocked,
)
from tasks_app.models import TaskRun, Unit
from tasks_app.run_config import ConfigError, load_run_config
from tasks_app.run_config import schema as run_config_schema
from tasks_app.selectors import run_spec
from tests.factories import TaskRunFactory, WorkerFactory
from tests.mturk_fake import MTurkFake, launch_task
from tests.mturk_fake import mturk_fixture as mturk_fixture
from tests.mturk_fake import stub_aws_fixture as stub_aws_fixture

pytestmark = pytest.mark.django_db

CONFIG = """\
#@package _global_
defaults:
  - /mephisto/blueprint: static_react_task
  - /mephisto/architect: server
  - /mephisto/provider: mturk_sandbox
mephisto:
  blueprint:
    task_source: ${task_dir}/bundle.js
    data_jsonl: ${task_dir}/rows.jsonl
    units_per_assignment: 1
    block_qualification: lab-blocked
    onboarding_qualification: lab-trained
  task:
    task_name: mturk-qualified
    task_title: Rate a sentence
    task_description: Say whether the sentence reads well.
    task_reward: 0.50
    assignment_duration_in_seconds: 600
    qualifications:
      - qualification_name: lab-allowlist
        comparator: GreaterThanOrEqualTo
        value: 2
      - qualification_name: lab-cohort
        comparator: In
        value: [1, 3]
      - qualification_name: lab-prolific-only
        comparator: Exists
        applicable_providers: [prolific]
"""

HOOKS = """\
def build_shared_state(cfg):
    return {
        "mturk_specific_qualifications": [
            {
                "QualificationTypeId": "00000000000000000071",
                "Comparator": "EqualTo",
                "LocaleValues": [{"Country": "US"}],
                "ActionsGuarded": "Accept",
            }
        ]
    }
"""


@pytest.fixture
def launch(tmp_path, settings, execute, mturk):
    """Launch a one-unit run of CONFIG on the fake (`hooks`: with HOOKS)."""
    settings.PUBLIC_URL = "https://crowd.example.org"

    def _launch(*, hooks: bool = False) -> TaskRun:
        for name in ("lab-allowlist", "lab-cohort", "lab-prolific-only"):
            # Requirements on unknown qualifications are refused at launch.
            execute(
                lambda name=name: grant_qualification(
                    worker=WorkerFactory(provider_type="mturk_sandbox"), name=name
                )
            )
        config = CONFIG
        if hooks:
            (tmp_path / "lab_hooks.py").write_text(HOOKS)
            config = config.replace(
                "    units_per_assignment: 1\n",
                "    units_per_assignment: 1\n    hooks: lab_hooks\n",
            )
        return launch_task(tmp_path, execute, config)

    return _launch


def hit_type_of(mturk: MTurkFake, run: TaskRun) -> dict:
    hit_id = Unit.objects.get(run=run).provider_unit_id
    return mturk.hit_types[mturk.hits[hit_id]["HITTypeId"]]


def type_id(mturk: MTurkFake, name: str) -> str:
    qualification_type = mturk.qualification_type_named(name)
    assert qualification_type is not None, f"no MTurk type {name}"
    return qualification_type["QualificationTypeId"]


# --- requirements on the HIT type -------------------------------------------------


def test_the_hit_type_carries_the_runs_requirements_guarding_accept(launch, mturk):
    run = launch()

    requirements = hit_type_of(mturk, run)["QualificationRequirements"]

    assert requirements == [
        {
            "QualificationTypeId": type_id(mturk, "lab-blocked"),
            "Comparator": "DoesNotExist",
            "ActionsGuarded": "Accept",
        },
        {
            "QualificationTypeId": type_id(mturk, "lab-trained-failed"),
            "Comparator": "DoesNotExist",
            "ActionsGuarded": "Accept",
        },
        {
            "QualificationTypeId": type_id(mturk, "lab-allowlist"),
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [2],
            "ActionsGuarded": "Accept",
        },
        {
            "QualificationTypeId": type_id(mturk, "lab-cohort"),
            "Comparator": "In",
            "IntegerValues": [1, 3],
            "ActionsGuarded": "Accept",
        },
    ]


def test_a_requirement_for_other_providers_only_is_not_sent_to_mturk(launch, mturk):
    run = launch()

    sent = {
        r["QualificationTypeId"]
        for r in hit_type_of(mturk, run)["QualificationRequirements"]
    }
    prolific_only = mturk.qualification_type_named("lab-prolific-only")
    # Its grant made the type; the requirement still isn't on the HIT type.
    assert prolific_only is not None
    assert prolific_only["QualificationTypeId"] not in sent


def test_mturk_specific_qualifications_are_passed_through_as_given(launch, mturk):
    mturk.qualification_types["00000000000000000071"] = {
        "QualificationTypeId": "00000000000000000071",
        "Name": "Worker_Locale",
        "Description": "MTurk's own locale qualification",
    }

    run = launch(hooks=True)

    requirements = hit_type_of(mturk, run)["QualificationRequirements"]
    assert requirements[-1] == {
        "QualificationTypeId": "00000000000000000071",
        "Comparator": "EqualTo",
        "LocaleValues": [{"Country": "US"}],
        "ActionsGuarded": "Accept",
    }
    assert len(requirements) == 5


def test_a_worker_who_failed_onboarding_cant_accept_the_hit_on_mturk(
    launch, mturk, execute
):
    run = launch()
    worker = WorkerFactory(provider_type="mturk_sandbox", worker_name="A1BAD_sandbox")
    allowlisted = WorkerFactory(
        provider_type="mturk_sandbox", worker_name="A1GOOD_sandbox"
    )
    execute(lambda: grant_qualification(worker=worker, name="lab-trained-failed"))
    for name, value in (("lab-allowlist", 2), ("lab-cohort", 3)):
        execute(
            lambda name=name, value=value: grant_qualification(
                worker=allowlisted, name=name, value=value
            )
        )
    hit_id = Unit.objects.get(run=run).provider_unit_id

    with pytest.raises(ValueError, match="does not meet requirement"):
        mturk.accept(hit_id, "A1BAD")
    assert mturk.accept(hit_id, "A1GOOD")


# --- qualification types, made once -----------------------------------------------


def test_a_qualification_type_is_created_once_and_its_id_remembered(mturk):
    provider = MTurkSandboxProvider()

    first = provider.qualification_type_id("lab-allowlist")
    again = MTurkSandboxProvider().qualification_type_id("lab-allowlist")

    assert first == again == type_id(mturk, "lab-allowlist")
    assert mturk.count("CreateQualificationType") == 1
    # The second provider found the id in the call log, not on MTurk.
    assert mturk.count("ListQualificationTypes") == 1
    call = ProviderCall.objects.get(operation="create_qualification_type")
    assert call.idempotency_key == "qualification_type:mturk_sandbox:lab-allowlist"
    assert call.response == {"QualificationTypeId": first, "Name": "lab-allowlist"}


def test_a_create_whose_answer_was_lost_is_found_not_made_twice(mturk):
    mturk.fail_next(1, "drop", operation="CreateQualificationType")

    found = MTurkSandboxProvider().qualification_type_id("lab-allowlist")

    assert len(mturk.qualification_types) == 1
    assert found == type_id(mturk, "lab-allowlist")


def test_an_existing_type_of_that_name_is_used_not_a_similar_one(mturk):
    mturk.qualification_types["QUALLONGER"] = {
        "QualificationTypeId": "QUALLONGER",
        "Name": "lab-allowlist-old",
        "Description": "",
    }
    mturk.qualification_types["QUALEXACT"] = {
        "QualificationTypeId": "QUALEXACT",
        "Name": "lab-allowlist",
        "Description": "",
    }

    assert MTurkSandboxProvider().qualification_type_id("lab-allowlist") == (
        "QUALEXACT"
    )
    assert mturk.count("CreateQualificationType") == 0


def test_sandbox_and_live_remember_their_own_ids(mturk):
    sandbox = MTurkSandboxProvider().qualification_type_id("lab-allowlist")
    mturk.qualification_types.clear()  # the live account has none yet

    live = MTurkProvider().qualification_type_id("lab-allowlist")

    assert live != sandbox
    assert set(
        ProviderCall.objects.filter(operation="create_qualification_type").values_list(
            "idempotency_key", flat=True
        )
    ) == {
        "qualification_type:mturk_sandbox:lab-allowlist",
        "qualification_type:mturk:lab-allowlist",
    }


# --- grants and revokes mirrored ----------------------------------------------------


def test_a_grant_is_mirrored_on_mturk_with_its_value_and_no_email(mturk, execute):
    worker = WorkerFactory(provider_type="mturk_sandbox", worker_name="A1W_sandbox")

    execute(lambda: grant_qualification(worker=worker, name="lab-allowlist", value=3))

    assert mturk.score("lab-allowlist", "A1W") == 3
    (params,) = mturk.params("AssociateQualificationWithWorker")
    assert params["SendNotification"] is False
    call = ProviderCall.objects.get(operation="grant_qualification")
    assert call.status == CallStatus.SUCCEEDED


def test_a_revoke_is_mirrored_with_its_reason_and_a_second_one_is_harmless(
    mturk, execute
):
    worker = WorkerFactory(provider_type="mturk_sandbox", worker_name="A1W_sandbox")
    execute(lambda: grant_qualification(worker=worker, name="lab-allowlist"))

    execute(
        lambda: revoke_qualification(
            worker=worker, name="lab-allowlist", reason="left the study"
        )
    )
    # Already gone on MTurk (revoked there by hand, say): done, not an error.
    assert MTurkSandboxProvider().revoke_qualification(
        worker_name="A1W_sandbox", qualification_name="lab-allowlist"
    ) == {
        "qualification_type": type_id(mturk, "lab-allowlist"),
        "worker": "A1W",
        "held": False,
    }

    assert mturk.score("lab-allowlist", "A1W") is None
    assert mturk.params("DisassociateQualificationFromWorker")[0]["Reason"] == (
        "left the study"
    )


def test_a_throttled_grant_is_transient_and_grants_once_on_retry(mturk):
    provider = MTurkSandboxProvider()
    provider.qualification_type_id("lab-allowlist")
    mturk.fail_next(4, "throttle", operation="AssociateQualificationWithWorker")

    with pytest.raises(ProviderError) as raised:
        provider.grant_qualification(
            worker_name="A1W_sandbox", qualification_name="lab-allowlist", value=1
        )
    provider.grant_qualification(
        worker_name="A1W_sandbox", qualification_name="lab-allowlist", value=1
    )

    assert raised.value.transient
    assert mturk.score("lab-allowlist", "A1W") == 1


def test_a_grant_mturk_refuses_stands_here_and_is_logged_failed(mturk, execute):
    worker = WorkerFactory(provider_type="mturk_sandbox", worker_name="A1W_sandbox")
    MTurkSandboxProvider().qualification_type_id("lab-allowlist")
    mturk.qualification_types.clear()  # disposed of on MTurk since

    grant = execute(lambda: grant_qualification(worker=worker, name="lab-allowlist"))

    assert grant.pk is not None
    call = ProviderCall.objects.get(operation="grant_qualification")
    assert call.status == CallStatus.FAILED
    assert "does not exist" in call.error


# --- the local hard block -----------------------------------------------------------


def test_a_hard_block_and_unblock_reach_mturk(mturk, execute):
    worker = WorkerFactory(provider_type="mturk_sandbox", worker_name="A1W_sandbox")

    execute(lambda: set_blocked(worker=worker, blocked=True, reason="copied answers"))
    assert mturk.blocks == {"A1W": "copied answers"}

    execute(lambda: set_blocked(worker=worker, blocked=False, reason="appeal"))
    assert mturk.blocks == {}
    assert mturk.params("DeleteWorkerBlock") == [
        {"WorkerId": "A1W", "Reason": "appeal"}
    ]


# --- config ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "returned"),
    [
        ("mturk_sandbox", '{"prolific_specific_qualifications": [{"name": "x"}]}'),
        ("prolific", '{"mturk_specific_qualifications": [{"Comparator": "Exists"}]}'),
    ],
)
def test_another_providers_own_requirements_are_refused_by_name(
    tmp_path, settings, provider, returned
):
    settings.PUBLIC_URL = "https://crowd.example.org"
    # A module name of its own: hooks modules are imported once per name.
    (tmp_path / f"{provider}_hooks.py").write_text(
        f"def build_shared_state(cfg):\n    return {returned}\n"
    )
    (tmp_path / "bundle.js").write_text("// bundle\n")
    (tmp_path / "rows.jsonl").write_text('{"text": "row 0"}\n')
    (tmp_path / "run.yaml").write_text(
        CONFIG.replace(
            "    units_per_assignment: 1\n",
            f"    units_per_assignment: 1\n    hooks: {provider}_hooks\n",
        ).replace(
            "/mephisto/provider: mturk_sandbox", f"/mephisto/provider: {provider}"
        )
    )

    with pytest.raises(ConfigError, match=f"this run is on {provider}") as caught:
        load_run_config(tmp_path / "run.yaml")

    assert caught.value.key == "mephisto.blueprint.hooks"


def test_mturk_specific_qualifications_of_the_wrong_shape_are_refused(
    tmp_path, settings
):
    settings.PUBLIC_URL = "https://crowd.example.org"
    (tmp_path / "shape_hooks.py").write_text(
        "def build_shared_state(cfg):\n"
        '    return {"mturk_specific_qualifications": [{"Comparator": "Exists"}]}\n'
    )
    (tmp_path / "bundle.js").write_text("// bundle\n")
    (tmp_path / "rows.jsonl").write_text('{"text": "row 0"}\n')
    (tmp_path / "run.yaml").write_text(
        CONFIG.replace(
            "    units_per_assignment: 1\n",
            "    units_per_assignment: 1\n    hooks: shape_hooks\n",
        )
    )

    with pytest.raises(ConfigError, match=r"mturk_specific_qualifications\[0\]"):
        load_run_config(tmp_path / "run.yaml")


def test_mturk_takes_every_comparator_a_config_may_name():
    assert mturk_config.COMPARATORS == run_config_schema.QUALIFICATION_COMPARATORS


# --- Stubber: the calls' parameters ---------------------------------------------------


def expect_type_lookup(stub: Stubber, name: str, listed: list[dict]) -> None:
    stub.add_response(
        "list_qualification_types",
        {"NumResults": len(listed), "QualificationTypes": listed},
        expected_params={
            "Query": name,
            "MustBeRequestable": False,
            "MustBeOwnedByCaller": True,
            "MaxResults": 100,
        },
    )


def test_stub_a_missing_type_is_created_active_under_our_name(stub_aws):
    provider = MTurkSandboxProvider()
    with Stubber(provider.client) as stub:
        expect_type_lookup(
            stub,
            "lab-allowlist",
            [{"QualificationTypeId": "QUALOTHER", "Name": "lab-allowlist-2"}],
        )
        stub.add_response(
            "create_qualification_type",
            {"QualificationType": {"QualificationTypeId": "QUALNEW"}},
            expected_params={
                "Name": "lab-allowlist",
                "Description": "crowdsite qualification lab-allowlist",
                "QualificationTypeStatus": "Active",
            },
        )

        assert provider.qualification_type_id("lab-allowlist") == "QUALNEW"
        stub.assert_no_pending_responses()


def test_stub_a_grant_associates_the_worker_with_its_value_silently(stub_aws):
    provider = MTurkSandboxProvider()
    with Stubber(provider.client) as stub:
        expect_type_lookup(
            stub,
            "lab-allowlist",
            [{"QualificationTypeId": "QUAL1", "Name": "lab-allowlist"}],
        )
        stub.add_response(
            "associate_qualification_with_worker",
            {},
            expected_params={
                "QualificationTypeId": "QUAL1",
                "WorkerId": "A1W",
                "IntegerValue": 4,
                "SendNotification": False,
            },
        )

        result = provider.grant_qualification(
            worker_name="A1W_sandbox", qualification_name="lab-allowlist", value=4
        )

        stub.assert_no_pending_responses()
    assert result == {"qualification_type": "QUAL1", "worker": "A1W", "value": 4}


def test_stub_the_hit_type_carries_the_qualification_requirements(stub_aws, settings):
    settings.PUBLIC_URL = "https://crowd.example.org"
    run = TaskRunFactory(
        units=1,
        launching=True,
        provider_type="mturk_sandbox",
        architect_type="server",
        resolved_config={"mephisto": {"task": {"task_lifetime_in_seconds": 7200}}},
        task_reward=Decimal("0.50"),
        task_tags="",
        assignment_duration_in_seconds=1800,
    )
    unit_id = Unit.objects.get(run=run).pk
    provider = MTurkSandboxProvider()
    with Stubber(provider.client) as stub:
        for name, type_id_ in (("lab-blocked", "QUALB"), ("lab-allowlist", "QUALA")):
            expect_type_lookup(
                stub, name, [{"QualificationTypeId": type_id_, "Name": name}]
            )
        stub.add_response(
            "create_hit_type",
            {"HITTypeId": "HITTYPE1"},
            expected_params={
                "AutoApprovalDelayInSeconds": 7 * 24 * 3600,
                "AssignmentDurationInSeconds": 1800,
                "Reward": "0.50",
                "Title": run.task_title,
                "Description": run.task_description,
                "QualificationRequirements": [
                    {
                        "QualificationTypeId": "QUALB",
                        "Comparator": "DoesNotExist",
                        "ActionsGuarded": "Accept",
                    },
                    {
                        "QualificationTypeId": "QUALA",
                        "Comparator": "NotIn",
                        "IntegerValues": [0, 5],
                        "ActionsGuarded": "Accept",
                    },
                ],
            },
        )
        stub.add_response(
            "create_hit_with_hit_type", {"HIT": {"HITId": "HIT1"}}, expected_params=None
        )

        result = provider.launch_units(
            run=run_spec(run),
            unit_ids=[unit_id],
            task_url="https://crowd.example.org/",
            requirements=[
                {"qualification_name": "lab-blocked", "comparator": "DoesNotExist"},
                {
                    "qualification_name": "lab-allowlist",
                    "comparator": "NotIn",
                    "value": [0, 5],
                },
            ],
        )

        stub.assert_no_pending_responses()
    assert result == {unit_id: "HIT1"}
