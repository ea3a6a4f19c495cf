"""A run's hooks: the Python a Mephisto user keeps in their run script.

`mephisto.blueprint.hooks` names a module, either dotted (`my_task.hooks`, imported
with the task folder on the path) or a file (`${task_dir}/hooks.py`). Its optional
functions are called by the platform:

- `build_shared_state(cfg)` at launch: returns extra `qualifications`,
  `static_task_data`, `onboarding_data`, ... from the config's own flags;
- `validate_onboarding(data)` when a worker submits onboarding;
- `worker_can_do_unit(worker, unit)` before a unit is handed out;
- `on_unit_submitted(unit)` after a unit is submitted;
- screening and golds, as Mephisto's run scripts give them: the generator
  function `screening_data_factory()` (each screening unit's inputs),
  `validate_screening_unit(unit_data)` (True: passed, False: blocked, None:
  undecided), `get_gold_for_worker(worker)` (a gold unit's inputs) and
  `validate_gold_unit(unit_data)` (right or wrong); `unit_data` is
  `{"inputs", "outputs"}`, as `validate_onboarding` gets. `worker_needs_gold`
  and `worker_qualifies` replace the gold schedule and strikes, with
  Mephisto's signatures (units completed, correct, incorrect, min_golds or
  max_incorrect_golds).
- live tasks (`remote_procedure`): `function_registry = {name: fn}`, each
  `fn(request_id, args, agent_state)` answering the page's calls (docs/live-tasks.md).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks_app.models import TaskRun

QUALITY_HOOK_NAMES = (
    "screening_data_factory",
    "validate_screening_unit",
    "get_gold_for_worker",
    "validate_gold_unit",
    # Mephisto's GoldUnitSharedState overrides of the gold schedule and strikes.
    "worker_needs_gold",
    "worker_qualifies",
)
HOOK_NAMES = (
    "build_shared_state",
    "validate_onboarding",
    "worker_can_do_unit",
    "on_unit_submitted",
    *QUALITY_HOOK_NAMES,
)


class HooksError(Exception):
    """The hooks module can't be found or imported."""


def load_hooks(ref: str, *, task_dir: Path | str | None = None) -> ModuleType:
    """Import the hooks module named by `ref` (dotted name or path to a .py file)."""
    if ref.endswith(".py") or "/" in ref:
        return _load_file(Path(ref) if task_dir is None else Path(task_dir) / ref)
    added = False
    if task_dir is not None and str(task_dir) not in sys.path:
        # A dotted name is looked up next to the task too, as a run script would.
        sys.path.insert(0, str(task_dir))
        added = True
    try:
        return importlib.import_module(ref)
    except ImportError as exc:
        raise HooksError(f"can't import hooks module {ref!r}: {exc}") from exc
    except Exception as exc:
        raise HooksError(f"hooks module {ref!r} failed to import: {exc!r}") from exc
    finally:
        if added:
            sys.path.remove(str(task_dir))


def _load_file(path: Path) -> ModuleType:
    path = path.resolve()
    if not path.is_file():
        raise HooksError(f"hooks file not found: {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"crowdsite_hooks_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HooksError(f"can't load hooks file {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import does: a dataclass (`Flags`) in a
    # module with `from __future__ import annotations` looks its module up.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise HooksError(f"hooks file {path} failed to import: {exc!r}") from exc
    return module


def resolved_hooks_ref(ref: str, task_dir: Path) -> str:
    """The form of `ref` to store with a run, so other processes can load it."""
    if ref.endswith(".py") or "/" in ref:
        return str((task_dir / ref).resolve())
    return ref


def _run_module(run: TaskRun) -> ModuleType | None:
    """The run's hooks module, or None when the run names none."""
    config = run.resolved_config or {}
    ref = config.get("mephisto", {}).get("blueprint", {}).get("hooks")
    if not ref:
        return None
    return load_hooks(ref, task_dir=config.get("task_dir"))


def run_function_registry(run: TaskRun) -> dict[str, Any]:
    """A live run's `function_registry` (empty for a run without one)."""
    registry = getattr(_run_module(run), "function_registry", None)
    return dict(registry) if isinstance(registry, dict) else {}


def run_hooks(run: TaskRun) -> dict[str, Any]:
    """The run's hook functions by name (empty when the run has no hooks)."""
    module = _run_module(run)
    if module is None:
        return {}
    return {
        name: getattr(module, name)
        for name in HOOK_NAMES
        if callable(getattr(module, name, None))
    }
