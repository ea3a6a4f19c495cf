"""The one interface every crowd provider implements.

Providers are called only from Celery tasks (never under a row lock) and are
built lazily: nothing here touches the network at import time. The page-side
hooks (frame ancestors, wrap script, arrival params, page config) are class
attributes and class methods the task page view reads; none of them calls out.

A provider is handed a run as a `RunSpec`, plain data tasks_app builds
(`tasks_app.selectors.run_spec`): it never sees a model or the config loader.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from omegaconf import MISSING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from providers.checks import Check


# The qualification comparators a config may name: MTurk's Comparator values,
# in the order Mephisto's SUPPORTED_COMPARATORS lists them (DESIGN §4). The one
# list: the config schema and MTurk's own checks read it.
QUALIFICATION_COMPARATORS: tuple[str, ...] = (
    "GreaterThan",
    "GreaterThanOrEqualTo",
    "LessThan",
    "LessThanOrEqualTo",
    "EqualTo",
    "NotEqualTo",
    "Exists",
    "DoesNotExist",
    "In",
    "NotIn",
)


class ProviderError(Exception):
    """A provider call failed. `transient` says whether retrying may help.

    `ambiguous` says the call may have happened anyway (a lost answer). It
    defaults to `transient`; a call that must never be repeated blindly (a
    Prolific bonus payment) raises ambiguous but not transient, so it is kept
    for reconciliation and not retried.
    """

    def __init__(
        self, message: str, *, transient: bool = False, ambiguous: bool | None = None
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.ambiguous = transient if ambiguous is None else ambiguous


@dataclass(frozen=True)
class RunSpec:
    """What a provider knows of a run: plain data, fixed at launch.

    Built by tasks_app (`tasks_app.selectors.run_spec`) from the run's fields;
    a provider reads these and nothing else of the run.
    """

    # The run's id (TaskRun.pk) and when it was created: together they name
    # the run on the provider's side (MTurk's request tokens, Prolific's study
    # internal name), apart from a run of the same id in another database.
    run_id: int
    created_at: datetime
    # What workers see of the run: `mephisto.task.task_title`,
    # `task_description`, and `task_tags` as one comma-separated string.
    title: str
    description: str
    keywords: str
    # A unit's reward in dollars (whatever unit the config wrote it in).
    reward: Decimal
    # Seconds a worker has for one unit (`assignment_duration_in_seconds`).
    assignment_duration: int
    # Seconds until unreviewed work is approved (`auto_approve_delay_in_seconds`)
    # and until the provider withdraws a unit nobody took
    # (`task_lifetime_in_seconds`); None where the config leaves them to the
    # provider's default.
    auto_approve_delay: int | None
    task_lifetime: int | None
    # The run's `mephisto.provider` section: the provider's own settings.
    provider_args: Mapping[str, Any]
    # The run's requirements in the provider's own terms: the hooks' shared
    # state under the provider's `specific_state_key` (MTurk's
    # QualificationRequirements, Prolific's eligibility requirements), each a
    # plain dict, as given.
    specific_requirements: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Arrival:
    """Who opened the task page, as the provider's URL parameters say.

    Empty strings stand for parameters that are missing or carry no value.
    """

    worker_id: str = ""
    assignment_id: str = ""
    # The provider's own unit: an MTurk HIT, a Prolific study; empty for the mock.
    unit_id: str = ""

    @property
    def preview(self) -> bool:
        """Whether the worker is only looking: no worker or no assignment yet."""
        return not self.worker_id or not self.assignment_id


@dataclass(frozen=True)
class WorkRef:
    """One worker's submission, as the provider knows it."""

    worker_name: str
    # The provider's unit (an MTurk HIT, a Prolific study) and the worker's
    # assignment in it (MTurk's assignment, Prolific's submission); empty for
    # the mock.
    provider_unit_id: str = ""
    provider_assignment_id: str = ""


@dataclass(frozen=True)
class SubmittedWork:
    """A submission the provider lists, as it has it (see `submitted_work`)."""

    provider_unit_id: str
    provider_assignment_id: str
    # crowdsite's name for the worker (MTurk sandbox names end `_sandbox`).
    worker_name: str
    # The answer as the provider keeps it (MTurk's Answer XML), and the fields
    # read from it; {} when it could not be read.
    raw_answer: str = ""
    answer: dict[str, Any] = field(default_factory=dict)
    submitted_at: datetime | None = None


@dataclass(frozen=True)
class AbandonedWork:
    """An assignment the provider says its worker gave up (returned, timed out)."""

    provider_unit_id: str
    provider_assignment_id: str
    worker_name: str
    # The provider's word for it (Prolific's RETURNED, TIMED-OUT).
    status: str


def not_yet_supported(provider_type: str, operation: str) -> ProviderError:
    """The error of a review or money call a provider class can't make yet."""
    return ProviderError(
        f"{operation} is not yet supported on {provider_type}: nothing was sent to "
        f"{provider_type}, and the decision stays recorded here with this call "
        "marked failed"
    )


def url_param(params: Mapping[str, str], name: str) -> str:
    """The URL parameter `name`, or "" when it is missing."""
    return params.get(name) or ""


# Mirrors mephisto.abstractions.crowd_provider.ProviderArgs. Mephisto leaves
# requester_name required; its launcher auto-creates "MOCK_REQUESTER" for mock,
# and sandbox requester names end in "_sandbox".
@dataclass
class ProviderArgs:
    _provider_type: str = MISSING
    requester_name: str = MISSING


class Provider(ABC):
    """A crowd provider: where workers come from and how they are paid."""

    provider_type: ClassVar[str]
    # The schema of the provider's `mephisto.provider` config section, as
    # Mephisto's own (a dataclass for OmegaConf, Hydra's `ArgsClass`).
    args_class: ClassVar[type[ProviderArgs]] = ProviderArgs
    # The provider's commission on rewards and bonuses, for cost estimates.
    fee_rate: ClassVar[Decimal] = Decimal("0")
    # What a config's `mephisto.task.task_reward` counts for this provider, as
    # Mephisto reads it: dollars, or cents (Prolific). Budgets and bonuses are
    # dollars everywhere.
    reward_unit: ClassVar[str] = "dollars"
    # Whether the run's units are places on one provider object (a Prolific
    # study) rather than an object each (an MTurk HIT).
    units_are_places: ClassVar[bool] = False
    # Where the task page may hand a finished assignment back (MTurk's
    # externalSubmit), the first being the default; empty for other providers.
    submit_hosts: ClassVar[tuple[str, ...]] = ()
    # Whether the provider sends real workers, who can't reach a local server
    # (the mock's crowd is the tester's own browser).
    sends_real_workers: ClassVar[bool] = True
    # The key of a run's shared state (its hooks' build_shared_state) that
    # carries this provider's own requirements, as Mephisto names it
    # (`mturk_specific_qualifications`); checked by `check_provider_args` and
    # refused on every other provider. Empty: none.
    specific_state_key: ClassVar[str] = ""
    # Whether a rejected submission can still be approved (MTurk's
    # OverrideRejection); where it can't, overriding a rejection is refused.
    can_override_rejection: ClassVar[bool] = False
    # How long after its submission a rejection can still be overridden (None:
    # any time); MTurk's is 30 days.
    override_rejection_within: ClassVar[timedelta | None] = None
    # The longest feedback (a rejection's reason, an approval's note) the
    # provider takes; None: no limit.
    feedback_max_length: ClassVar[int | None] = None

    @classmethod
    def check_can_launch(cls, *, provider_args: Mapping[str, Any]) -> None:
        """Raise ConfigError if this provider can't launch a run with these
        `mephisto.provider` settings from here.

        The default accepts every config; providers that need credentials check
        for them here, before anything is written.
        """
        return None

    @classmethod
    def check_provider_args(
        cls, *, provider_args: Mapping[str, Any], shared_state: Mapping[str, Any]
    ) -> None:
        """Raise ConfigError (its key `mephisto.provider.<name>`, or
        `mephisto.blueprint.hooks` for `shared_state`) for a provider setting
        this provider can't honour; called when a run config is loaded, before
        anything is written. The default accepts them all.
        """
        return None

    # `manage.py check_providers` (providers/checks.py) asks these; each
    # provider's own checks live in its package's checks.py.

    @classmethod
    def unconfigured(cls) -> str:
        """Why check_providers skips this provider unless it is named, or ""
        when its credentials are configured. Reads no more than the settings
        and the environment."""
        return ""

    @classmethod
    def health_checks(cls, *, min_balance: Decimal) -> list[Check]:
        """The credentials, endpoint and balance checks of check_providers,
        failing the balance below `min_balance` dollars; each calls out at
        most once."""
        return []

    @classmethod
    def credentials_hint(cls) -> str:
        """How to give crowdsite this provider's credentials, for check_providers
        to say when no provider has any."""
        return ""

    @classmethod
    def worker_name(cls, provider_worker_id: str) -> str:
        """crowdsite's name for the provider's worker `provider_worker_id`."""
        return provider_worker_id

    # The task page's side of the provider (DESIGN §5, §7): the view asks these.

    # Who may show the task page in a frame: a CSP `frame-ancestors` value.
    frame_ancestors: ClassVar[str] = "'self'"
    # The provider's part of wrap_crowd_source.js: a file name in
    # tasks_app/static/tasks_app/wrap_crowd_source/, served after common.js.
    wrap_script: ClassVar[str]

    @classmethod
    def arrival_params(cls, params: Mapping[str, str]) -> Arrival:
        """Who arrived, read from the task page's URL parameters `params`.

        The default reads Mephisto's own names, `worker_id` and `assignment_id`.
        Only the run's provider's names count, as in its wrap script.
        """
        return Arrival(
            worker_id=url_param(params, "worker_id"),
            assignment_id=url_param(params, "assignment_id"),
        )

    @classmethod
    def page_config(cls, run: RunSpec) -> dict[str, Any]:
        """Extra keys of the task page's config, for the wrap script; none here."""
        return {}

    @classmethod
    def completion_code_for(cls, run: RunSpec) -> str:
        """The code a worker hands the provider once their work is stored here
        (Prolific's completion code); "" for a provider that takes none. Never
        on the page: the page asks for it after submitting."""
        return ""

    @abstractmethod
    def launch_units(
        self,
        *,
        run: RunSpec,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
        requirements: Sequence[Mapping[str, Any]] = (),
    ) -> dict[int, str]:
        """Post `unit_ids` to the provider; return the provider's id for each.

        `task_url` is where workers open the run's task page; `launched_before`
        the provider ids of the run's units launched earlier; `requirements`
        the run's qualification requirements that apply to this provider (the
        automatic block and onboarding ones included), for a provider that can
        enforce them itself (DESIGN §6.3). Must be idempotent: launching the
        same unit twice posts it once.
        """

    # Whether grants and revokes are repeated on this provider (see below).
    mirrors_qualifications: ClassVar[bool] = False

    def grant_qualification(
        self, *, worker_name: str, qualification_name: str, value: int
    ) -> dict[str, Any]:
        """Give the worker the qualification on the provider's side, if mirrored."""
        return {"mirrored": False}

    def revoke_qualification(
        self, *, worker_name: str, qualification_name: str, reason: str = ""
    ) -> dict[str, Any]:
        """Take the qualification away on the provider's side, if mirrored."""
        return {"mirrored": False}

    @abstractmethod
    def expire_units(self, *, run: RunSpec, provider_unit_ids: list[str]) -> None:
        """Withdraw units from the provider so no new worker can take them."""

    def end_run(self, *, run: RunSpec, provider_unit_ids: list[str]) -> dict[str, Any]:
        """Close what the provider keeps open for a run that was shut down or
        completed (Prolific's study), so no one new can start. Safe to repeat.
        Nothing by default: MTurk's HITs are expired unit by unit."""
        return {}

    # Review and money (DESIGN §7, §8). Each is called once per logical call
    # through the call log, with `token` naming that call: a provider that takes
    # a request token (MTurk's UniqueRequestToken) passes it on, so a retry after
    # a lost answer is not done twice. Each returns what the log keeps (JSON).

    @abstractmethod
    def approve_work(
        self,
        *,
        work: WorkRef,
        token: str,
        note: str = "",
        override_rejection: bool = False,
    ) -> dict[str, Any]:
        """Accept the worker's submission and pay its reward. `note` is shown to
        the worker where the provider can show one; `override_rejection` approves
        a submission the provider has rejected (only where
        `can_override_rejection`)."""

    @classmethod
    def check_rejection(cls, feedback: str) -> None:
        """Raise ValueError, saying what is wrong, for rejection feedback this
        provider would refuse; before the decision is recorded. Any here."""
        return None

    @abstractmethod
    def reject_work(
        self, *, work: WorkRef, feedback: str, token: str
    ) -> dict[str, Any]:
        """Refuse the submission, unpaid; `feedback` is shown to the worker."""

    @abstractmethod
    def pay_bonus(
        self,
        *,
        work: WorkRef,
        amount: Decimal,
        reason: str,
        token: str,
        requested_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Pay the worker `amount` (dollars) on top of the reward, saying why.

        `requested_at` is when the bonus was first asked for (no later than its
        first attempt): a provider whose request tokens expire tells from it
        whether a retry's token is still remembered.
        """

    @abstractmethod
    def block_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        """Keep the worker from the requester's tasks on the provider's side."""

    def unblock_worker(
        self, *, worker_name: str, reason: str, token: str
    ) -> dict[str, Any]:
        """Lift the provider-side block of `block_worker`."""
        raise not_yet_supported(self.provider_type, "unblocking a worker")

    # Whether `submitted_work` asks the provider: the recovery sweep polls only
    # the providers that say so.
    lists_submitted_work: ClassVar[bool] = False

    def submitted_work(
        self, *, provider_unit_ids: Sequence[str]
    ) -> list[SubmittedWork]:
        """The submissions waiting for review on these units, as the provider
        lists them (for those the task page failed to report); none here."""
        return []

    # Whether a bonus payment may be attempted again after an attempt whose
    # outcome was lost: MTurk dedupes by UniqueRequestToken; Prolific's pay call
    # can't be deduplicated, so its lost outcomes are reconciled, never resent.
    bonus_is_repeatable: ClassVar[bool] = True

    # Whether `abandoned_work` asks the provider (the recovery sweep polls them).
    lists_abandoned_work: ClassVar[bool] = False

    def abandoned_work(
        self, *, provider_unit_ids: Sequence[str]
    ) -> list[AbandonedWork]:
        """The assignments on these units their workers returned or let time
        out, as the provider lists them, so their units can be freed; none here."""
        return []

    # Whether `verify_arrival` asks the provider: the arrival view calls only
    # the providers that say so, and then first refuses an assignment id that
    # another worker already arrived with.
    verifies_arrivals: ClassVar[bool] = False

    def verify_arrival(self, arrival: Arrival) -> str:
        """Why the provider says `arrival` is not who it claims to be, or "".

        "" also when the provider can't tell yet (MTurk shows an assignment
        only once submitted); raises ProviderError when it can't be asked.
        """
        return ""

    def paid_bonuses(self, *, work: WorkRef) -> list[Decimal] | None:
        """The bonuses (dollars) the provider records as paid on `work`, for
        reconciling a payment whose outcome was lost; None when it keeps no
        such record crowdsite can read."""
        return None

    @classmethod
    def bonus_call_keys(cls, *, token: str) -> list[str]:
        """The call-log keys of the calls a bonus under `token` makes inside its
        own logged call (Prolific's pay call), settled with it by reconciling."""
        return []

    # The longest subject and message `notify_workers` sends; None: no limit.
    notify_limits: ClassVar[tuple[int, int] | None] = None
    # How many workers one `notify_workers` call may name.
    notify_batch: ClassVar[int] = 100

    @classmethod
    def check_notification(cls, *, subject: str, message: str) -> None:
        """Raise ValueError, saying what is wrong, for a message this provider
        would refuse; before anything is queued."""
        if cls.notify_workers is Provider.notify_workers:
            raise ValueError(f"{cls.provider_type} can't send workers messages")
        if not subject.strip():
            raise ValueError("the subject is empty")
        if not message.strip():
            raise ValueError("the message is empty")
        if cls.notify_limits is not None:
            longest_subject, longest_message = cls.notify_limits
            if len(subject) > longest_subject:
                raise ValueError(
                    f"the subject is {len(subject)} characters; {cls.provider_type} "
                    f"takes at most {longest_subject}"
                )
            if len(message) > longest_message:
                raise ValueError(
                    f"the message is {len(message)} characters; {cls.provider_type} "
                    f"takes at most {longest_message}"
                )

    def notify_workers(
        self, *, worker_names: Sequence[str], subject: str, message: str
    ) -> dict[str, Any]:
        """Send the workers (at most `notify_batch`) a message from the
        requester (by email, on MTurk); who could not be reached."""
        raise not_yet_supported(self.provider_type, "notifying workers")

    def account_balance(self) -> Decimal | None:
        """What the requester account can still pay, in dollars.

        None (the default) for a provider that keeps no balance crowdsite can
        read: a launch then checks none. A provider that reads one raises
        ProviderError when it can't.
        """
        return None

    def describe_call(self, operation: str, **request: Any) -> dict[str, Any]:
        """What the call log records about a call (no secrets)."""
        return {"operation": operation, **request}
