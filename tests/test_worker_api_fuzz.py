"""Whatever a page (or anyone) sends to the worker endpoints, the server answers
JSON and never a 5xx: a 500 leaves the worker's page hanging.

Charsets that are not text encodings (`charset=rot13`, `zlib`, ...) are left out:
Django fails on them while building the request, before any view runs.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, assume, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Agent, TaskRun
from tests.factories import QualificationFactory, TaskRunFactory

pytestmark = pytest.mark.django_db

FUZZ = hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

POST_ENDPOINTS = [
    "request_agent",
    "submit_onboarding",
    "submit_task",
    "submit_metadata",
    "log_error",
    "return_unit",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=no-such-charset",
    "text/plain",
    "text/html",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=xx",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=xx; charset=idna",
    "application/octet-stream",
    "",
]

# Any text (ids are CharFields, which refuse NUL themselves) ...
any_text = st.text(max_size=40)
# ... text that goes into JSON fields, NUL and lone surrogates included ...
json_text = st.text(max_size=30)
# ... and text a multipart form can carry (the test client encodes it as UTF-8).
form_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | json_text
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=12,
)
extra_keys = st.dictionaries(json_text, json_values, max_size=3)
timestamps = st.floats() | st.integers() | json_values
# Ids as providers make them, any text, or as long as an id may be.
ids = (
    st.from_regex(r"[A-Za-z0-9_-]{1,30}", fullmatch=True)
    | any_text
    | st.text(min_size=180, max_size=200)
)


def task_run_ids(run_pk: int):
    """The real run, other numbers, nonsense, or no parameter at all."""
    return st.one_of(
        st.just(str(run_pk)),
        st.none(),
        st.integers().map(str),
        # Digits that are not ASCII: superscripts pass str.isdigit(), not int().
        st.text("0123456789²³¹٣", min_size=1, max_size=20),
        any_text,
    )


def url(endpoint: str, task_run_id: str | None) -> str:
    if task_run_id is None:
        return f"/{endpoint}"
    return f"/{endpoint}?{urlencode({'task_run_id': task_run_id})}"


def post_json(client, path: str, body: object):
    """POST `body` as JSON text, NaN, Infinity and \\ud800 escapes included."""
    return client.generic(
        "POST", path, json.dumps(body), content_type="application/json"
    )


def answered_json(response) -> object:
    """The server's answer, checked: no 5xx, and a JSON body."""
    # `--hypothesis-show-statistics` shows which answers the examples reached.
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"] == "application/json", response.content[:200]
    return json.loads(response.content)


@dataclass
class World:
    run_pk: int
    onboarding_run_pk: int
    agent_id: str
    onboarding_id: str
    counter: itertools.count

    def fresh_agent_id(self) -> str:
        """A new live agent on the fuzz run, so that a submission is stored."""
        n = next(self.counter)
        details = services.register_agent(
            run=TaskRun.objects.get(pk=self.run_pk),
            worker_name=f"fresh-worker-{n}",
            registration_id=f"fresh-registration-{n}",
        )
        assert details.agent_id, details.failure_reason
        return details.agent_id

    def fresh_onboarding_id(self) -> str:
        """A new onboarding agent, so that a judgement and grants happen."""
        n = next(self.counter)
        details = services.register_agent(
            run=TaskRun.objects.get(pk=self.onboarding_run_pk),
            worker_name=f"fresh-onboarder-{n}",
            registration_id=f"fresh-onboarding-registration-{n}",
        )
        assert details.agent_id.startswith("onboarding"), details.failure_reason
        return details.agent_id


@pytest.fixture
def world() -> World:
    """One run with plenty of units, one with onboarding, and an agent of each."""
    QualificationFactory(name="fuzz-onboarding")
    run = TaskRunFactory(units=400)
    onboarding_run = TaskRunFactory(
        units=100,
        resolved_config={
            "mephisto": {"blueprint": {"onboarding_qualification": "fuzz-onboarding"}}
        },
    )
    agent = services.register_agent(
        run=run, worker_name="fuzz-worker", registration_id="fuzz-registration"
    )
    onboarding = services.register_agent(
        run=onboarding_run,
        worker_name="fuzz-onboarder",
        registration_id="fuzz-onboarding-registration",
    )
    assert onboarding.agent_id.startswith("onboarding")
    return World(
        run_pk=run.pk,
        onboarding_run_pk=onboarding_run.pk,
        agent_id=agent.agent_id,
        onboarding_id=onboarding.agent_id,
        counter=itertools.count(),
    )


@pytest.fixture
def client() -> APIClient:
    return APIClient(raise_request_exception=False)


def agent_ids(world: World):
    return st.one_of(
        st.just(world.agent_id),
        st.just(world.onboarding_id),
        st.just(world.agent_id + "x"),
        any_text.map(lambda s: "onboarding" + s),
        any_text,
        json_values,
    )


def with_optional(required: dict, optional: dict):
    """A dict with some of `optional`'s keys and some arbitrary extra keys."""
    return st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries(required, optional=optional),
        extra_keys,
    )


def provider_data(world: World):
    """Mostly what a page sends, with odd values; sometimes anything at all."""
    plausible = with_optional(
        {
            "worker_name": ids,
            "assignment_id": ids | st.none(),
        },
        {
            "agent_registration_id": ids | st.none(),
            "provider_type": st.sampled_from(["mock", "mturk", "", "x" * 40]),
            "hit_id": ids | st.none(),
        },
    )
    anything = with_optional(
        {},
        dict.fromkeys(
            (
                "worker_name",
                "assignment_id",
                "agent_registration_id",
                "provider_type",
                "hit_id",
            ),
            any_text | json_values,
        ),
    )
    return plausible | anything | json_values


def onboarding_data(world: World):
    plausible = with_optional(
        {"USED_AGENT_ID": st.builds(world.fresh_onboarding_id) | agent_ids(world)},
        {"onboarding_data": json_values},
    )
    return plausible | provider_data(world)


# --- every endpoint, any JSON ---------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_task_config_answers_json_for_any_task_run_id(client, world, data):
    task_run_id = data.draw(task_run_ids(world.run_pk))

    response = client.get(url("task_config.json", task_run_id))

    body = answered_json(response)
    if task_run_id == str(world.run_pk):
        assert body["task_run_id"] == world.run_pk


@FUZZ
@given(data=st.data())
def test_any_json_body_on_any_endpoint_is_answered_with_json(client, world, data):
    endpoint = data.draw(st.sampled_from(POST_ENDPOINTS))
    task_run_id = data.draw(task_run_ids(world.run_pk))
    body = data.draw(json_values)

    response = post_json(client, url(endpoint, task_run_id), body)

    answered_json(response)


@FUZZ
@given(data=st.data())
def test_request_agent_answers_json_for_any_provider_data(client, world, data):
    body = data.draw(
        with_optional(
            {"provider_data": provider_data(world)},
            {"client_timestamp": timestamps},
        )
    )

    response = post_json(client, url("request_agent", str(world.run_pk)), body)

    answer = answered_json(response)
    if response.status_code == 200:
        assert answer["packet_type"] == "agent_details"
        assert set(answer["data"]) == {
            "worker_id",
            "agent_id",
            "init_task_data",
            "failure_reason",
        }
        assert (answer["data"]["agent_id"] is None) != (
            answer["data"]["failure_reason"] is None
        )


@FUZZ
@given(data=st.data())
def test_submit_onboarding_answers_json_for_any_provider_data(client, world, data):
    task_run_id = data.draw(task_run_ids(world.onboarding_run_pk))
    body = data.draw(
        with_optional(
            {"provider_data": onboarding_data(world)},
            {"client_timestamp": timestamps},
        )
    )

    response = post_json(client, url("submit_onboarding", task_run_id), body)

    answer = answered_json(response)
    if response.status_code == 200:
        assert answer["packet_type"] == "agent_details"


@pytest.mark.parametrize(
    "endpoint, field",
    [
        ("submit_task", "final_data"),
        ("submit_metadata", "metadata"),
        ("log_error", "error_data"),
    ],
)
@FUZZ
@given(data=st.data())
def test_agent_endpoints_answer_json_for_any_fields(
    client, world, data, endpoint, field
):
    task_run_id = data.draw(task_run_ids(world.run_pk))
    body = data.draw(
        with_optional(
            {"USED_AGENT_ID": agent_ids(world)},
            {field: json_values, "client_timestamp": timestamps},
        )
    )

    response = post_json(client, url(endpoint, task_run_id), body)

    answered_json(response)


# --- raw bytes and content types ------------------------------------------------------


@FUZZ
@given(
    endpoint=st.sampled_from(POST_ENDPOINTS),
    content_type=st.sampled_from(CONTENT_TYPES),
    body=st.binary(max_size=300),
)
def test_raw_bytes_of_any_content_type_are_answered_with_json(
    client, world, endpoint, content_type, body
):
    response = client.generic(
        "POST", url(endpoint, str(world.run_pk)), body, content_type=content_type
    )

    answered_json(response)


@FUZZ
@given(
    endpoint=st.sampled_from(POST_ENDPOINTS),
    content_type=st.sampled_from(CONTENT_TYPES),
    body=json_values,
)
def test_a_json_body_sent_with_any_content_type_is_answered_with_json(
    client, world, endpoint, content_type, body
):
    response = client.generic(
        "POST",
        url(endpoint, str(world.run_pk)),
        json.dumps(body).encode(),
        content_type=content_type,
    )

    answered_json(response)


@FUZZ
@given(
    endpoint=st.sampled_from(POST_ENDPOINTS),
    depth=st.integers(min_value=1, max_value=200_000),
)
def test_json_nested_to_any_depth_is_answered_with_json(client, world, endpoint, depth):
    body = "[" * depth + "]" * depth

    response = client.generic(
        "POST",
        url(endpoint, str(world.run_pk)),
        body,
        content_type="application/json",
    )

    answered_json(response)


@FUZZ
@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]))
def test_other_methods_are_answered_with_json(client, world, method):
    for endpoint in POST_ENDPOINTS:
        response = client.generic(method, url(endpoint, str(world.run_pk)))

        answered_json(response)


# --- multipart submissions ------------------------------------------------------------


file_names = st.builds(
    lambda stem, extension: stem + extension,
    # Short names, and names past file systems' 255-byte limit.
    st.text(max_size=20) | st.text(min_size=120, max_size=250),
    st.sampled_from([".png", ".PNG", ".json", ".txt", ".exe", ".js", "", ".tar.gz"]),
    # Names a browser can't send (SimpleUploadedFile refuses them too).
).filter(lambda name: os.path.basename(name) not in ("", ".", ".."))


@FUZZ
@given(data=st.data())
def test_multipart_submissions_are_answered_with_json(
    client, world, data, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.CROWDSITE_MAX_UPLOAD_BYTES = 64
    settings.CROWDSITE_MAX_UPLOAD_FILES = 2
    agent_id = data.draw(
        st.builds(world.fresh_agent_id) | st.just(world.agent_id) | any_text
    )
    fields = data.draw(
        st.dictionaries(
            st.sampled_from(["final_data", "client_timestamp", "note"]),
            st.one_of(json_values.map(json.dumps), form_text),
        )
    )
    files = data.draw(
        st.dictionaries(
            form_text.filter(bool),
            st.builds(
                SimpleUploadedFile,
                file_names,
                st.binary(max_size=100),
                st.sampled_from(["image/png", "application/octet-stream", ""]),
            ),
            max_size=3,
        )
    )

    response = client.post(
        url("submit_task", str(world.run_pk)),
        {"USED_AGENT_ID": agent_id, **fields, **files},
        format="multipart",
    )

    answered_json(response)


# --- submitting twice -----------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_second_submission_never_changes_the_first(client, world, data):
    agent_id = world.fresh_agent_id()
    first = data.draw(json_values)
    second = data.draw(json_values)
    submit = url("submit_task", str(world.run_pk))
    first_response = post_json(
        client, submit, {"USED_AGENT_ID": agent_id, "final_data": first}
    )
    assume(first_response.status_code == 200)
    stored = Agent.objects.get(public_id=agent_id).submission

    response = post_json(
        client, submit, {"USED_AGENT_ID": agent_id, "final_data": second}
    )

    answer = answered_json(response)
    if response.status_code == 200:
        assert answer == {"status": "Submitted!"}
    agent = Agent.objects.get(public_id=agent_id)
    assert agent.submission == stored
    assert agent.is_late is False


# --- the task page --------------------------------------------------------------------


@FUZZ
@given(params=st.dictionaries(any_text, any_text, max_size=5))
def test_the_task_page_never_fails_for_any_query_parameters(client, world, params):
    response = client.get("/", {**params, "task_run_id": world.run_pk})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
