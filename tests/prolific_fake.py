"""A stateful stand-in for Prolific's API, for offline tests.

It answers through `responses` at the base URL crowdsite calls (PROLIFIC_API_URL,
set to FAKE_API_URL by the fixture), so the provider's real `requests` calls,
headers, JSON bodies, pagination and error handling are exercised; only the
socket is replaced. Requests are checked against the shapes Prolific documents:
an unknown field or a missing required one is answered 400 in Prolific's error
format ({"error": {"status", "error_code", "title", "detail"}}). The endpoints
themselves are in `tests.prolific_fake_handlers`, mixed into `ProlificFake`.

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

from tests.prolific_fake_handlers import REJECTION_CATEGORIES as REJECTION_CATEGORIES
from tests.prolific_fake_handlers import STUDY_FIELDS as STUDY_FIELDS
from tests.prolific_fake_handlers import ProlificHandlers, Refused
from tests.shared_account import SharedAccount

FAKE_API_URL = "https://prolific-fake.invalid/api/v1/"
TOKEN = "fake-prolific-token"
FAULTS = ("throttle", "server_error", "drop", "timeout")
PAGE_SIZE = 2

T = TypeVar("T")


@dataclass
class Fault:
    kind: str
    remaining: int
    path: str | None


@dataclass
class ProlificFake(ProlificHandlers):
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
