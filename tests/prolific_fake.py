"""A stateful stand-in for Prolific's API, for offline tests.

It answers through `responses` at the base URL crowdsite calls (PROLIFIC_API_URL,
set to FAKE_API_URL by the fixture), so the provider's real `requests` calls,
headers, JSON bodies, pagination and error handling are exercised; only the
socket is replaced. Requests are checked against the shapes Prolific documents:
an unknown field or a missing required one is answered 400 in Prolific's error
format ({"error": {"status", "error_code", "title", "detail"}}).

    def test_something(prolific):            # the fixture
        study_id = ...                       # launch through crowdsite
        submission = prolific.submit(study_id, "PARTICIPANT1")
        prolific.fail_next(2, "throttle")    # the next two requests get 429

A test module takes the fixture by importing it under its name with a redundant
alias: `from tests.prolific_fake import prolific_fixture as prolific_fixture`.

`SharedProlificFake` is the same account seen by several processes (the test and
a Celery worker it starts): its state lives in a file, read and written back
under a lock around every request and every action of the test's (fixture
`shared_prolific`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from tests.shared_account import SharedAccount

FAKE_API_URL = "https://prolific-fake.invalid/api/v1/"
TOKEN = "fake-prolific-token"
FAULTS = ("throttle", "server_error", "drop", "timeout")
PAGE_SIZE = 2

T = TypeVar("T")

STUDY_FIELDS = {
    "required": {
        "name",
        "description",
        "external_study_url",
        "prolific_id_option",
        "completion_codes",
        "estimated_completion_time",
        "reward",
        "total_available_places",
        "filters",
    },
    "optional": {"internal_name", "device_compatibility", "project"},
}
REJECTION_CATEGORIES = {
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "FAILED_CHECK",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "BAD_CODE",
    "NO_DATA",
    "UNSUPP_DEVICE",
    "OTHER",
}


class Refused(Exception):
    """A request Prolific refuses: answered `status` in Prolific's error format."""

    def __init__(self, detail: Any, *, status: int = 400, title: str = "") -> None:
        super().__init__(str(detail))
        self.detail = detail
        self.status = status
        self.title = title or {400: "Invalid request", 404: "Not found"}.get(
            status, "Error"
        )


@dataclass
class Fault:
    kind: str
    remaining: int
    path: str | None


@dataclass
class ProlificFake:
    """A Prolific researcher account: workspaces, studies, groups and money."""

    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)
    submissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set-up bulk bonuses, and each payment made (paying one twice pays twice).
    bulk_bonuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)
    # Every request received: (method, path, query, JSON body).
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    page_size: int = PAGE_SIZE
    _faults: list[Fault] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # --- the test's side -------------------------------------------------------

    def fail_next(self, count: int, kind: str, *, path: str | None = None) -> None:
        """Make the next `count` requests (to paths matching the regex `path`)
        fail. `throttle`: 429, nothing done. `server_error`: 500, nothing done.
        `drop`: done, the connection lost before the answer (ConnectionError).
        `timeout`: done, the answer too late (ReadTimeout)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        self._faults.append(Fault(kind, count, path))

    def submit(
        self, study_id: str, participant: str, *, status: str = "AWAITING REVIEW"
    ) -> str:
        """`participant` takes a place on the study and ends in `status`."""
        study = self.studies[study_id]
        taken = sum(1 for s in self.submissions.values() if s["study_id"] == study_id)
        if taken >= study["total_available_places"]:
            raise ValueError(f"study {study_id} has no place left")
        submission_id = self._new_id("SUB")
        self.submissions[submission_id] = {
            "id": submission_id,
            "study_id": study_id,
            "participant": participant,
            "status": status,
            "started_at": _now(),
            "completed_at": _now() if status == "AWAITING REVIEW" else None,
            "bonus_payments": [],
        }
        return submission_id

    def create_group(self, workspace_id: str, name: str, members=()) -> str:
        group_id = self._new_id("PG")
        self.groups[group_id] = {
            "id": group_id,
            "name": name,
            "workspace_id": workspace_id,
            "members": list(members),
            "is_deleted": False,
        }
        return group_id

    def group_named(self, name: str) -> dict[str, Any] | None:
        return next((g for g in self.groups.values() if g["name"] == name), None)

    def members(self, name: str) -> list[str]:
        group = self.group_named(name)
        return [] if group is None else list(group["members"])

    def count(self, method: str, pattern: str) -> int:
        """How many `method` requests went to a path matching `pattern`."""
        return sum(
            1
            for m, path, _, _ in self.requests
            if m == method and re.search(pattern, path)
        )

    def bodies(self, method: str, pattern: str) -> list[Any]:
        return [
            body
            for m, path, _, body in self.requests
            if m == method and re.search(pattern, path)
        ]

    def paid_to(self, participant: str) -> list[Decimal]:
        return [p["amount"] for p in self.payments if p["participant"] == participant]

    # --- the HTTP side ---------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            mock.add_callback(
                method,
                re.compile(re.escape(FAKE_API_URL) + ".*"),
                callback=self.handle,
            )

    def handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url)
        path = url.path.removeprefix(urlsplit(FAKE_API_URL).path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(request.body) if request.body else None
        self.requests.append((request.method, path, query, body))
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            return _answer(401, {"error": {"status": 401, "title": "Unauthorised"}})
        fault = self._take_fault(path)
        if fault == "throttle":
            return _answer(
                429, {"error": {"status": 429, "title": "Too many requests"}}
            )
        if fault == "server_error":
            return _answer(500, {"error": {"status": 500, "title": "Server error"}})
        try:
            status, result = self._route(request.method, path, query, body)
        except Refused as exc:
            status, result = (
                exc.status,
                {
                    "error": {
                        "status": exc.status,
                        "error_code": 140100 if exc.status == 400 else 140400,
                        "title": exc.title,
                        "detail": exc.detail,
                    }
                },
            )
        if fault == "drop":
            raise requests.ConnectionError("Connection aborted: remote end closed")
        if fault == "timeout":
            raise requests.ReadTimeout("Read timed out")
        return _answer(status, result)

    def _take_fault(self, path: str) -> str | None:
        for fault in self._faults:
            if fault.remaining > 0 and (
                fault.path is None or re.search(fault.path, path)
            ):
                fault.remaining -= 1
                return fault.kind
        return None

    def _route(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        for route_method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(*match.groups(), query=query, body=body)
        raise Refused(f"no such endpoint: {method} {path}", status=404)

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", r"workspaces/", self._list_workspaces),
            ("POST", r"workspaces/", self._create_workspace),
            ("GET", r"workspaces/([^/]+)/projects/", self._list_projects),
            ("POST", r"workspaces/([^/]+)/projects/", self._create_project),
            ("GET", r"studies/", self._list_studies),
            ("POST", r"studies/", self._create_study),
            ("GET", r"studies/([^/]+)/", self._get_study),
            ("PATCH", r"studies/([^/]+)/", self._update_study),
            ("POST", r"studies/([^/]+)/transition/", self._transition_study),
            ("GET", r"submissions/", self._list_submissions),
            ("POST", r"submissions/bonus-payments/", self._set_up_bonus),
            ("GET", r"submissions/([^/]+)/", self._get_submission),
            ("POST", r"submissions/([^/]+)/transition/", self._transition_submission),
            ("POST", r"bulk-bonus-payments/([^/]+)/pay/", self._pay_bonus),
            ("GET", r"participant-groups/", self._list_groups),
            ("POST", r"participant-groups/", self._create_group),
            ("POST", r"participant-groups/([^/]+)/participants/", self._add_members),
            (
                "DELETE",
                r"participant-groups/([^/]+)/participants/",
                self._remove_members,
            ),
        ]

    def _new_id(self, prefix: str) -> str:
        # Prolific's ids are 24 hexadecimal characters.
        return f"{prefix.lower()}{next(self._ids):0{24 - len(prefix)}x}"

    def _page(self, items: list[Any], path: str, query: dict[str, str]) -> dict:
        page = int(query.get("page") or 1)
        start = (page - 1) * self.page_size
        chunk = items[start : start + self.page_size]
        more = start + self.page_size < len(items)
        rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "page")
        next_href = (
            f"{FAKE_API_URL}{path}?{rest + '&' if rest else ''}page={page + 1}"
            if more
            else None
        )
        return {
            "results": chunk,
            "_links": {"next": {"href": next_href}},
            "meta": {"count": len(items)},
        }

    # --- workspaces and projects ----------------------------------------------

    def _list_workspaces(self, *, query, body):
        return 200, self._page(list(self.workspaces.values()), "workspaces/", query)

    def _create_workspace(self, *, query, body):
        _shape(body, required={"title"}, optional={"description", "currency_code"})
        workspace_id = self._new_id("WS")
        self.workspaces[workspace_id] = {"id": workspace_id, "title": body["title"]}
        return 201, self.workspaces[workspace_id]

    def _list_projects(self, workspace_id, *, query, body):
        self._workspace(workspace_id)
        found = [p for p in self.projects.values() if p["workspace"] == workspace_id]
        return 200, self._page(found, f"workspaces/{workspace_id}/projects/", query)

    def _create_project(self, workspace_id, *, query, body):
        self._workspace(workspace_id)
        _shape(body, required={"title"}, optional={"description", "type"})
        project_id = self._new_id("PR")
        self.projects[project_id] = {
            "id": project_id,
            "title": body["title"],
            "workspace": workspace_id,
        }
        return 201, self.projects[project_id]

    def _workspace(self, workspace_id: str) -> dict[str, Any]:
        if workspace_id not in self.workspaces:
            raise Refused(f"workspace {workspace_id} not found", status=404)
        return self.workspaces[workspace_id]

    # --- studies ---------------------------------------------------------------

    def _list_studies(self, *, query, body):
        return 200, self._page(list(self.studies.values()), "studies/", query)

    def _create_study(self, *, query, body):
        _shape(body, **STUDY_FIELDS)
        errors = {}
        if not isinstance(body["reward"], int) or body["reward"] <= 0:
            errors["reward"] = ["Ensure this value is greater than 0."]
        if body["prolific_id_option"] not in (
            "question",
            "url_parameters",
            "not_required",
        ):
            errors["prolific_id_option"] = ["Not a valid choice."]
        if "project" in body and body["project"] not in self.projects:
            errors["project"] = [f"Project {body['project']} does not exist."]
        for index, entry in enumerate(body["filters"]):
            problem = self._filter_problem(entry)
            if problem:
                errors[f"filters[{index}]"] = [problem]
        if errors:
            raise Refused(errors)
        study_id = self._new_id("ST")
        self.studies[study_id] = {**body, "id": study_id, "status": "UNPUBLISHED"}
        return 201, self.studies[study_id]

    def _filter_problem(self, entry: Any) -> str:
        if not isinstance(entry, dict) or "filter_id" not in entry:
            return "Each filter needs a filter_id."
        extra = set(entry) - {"filter_id", "selected_values", "selected_range"}
        if extra:
            return f"Unknown fields {sorted(extra)}."
        if entry["filter_id"] in (
            "participant_group_allowlist",
            "participant_group_blocklist",
        ):
            values = entry.get("selected_values")
            if not isinstance(values, list) or not values:
                return "selected_values must name participant groups."
            unknown = [v for v in values if v not in self.groups]
            if unknown:
                return f"Participant groups {unknown} do not exist."
            return ""
        if entry["filter_id"] in ("approval_rate", "approval_numbers", "age"):
            selected = entry.get("selected_range")
            if (
                not isinstance(selected, dict)
                or not selected
                or set(selected)
                - {
                    "lower",
                    "upper",
                }
            ):
                return "selected_range must have lower and/or upper."
            return ""
        return f"Unknown filter {entry['filter_id']}."

    def _study(self, study_id: str) -> dict[str, Any]:
        if study_id not in self.studies:
            raise Refused(f"study {study_id} not found", status=404)
        return self.studies[study_id]

    def _get_study(self, study_id, *, query, body):
        return 200, self._study(study_id)

    def _update_study(self, study_id, *, query, body):
        study = self._study(study_id)
        _shape(
            body,
            required=set(),
            optional=STUDY_FIELDS["required"] | STUDY_FIELDS["optional"],
        )
        study.update(body)
        if study["status"] == "AWAITING REVIEW":
            study["status"] = "ACTIVE"
        return 200, study

    def _transition_study(self, study_id, *, query, body):
        study = self._study(study_id)
        _shape(body, required={"action"}, optional=set())
        action = body["action"]
        if action == "PUBLISH" and study["status"] == "UNPUBLISHED":
            study["status"] = "ACTIVE"
        elif action == "STOP" and study["status"] in ("ACTIVE", "PAUSED"):
            study["status"] = "AWAITING REVIEW"
        else:
            raise Refused(
                f"Cannot {action} a study that is {study['status']}",
                title="Invalid transition",
            )
        return 200, study

    # --- submissions -----------------------------------------------------------

    def _list_submissions(self, *, query, body):
        found = [
            s
            for s in self.submissions.values()
            if not query.get("study") or s["study_id"] == query["study"]
        ]
        return 200, self._page(found, "submissions/", query)

    def _submission(self, submission_id: str) -> dict[str, Any]:
        if submission_id not in self.submissions:
            raise Refused(f"submission {submission_id} not found", status=404)
        return self.submissions[submission_id]

    def _get_submission(self, submission_id, *, query, body):
        return 200, self._submission(submission_id)

    def _transition_submission(self, submission_id, *, query, body):
        submission = self._submission(submission_id)
        _shape(
            body,
            required={"action"},
            optional={"message", "rejection_category", "completion_code"},
        )
        action = body["action"]
        target = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}.get(action)
        if target is None:
            raise Refused({"action": [f"{action} is not a valid choice."]})
        if submission["status"] == target:
            return 200, submission  # documented idempotent
        if action == "REJECT":
            message = body.get("message") or ""
            errors = {}
            if len(message) < 100:
                errors["message"] = ["It must be at least 100 chars long."]
            if body.get("rejection_category") not in REJECTION_CATEGORIES:
                errors["rejection_category"] = ["Not a valid choice."]
            if errors:
                raise Refused(errors)
        if submission["status"] != "AWAITING REVIEW":
            raise Refused(
                f"Cannot {action} a submission that is {submission['status']}",
                title="Invalid transition",
            )
        submission["status"] = target
        return 200, submission

    # --- bonuses ---------------------------------------------------------------

    def _set_up_bonus(self, *, query, body):
        _shape(body, required={"study_id", "csv_bonuses"}, optional=set())
        self._study(body["study_id"])
        lines = []
        for line in body["csv_bonuses"].splitlines():
            if not line.strip():
                continue
            who, _, amount = line.partition(",")
            taken = {
                s["participant"]: s
                for s in self.submissions.values()
                if s["study_id"] == body["study_id"]
            }
            by_id = {s["id"]: s for s in taken.values()}
            submission = taken.get(who) or by_id.get(who)
            if submission is None:
                raise Refused(
                    {"csv_bonuses": [f"{who} did not take part in the study"]}
                )
            try:
                value = Decimal(amount)
            except ArithmeticError:
                raise Refused(
                    {"csv_bonuses": [f"{amount!r} is not an amount"]}
                ) from None
            lines.append((submission["id"], submission["participant"], value))
        if not lines:
            raise Refused({"csv_bonuses": ["No bonuses given."]})
        bonus_id = self._new_id("BB")
        total = sum(value for _, _, value in lines) * 100
        self.bulk_bonuses[bonus_id] = {
            "id": bonus_id,
            "study": body["study_id"],
            "lines": lines,
            "total_amount": float(total),
        }
        return 201, {
            "id": bonus_id,
            "study": body["study_id"],
            "total_amount": float(total),
            "amount": float(total),
            "fees": 0.0,
        }

    def _pay_bonus(self, bonus_id, *, query, body):
        if body not in (None, {}):
            raise Refused("This endpoint takes no body.")
        bonus = self.bulk_bonuses.get(bonus_id)
        if bonus is None:
            raise Refused(f"bulk bonus payment {bonus_id} not found", status=404)
        # Not idempotent, as Prolific documents: every call pays.
        for submission_id, participant, value in bonus["lines"]:
            self.payments.append(
                {"bulk": bonus_id, "participant": participant, "amount": value}
            )
            cents = float(value * 100)
            self.submissions[submission_id]["bonus_payments"].append(cents)
        return 202, {}

    # --- participant groups ----------------------------------------------------

    def _list_groups(self, *, query, body):
        if not query.get("workspace_id") and not query.get("project_id"):
            raise Refused("workspace_id or project_id is required")
        found = [
            {k: v for k, v in g.items() if k != "members"}
            | {"participant_count": len(g["members"])}
            for g in self.groups.values()
            if g["workspace_id"] == query.get("workspace_id")
        ]
        return 200, self._page(found, "participant-groups/", query)

    def _create_group(self, *, query, body):
        _shape(
            body,
            required={"name"},
            optional={
                "workspace_id",
                "organisation_id",
                "description",
                "participant_ids",
            },
        )
        if not body.get("workspace_id") and not body.get("organisation_id"):
            raise Refused("Either a workspace or organisation ID must be specified.")
        self._workspace(body["workspace_id"])
        group_id = self.create_group(
            body["workspace_id"], body["name"], body.get("participant_ids") or []
        )
        group = self.groups[group_id]
        return 201, {k: v for k, v in group.items() if k != "members"}

    def _group(self, group_id: str) -> dict[str, Any]:
        if group_id not in self.groups:
            raise Refused(f"participant group {group_id} not found", status=404)
        return self.groups[group_id]

    def _add_members(self, group_id, *, query, body):
        group = self._group(group_id)
        _shape(body, required={"participant_ids"}, optional=set())
        for participant in body["participant_ids"]:
            if participant not in group["members"]:
                group["members"].append(participant)
        return 200, {"results": [{"participant_id": p} for p in group["members"]]}

    def _remove_members(self, group_id, *, query, body):
        group = self._group(group_id)
        _shape(body, required={"participant_ids"}, optional=set())
        group["members"] = [
            p for p in group["members"] if p not in body["participant_ids"]
        ]
        return 200, {"results": [{"participant_id": p} for p in group["members"]]}


def _shape(body: Any, *, required: set[str], optional: set[str]) -> None:
    """Refuse a body with unknown fields or without a required one, as Prolific."""
    if not isinstance(body, dict):
        raise Refused("The request body must be a JSON object.")
    errors = {
        **{name: ["This field is required."] for name in sorted(required - set(body))},
        **{
            name: ["Unknown field."] for name in sorted(set(body) - required - optional)
        },
    }
    if errors:
        raise Refused(errors)


def _answer(status: int, payload: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(name="prolific")
def prolific_fixture(settings) -> Any:
    """A Prolific fake at FAKE_API_URL, answering every call crowdsite makes."""
    settings.PROLIFIC_API_URL = FAKE_API_URL
    settings.PROLIFIC_API_KEY = TOKEN
    fake = ProlificFake()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


# --- one account shared by processes ----------------------------------------------


def finish(fake: ProlificFake, submission_id: str, code: str) -> None:
    """The participant comes back to Prolific with `code`: a study's COMPLETED
    code puts their submission in review, any other is refused (ValueError)."""
    submission = fake.submissions[submission_id]
    study = fake.studies[submission["study_id"]]
    codes = {c["code"] for c in study["completion_codes"]}
    if code not in codes:
        raise ValueError(f"{code!r} is not a completion code of {study['id']}")
    submission["status"] = "AWAITING REVIEW"
    submission["completed_at"] = _now()


@dataclass
class Hang:
    method: str
    path: str  # a regex the request's path must match
    marker: str


class SharedProlificFake(SharedAccount[ProlificFake]):
    """One Prolific account shared by processes: a ProlificFake kept in `path`.

    Every request answered, and every action of the test's, loads the account,
    acts on it and saves it back while holding an exclusive lock, so each process
    sees the others' studies, submissions and payments, in order. A process
    killed while it holds the lock loses it with its file descriptor.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, new_fake=ProlificFake, new_hangs=list)

    # --- the test's side -------------------------------------------------------

    def act(self, action: Callable[[ProlificFake], T]) -> T:
        """Run `action` on the account and keep what it changed."""
        with self._state() as (fake, _):
            return action(fake)

    def snapshot(self) -> ProlificFake:
        """The account as it is now, to read (changes to it are not kept)."""
        with self._state() as (fake, _):
            return fake

    def submit(
        self, study_id: str, participant: str, *, status: str = "AWAITING REVIEW"
    ) -> str:
        return self.act(lambda fake: fake.submit(study_id, participant, status=status))

    def finish(self, submission_id: str, code: str) -> None:
        self.act(lambda fake: finish(fake, submission_id, code))

    def fail_next(self, count: int, kind: str, *, path: str | None = None) -> None:
        self.act(lambda fake: fake.fail_next(count, kind, path=path))

    def hang_after(self, method: str, path: str, marker: Path) -> None:
        """Make the next `method` request to a path matching the regex `path`
        hang once Prolific has done it.

        The request is applied and saved like any other; then the process making
        it creates `marker` and sleeps, so a test can kill that process inside
        the call, after Prolific acted and before its caller heard the answer.
        """
        with self._state() as (_, hangs):
            hangs.append(Hang(method, path, str(marker)))

    # --- the HTTP side ---------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            mock.add_callback(
                method,
                re.compile(re.escape(FAKE_API_URL) + ".*"),
                callback=self.handle,
            )

    def handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        lost: requests.RequestException | None = None
        marker = None
        with self._state() as (fake, hangs):
            try:
                answer = fake.handle(request)
            except requests.RequestException as exc:  # done, the answer lost
                lost = exc
            method, path, _, _ = fake.requests[-1]
            for hang in hangs:
                if hang.method == method and re.fullmatch(hang.path, path):
                    hangs.remove(hang)
                    marker = hang.marker
                    break
        # Outside the lock: the other processes go on while this one hangs.
        if marker is not None:
            self.hang_here(marker)
        if lost is not None:
            raise lost
        return answer


def answer_from(fake: ProlificFake | SharedProlificFake) -> responses.RequestsMock:
    """Start answering every request to FAKE_API_URL from `fake`; the mock
    returned stops it (a worker process keeps it for its life)."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.start()
    fake.install(mock)
    return mock


@pytest.fixture(name="shared_prolific")
def shared_prolific_fixture(settings, tmp_path) -> Iterator[SharedProlificFake]:
    """A SharedProlificFake answering this process at FAKE_API_URL; worker
    processes answer from the same file."""
    settings.PROLIFIC_API_URL = FAKE_API_URL
    settings.PROLIFIC_API_KEY = TOKEN
    fake = SharedProlificFake(tmp_path / "prolific-account.pickle")
    mock = answer_from(fake)
    yield fake
    mock.stop()
    mock.reset()
