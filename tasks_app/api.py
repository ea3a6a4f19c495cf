"""The worker wire protocol (DESIGN §5): JSON endpoints at the site root.

These views parse, call a service and answer. They use no session or CSRF auth:
the page lives in a provider's iframe, and the agent id is the worker's capability.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, UnreadablePostError
from rest_framework import serializers
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from providers.base import Arrival
from providers.registry import get_provider_class
from tasks_app import selectors, services
from tasks_app import uploads as uploads_app
from tasks_app.exceptions import (
    BadWorkerRequest,
    NotYourRegistration,
    TooLarge,
    UnitStateConflict,
    UnknownAgent,
    UnknownRun,
    UnsupportedFileType,
    WorkerRequestError,
)
from tasks_app.models import TaskRun
from tasks_app.selectors.live import (
    LIVE_BLUEPRINT,
    live_init_data,
    onboarding_run_is_live,
)
from tasks_app.serializers import (
    MAX_ID_LENGTH,
    CompletionCodeSerializer,
    LogErrorSerializer,
    RequestAgentSerializer,
    ReturnUnitSerializer,
    SubmitMetadataSerializer,
    SubmitOnboardingSerializer,
    SubmitTaskSerializer,
)
from tasks_app.uploads import CheckedMultiPartParser

logger = logging.getLogger(__name__)

# How long a worker page waits before repeating a request the database dropped.
RETRY_AFTER_SECONDS = 1


# The HTTP status of each kind of refusal; the services don't choose codes.
REFUSAL_STATUS: dict[type[WorkerRequestError], int] = {
    BadWorkerRequest: 400,
    UnknownRun: 404,
    UnknownAgent: 404,
    NotYourRegistration: 409,
    UnitStateConflict: 409,
    TooLarge: 413,
    UnsupportedFileType: 415,
}


def refusal_status(exc: WorkerRequestError) -> int:
    for kind, status in REFUSAL_STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


def too_many_fields() -> str:
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return (
        f"request too large: more than {limit} fields (DATA_UPLOAD_MAX_NUMBER_FIELDS;"
        " form fields and query parameters both count); nothing was stored"
    )


def log_suspicious(exc: Exception) -> None:
    # Where Django's own handler would have logged it.
    logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)


# The `mephisto-task` npm version whose protocol this server speaks.
MEPHISTO_TASK_VERSION = "2.0.4"


class WorkerAPIView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def handle_exception(self, exc: Exception) -> Response:
        # A dropped or terminated connection (also SQLite's "database is
        # locked" and PostgreSQL's deadlock): not the request's fault.
        if isinstance(exc, OperationalError | InterfaceError):
            return self.retry_once(exc)
        if isinstance(exc, WorkerRequestError):
            return Response({"error": str(exc)}, status=refusal_status(exc))
        if isinstance(exc, serializers.ValidationError):
            return Response(
                {"error": "invalid request", "fields": exc.detail}, status=400
            )
        if isinstance(exc, RequestDataTooBig | TooManyFilesSent):
            return Response({"error": f"request too large: {exc}"}, status=413)
        if isinstance(exc, TooManyFieldsSent):
            log_suspicious(exc)
            return Response({"error": too_many_fields()}, status=413)
        if isinstance(exc, SuspiciousOperation | BadRequest):
            log_suspicious(exc)
            return Response(
                {"error": f"the request can't be accepted: {exc}"}, status=400
            )
        if isinstance(exc, UnreadablePostError):
            return Response(
                {
                    "error": f"the request body could not be read in full ({exc}); "
                    "nothing was stored: send it again"
                },
                status=400,
            )
        if isinstance(exc, RecursionError):
            return Response({"error": "the JSON body is nested too deeply"}, status=400)
        if isinstance(exc, UnicodeError):
            return Response({"error": f"the body can't be decoded: {exc}"}, status=400)
        if isinstance(exc, APIException | Http404 | PermissionDenied):
            # DRF's own (405, 406, 415, a parse error): `{"detail": ...}`.
            return super().handle_exception(exc)
        return self.server_error(exc)

    def server_error(self, exc: Exception) -> Response:
        """A JSON 500 for an exception nothing expected, logged with its traceback.

        The signal is the one Django sends for an uncaught exception, so error
        reporters (and the test client) still see it.
        """
        logger.exception(
            "worker request %s %s failed",
            self.request.method,
            self.request.path,
            exc_info=exc,
        )
        got_request_exception.send(sender=None, request=self.request._request)
        return Response(
            {
                "error": "the server failed to handle this request; it is safe to "
                "send it again"
            },
            status=500,
        )

    def retry_once(self, exc: OperationalError | InterfaceError) -> Response:
        """Run the request once more on a new connection, or answer a JSON 503.

        Every worker endpoint is safe to repeat: whether or not the lost
        request's work committed, running it again gives the answer the first
        run owed (a repeated arrival gets its agent back, a repeated submission
        is harmless). So the worker need not see the fault. A second loss is
        answered 503 with Retry-After, which the crowdsite-task package retries.
        """
        if getattr(self, "_retried", False) or connection.in_atomic_block:
            logger.warning("worker request lost its database connection: %s", exc)
            return Response(
                {"error": "the database is unavailable for a moment; try again"},
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._retried = True
        connection.close()
        request = self.request
        method = (request.method or "").lower()
        handler = getattr(self, method, self.http_method_not_allowed)
        try:
            return handler(request, *self.args, **self.kwargs)
        except Exception as again:
            return self.handle_exception(again)

    def parse(self, request: Request, serializer_class: type, **context: Any) -> dict:
        try:
            data = request.data
        except (RequestDataTooBig, TooManyFilesSent):
            raise
        except ParseError:
            raise
        if not hasattr(data, "get"):
            raise BadWorkerRequest("the request body must be a JSON object")
        if hasattr(data, "dict"):
            # A multipart QueryDict: one value per field.
            data = {key: data.get(key) for key in data}
        serializer = serializer_class(data=data, context=context)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def get_run(self, request: Request) -> TaskRun:
        raw = request.query_params.get("task_run_id", "")
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise BadWorkerRequest(
                "the task_run_id query parameter is missing or not a number"
            )
        # Frozen at launch, so cached per process; `status` is read fresh.
        run = selectors.cached_run(int(raw))
        if run is None:
            raise UnknownRun(f"there is no task run {raw}")
        return run


class TaskConfigView(WorkerAPIView):
    """`GET /task_config.json`: the blueprint's frontend arguments."""

    def get(self, request: Request) -> Response:
        run = self.get_run(request)
        return Response(task_config(run))


def task_config(run: TaskRun) -> dict[str, Any]:
    blueprint = run.resolved_config.get("mephisto", {}).get("blueprint", {})
    return {
        "task_title": run.task_title,
        "task_description": run.task_description,
        "task_reward": float(run.task_reward),
        "task_tags": run.task_tags,
        "frame_height": 0,
        "chat_title": run.task_title,
        "block_mobile": bool(blueprint.get("block_mobile", False)),
        "has_onboarding": bool(blueprint.get("onboarding_qualification")),
        "provider_type": run.provider_type,
        "task_run_id": run.pk,
        "mephisto_task_version": MEPHISTO_TASK_VERSION,
    }


class RequestAgentView(WorkerAPIView):
    """`POST /request_agent`: an agent for the arriving worker, or why not."""

    def post(self, request: Request) -> Response:
        run = self.get_run(request)
        data = self.parse(request, RequestAgentSerializer)["provider_data"]
        provider_class = get_provider_class(run.provider_type)
        worker_name = provider_class.worker_name(data["worker_name"])
        assignment_id = data.get("assignment_id") or ""
        registration = data.get("agent_registration_id") or (
            f"{data['worker_name']}-{assignment_id}"
        )
        if len(registration) > MAX_ID_LENGTH:
            # Long ids joined can pass the column's size: keep a stable digest.
            registration = hashlib.sha256(registration.encode()).hexdigest()
        hit_id = data.get("hit_id") or ""
        arrival = Arrival(
            worker_id=data["worker_name"], assignment_id=assignment_id, unit_id=hit_id
        )
        details = services.refuse_forged_arrival(
            run=run, worker_name=worker_name, arrival=arrival
        ) or services.register_agent(
            run=run,
            worker_name=worker_name,
            registration_id=registration,
            provider_assignment_id=assignment_id,
            provider_unit_id=hit_id,
        )
        if run.blueprint_type == LIVE_BLUEPRINT:
            details = with_live_init_data(details)
        return Response(details.as_packet())


def with_live_init_data(details: services.AgentDetails) -> services.AgentDetails:
    """A live run's agent gets Mephisto's `{task_data, previous_requests}`."""
    if details.agent_id is None:
        return details
    return dataclasses.replace(
        details,
        init_task_data=live_init_data(details.agent_id, details.init_task_data),
    )


class CompletionCodeView(WorkerAPIView):
    """`POST /completion_code`: the provider's completion code (Prolific's), for a
    worker whose submission is stored; refused (409) before that."""

    def post(self, request: Request) -> Response:
        run = self.get_run(request)
        data = self.parse(request, CompletionCodeSerializer)
        provider_class = get_provider_class(run.provider_type)
        code = services.completion_code(
            run=run,
            worker_name=provider_class.worker_name(data["worker_name"]),
            provider_assignment_id=data["assignment_id"],
        )
        return Response({"completion_code": code})


class SubmitOnboardingView(WorkerAPIView):
    """`POST /submit_onboarding`: judge onboarding, answer with the next agent."""

    def post(self, request: Request) -> Response:
        data = self.parse(request, SubmitOnboardingSerializer)["provider_data"]
        agent_id = data["USED_AGENT_ID"]
        if not agent_id.startswith("onboarding"):
            raise BadWorkerRequest("USED_AGENT_ID is not an onboarding agent id")
        details = services.submit_onboarding(
            agent_id=agent_id, onboarding_data=data.get("onboarding_data")
        )
        if onboarding_run_is_live(agent_id):
            details = with_live_init_data(details)
        return Response(details.as_packet())


class SubmitTaskView(WorkerAPIView):
    """`POST /submit_task`: JSON or a form (multipart with files). Twice is harmless."""

    parser_classes = [JSONParser, CheckedMultiPartParser, FormParser]

    def post(self, request: Request) -> Response:
        form = request.content_type.startswith(FORM_TYPES)
        if request.content_type.startswith("multipart/"):
            refuse_oversized_body(request)
        data = self.parse(request, SubmitTaskSerializer, form=form)
        agent_id = data["USED_AGENT_ID"]
        # Every file of every field (`<input multiple>` sends several per name).
        uploads = [f for _, files in request.FILES.lists() for f in files]
        if not uploads:
            services.submit_unit(agent_id=agent_id, final_data=data.get("final_data"))
            return Response({"status": "Submitted!"})
        agent = services.find_agent(agent_id=agent_id)
        if agent.submitted_at is not None:
            # Harmless repeat: answer as before and store nothing new.
            return Response({"status": "Submitted!"})
        run = selectors.cached_run(agent.run_id)
        if run is None:  # deleted since the agent was found
            raise UnknownAgent()
        saved = uploads_app.save_uploads(
            uploads,
            run=run,
            agent_pk=agent.pk,
            stored_bytes=uploads_app.stored_upload_bytes(agent),
        )
        try:
            stored = services.submit_unit(
                agent_id=agent_id, final_data=data.get("final_data"), files=saved
            )
        except BaseException:
            uploads_app.delete_saved(saved)
            raise
        if not stored:
            uploads_app.delete_saved(saved)
        return Response({"status": "Submitted!"})


# Bodies whose fields arrive as text: final_data is a JSON string there.
FORM_TYPES = ("multipart/", "application/x-www-form-urlencoded")


def refuse_oversized_body(request: Request) -> None:
    """Refuse a multipart body larger than the run could take, before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    raw = request.query_params.get("task_run_id", "")
    run = selectors.cached_run(int(raw)) if raw.isascii() and raw.isdigit() else None
    limit = uploads_app.body_limit(run)
    if length > limit:
        raise TooLarge(
            f"the request body is {length} bytes; this task takes at most {limit} bytes"
        )


class SubmitMetadataView(WorkerAPIView):
    """`POST /submit_metadata`: extra data from the page, kept with the agent.

    JSON, or a form as mephisto-core's multipart postMetadata sends it (Mephisto's
    worker-opinion add-on): `metadata` as JSON text, and files, which the run
    takes as it takes them with `/submit_task` and lists under `files`.
    """

    parser_classes = [JSONParser, CheckedMultiPartParser, FormParser]

    def post(self, request: Request) -> Response:
        form = request.content_type.startswith(FORM_TYPES)
        if request.content_type.startswith("multipart/"):
            refuse_oversized_body(request)
        data = self.parse(
            request,
            SubmitMetadataSerializer,
            form=form,
            form_fields=request.data if form else None,
        )
        agent_id = data["USED_AGENT_ID"]
        uploads = [f for _, files in request.FILES.lists() for f in files]
        if not uploads:
            services.submit_metadata(agent_id=agent_id, metadata=data.get("metadata"))
            return Response({"status": "Submitted metadata"})
        metadata = data.get("metadata")
        agent = services.find_agent(agent_id=agent_id)
        run = selectors.cached_run(agent.run_id)
        if run is None:  # deleted since the agent was found
            raise UnknownAgent()
        saved = uploads_app.save_uploads(
            uploads,
            run=run,
            agent_pk=agent.pk,
            stored_bytes=uploads_app.stored_upload_bytes(agent),
        )
        try:
            services.submit_metadata(
                agent_id=agent_id, metadata=metadata, files=saved, run=run
            )
        except BaseException:
            uploads_app.delete_saved(saved)
            raise
        return Response({"status": "Submitted metadata"})


class LogErrorView(WorkerAPIView):
    """`POST /log_error`: an error the page caught, kept for the requester."""

    def post(self, request: Request) -> Response:
        data = self.parse(request, LogErrorSerializer)
        services.log_agent_error(
            agent_id=data["USED_AGENT_ID"], error_data=data.get("error_data")
        )
        return Response({"status": "Error log sent!"})


class ReturnUnitView(WorkerAPIView):
    """`POST /return_unit`: the worker gives the unit back; it is free at once.

    Not part of Mephisto's protocol: for task pages with a "skip this one"
    button, and scripts. Twice is harmless.
    """

    def post(self, request: Request) -> Response:
        data = self.parse(request, ReturnUnitSerializer)
        services.return_unit(agent_id=data["USED_AGENT_ID"])
        return Response({"status": "Returned"})
