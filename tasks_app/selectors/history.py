"""A run's config beside the previous run of its task family, as a diff.

Requesters give every iteration of a task its own `task_name`, as Mephisto's
workflow guide suggests: `my-task-local-testing`, `my-task-pilot-1`,
`my-task-pilot-2`, `my-task-live-batch-1`, ... Those runs are one family, and
what changed from one to the next (a reward, a qualification, the number of
units) is what a requester wants to see on a run's page.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import yaml
from django.db.models import Q

from tasks_app.models import Task, TaskRun

# A stage suffix at the end of a task_name: see task_family.
STAGE_SUFFIX = re.compile(
    r"[-_ ](?:local[-_ ]testing|pilot|live|(?:live[-_ ])?batch)(?:[-_ ]?\d+)?$",
    re.IGNORECASE,
)
# Unchanged lines kept around each change; longer unchanged stretches fold.
CONTEXT_LINES = 3


def task_family(task_name: str) -> str:
    """The family a task_name belongs to: the name without its stage suffix.

    One suffix is removed from the end, if there is one: `-local-testing`,
    `-pilot`, `-live`, `-batch` or `-live-batch`, each optionally followed by a
    number (`-pilot-2`, `-batch3`, `-live-batch-1`), with `-`, `_` or a space
    between the words, in any case. So `my-task-local-testing`,
    `my-task-pilot-1`, `my-task-pilot-2` and `my-task-live-batch-1` are all of
    family `my-task`. A name without such a suffix is its own family (its
    re-launches), and so is a name that is nothing but a suffix (`pilot-1`).
    Comparison is case-insensitive, so the family is lower-cased.
    """
    stripped = STAGE_SUFFIX.sub("", task_name.strip())
    return (stripped or task_name.strip()).lower()


def previous_run(run: TaskRun) -> TaskRun | None:
    """The latest run of `run`'s task family created before it, or None: the
    first run of its family. Two queries."""
    family = task_family(run.task.task_name)
    # Candidate names share the family's prefix; the rule decides which belong.
    names = [
        name
        for name in Task.objects.filter(task_name__istartswith=family).values_list(
            "task_name", flat=True
        )
        if task_family(name) == family
    ]
    earlier = Q(created_at__lt=run.created_at) | Q(
        created_at=run.created_at, pk__lt=run.pk
    )
    return (
        TaskRun.objects.filter(earlier, task__task_name__in=names)
        .select_related("task")
        .order_by("-created_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class DiffLine:
    """One line of the diff: `kind` is "same", "added", "removed" or "fold"
    (`folded` unchanged lines not shown between two changes)."""

    kind: str
    text: str = ""
    old_number: int | None = None
    new_number: int | None = None
    folded: list[DiffLine] = field(default_factory=list)


@dataclass(frozen=True)
class ConfigHistory:
    run: TaskRun
    family: str
    previous: TaskRun | None
    lines: list[DiffLine]
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def config_diff(old: str, new: str, *, context: int = CONTEXT_LINES) -> list[DiffLine]:
    """Every line of `new` against `old`: added and removed lines, and the
    unchanged ones, a run of more than 2 × `context` of them folded into one
    "fold" line that keeps them (the page opens it on request)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            same = [
                DiffLine("same", old_lines[i], old_number=i + 1, new_number=j + 1)
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            keep_before = context if index > 0 else 0
            keep_after = context if index < len(opcodes) - 1 else 0
            if len(same) > keep_before + keep_after + 1:
                hidden = same[keep_before : len(same) - keep_after]
                lines += same[:keep_before]
                lines.append(DiffLine("fold", folded=hidden))
                lines += same[len(same) - keep_after :]
            else:
                lines += same
            continue
        lines += [
            DiffLine("removed", old_lines[i], old_number=i + 1) for i in range(i1, i2)
        ]
        lines += [
            DiffLine("added", new_lines[j], new_number=j + 1) for j in range(j1, j2)
        ]
    return lines


def config_history(run: TaskRun) -> ConfigHistory:
    """`run`'s stored config against the previous run of its family (three
    queries at most: the family's names, the previous run, nothing more)."""
    previous = previous_run(run)
    lines: list[DiffLine] = []
    if previous is not None:
        lines = config_diff(stored_config_text(previous), stored_config_text(run))
    return ConfigHistory(
        run=run,
        family=task_family(run.task.task_name),
        previous=previous,
        lines=lines,
        added=sum(line.kind == "added" for line in lines),
        removed=sum(line.kind == "removed" for line in lines),
    )


def stored_config_text(run: TaskRun) -> str:
    """The resolved config as YAML, for people reading a past run."""
    return yaml.safe_dump(run.resolved_config, sort_keys=False, allow_unicode=True)
