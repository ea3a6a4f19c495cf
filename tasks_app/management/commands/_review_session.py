"""The interactive review of `review_run`: one submission at a time, a key per
decision, read from stdin (so it can be piped)."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

from django.core.management.base import CommandError

from qualifications_app.services import QualificationError
from tasks_app import selectors, services
from tasks_app.exceptions import ReviewError
from tasks_app.management.commands._reviewing import (
    blocked_mark,
    one_line,
    terminal_text,
    work_time,
    worker_label,
)
from tasks_app.models import Agent
from tasks_app.uploads import agent_files

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from tasks_app.management.commands.review_run import Command
    from tasks_app.services import Decision

KEYS = (
    "[a]pprove  [r]eject  [s]oft-reject  [b]onus  [n]ext  [p]revious  "
    "[x] block worker  [g]rant allowlist  [q]uit"
)


class ReviewSession:
    """One interactive review: a position in the submissions and what was decided."""

    def __init__(
        self, *, command: Command, items: list[Agent], grant: str | None, stdin: IO
    ) -> None:
        self.command = command
        self.task_run = command.task_run
        self.reviewer: User | None = command.reviewer
        self.items = items
        self.grant_name = grant
        self.stdin = stdin
        # With --json, stdout carries only the closing JSON object.
        self.out = command.stderr if command.as_json else command.stdout
        self.decisions: list[Decision] = []
        self.decided: dict[int, str] = {}  # agent id -> this session's decision
        self.approved: list[Agent] = []
        self.granted_to: set[int] = set()  # agent ids whose worker got the grant
        self.grants: list[dict[str, Any]] = []
        self.blocked: list[str] = []  # workers blocked in this session

    # --- the loop ------------------------------------------------------------------

    def run(self) -> None:
        if not self.items:
            self.say(f"No submissions awaiting review in run {self.task_run.pk}.")
            return
        self.say(
            f"Reviewing run {self.task_run.pk} ({self.task_run.task.task_name}): "
            f"{len(self.items)} submission(s) awaiting review."
        )
        position, show = 0, True
        while True:
            if show:
                self.show(position)
            show = False
            key = self.ask(KEYS + " > ")
            if key is None or key == "q":
                break
            if key in ("n", ""):
                if position + 1 < len(self.items):
                    position, show = position + 1, True
                else:
                    self.say("That is the last submission; p goes back, q quits.")
            elif key == "p":
                if position > 0:
                    position, show = position - 1, True
                else:
                    self.say("That is the first submission.")
            elif key in ("a", "r", "s"):
                if self.decide(key, self.items[position]):
                    position, show = self.after_decision(position)
            elif key == "b":
                self.bonus(self.items[position])
            elif key == "x":
                self.block(self.items[position])
            elif key == "g":
                self.grant()
            elif key in ("?", "h"):
                self.say(KEYS)
            else:
                self.say(f"Unknown key {key!r}. {KEYS}")
        if self.grant_name is not None and self.ungranted():
            self.grant()
        self.say(self.closing_line())

    def after_decision(self, position: int) -> tuple[int, bool]:
        """Move to the next undecided submission after `position`, if any."""
        for later in range(position + 1, len(self.items)):
            if self.items[later].pk not in self.decided:
                return later, True
        if all(item.pk in self.decided for item in self.items):
            self.say(
                "Every submission here is decided: g grants the allowlist to the "
                "workers approved, q quits."
            )
        else:
            self.say("No undecided submission after this one; p goes back, q quits.")
        return position, False

    # --- actions -------------------------------------------------------------------

    def decide(self, key: str, agent: Agent) -> bool:
        common: dict[str, Any] = {
            "unit_id": agent.unit_id,
            "agent_id": agent.pk,
            "reviewer": self.reviewer,
        }
        if key in ("a", "s") and agent.from_provider_listing:
            answer = self.ask(
                "The task page never reported this submission: the worker may "
                "never have seen the task. Type yes to pay it anyway: "
            )
            if (answer or "").lower() != "yes":
                self.say("Not decided.")
                return False
            common["confirm_unreported"] = True
        try:
            if key == "a":
                decision = services.approve_unit(**common)
            elif key == "r":
                feedback = self.ask("Feedback for the worker (why it is refused): ")
                if feedback is None:
                    return False
                decision = services.reject_unit(feedback=feedback, **common)
            else:
                reason = self.ask("Reason (optional, kept in the audit row): ")
                if reason is None:
                    return False
                decision = services.soft_reject_unit(reason=reason, **common)
        except ReviewError as exc:
            self.say(f"Refused: {exc}")
            return False
        self.decisions.append(decision)
        self.decided[agent.pk] = decision.action
        if decision.action == "approve":
            self.approved.append(agent)
        paid = f", paid ${decision.paid}" if decision.paid else ""
        self.say(f"{verb_of(decision.action)} unit {agent.unit_id}{paid}.")
        return True

    def bonus(self, agent: Agent) -> None:
        amount = self.ask("Bonus in dollars (e.g. 0.50): ")
        if amount is None:
            return
        reason = self.ask("Reason (the worker is shown it): ")
        if reason is None:
            return
        try:
            decision = services.pay_bonus(
                unit_id=agent.unit_id,
                agent_id=agent.pk,
                amount=amount,
                reason=reason,
                reviewer=self.reviewer,
            )
        except ReviewError as exc:
            self.say(f"Refused: {exc}")
            return
        self.decisions.append(decision)
        self.say(f"Paid a bonus of ${decision.paid} for unit {agent.unit_id}.")

    def block(self, agent: Agent) -> None:
        reason = self.ask("Why block this worker (kept in the audit row): ")
        if reason is None:
            return
        try:
            blocked = services.block_from_review(
                unit_id=agent.unit_id,
                agent_id=agent.pk,
                reason=reason,
                reviewer=self.reviewer,
            )
        except ReviewError as exc:
            self.say(f"Refused: {exc}")
            return
        label = worker_label(agent.worker)
        if blocked:
            self.blocked.append(label)
            for item in self.items:
                if item.worker_id == agent.worker_id:
                    item.worker.is_blocked = True
            self.say(
                f"Blocked {label}: they get no more units, and their provider is "
                f"told. Unit {agent.unit_id} is still to be decided."
            )
        else:
            self.say(f"{label} was already blocked.")

    def grant(self) -> None:
        agents = self.ungranted()
        if not agents:
            self.say("No worker approved in this session is waiting for the grant.")
            return
        try:
            name = self.grant_name or self.command._grant_name(
                {"grant": None, "grant_allowlist": True}
            )
            self.grant_name = name
            granted = services.grant_to_approved(
                agents=agents,
                name=name,
                reason=f"approved in review of run {self.command.task_run.pk}",
                reviewer=self.command.reviewer,
            )
        except (CommandError, QualificationError, ReviewError) as exc:
            self.say(f"Refused: {exc}")
            return
        self.granted_to.update(agent.pk for agent in agents)
        self.grants.append(granted)
        self.say(
            f"Granted '{name}' to {granted['workers']} approved worker(s) "
            "of this session."
        )

    def ungranted(self) -> list[Agent]:
        return [a for a in self.approved if a.pk not in self.granted_to]

    # --- showing and asking --------------------------------------------------------

    def show(self, position: int) -> None:
        agent = self.items[position]
        unit = agent.unit
        decided = self.decided.get(agent.pk)
        late = ", LATE (submitted after its time ran out)" if agent.is_late else ""
        if agent.from_provider_listing:
            late += (
                ", UNREPORTED (recorded from the provider's list of submitted "
                "work; the task page never saw it)"
            )
        self.say("")
        self.say(
            f"== Submission {position + 1} of {len(self.items)}: unit {unit.pk} "
            f"(assignment {unit.assignment_id}), agent {agent.pk}{late}"
        )
        self.say(
            f"Worker: {worker_label(agent.worker)}{blocked_mark(agent.worker)}  "
            f"{self.standing(agent)}"
        )
        self.say(f"Work time: {work_time(agent) or 'not timed here'}")
        status = f"unit {unit.status}, agent {agent.status}"
        if decided:
            status += f"; {verb_of(decided).lower()} in this session"
        self.say(f"Status: {status}")
        self.say("Inputs:")
        self.say(indent(pretty(unit.assignment.data)))
        submission = agent.submission
        files = agent_files(agent)
        if isinstance(submission, dict) and set(submission) == {"final_data", "files"}:
            submission = submission["final_data"]
        self.say("Submission:")
        self.say(indent(pretty(submission)))
        if files:
            self.say("Files:")
            for record in files:
                self.say(
                    "  "
                    + one_line(
                        f"{record.get('name')} ({record.get('size')} bytes, "
                        f"{record.get('content_type')}): {record.get('path')}"
                    )
                )
        self.show_metadata(agent)

    def show_metadata(self, agent: Agent) -> None:
        """What the page sent beside the submission: its metadata
        (/submit_metadata) and the errors it reported (/log_error)."""
        metadata = agent.metadata
        if metadata is None:
            return
        if not isinstance(metadata, dict):
            metadata = {"value": metadata}
        errors = metadata.get("errors") or []
        if not isinstance(errors, list):
            errors = [errors]
        # The files are listed above.
        rest = {k: v for k, v in metadata.items() if k not in ("errors", "files")}
        if rest:
            self.say("Metadata:")
            self.say(indent(pretty(rest)))
        if errors:
            self.say(f"Errors the page reported ({len(errors)}):")
            for error in errors:
                if isinstance(error, dict) and "error_data" in error:
                    at = one_line(str(error.get("at", "")))
                    self.say(f"  {at}: {compact(error['error_data'])}")
                else:
                    self.say(f"  {compact(error)}")

    def standing(self, agent: Agent) -> str:
        summary = selectors.worker_summary(worker=agent.worker)
        rate = summary["approval_rate"]
        reviewed = summary["reviewed_units"]
        text = (
            f"approval rate {rate:.0%} of {reviewed} reviewed"
            if rate is not None
            else "no reviewed units yet"
        )
        grants = ", ".join(
            f"{g.qualification.name}={g.value}" for g in summary["grants"]
        )
        return f"({text}; holds {grants or 'no qualifications'})"

    def ask(self, prompt: str) -> str | None:
        """One line of input, stripped; None at the end of the input."""
        self.out.write(prompt, ending="")
        self.out.flush()
        line = self.stdin.readline()
        if not line:
            self.out.write("")
            return None
        return line.strip()

    def say(self, text: str) -> None:
        # Everything said may quote what a worker sent.
        self.out.write(terminal_text(text))

    def closing_line(self) -> str:
        counts: dict[str, int] = {}
        for decision in self.decisions:
            counts[decision.action] = counts.get(decision.action, 0) + 1
        done = ", ".join(f"{verb_of(k).lower()} {v}" for k, v in counts.items())
        return (
            f"Done: {len(self.decided)} of {len(self.items)} submission(s) decided"
            + (f" ({done})" if done else "")
            + f"; {self.undecided()} left undecided."
        )

    def undecided(self) -> int:
        return sum(1 for item in self.items if item.pk not in self.decided)

    def summary(self) -> dict[str, Any]:
        return {
            "run": self.task_run.pk,
            "decisions": [d.as_dict() for d in self.decisions],
            "blocked": self.blocked,
            "granted": self.grants,
            "undecided": self.undecided(),
        }


def verb_of(action: str) -> str:
    return {
        "approve": "Approved",
        "reject": "Rejected",
        "soft_reject": "Soft-rejected",
        "bonus": "Bonus",
    }.get(action, action)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def compact(value: Any) -> str:
    """`value` on one line: text as it is, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return one_line(text)


def indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
