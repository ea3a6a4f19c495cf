"""Prolific, through its REST API (https://api.prolific.com/api/v1/).

Prolific has no per-unit object: a run is one study, its `total_available_places`
raised to the number of units launched so far, and every unit's provider id is
the study id. Prolific takes no idempotency keys, so a launch first looks for the
study an earlier attempt may have made, by its deterministic `internal_name`.
"""

from __future__ import annotations

import base64
import threading
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from django.utils.crypto import salted_hmac

from crowdsite.config_errors import ConfigError
from providers.base import (
    Arrival,
    Provider,
    ProviderError,
    ReviewNotYetSupported,
    url_param,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tasks_app.models import TaskRun
    from tasks_app.run_config import RunConfig

# Prolific's own API; PROLIFIC_API_URL (settings) may point elsewhere.
API_URL = "https://api.prolific.com/api/v1/"
# (connect, read) seconds: a hung call must fail, not hold a Celery worker.
TIMEOUT = (10, 30)
# Prolific fills these placeholders per participant when they open the study;
# they are added to the task URL's query (study_url).
STUDY_URL_PARAMETERS = (
    "participant_id={{%PROLIFIC_PID%}}"
    "&study_id={{%STUDY_ID%}}"
    "&submission_id={{%SESSION_ID%}}"
)
DEFAULT_COMPLETION_MINUTES = 5
UNPUBLISHED = "UNPUBLISHED"
# A stopped study ends in one of these; a draft never let anyone in.
NOT_TAKING_PARTICIPANTS = frozenset({"AWAITING REVIEW", "COMPLETED", UNPUBLISHED})

_session: requests.Session | None = None
_session_lock = threading.Lock()


class ProlificError(ProviderError):
    """A Prolific call failed; `status_code` is the HTTP status, if any came back."""

    def __init__(
        self, message: str, *, transient: bool, status_code: int | None = None
    ) -> None:
        super().__init__(message, transient=transient)
        self.status_code = status_code


def _http() -> requests.Session:
    """The shared HTTP session (pooled connections), built on first use."""
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
        return _session


def _api_key() -> str:
    return getattr(settings, "PROLIFIC_API_KEY", "") or ""


def api_url() -> str:
    """The base URL calls go to: PROLIFIC_API_URL, ending in a slash."""
    configured = getattr(settings, "PROLIFIC_API_URL", "") or API_URL
    return configured.rstrip("/") + "/"


def study_internal_name(run: TaskRun) -> str:
    """The `internal_name` that finds `run`'s study again; never changes."""
    # The run's creation time tells apart runs that share a pk across databases
    # (a reset development database launching on the same Prolific account).
    return f"crowdsite-run-{run.pk}-{int(run.created_at.timestamp())}"


def completion_code(run: TaskRun) -> str:
    """The code (8 characters, A-Z2-7) a worker brings back on finishing `run`."""
    # Keyed by SECRET_KEY, so a worker can't derive one run's code from another's.
    digest = salted_hmac("crowdsite.providers.prolific.completion_code", str(run.pk))
    return base64.b32encode(digest.digest()).decode()[:8]


def reward_in_cents(amount: Decimal) -> int:
    """`amount` in the account currency's minor unit, as Prolific prices rewards."""
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _describe_detail(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_describe_detail(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(_describe_detail(item) for item in detail)
    return "" if detail is None else str(detail)


def _error_message(response: requests.Response) -> str:
    """Prolific's own words for a failed response."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason
    if not isinstance(body, dict):
        return _describe_detail(body)
    # Most endpoints nest {"error": {"title", "detail", ...}}; some answer flat.
    nested = body.get("error")
    error: dict = nested if isinstance(nested, dict) else body
    parts = [
        _describe_detail(error.get(key))
        for key in ("title", "message", "detail", "additional_information")
    ]
    return " - ".join(part for part in parts if part) or response.text[:500]


def _request(method: str, url: str, *, operation: str, json: Any = None) -> Any:
    """Call Prolific at `url` (relative to `api_url()`), return the decoded body."""
    api_key = _api_key()
    if not api_key:
        raise ProlificError(
            f"Prolific {operation} failed: PROLIFIC_API_KEY is not set",
            transient=False,
        )
    try:
        response = _http().request(
            method,
            urljoin(api_url(), url),
            json=json,
            headers={"Authorization": f"Token {api_key}"},
            timeout=TIMEOUT,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ProlificError(
            f"Prolific {operation} failed: could not reach Prolific: {exc}",
            transient=True,
        ) from exc
    except requests.RequestException as exc:
        raise ProlificError(
            f"Prolific {operation} failed: {exc}", transient=False
        ) from exc
    status = response.status_code
    if status >= 400:
        raise ProlificError(
            f"Prolific {operation} failed: HTTP {status}: {_error_message(response)}",
            transient=status == 429 or status >= 500,
            status_code=status,
        )
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        # A success we can't read may still have happened: retry and look again.
        raise ProlificError(
            f"Prolific {operation} answered HTTP {status} with a body that is not JSON",
            transient=True,
            status_code=status,
        ) from exc


class ProlificProvider(ReviewNotYetSupported, Provider):
    """Prolific: one study per run, its places opened as units launch."""

    provider_type = "prolific"
    # Prolific's standard service fee; an estimate.
    fee_rate = Decimal("0.333")
    # Prolific sends participants to the study URL; it doesn't frame it.
    frame_ancestors = "'self'"
    wrap_script = "prolific.js"

    @classmethod
    def check_can_launch(cls, *, config: RunConfig) -> None:
        """Raise ConfigError unless a Prolific API token is configured."""
        if not _api_key():
            raise ConfigError(
                "prolific needs an API token: create one in Prolific (Settings → "
                "API tokens) and set PROLIFIC_API_KEY in the environment",
                key="mephisto.provider",
            )

    @classmethod
    def arrival_params(cls, params: Mapping[str, str]) -> Arrival:
        """The participant from the study URL's parameters (STUDY_URL_PARAMETERS)."""
        return Arrival(
            worker_id=url_param(params, "participant_id"),
            assignment_id=url_param(params, "submission_id"),
            unit_id=url_param(params, "study_id"),
        )

    @classmethod
    def page_config(cls, run: TaskRun) -> dict[str, Any]:
        """The completion code prolific.js hands back to Prolific on submit."""
        return {"completion_code": completion_code(run)}

    def launch_units(
        self,
        *,
        run: TaskRun,
        unit_ids: list[int],
        task_url: str,
        launched_before: Sequence[str] = (),
        requirements: Sequence[Mapping[str, Any]] = (),
    ) -> dict[int, str]:
        """Open one place per unit on the run's study; return {unit_id: study id}.

        Creates and publishes the study on the first launch. Safe to retry: the
        place count is the units launched before plus these, not added to.
        """
        if not unit_ids:
            return {}
        places = len(launched_before) + len(unit_ids)
        known_id = next(iter(launched_before), None)
        if known_id:
            study = _request("GET", f"studies/{known_id}/", operation="get study")
        else:
            study = self._find_study(study_internal_name(run))
        if study is None:
            study = _request(
                "POST",
                "studies/",
                operation="create study",
                json=self.study_draft(run, places=places, task_url=task_url),
            )
        elif (study.get("total_available_places") or 0) < places:
            # Prolific only ever raises places; a study that had filled up and
            # gone to review reopens by itself.
            study = _request(
                "PATCH",
                f"studies/{study['id']}/",
                operation="update study places",
                json={"total_available_places": places},
            )
        study_id = study["id"]
        if study.get("status") == UNPUBLISHED:
            _transition(study_id, "PUBLISH")
        return dict.fromkeys(unit_ids, study_id)

    def expire_units(self, *, run: TaskRun, provider_unit_ids: list[str]) -> None:
        """Stop the run's study. Stopping a stopped study is harmless."""
        for study_id in dict.fromkeys(provider_unit_ids):
            try:
                _transition(study_id, "STOP")
            except ProlificError as exc:
                if exc.transient:
                    raise
                # Prolific refuses to stop what is already stopped; check
                # that this is why before calling it done.
                study = _request("GET", f"studies/{study_id}/", operation="get study")
                if study.get("status") not in NOT_TAKING_PARTICIPANTS:
                    raise

    @staticmethod
    def study_draft(run: TaskRun, *, places: int, task_url: str) -> dict[str, Any]:
        """The body that creates `run`'s study as a draft with `places` places."""
        provider_config = run.resolved_config.get("mephisto", {}).get("provider", {})
        minutes = provider_config.get(
            "prolific_estimated_completion_time_in_minutes", DEFAULT_COMPLETION_MINUTES
        )
        return {
            "name": run.task_title,
            "internal_name": study_internal_name(run),
            "description": run.task_description,
            "external_study_url": study_url(task_url),
            # crowdsite reads the participant from the URL, whatever the config says.
            "prolific_id_option": "url_parameters",
            "completion_codes": [
                {
                    "code": completion_code(run),
                    "code_type": "COMPLETED",
                    # crowdsite's own review approves or rejects each submission.
                    "actions": [{"action": "MANUALLY_REVIEW"}],
                }
            ],
            "estimated_completion_time": max(int(minutes), 1),
            "reward": reward_in_cents(run.task_reward),
            "total_available_places": places,
            "device_compatibility": ["desktop"],
            # Prolific's docs mark `filters` required; an empty list admits anyone.
            "filters": [],
        }

    @staticmethod
    def _find_study(internal_name: str) -> dict[str, Any] | None:
        """This account's study named `internal_name`, or None."""
        url: str | None = "studies/"
        while url:
            page = _request("GET", url, operation="list studies") or {}
            for study in page.get("results", []):
                if study.get("internal_name") == internal_name:
                    return study
            url = ((page.get("_links") or {}).get("next") or {}).get("href")
        return None


def study_url(task_url: str) -> str:
    """`task_url` with the participant placeholders added to its query."""
    # The task URL has a query of its own (?task_run_id=...): join with "&".
    if task_url.endswith(("?", "&")):
        joiner = ""
    else:
        joiner = "&" if urlsplit(task_url).query else "?"
    return f"{task_url}{joiner}{STUDY_URL_PARAMETERS}"


def _transition(study_id: str, action: str) -> Any:
    return _request(
        "POST",
        f"studies/{study_id}/transition/",
        operation=f"{action.lower()} study",
        json={"action": action},
    )
