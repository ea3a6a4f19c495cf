"""Prolific eligibility against the stateful fake: requirements become
participant groups and the study's filters, grants and blocks become group
membership, and settings crowdsite can't honour are refused by name."""

from __future__ import annotations

import pytest

from crowdsite.config_errors import ConfigError
from providers.base import ProviderError
from providers.models import ProviderCall
from providers.prolific import ProlificProvider
from providers.prolific.client import BLOCK_LIST_GROUP_NAME
from providers.prolific.provider import study_internal_name
from tasks_app.selectors import run_spec
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.prolific_provider_calls import BLOCK, launch, make_run
from tests.prolific_provider_calls import public_url_fixture as public_url_fixture
from tests.prolific_provider_calls import study_fixture as study_fixture

pytestmark = pytest.mark.django_db


def test_requirements_become_participant_groups_and_the_studys_filters(prolific):
    run = make_run()
    requirements = [
        BLOCK,
        {"qualification_name": "trained", "comparator": "Exists", "value": None},
        {"qualification_name": "score", "comparator": "GreaterThan", "value": 3},
    ]

    study_id = launch(run, requirements)

    groups = {g["name"]: gid for gid, g in prolific.groups.items()}
    assert set(groups) == {BLOCK_LIST_GROUP_NAME, "lab-blocked", "trained", "score"}
    assert prolific.studies[study_id]["filters"] == [
        {
            "filter_id": "participant_group_allowlist",
            "selected_values": [groups["trained"]],
        },
        {
            "filter_id": "participant_group_allowlist",
            "selected_values": [groups["score"]],
        },
        {
            "filter_id": "participant_group_blocklist",
            "selected_values": [groups[BLOCK_LIST_GROUP_NAME], groups["lab-blocked"]],
        },
    ]
    [project] = prolific.projects.values()
    assert prolific.studies[study_id]["project"] == project["id"]
    assert [w["title"] for w in prolific.workspaces.values()] == ["My Workspace"]


def test_groups_are_made_once_and_found_again_by_name(prolific):
    requirements = [BLOCK]
    launch(make_run(), requirements)
    ProviderCall.objects.all().delete()  # a reset database, the same account

    launch(make_run(), requirements)

    assert prolific.count("POST", r"^participant-groups/$") == 2  # block list + one
    assert prolific.count("POST", r"^workspaces/$") == 1
    assert len(prolific.groups) == 2


def test_grants_and_revokes_are_mirrored_as_group_membership(prolific):
    provider = ProlificProvider()

    provider.grant_qualification(
        worker_name="P1", qualification_name="trained", value=1
    )
    provider.grant_qualification(
        worker_name="P2", qualification_name="trained", value=4
    )
    provider.grant_qualification(
        worker_name="P1", qualification_name="trained", value=2
    )
    provider.revoke_qualification(worker_name="P2", qualification_name="trained")
    provider.revoke_qualification(worker_name="P2", qualification_name="trained")

    assert prolific.members("trained") == ["P1"]
    assert prolific.count("POST", r"^participant-groups/$") == 1


def test_a_long_qualification_name_is_mirrored_and_found_again(prolific):
    name = "sentence-rating-" + "x" * 180
    ProlificProvider().grant_qualification(
        worker_name="P1", qualification_name=name, value=1
    )

    ProlificProvider().grant_qualification(
        worker_name="P2", qualification_name=name, value=1
    )

    assert prolific.members(name) == ["P1", "P2"]
    assert prolific.count("POST", r"^participant-groups/$") == 1


def test_blocking_adds_to_the_block_list_group_every_study_blocks(prolific, study):
    provider = ProlificProvider()

    provider.block_worker(worker_name="P9", reason="copied answers", token="b:1")

    assert prolific.members(BLOCK_LIST_GROUP_NAME) == ["P9"]
    group = prolific.group_named(BLOCK_LIST_GROUP_NAME)["id"]
    blocked = prolific.studies[study]["filters"][-1]
    assert blocked["filter_id"] == "participant_group_blocklist"
    assert group in blocked["selected_values"]

    provider.unblock_worker(worker_name="P9", reason="appeal", token="u:1")

    assert prolific.members(BLOCK_LIST_GROUP_NAME) == []


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        (
            {
                "name": "ApprovalRateEligibilityRequirement",
                "minimum_approval_rate": 95,
                "maximum_approval_rate": 100,
            },
            {
                "filter_id": "approval_rate",
                "selected_range": {"lower": 95, "upper": 100},
            },
        ),
        (
            {"name": "ApprovalNumbersEligibilityRequirement", "minimum_approvals": 50},
            {"filter_id": "approval_numbers", "selected_range": {"lower": 50}},
        ),
        (
            {"name": "AgeRangeEligibilityRequirement", "min_age": 25, "max_age": 40},
            {"filter_id": "age", "selected_range": {"lower": 25, "upper": 40}},
        ),
    ],
)
def test_each_range_eligibility_requirement_becomes_its_filter(
    prolific, requirement, expected
):
    run = make_run(provider={"prolific_eligibility_requirements": [requirement]})

    study_id = launch(run)

    assert expected in prolific.studies[study_id]["filters"]


def test_allow_and_block_lists_of_participant_ids_become_groups_of_the_run(prolific):
    run = make_run(
        provider={
            "prolific_eligibility_requirements": [
                {
                    "name": "CustomWhitelistEligibilityRequirement",
                    "white_list": ["A", "B"],
                }
            ]
        },
        shared_state={
            "prolific_specific_qualifications": [
                {"name": "CustomBlacklistEligibilityRequirement", "black_list": ["C"]}
            ]
        },
    )

    study_id = launch(run)

    allow = prolific.group_named(f"{study_internal_name(run_spec(run))}-white-list")
    block = prolific.group_named(f"{study_internal_name(run_spec(run))}-black-list")
    assert allow["members"] == ["A", "B"] and block["members"] == ["C"]
    filters = prolific.studies[study_id]["filters"]
    assert {
        "filter_id": "participant_group_allowlist",
        "selected_values": [allow["id"]],
    } in filters
    assert block["id"] in filters[-1]["selected_values"]


def test_a_participant_group_requirement_allows_that_group(prolific):
    workspace = "ws-existing"
    prolific.workspaces[workspace] = {"id": workspace, "title": "My Workspace"}
    group = prolific.create_group(workspace, "pilot people", ["A"])
    run = make_run(
        provider={
            "prolific_eligibility_requirements": [
                {"name": "ParticipantGroupEligibilityRequirement", "id": group}
            ]
        }
    )

    study_id = launch(run)

    assert {
        "filter_id": "participant_group_allowlist",
        "selected_values": [group],
    } in prolific.studies[study_id]["filters"]


def test_a_named_allow_list_group_must_exist_and_is_allowed(prolific):
    run = make_run(provider={"prolific_allow_list_group_name": "Returning raters"})

    with pytest.raises(ProviderError) as raised:
        launch(run)

    assert not raised.value.transient
    assert "no participant group named 'Returning raters'" in str(raised.value)
    assert prolific.studies == {}


def check(**provider_args):
    ProlificProvider.check_provider_args(provider_args=provider_args, shared_state={})


def test_mephistos_defaults_and_honoured_settings_pass_the_check():
    check(
        prolific_id_option="url_parameters",
        prolific_total_available_places=1,
        prolific_workspace_name="My Workspace",
        prolific_project_name="Sentences",
        prolific_allow_list_group_name="Allow list",
        prolific_block_list_group_name="Block list",
        prolific_external_study_url="",
        prolific_estimated_completion_time_in_minutes=12,
        prolific_eligibility_requirements=[
            {"name": "ApprovalRateEligibilityRequirement", "minimum_approval_rate": 90}
        ],
    )


@pytest.mark.parametrize(
    ("args", "key", "words"),
    [
        ({"prolific_id_option": "question"}, "prolific_id_option", "url_parameters"),
        (
            {"prolific_workspace_name": "Lab"},
            "prolific_workspace_name",
            "one workspace",
        ),
        (
            {"prolific_block_list_group_name": "Mine"},
            "prolific_block_list_group_name",
            "blocks workers in one group",
        ),
        (
            {"prolific_total_available_places": 40},
            "prolific_total_available_places",
            "one place per unit",
        ),
        (
            {"prolific_external_study_url": "https://survey.example.com/s/1"},
            "prolific_external_study_url",
            "its own task page",
        ),
        (
            {"prolific_estimated_completion_time_in_minutes": 0},
            "prolific_estimated_completion_time_in_minutes",
            "1 or more",
        ),
        ({"prolific_study_labels": ["x"]}, "prolific_study_labels", "does not know"),
        (
            {"prolific_eligibility_requirements": [{"name": "FluencyRequirement"}]},
            "prolific_eligibility_requirements",
            "unknown eligibility requirement 'FluencyRequirement'",
        ),
        (
            {
                "prolific_eligibility_requirements": [
                    {
                        "name": "JoinedBeforeEligibilityRequirement",
                        "joined_before": "2020-01-01",
                    }
                ]
            },
            "prolific_eligibility_requirements",
            "JoinedBeforeEligibilityRequirement is not supported",
        ),
        (
            {
                "prolific_eligibility_requirements": [
                    {"name": "AgeRangeEligibilityRequirement", "min_age": 12}
                ]
            },
            "prolific_eligibility_requirements",
            "18 to 100",
        ),
        (
            {
                "prolific_eligibility_requirements": [
                    {"name": "CustomWhitelistEligibilityRequirement", "white_list": []}
                ]
            },
            "prolific_eligibility_requirements",
            "non-empty list",
        ),
        (
            {
                "prolific_eligibility_requirements": [
                    {
                        "name": "ApprovalRateEligibilityRequirement",
                        "minimum_approval_rate": 90,
                        "min_rate": 1,
                    }
                ]
            },
            "prolific_eligibility_requirements",
            "would ignore min_rate",
        ),
    ],
)
def test_settings_crowdsite_cant_honour_are_refused_by_name(args, key, words):
    with pytest.raises(ConfigError) as raised:
        check(**args)

    assert raised.value.key == f"mephisto.provider.{key}"
    assert words in str(raised.value)


def test_a_bad_shared_state_requirement_is_refused_under_the_hooks_key():
    with pytest.raises(ConfigError) as raised:
        ProlificProvider.check_provider_args(
            provider_args={},
            shared_state={"prolific_specific_qualifications": [{"nom": "x"}]},
        )

    assert raised.value.key == "mephisto.blueprint.hooks"
    assert "eligibility requirement 1 of 1" in str(raised.value)


def test_crowdsites_own_study_url_is_accepted():
    check(prolific_external_study_url="https://crowd.example.org/task/")


def test_settings_as_omegaconf_gives_them_are_checked_the_same():
    from omegaconf import OmegaConf

    args = OmegaConf.create(
        {
            "prolific_eligibility_requirements": [
                {"name": "AgeRangeEligibilityRequirement", "min_age": 30}
            ]
        }
    )

    ProlificProvider.check_provider_args(provider_args=args, shared_state={})
