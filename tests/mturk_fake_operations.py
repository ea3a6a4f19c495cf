"""The MTurk requester operations the fake answers, one `_op_<Operation>`
method each, and the refusals MTurk gives.

`MTurkOperations` is mixed into `tests.mturk_fake.MTurkFake`: its methods read
and change that account's state (HIT types, HITs, assignments, money,
qualifications) and its clock, and `MTurkFake.handle` dispatches each request to
the method named after its operation.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

# How long MTurk remembers a UniqueRequestToken.
TOKEN_MEMORY = timedelta(hours=24)
# The most workers one NotifyWorkers call may name.
NOTIFY_LIMIT = 100


class Refused(Exception):
    """A request MTurk refuses: answered 400 with a RequestError body."""

    def __init__(self, message: str, turk_code: str = "") -> None:
        super().__init__(message)
        self.turk_code = turk_code


class MTurkOperations:
    """What MTurk does with each request: mixed into MTurkFake, whose state it uses."""

    def _use_token(self, token: str | None, made: str) -> None:
        """Remember `token`; refuse it if MTurk still remembers it."""
        if not token:
            return
        seen = self._tokens.get(token)
        if seen is not None and self.now() - seen[0] < TOKEN_MEMORY:
            raise Refused(
                f'The idempotency token "{token}" has already been processed.'
            )
        self._tokens[token] = (self.now(), made)

    def _assignment(self, assignment_id: str) -> dict[str, Any]:
        assignment = self.assignments.get(assignment_id)
        if assignment is None or assignment["AssignmentStatus"] == "Accepted":
            raise Refused(
                f"Assignment {assignment_id} does not exist.",
                "AWS.MechanicalTurk.AssignmentDoesNotExist",
            )
        return assignment

    @staticmethod
    def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or 10)
        page = items[start : start + size]
        result: dict[str, Any] = {"NumResults": len(page), key: page}
        if start + size < len(items):
            result["NextToken"] = str(start + size)
        return result

    # --- operations ------------------------------------------------------------

    def _op_GetAccountBalance(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"AvailableBalance": f"{self.balance:.2f}"}

    def _op_CreateHITType(self, params: dict[str, Any]) -> dict[str, Any]:
        for requirement in params.get("QualificationRequirements", []):
            if requirement["QualificationTypeId"] not in self.qualification_types:
                raise Refused(
                    f"QualificationType {requirement['QualificationTypeId']} "
                    "does not exist."
                )
        # Equal parameters give the same HIT type, as on MTurk.
        key = json.dumps(params, sort_keys=True)
        for hit_type_id, known in self.hit_types.items():
            if known["key"] == key:
                return {"HITTypeId": hit_type_id}
        hit_type_id = self._new_id("TYPE")
        self.hit_types[hit_type_id] = {"key": key, **params}
        return {"HITTypeId": hit_type_id}

    def _op_CreateHITWithHITType(self, params: dict[str, Any]) -> dict[str, Any]:
        hit_type = self.hit_types.get(params["HITTypeId"])
        if hit_type is None:
            raise Refused(f"Hit type {params['HITTypeId']} does not exist.")
        hit_id = self._new_id("HIT")
        self._use_token(params.get("UniqueRequestToken"), hit_id)
        now = self.now()
        hit = {
            "HITId": hit_id,
            "HITTypeId": params["HITTypeId"],
            "HITGroupId": params["HITTypeId"],
            "CreationTime": now,
            "Title": hit_type["Title"],
            "Description": hit_type["Description"],
            "Question": params.get("Question", ""),
            "HITStatus": "Assignable",
            "MaxAssignments": params.get("MaxAssignments", 1),
            "Reward": hit_type["Reward"],
            "AutoApprovalDelayInSeconds": hit_type.get(
                "AutoApprovalDelayInSeconds", 2592000
            ),
            "Expiration": now + timedelta(seconds=params["LifetimeInSeconds"]),
            "AssignmentDurationInSeconds": hit_type["AssignmentDurationInSeconds"],
            "RequesterAnnotation": params.get("RequesterAnnotation", ""),
            "NumberOfAssignmentsPending": 0,
            "NumberOfAssignmentsAvailable": params.get("MaxAssignments", 1),
            "NumberOfAssignmentsCompleted": 0,
        }
        self.hits[hit_id] = hit
        return {"HIT": hit}

    def _op_ListHITs(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._page(list(self.hits.values()), params, "HITs")

    def _op_UpdateExpirationForHIT(self, params: dict[str, Any]) -> dict[str, Any]:
        hit = self.hits.get(params["HITId"])
        if hit is None:
            raise Refused(f"Hit {params['HITId']} does not exist.")
        expire_at = datetime.fromtimestamp(float(params["ExpireAt"]), UTC)
        hit["Expiration"] = expire_at
        if expire_at <= self.now():
            hit["HITStatus"] = "Unassignable"
            hit["NumberOfAssignmentsAvailable"] = 0
        return {}

    def _op_GetAssignment(self, params: dict[str, Any]) -> dict[str, Any]:
        assignment = self._assignment(params["AssignmentId"])
        return {"Assignment": assignment, "HIT": self.hits[assignment["HITId"]]}

    def _op_ListAssignmentsForHIT(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["HITId"] not in self.hits:
            raise Refused(f"Hit {params['HITId']} does not exist.")
        statuses = params.get("AssignmentStatuses") or [
            "Submitted",
            "Approved",
            "Rejected",
        ]
        found = [
            a
            for a in self.assignments.values()
            if a["HITId"] == params["HITId"] and a["AssignmentStatus"] in statuses
        ]
        return self._page(found, params, "Assignments")

    def _check_submitted(self, assignment: dict[str, Any]) -> None:
        if assignment["AssignmentStatus"] != "Submitted":
            raise Refused(
                "This operation can be called with a status of: Submitted",
                "AWS.MechanicalTurk.InvalidAssignmentState",
            )

    def _op_ApproveAssignment(self, params: dict[str, Any]) -> dict[str, Any]:
        assignment = self._assignment(params["AssignmentId"])
        if assignment["AssignmentStatus"] == "Rejected" and params.get(
            "OverrideRejection"
        ):
            pass
        else:
            self._check_submitted(assignment)
        reward = Decimal(self.hits[assignment["HITId"]]["Reward"])
        self.balance -= reward
        assignment.update(AssignmentStatus="Approved", ApprovalTime=self.now())
        if params.get("RequesterFeedback"):
            assignment["RequesterFeedback"] = params["RequesterFeedback"]
        return {}

    def _op_RejectAssignment(self, params: dict[str, Any]) -> dict[str, Any]:
        assignment = self._assignment(params["AssignmentId"])
        if not params.get("RequesterFeedback"):
            raise Refused("RequesterFeedback is required to reject an assignment.")
        self._check_submitted(assignment)
        assignment.update(
            AssignmentStatus="Rejected",
            RejectionTime=self.now(),
            RequesterFeedback=params["RequesterFeedback"],
        )
        return {}

    def _op_SendBonus(self, params: dict[str, Any]) -> dict[str, Any]:
        assignment = self._assignment(params["AssignmentId"])
        if assignment["WorkerId"] != params["WorkerId"]:
            raise Refused(
                f"Assignment {params['AssignmentId']} does not belong to worker "
                f"{params['WorkerId']}."
            )
        if not params.get("Reason"):
            raise Refused("Reason is required to send a bonus.")
        amount = Decimal(params["BonusAmount"])
        if amount <= 0 or amount > self.balance:
            raise Refused(f"Cannot pay a bonus of {params['BonusAmount']}.")
        self._use_token(params.get("UniqueRequestToken"), params["AssignmentId"])
        self.balance -= amount
        self.bonuses.append(
            {
                "WorkerId": params["WorkerId"],
                "BonusAmount": params["BonusAmount"],
                "AssignmentId": params["AssignmentId"],
                "Reason": params["Reason"],
                "GrantTime": self.now(),
            }
        )
        return {}

    def _op_ListBonusPayments(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("AssignmentId"):
            found = self.bonuses_for(params["AssignmentId"])
        elif params.get("HITId"):
            assignments = {
                a["AssignmentId"]
                for a in self.assignments.values()
                if a["HITId"] == params["HITId"]
            }
            found = [b for b in self.bonuses if b["AssignmentId"] in assignments]
        else:
            raise Refused("Either HITId or AssignmentId must be given.")
        return self._page(found, params, "BonusPayments")

    def _op_NotifyWorkers(self, params: dict[str, Any]) -> dict[str, Any]:
        workers = params["WorkerIds"]
        if not 1 <= len(workers) <= NOTIFY_LIMIT:
            raise Refused(
                f"WorkerIds must name between 1 and {NOTIFY_LIMIT} workers "
                f"(got {len(workers)})."
            )
        failures = [
            {
                "NotifyWorkersFailureCode": "HardFailure",
                "NotifyWorkersFailureMessage": "Cannot send notification to "
                f"{worker}: the worker has not done work for you.",
                "WorkerId": worker,
            }
            for worker in workers
            if worker in self.unreachable
        ]
        self.notifications.append(
            {
                "Subject": params["Subject"],
                "MessageText": params["MessageText"],
                "WorkerIds": [w for w in workers if w not in self.unreachable],
            }
        )
        return {"NotifyWorkersFailureStatuses": failures}

    def _op_CreateQualificationType(self, params: dict[str, Any]) -> dict[str, Any]:
        for required in ("Name", "Description", "QualificationTypeStatus"):
            if not params.get(required):
                raise Refused(f"{required} is required.")
        if self.qualification_type_named(params["Name"]) is not None:
            raise Refused(
                "You have already created a QualificationType with this name. "
                "A QualificationType's name must be unique among all of the "
                "QualificationTypes created by the same user."
            )
        type_id = self._new_id("QUAL")
        qualification_type = {
            "QualificationTypeId": type_id,
            "CreationTime": self.now(),
            "Name": params["Name"],
            "Description": params["Description"],
            "QualificationTypeStatus": params["QualificationTypeStatus"],
            "IsRequestable": False,
            "AutoGranted": False,
        }
        self.qualification_types[type_id] = qualification_type
        return {"QualificationType": qualification_type}

    def _op_ListQualificationTypes(self, params: dict[str, Any]) -> dict[str, Any]:
        if "MustBeRequestable" not in params:
            raise Refused("MustBeRequestable is required.")
        query = (params.get("Query") or "").lower()
        # A text search: names containing the query match, as on MTurk.
        found = [
            t
            for t in self.qualification_types.values()
            if query in t["Name"].lower() or query in t["Description"].lower()
        ]
        return self._page(found, params, "QualificationTypes")

    def _qualification_type(self, type_id: str) -> dict[str, Any]:
        if type_id not in self.qualification_types:
            raise Refused(f"QualificationType {type_id} does not exist.")
        return self.qualification_types[type_id]

    def _op_AssociateQualificationWithWorker(
        self, params: dict[str, Any]
    ) -> dict[str, Any]:
        self._qualification_type(params["QualificationTypeId"])
        key = (params["QualificationTypeId"], params["WorkerId"])
        self.scores[key] = int(params.get("IntegerValue", 1))
        return {}

    def _op_DisassociateQualificationFromWorker(
        self, params: dict[str, Any]
    ) -> dict[str, Any]:
        self._qualification_type(params["QualificationTypeId"])
        key = (params["QualificationTypeId"], params["WorkerId"])
        if key not in self.scores:
            raise Refused(
                f"You requested a Qualification that does not exist for worker "
                f"{params['WorkerId']}."
            )
        del self.scores[key]
        return {}

    def _op_GetQualificationScore(self, params: dict[str, Any]) -> dict[str, Any]:
        self._qualification_type(params["QualificationTypeId"])
        key = (params["QualificationTypeId"], params["WorkerId"])
        if key not in self.scores:
            raise Refused(
                f"You requested a Qualification that does not exist for worker "
                f"{params['WorkerId']}."
            )
        return {
            "Qualification": {
                "QualificationTypeId": key[0],
                "WorkerId": key[1],
                "IntegerValue": self.scores[key],
                "Status": "Granted",
            }
        }

    def _op_CreateWorkerBlock(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("Reason"):
            raise Refused("Reason is required to block a worker.")
        self.blocks[params["WorkerId"]] = params["Reason"]
        return {}

    def _op_DeleteWorkerBlock(self, params: dict[str, Any]) -> dict[str, Any]:
        self.blocks.pop(params["WorkerId"], None)
        return {}
