"""The worker API checks the usual request bodies without its DRF serializers
(`validate_plain`); whatever that accepts, the serializer accepts with the same
validated data, and what it can't vouch for goes to the serializer."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks_app.serializers import RequestAgentSerializer, SubmitTaskSerializer

PROPERTY = settings(max_examples=400, deadline=None)

# Text as pages send it, and text the serializer changes or refuses.
texts = st.sampled_from(["", " ", " a", "b ", "\x00", "\ud800", "a\tb", "x" * 201])
ids = st.text(max_size=12) | texts | st.just("A1B2C3")
values = (
    ids
    | st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
stamps = st.integers(min_value=-(10**400), max_value=10**400) | values
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)
provider_keys = [
    "worker_name",
    "assignment_id",
    "agent_registration_id",
    "provider_type",
    "hit_id",
    "other",
]


def bodies(fields: dict) -> st.SearchStrategy:
    """Dicts holding any subset of `fields`, each with a value of its strategy."""
    return st.fixed_dictionaries({}, optional=fields)


request_agent_bodies = bodies(
    {
        "provider_data": bodies(dict.fromkeys(provider_keys, values)) | values,
        "client_timestamp": stamps,
        "extra": values,
    }
)
submit_task_bodies = bodies(
    {"USED_AGENT_ID": ids, "final_data": json_values, "client_timestamp": stamps}
)


def assert_same_as_serializer(serializer_class: type, body: dict, context: dict):
    plain = serializer_class.validate_plain(body, context)
    serializer = serializer_class(data=body, context=context)
    if plain is not None:
        assert serializer.is_valid(), serializer.errors
        assert plain == serializer.validated_data


@PROPERTY
@given(body=request_agent_bodies)
def test_plain_request_agent_bodies_validate_as_the_serializer_does(body):
    assert_same_as_serializer(RequestAgentSerializer, body, {})


@PROPERTY
@given(body=submit_task_bodies)
@override_settings(CROWDSITE_MAX_SUBMISSION_BYTES=60)
def test_plain_submissions_validate_as_the_serializer_does(body):
    assert_same_as_serializer(SubmitTaskSerializer, body, {"form": False})


@pytest.mark.parametrize(
    "body",
    [
        {"provider_data": {"worker_name": "w1", "agent_registration_id": "w1-a"}},
        {
            "provider_data": {
                "worker_name": "A1B2",
                "assignment_id": "3XYZ",
                "hit_id": "H1",
                "provider_type": "mturk",
                "agent_registration_id": None,
            },
            "client_timestamp": 1733040000123,
        },
    ],
)
def test_what_pages_send_is_validated_without_the_serializer(body):
    assert RequestAgentSerializer.validate_plain(body, {}) is not None


@pytest.mark.parametrize(
    "body",
    [
        {"provider_data": {"worker_name": "w1"}},  # no registration or assignment
        {"provider_data": {"worker_name": " w1", "assignment_id": "a"}},  # trimmed
        {"provider_data": {"worker_name": 7, "assignment_id": "a"}},  # made text
        {"provider_data": "w1"},
        {
            "provider_data": {"worker_name": "w", "assignment_id": "a"},
            "client_timestamp": "1",
        },
    ],
)
def test_bodies_the_serializer_changes_or_refuses_are_left_to_it(body):
    assert RequestAgentSerializer.validate_plain(body, {}) is None


def test_a_multipart_submission_is_left_to_the_serializer():
    body = {"USED_AGENT_ID": "abc", "final_data": '{"a": 1}'}

    assert SubmitTaskSerializer.validate_plain(body, {"form": True}) is None
    assert SubmitTaskSerializer.validate_plain(body, {"form": False}) == body
