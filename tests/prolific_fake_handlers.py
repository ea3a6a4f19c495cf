"""The Prolific endpoints the fake answers, one handler each, the request shapes
Prolific documents, and its refusals.

`ProlificHandlers` is mixed into `tests.prolific_fake.ProlificFake`: `_routes`
maps each method and path to a handler, and the handlers read and change that
account's state (workspaces, projects, studies, submissions, bonuses, groups).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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


class ProlificHandlers:
    """What Prolific does with each request: mixed into ProlificFake, whose state
    it uses."""

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
