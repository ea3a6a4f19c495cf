"""Prolific review, money, eligibility and recovery, against the stateful fake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crowdsite.config_errors import ConfigError
from providers.base import Arrival, ProviderError, WorkRef
from providers.calllog import run_logged_call
from providers.models import CallStatus, ProviderCall
from providers.prolific import ProlificProvider
from providers.prolific.client import BLOCK_LIST_GROUP_NAME
from providers.prolific.provider import study_internal_name
from tasks_app.selectors import run_spec
from tests.factories import TaskRunFactory
from tests.prolific_fake import ProlificFake
from tests.prolific_fake import prolific_fixture as prolific_fixture
from tests.threads import race

pytestmark = pytest.mark.django_db

TASK_URL = "https://crowd.example.org/?task_run_id=1"
FEEDBACK = (
    "The answers were copied from the example on the instructions page for every "
    "one of the ten sentences, so they tell us nothing."
)


@pytest.fixture(autouse=True)
def public_url(settings):
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


@pytest.fixture
def study(prolific: ProlificFake) -> str:
    return launch(make_run(), [BLOCK])


def work(prolific: ProlificFake, study_id: str, participant: str = "P1") -> WorkRef:
    submission = prolific.submit(study_id, participant)
    return WorkRef(
        worker_name=participant,
        provider_unit_id=study_id,
        provider_assignment_id=submission,
    )


def pay(ref: WorkRef, token: str = "review:1", amount: str = "0.75"):
    """A bonus through the call log, as crowdsite's review service makes it."""
    provider = ProlificProvider()
    return run_logged_call(
        provider_type="prolific",
        operation="bonus",
        # As crowdsite's review service calls it for Prolific.
        repeatable=ProlificProvider.bonus_is_repeatable,
        key=token,
        run_id=None,
        request={},
        call=lambda: provider.pay_bonus(
            work=ref, amount=Decimal(amount), reason="great work", token=token
        ),
    )


# --- eligibility: groups and filters ---------------------------------------------


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


# --- identity --------------------------------------------------------------------


def test_an_arrival_matching_prolifics_submission_is_accepted(prolific, study):
    submission = prolific.submit(study, "P1")

    reason = ProlificProvider().verify_arrival(
        Arrival(worker_id="P1", assignment_id=submission, unit_id=study)
    )

    assert reason == ""


def test_an_arrival_with_someone_elses_submission_is_refused(prolific, study):
    submission = prolific.submit(study, "P1")

    reason = ProlificProvider().verify_arrival(
        Arrival(worker_id="P2", assignment_id=submission, unit_id=study)
    )

    assert "is participant P1's" in reason and "not P2's" in reason


def test_an_arrival_with_an_unknown_submission_is_refused(prolific, study):
    reason = ProlificProvider().verify_arrival(
        Arrival(worker_id="P1", assignment_id="nope", unit_id=study)
    )

    assert "Prolific has no submission nope" in reason


@pytest.mark.parametrize("kind", ["throttle", "server_error", "timeout"])
def test_an_arrival_that_cant_be_checked_is_a_transient_error(prolific, study, kind):
    submission = prolific.submit(study, "P1")
    prolific.fail_next(1, kind)

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().verify_arrival(
            Arrival(worker_id="P1", assignment_id=submission, unit_id=study)
        )

    assert raised.value.transient


def test_money_on_another_participants_submission_is_refused_and_logged(
    prolific, study, caplog
):
    ref = work(prolific, study, "P1")
    forged = WorkRef("P2", study, ref.provider_assignment_id)
    provider = ProlificProvider()

    for attempt in (
        lambda: provider.approve_work(work=forged, token="t"),
        lambda: provider.reject_work(work=forged, feedback=FEEDBACK, token="t"),
        lambda: provider.pay_bonus(
            work=forged, amount=Decimal("1"), reason="r", token="t"
        ),
    ):
        with pytest.raises(ProviderError) as raised:
            attempt()
        assert not raised.value.transient
        assert "nothing was sent" in str(raised.value)

    assert prolific.count("POST", r"transition/$|bonus") == 1  # the study's publish
    assert prolific.submissions[ref.provider_assignment_id]["status"] == (
        "AWAITING REVIEW"
    )
    assert "refused for P2" in caplog.text


# --- approve and reject ----------------------------------------------------------


def test_approving_transitions_the_submission_once(prolific, study):
    ref = work(prolific, study)
    provider = ProlificProvider()

    first = provider.approve_work(work=ref, token="r:1")
    again = provider.approve_work(work=ref, token="r:1")

    assert first == {"submission": ref.provider_assignment_id, "status": "APPROVED"}
    assert again["already"] is True
    assert prolific.bodies("POST", r"^submissions/.+/transition/$") == [
        {"action": "APPROVE"}
    ]


def test_an_approval_whose_answer_was_lost_counts_as_done(prolific, study):
    ref = work(prolific, study)
    prolific.fail_next(1, "drop", path=r"^submissions/.+/transition/$")

    result = ProlificProvider().approve_work(work=ref, token="r:1")

    assert result["already"] is True
    assert prolific.submissions[ref.provider_assignment_id]["status"] == "APPROVED"


def test_rejecting_sends_the_feedback_as_the_message_with_a_category(prolific, study):
    ref = work(prolific, study)

    ProlificProvider().reject_work(work=ref, feedback=FEEDBACK, token="r:1")

    assert prolific.bodies("POST", r"^submissions/.+/transition/$") == [
        {"action": "REJECT", "message": FEEDBACK, "rejection_category": "OTHER"}
    ]


def test_a_category_may_lead_the_feedback(prolific, study):
    ref = work(prolific, study)

    ProlificProvider().reject_work(
        work=ref, feedback=f"LOW_EFFORT: {FEEDBACK}", token="r:1"
    )

    [body] = prolific.bodies("POST", r"^submissions/.+/transition/$")
    assert body["rejection_category"] == "LOW_EFFORT"
    assert body["message"] == FEEDBACK


def test_a_rejection_message_shorter_than_prolific_allows_is_refused_before_any_call(
    prolific, study
):
    ref = work(prolific, study)
    before = len(prolific.requests)

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().reject_work(work=ref, feedback="Too short.", token="r:1")

    assert not raised.value.transient
    assert "at least 100 characters" in str(raised.value)
    assert len(prolific.requests) == before


def test_rejecting_an_approved_submission_is_refused_and_says_why(prolific, study):
    ref = work(prolific, study)
    ProlificProvider().approve_work(work=ref, token="r:1")

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().reject_work(work=ref, feedback=FEEDBACK, token="r:2")

    assert "APPROVED" in str(raised.value) and "can't be taken back" in str(
        raised.value
    )


# --- bonuses ---------------------------------------------------------------------


def test_a_bonus_is_set_up_then_paid_once(prolific, study):
    ref = work(prolific, study)

    result = pay(ref)

    assert prolific.bodies("POST", r"^submissions/bonus-payments/$") == [
        {"study_id": study, "csv_bonuses": "P1,0.75\n"}
    ]
    assert prolific.count("POST", r"^bulk-bonus-payments/.+/pay/$") == 1
    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert result["amount"] == "0.75"
    assert ProlificProvider().paid_bonuses(work=ref) == [Decimal("0.75")]


def test_replaying_a_paid_bonus_pays_nothing_more(prolific, study):
    ref = work(prolific, study)

    for _ in range(3):
        pay(ref, token="review:7")

    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert prolific.count("POST", r"^submissions/bonus-payments/$") == 1


def test_two_bonuses_on_one_submission_are_both_paid(prolific, study):
    ref = work(prolific, study)

    pay(ref, token="review:1", amount="0.50")
    pay(ref, token="review:2", amount="1.25")

    assert ProlificProvider().paid_bonuses(work=ref) == [
        Decimal("0.5"),
        Decimal("1.25"),
    ]


@pytest.mark.parametrize("kind", ["drop", "timeout", "server_error"])
def test_a_pay_call_of_unknown_outcome_is_ambiguous_and_never_repeated(
    prolific, study, kind
):
    ref = work(prolific, study)
    prolific.fail_next(1, kind, path=r"/pay/$")

    with pytest.raises(ProviderError) as raised:
        pay(ref)

    assert raised.value.ambiguous and not raised.value.transient
    outer = ProviderCall.objects.get(idempotency_key="review:1")
    assert outer.status == CallStatus.AMBIGUOUS

    # Run again: the review's call log refuses to repeat it, and so does the
    # provider itself, asked directly under the same token.
    with pytest.raises(ProviderError) as again:
        pay(ref)
    with pytest.raises(ProviderError) as direct:
        ProlificProvider().pay_bonus(
            work=ref, amount=Decimal("0.75"), reason="great work", token="review:1"
        )

    assert again.value.ambiguous and not again.value.transient
    assert direct.value.ambiguous and not direct.value.transient
    assert "paying again would pay twice" in str(direct.value)
    assert prolific.count("POST", r"/pay/$") == 1
    paid = [Decimal("0.75")] if kind != "server_error" else []
    assert ProlificProvider().paid_bonuses(work=ref) == paid


def test_a_throttled_pay_call_is_transient_and_a_retry_pays_once(prolific, study):
    ref = work(prolific, study)
    prolific.fail_next(1, "throttle", path=r"/pay/$")

    with pytest.raises(ProviderError) as raised:
        pay(ref)
    assert raised.value.transient and not raised.value.ambiguous

    pay(ref)

    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert prolific.count("POST", r"^submissions/bonus-payments/$") == 1


def test_a_bonus_set_up_whose_answer_was_lost_is_set_up_again_and_paid_once(
    prolific, study
):
    ref = work(prolific, study)
    prolific.fail_next(1, "drop", path=r"^submissions/bonus-payments/$")

    with pytest.raises(ProviderError) as raised:
        pay(ref)
    assert raised.value.transient and not raised.value.ambiguous

    pay(ref)

    assert prolific.paid_to("P1") == [Decimal("0.75")]


def test_a_bonus_of_nothing_is_refused_before_any_call(prolific, study):
    ref = work(prolific, study)
    before = len(prolific.requests)

    with pytest.raises(ProviderError):
        pay(ref, amount="0")

    assert len(prolific.requests) == before


# --- submissions Prolific lists --------------------------------------------------


def test_submissions_awaiting_review_are_listed_across_pages(prolific):
    study_id = launch(make_run(units=6), [BLOCK])
    waiting = [prolific.submit(study_id, f"P{n}") for n in range(3)]
    prolific.submit(study_id, "R1", status="RETURNED")
    prolific.submit(study_id, "T1", status="TIMED-OUT")
    prolific.submit(study_id, "A1", status="ACTIVE")

    found = ProlificProvider().submitted_work(provider_unit_ids=[study_id, study_id])

    assert [w.provider_assignment_id for w in found] == waiting
    assert [w.worker_name for w in found] == ["P0", "P1", "P2"]
    assert all(w.provider_unit_id == study_id and w.submitted_at for w in found)
    assert prolific.count("GET", r"^submissions/$") == 3  # 6 items, pages of 2


def test_returned_and_timed_out_submissions_are_listed_as_abandoned(prolific):
    study_id = launch(make_run(units=4), [BLOCK])
    prolific.submit(study_id, "P1")
    returned = prolific.submit(study_id, "R1", status="RETURNED")
    timed_out = prolific.submit(study_id, "T1", status="TIMED-OUT")

    found = ProlificProvider().abandoned_work(provider_unit_ids=[study_id])

    assert [(w.provider_assignment_id, w.worker_name, w.status) for w in found] == [
        (returned, "R1", "RETURNED"),
        (timed_out, "T1", "TIMED-OUT"),
    ]


@pytest.mark.parametrize("kind", ["throttle", "server_error"])
def test_a_listing_that_fails_is_transient(prolific, study, kind):
    prolific.fail_next(1, kind, path=r"^submissions/$")

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().submitted_work(provider_unit_ids=[study])

    assert raised.value.transient


def test_the_providers_flags_say_what_it_does():
    assert ProlificProvider.verifies_arrivals
    assert ProlificProvider.lists_submitted_work
    assert ProlificProvider.lists_abandoned_work
    assert ProlificProvider.mirrors_qualifications


def test_notifying_workers_is_not_yet_supported_and_sends_nothing(prolific):
    with pytest.raises(ProviderError) as raised:
        ProlificProvider().notify_workers(
            worker_names=["P1"], subject="Hi", message="More work soon"
        )

    assert "not yet supported" in str(raised.value)
    assert prolific.requests == []


# --- at once (PostgreSQL) --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_same_bonus_paid_from_many_processes_at_once_is_paid_once(
    postgres, prolific
):
    study_id = launch(make_run(), [BLOCK])
    ref = work(prolific, study_id)

    outcomes = race([lambda: pay(ref, token="review:5")] * 6)

    assert prolific.paid_to("P1") == [Decimal("0.75")]
    assert prolific.count("POST", r"/pay/$") == 1
    paid = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, ProviderError)]
    assert paid and len(paid) + len(refused) == 6, outcomes
    assert all(o.ambiguous and not o.transient for o in refused)


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


def test_the_fake_refuses_what_prolific_would_refuse(prolific):
    from providers.prolific import client as provider_module

    with pytest.raises(ProviderError) as unknown:
        provider_module._request(
            "POST", "workspaces/", operation="create workspace", json={"name": "x"}
        )
    with pytest.raises(ProviderError) as missing:
        provider_module._request(
            "POST", "submissions/bonus-payments/", operation="set up", json={}
        )

    assert "HTTP 400" in str(unknown.value)
    assert "title: This field is required." in str(unknown.value)
    assert "name: Unknown field." in str(unknown.value)
    assert "csv_bonuses: This field is required." in str(missing.value)
    assert not unknown.value.transient


def test_a_submission_still_processing_a_decision_is_retried_later(prolific, study):
    ref = work(prolific, study)
    prolific.submissions[ref.provider_assignment_id]["status"] = "PROCESSING"

    with pytest.raises(ProviderError) as raised:
        ProlificProvider().approve_work(work=ref, token="r:1")

    assert raised.value.transient
    assert prolific.bodies("POST", r"^submissions/.+/transition/$") == []


def test_ending_the_run_stops_its_study_once(prolific, study):
    run = make_run()
    provider = ProlificProvider()

    result = provider.end_run(run=run_spec(run), provider_unit_ids=[study, study])
    provider.end_run(run=run_spec(run), provider_unit_ids=[study])

    assert result == {"stopped": [study]}
    assert prolific.studies[study]["status"] == "AWAITING REVIEW"
    assert prolific.bodies("POST", r"^studies/.+/transition/$")[-2:] == [
        {"action": "STOP"},
        {"action": "STOP"},
    ]
