"""A stateful stand-in for the MTurk requester API, for offline tests.

It answers on the client's botocore `before-send.mturk` event, so the real boto3
client serializes, signs, retries, parses and paginates; only the socket is
replaced. Requests and answers follow botocore's service model for MTurk
(JSON 1.1, `X-Amz-Target: MTurkRequesterServiceV20170117.<Operation>`), and
refusals are the `RequestError`s MTurk gives. The operations themselves are in
`tests.mturk_fake_operations`, mixed into `MTurkFake`.

    def test_something(mturk):          # the fixture: every MTurk client is hooked
        hit_id = ...                    # launch through crowdsite
        assignment_id = mturk.submit(hit_id, worker_id="A1WORKER")
        mturk.fail_next(2, "throttle")  # the next two requests are throttled

A test module takes the fixture by importing it under its name with a redundant
alias: `from tests.mturk_fake import mturk_fixture as mturk_fixture`.

`SharedMTurkFake` is the same account seen by several processes (the test and a
Celery worker it starts): its state lives in a file, read and written back under
a lock around every request and every action of the test's.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ReadTimeoutError

from tests.mturk_fake_operations import NOTIFY_LIMIT as NOTIFY_LIMIT
from tests.mturk_fake_operations import TOKEN_MEMORY as TOKEN_MEMORY
from tests.mturk_fake_operations import MTurkOperations, Refused
from tests.shared_account import SharedAccount

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
FAULTS = ("throttle", "server_error", "drop")

T = TypeVar("T")


class _Body:
    """The `raw` of an AWSResponse: what botocore reads the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Any:
        yield self._data


@dataclass
class Fault:
    kind: str
    remaining: int
    operation: str | None


@dataclass
class MTurkFake(MTurkOperations):
    """An MTurk requester account: its HIT types, HITs, assignments and money."""

    balance: Decimal = Decimal("10000.00")
    hit_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    bonuses: list[dict[str, Any]] = field(default_factory=list)
    blocks: dict[str, str] = field(default_factory=dict)
    qualification_types: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (QualificationTypeId, WorkerId) -> the worker's IntegerValue.
    scores: dict[tuple[str, str], int] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    # Workers NotifyWorkers can't reach (MTurk answers a HardFailure for them).
    unreachable: set[str] = field(default_factory=set)
    # Every request received, retries included: (operation, parameters).
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # How far the fake's clock is ahead of the real one (`advance`).
    offset: timedelta = timedelta(0)
    _tokens: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    _faults: list[Fault] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # --- the test's side -------------------------------------------------------

    def install(self, client: Any) -> None:
        """Answer every request `client` makes from now on."""
        client.meta.events.register("before-send.mturk", self.handle)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move the fake's clock on (MTurk forgets request tokens after 24 h)."""
        self.offset += delta

    def fail_next(self, count: int, kind: str, *, operation: str | None = None) -> None:
        """Make the next `count` requests (of `operation`, if given) fail.

        `throttle`: answered 400 ThrottlingException, nothing done. `server_error`:
        answered 500 ServiceFault, nothing done. `drop`: done, but the answer is
        lost (a read timeout), so the caller can't tell whether it happened.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        self._faults.append(Fault(kind, count, operation))

    def accept(self, hit_id: str, worker_id: str) -> str:
        """Worker `worker_id` accepts HIT `hit_id`; the new assignment's id.

        Raises ValueError, as MTurk's worker site refuses, when the worker is
        blocked or fails a requirement of the HIT type that guards accepting.
        """
        hit = self.hits[hit_id]
        if hit["NumberOfAssignmentsAvailable"] < 1:
            raise ValueError(f"HIT {hit_id} has no assignment left")
        if worker_id in self.blocks:
            raise ValueError(f"worker {worker_id} is blocked by this requester")
        for requirement in self.hit_types[hit["HITTypeId"]].get(
            "QualificationRequirements", []
        ):
            if requirement.get("ActionsGuarded") and not self.meets(
                worker_id, requirement
            ):
                raise ValueError(
                    f"worker {worker_id} does not meet requirement {requirement}"
                )
        hit["NumberOfAssignmentsAvailable"] -= 1
        hit["NumberOfAssignmentsPending"] += 1
        assignment_id = self._new_id("ASSIGN")
        now = self.now()
        self.assignments[assignment_id] = {
            "AssignmentId": assignment_id,
            "WorkerId": worker_id,
            "HITId": hit_id,
            "AssignmentStatus": "Accepted",
            "AcceptTime": now,
            "Deadline": now + timedelta(seconds=hit["AssignmentDurationInSeconds"]),
        }
        return assignment_id

    def submit(
        self, hit_id: str, worker_id: str, *, assignment_id: str | None = None
    ) -> str:
        """Worker `worker_id` submits HIT `hit_id` (accepting it first if needed)."""
        if assignment_id is None:
            assignment_id = self.accept(hit_id, worker_id)
        assignment = self.assignments[assignment_id]
        now = self.now()
        hit = self.hits[hit_id]
        hit["NumberOfAssignmentsPending"] -= 1
        hit["NumberOfAssignmentsCompleted"] += 1
        assignment.update(
            AssignmentStatus="Submitted",
            SubmitTime=now,
            AutoApprovalTime=now + timedelta(seconds=hit["AutoApprovalDelayInSeconds"]),
            Answer="<QuestionFormAnswers/>",
        )
        return assignment_id

    def meets(self, worker_id: str, requirement: dict[str, Any]) -> bool:
        """Whether the worker meets one QualificationRequirement, as MTurk judges."""
        held = self.scores.get((requirement["QualificationTypeId"], worker_id))
        comparator = requirement["Comparator"]
        if comparator == "Exists":
            return held is not None
        if comparator == "DoesNotExist":
            return held is None
        if held is None:
            return False
        values = requirement.get("IntegerValues", [])
        tests = {
            "EqualTo": lambda: held == values[0],
            "NotEqualTo": lambda: held != values[0],
            "GreaterThan": lambda: held > values[0],
            "GreaterThanOrEqualTo": lambda: held >= values[0],
            "LessThan": lambda: held < values[0],
            "LessThanOrEqualTo": lambda: held <= values[0],
            "In": lambda: held in values,
            "NotIn": lambda: held not in values,
        }
        return tests[comparator]()

    def qualification_type_named(self, name: str) -> dict[str, Any] | None:
        for qualification_type in self.qualification_types.values():
            if qualification_type["Name"] == name:
                return qualification_type
        return None

    def score(self, name: str, worker_id: str) -> int | None:
        """The worker's value of the qualification type `name`, if they hold it."""
        qualification_type = self.qualification_type_named(name)
        if qualification_type is None:
            return None
        return self.scores.get((qualification_type["QualificationTypeId"], worker_id))

    def add_assignment(
        self, hit_id: str, worker_id: str, *, answer: str = "<QuestionFormAnswers/>"
    ) -> str:
        """`worker_id` accepts and submits HIT `hit_id` with the Answer XML `answer`."""
        assignment_id = self.submit(hit_id, worker_id)
        self.assignments[assignment_id]["Answer"] = answer
        return assignment_id

    def count(self, operation: str) -> int:
        """How many requests of `operation` were received (retries included)."""
        return sum(1 for name, _ in self.requests if name == operation)

    def params(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of each request of `operation`, in order."""
        return [params for name, params in self.requests if name == operation]

    def bonuses_for(self, assignment_id: str) -> list[dict[str, Any]]:
        return [b for b in self.bonuses if b["AssignmentId"] == assignment_id]

    # --- botocore's side -------------------------------------------------------

    def handle(self, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        if isinstance(target, bytes):
            target = target.decode()
        operation = target.removeprefix(TARGET_PREFIX)
        body = request.body or b"{}"
        params = json.loads(body.decode() if isinstance(body, bytes) else body)
        self.requests.append((operation, params))
        fault = self._take_fault(operation)
        if fault == "throttle":
            return self._answer(
                request,
                400,
                {"__type": "ThrottlingException", "message": "Rate exceeded"},
            )
        if fault == "server_error":
            return self._answer(
                request,
                500,
                {
                    "__type": "ServiceFault",
                    "Message": "Amazon Mechanical Turk is temporarily unable to "
                    "process your request. Try your call again.",
                },
            )
        handler = getattr(self, f"_op_{operation}", None)
        try:
            if handler is None:
                raise Refused(f"the MTurk fake does not implement {operation}")
            result = handler(params)
        except Refused as exc:
            error = {"__type": "RequestError", "Message": f"{exc} ({self._stamp()})"}
            if exc.turk_code:
                error["TurkErrorCode"] = exc.turk_code
            response = self._answer(request, 400, error)
        else:
            response = self._answer(request, 200, _jsonable(result))
        if fault == "drop":
            # Done on MTurk's side; the answer never arrives.
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    def _take_fault(self, operation: str) -> str | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.operation in (None, operation):
                fault.remaining -= 1
                return fault.kind
        return None

    def _answer(
        self, request: AWSPreparedRequest, status: int, payload: dict[str, Any]
    ) -> AWSResponse:
        headers = {
            "x-amzn-RequestId": str(uuid.uuid4()),
            "Content-Type": "application/x-amz-json-1.1",
        }
        return AWSResponse(
            request.url, status, headers, _Body(json.dumps(payload).encode())
        )

    def _stamp(self) -> int:
        return int(self.now().timestamp() * 1000)

    def _new_id(self, prefix: str) -> str:
        # MTurk's ids are 30 upper-case letters and digits.
        return f"{prefix}{next(self._ids):0{30 - len(prefix)}d}"


def _jsonable(value: Any) -> Any:
    """`value` as MTurk's JSON carries it: timestamps as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def fake_aws_env(tmp_path: Path) -> dict[str, str]:
    """Fake credentials, no config file, and an endpoint that can't resolve, so a
    request no fake answers can't reach AWS. (AWS_PROFILE must be unset too.)"""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_MTURK": "https://mturk-fake.invalid",
    }


def answer_every_client(
    fake: MTurkFake | SharedMTurkFake,
    patch: Callable[[Any, str, Any], None] = setattr,
) -> None:
    """Hook `fake` on every MTurk client crowdsite builds from now on, with
    botocore's retry pauses zero. `patch` is `monkeypatch.setattr` in a test, so
    the hook is undone after it; a worker process keeps it for its life."""
    from botocore.retries import standard

    from providers.mturk import MTurkProvider

    patch(standard.ExponentialBackoff, "delay_amount", lambda *a: 0)
    build = MTurkProvider._build_client

    def build_and_install(self: MTurkProvider, **kwargs: Any) -> Any:
        client = build(self, **kwargs)
        fake.install(client)
        return client

    patch(MTurkProvider, "_build_client", build_and_install)


@pytest.fixture(name="mturk")
def mturk_fixture(monkeypatch, tmp_path) -> MTurkFake:
    """An MTurk fake that answers every MTurk client crowdsite builds."""
    for name, value in fake_aws_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fake = MTurkFake()
    answer_every_client(fake, monkeypatch.setattr)
    return fake


class SharedMTurkFake(SharedAccount[MTurkFake]):
    """One MTurk account shared by processes: an MTurkFake kept in the file `path`.

    Every request a hooked client makes, and every action of the test's, loads
    the account, acts on it and saves it back while holding an exclusive lock,
    so each process sees the others' HITs, assignments and payments, in order.
    A process killed while it holds the lock loses it with its file descriptor.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, new_fake=MTurkFake, new_hangs=dict)

    # --- the test's side -------------------------------------------------------

    def install(self, client: Any) -> None:
        """Answer every request `client` makes from now on."""
        client.meta.events.register("before-send.mturk", self.handle)

    def act(self, action: Callable[[MTurkFake], T]) -> T:
        """Run `action` on the account and keep what it changed."""
        with self._state() as (fake, _):
            return action(fake)

    def snapshot(self) -> MTurkFake:
        """The account as it is now, to read (changes to it are not kept)."""
        with self._state() as (fake, _):
            return fake

    def accept(self, hit_id: str, worker_id: str) -> str:
        return self.act(lambda fake: fake.accept(hit_id, worker_id))

    def submit(
        self, hit_id: str, worker_id: str, *, assignment_id: str | None = None
    ) -> str:
        return self.act(
            lambda fake: fake.submit(hit_id, worker_id, assignment_id=assignment_id)
        )

    def fail_next(self, count: int, kind: str, *, operation: str | None = None) -> None:
        self.act(lambda fake: fake.fail_next(count, kind, operation=operation))

    def hang_after(self, operation: str, marker: Path) -> None:
        """Make the next request of `operation` hang once MTurk has done it.

        The request is applied and saved like any other; then the process making
        it creates `marker` and sleeps, so a test can kill that process inside
        the call, after MTurk acted and before its caller heard the answer.
        """
        with self._state() as (_, hangs):
            hangs[operation] = str(marker)

    # --- botocore's side -------------------------------------------------------

    def handle(self, request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse:
        lost: ReadTimeoutError | None = None
        with self._state() as (fake, hangs):
            try:
                response = fake.handle(request)
            except ReadTimeoutError as exc:  # a "drop": done, the answer lost
                lost = exc
            marker = hangs.pop(fake.requests[-1][0], None)
        # Outside the lock: the other processes go on while this one hangs.
        if marker is not None:
            self.hang_here(marker)
        if lost is not None:
            raise lost
        return response


@pytest.fixture(name="shared_mturk")
def shared_mturk_fixture(monkeypatch, tmp_path) -> SharedMTurkFake:
    """A SharedMTurkFake that answers this process's MTurk clients, with the fake
    AWS environment set, for worker processes to inherit."""
    for name, value in fake_aws_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fake = SharedMTurkFake(tmp_path / "mturk-account.pickle")
    answer_every_client(fake, monkeypatch.setattr)
    return fake


@pytest.fixture(name="stub_aws")
def stub_aws_fixture(monkeypatch, tmp_path) -> None:
    """Fake AWS credentials and no configured endpoint, for Stubber tests (the
    client is built but Stubber answers; nothing reaches AWS)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MTURK"):
        monkeypatch.delenv(name, raising=False)


def launch_task(tmp_path, execute, config: str, rows: int = 1):
    """Launch `config` (a run YAML naming `${task_dir}/bundle.js` and
    `${task_dir}/rows.jsonl`) with `rows` data rows, its tasks run at commit."""
    from tasks_app import services
    from tasks_app.run_config import load_run_config

    (tmp_path / "bundle.js").write_text("// bundle\n")
    (tmp_path / "rows.jsonl").write_text(
        "".join(f'{{"text": "row {i}"}}\n' for i in range(rows))
    )
    (tmp_path / "run.yaml").write_text(config)
    run = execute(
        lambda: services.launch_run(config=load_run_config(tmp_path / "run.yaml"))
    )
    run.refresh_from_db()
    return run
