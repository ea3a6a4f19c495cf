"""OmegaConf structured-config schema mirroring Mephisto's Hydra config (1.x).

Field names, types and defaults follow Mephisto; crowdsite extensions are marked.
"""

# NOTE: no ``from __future__ import annotations`` here: OmegaConf needs the real
# annotation objects. PEP 585/604 spellings (``list[Any]``, ``str | None``) are
# supported by OmegaConf 2.3 on Python 3.10+ and keep ruff's UP rules quiet.

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from providers import base
from providers.registry import PROVIDER_CLASSES, get_provider_class

# --------------------------------------------------------------------------
# mephisto.task
# --------------------------------------------------------------------------


# Mirrors mephisto.data_model.task_run.TaskRunArgs.
@dataclass
class TaskRunArgs:
    task_name: str | None = MISSING
    task_title: str = MISSING
    task_description: str = MISSING
    task_reward: float = MISSING
    # Mephisto leaves this MISSING; crowdsite lets a run have no tags.
    task_tags: str = ""
    task_lifetime_in_seconds: int = 60 * 60 * 24 * 31
    assignment_duration_in_seconds: int = 30 * 60
    no_submission_patience: int = 60 * 60 * 12
    allowed_concurrent: int = 0
    maximum_units_per_worker: int = 0
    max_num_concurrent_units: int = 0
    # Only present in one stored Mephisto revision; kept so such configs load.
    max_assignments_per_hit: int = 1
    submission_timeout: int = 600
    post_install_script: str = ""
    force_rebuild: bool = False
    # crowdsite extension: list of {qualification_name, comparator, value,
    # applicable_providers} dicts (Mephisto passes these via SharedTaskState).
    qualifications: list[Any] = field(default_factory=list)
    # crowdsite extensions (DESIGN §8): a unit not reviewed this long after its
    # submission is approved (MTurk's own default, 7 days); the most the run
    # may cost in dollars, rewards, bonuses and provider fees together.
    auto_approve_delay_in_seconds: int = 60 * 60 * 24 * 7
    budget: float | None = None


# --------------------------------------------------------------------------
# mephisto.blueprint
# --------------------------------------------------------------------------


# Mirrors mephisto.abstractions.blueprint.BlueprintArgs.
@dataclass
class BlueprintArgs:
    _blueprint_type: str = MISSING
    block_qualification: str = MISSING
    # Mephisto: os.path.join(get_run_file_dir(), "assets/tips.csv"), i.e.
    # relative to the task directory; resolved against task_dir by crowdsite.
    tips_location: str = "assets/tips.csv"


# Mirrors mephisto.abstractions.blueprints.mixins.onboarding_required
# .OnboardingRequiredArgs.
@dataclass
class OnboardingRequiredArgs:
    onboarding_qualification: str = MISSING


# Mirrors mephisto.abstractions.blueprints.mixins.screen_task_required
# .ScreenTaskRequiredArgs.
@dataclass
class ScreenTaskRequiredArgs:
    passed_qualification_name: str = MISSING
    max_screening_units: int = MISSING
    use_screening_task: bool = False


# Mirrors mephisto.abstractions.blueprints.mixins.use_gold_unit.UseGoldUnitArgs.
@dataclass
class UseGoldUnitArgs:
    gold_qualification_base: str = MISSING
    max_gold_units: int = MISSING
    use_golds: bool = False
    min_golds: int = 1
    max_incorrect_golds: int = 0


# crowdsite extension: files a worker may send with the submission. Off unless
# enabled; unset limits are the site's (CROWDSITE_MAX_UPLOAD_*), which also cap
# what a config may ask for.
@dataclass
class UploadArgs:
    enabled: bool = False
    max_files: int | None = None  # per agent (one submission)
    max_file_bytes: int | None = None
    max_agent_bytes: int | None = None  # all of one agent's files together
    extensions: list[str] | None = None  # default CROWDSITE_ALLOWED_UPLOAD_EXTENSIONS


# crowdsite extension fields shared by every blueprint.
@dataclass
class CrowdsiteBlueprintExtensions:
    hooks: str | None = None  # dotted module path of the task's hook module
    static_task_data: list[Any] = field(default_factory=list)  # inline data rows
    uploads: UploadArgs = field(default_factory=UploadArgs)
    # Folders besides the task folder that task_source, extra_source_dir, the
    # HTML templates and a hooks file may come from.
    allowed_source_dirs: list[str] = field(default_factory=list)


# crowdsite extension fields for the static blueprints. Mephisto has no
# block_mobile blueprint arg (only the frontend task_config flag, off unless set).
@dataclass
class CrowdsiteStaticExtensions(CrowdsiteBlueprintExtensions):
    block_mobile: bool = False
    # Golds without Python: rows of {"inputs", "expected"} (CSV: expected.<field>
    # columns), judged by comparing the expected output fields.
    gold_data_jsonl: str | None = None
    gold_data_json: str | None = None
    gold_data_csv: str | None = None


# Mirrors mephisto.abstractions.blueprints.abstract.static_task.static_blueprint
# .StaticBlueprintArgs (abstract; type "abstract_static", not launchable).
@dataclass
class StaticBlueprintArgs(
    ScreenTaskRequiredArgs, OnboardingRequiredArgs, UseGoldUnitArgs, BlueprintArgs
):
    _blueprint_type: str = "abstract_static"
    _group: str = "StaticBlueprint"
    units_per_assignment: int = 1
    task_source_review: str = ""
    extra_source_dir: str = MISSING
    data_json: str = MISSING
    data_jsonl: str = MISSING
    data_csv: str = MISSING


# Mirrors mephisto.abstractions.blueprints.static_react_task.static_react_blueprint
# .StaticReactBlueprintArgs ("static_react_task").
@dataclass
class StaticReactBlueprintArgs(CrowdsiteStaticExtensions, StaticBlueprintArgs):
    _blueprint_type: str = "static_react_task"
    _group: str = "StaticReactBlueprint"
    task_source: str = MISSING
    link_task_source: bool = False


# Mirrors mephisto.abstractions.blueprints.static_html_task.static_html_blueprint
# .StaticHTMLBlueprintArgs ("static_task").
@dataclass
class StaticHTMLBlueprintArgs(CrowdsiteStaticExtensions, StaticBlueprintArgs):
    _blueprint_type: str = "static_task"
    _group: str = "StaticBlueprint"
    task_source: str = MISSING
    preview_source: str | None = MISSING
    onboarding_source: str | None = MISSING


# Mirrors mephisto.abstractions.blueprints.remote_procedure.remote_procedure_blueprint
# .RemoteProcedureBlueprintArgs ("remote_procedure"): a React bundle whose page
# calls the hooks' `function_registry` over a WebSocket (docs/live-tasks.md).
# Mephisto reads data_csv / data_json / data_jsonl without declaring them.
@dataclass
class RemoteProcedureBlueprintArgs(
    CrowdsiteStaticExtensions,
    ScreenTaskRequiredArgs,
    OnboardingRequiredArgs,
    UseGoldUnitArgs,
    BlueprintArgs,
):
    _blueprint_type: str = "remote_procedure"
    _group: str = "RemoteProcedureBlueprintArgs"
    task_source: str = MISSING
    link_task_source: bool = False
    units_per_assignment: int = 1
    data_json: str = MISSING
    data_jsonl: str = MISSING
    data_csv: str = MISSING
    # crowdsite extension: seconds a function may run before the page is
    # answered with a `timeout` error (the function's thread finishes alone).
    remote_call_timeout_s: float = 30.0


# Mirrors mephisto.abstractions.blueprints.mock.mock_blueprint.MockBlueprintArgs
# ("mock"); no gold-unit mixin, same MRO as Mephisto.
@dataclass
class MockBlueprintArgs(
    CrowdsiteBlueprintExtensions,
    BlueprintArgs,
    OnboardingRequiredArgs,
    ScreenTaskRequiredArgs,
):
    _blueprint_type: str = "mock"
    num_assignments: int = MISSING
    use_onboarding: bool = False
    timeout_time: int = 0
    is_concurrent: bool = True


# --------------------------------------------------------------------------
# mephisto.architect
# --------------------------------------------------------------------------


# Mirrors mephisto.abstractions.architect.ArchitectArgs.
@dataclass
class ArchitectArgs:
    _architect_type: str = MISSING
    server_type: str = "node"
    server_source_path: str = MISSING


# Mirrors mephisto.abstractions.architects.local_architect.LocalArchitectArgs.
@dataclass
class LocalArchitectArgs(ArchitectArgs):
    _architect_type: str = "local"
    hostname: str = "localhost"
    port: str = "3000"


# crowdsite's own architect (no Mephisto counterpart): tasks are served by the
# crowdsite Django server itself.
@dataclass
class ServerArchitectArgs:
    _architect_type: str = "server"
    server_type: str = "node"
    server_source_path: str | None = None
    # Public HTTPS base URL; overrides the PUBLIC_URL setting when given.
    public_url: str | None = None


# Mirrors mephisto.abstractions.architects.heroku_architect.HerokuArchitectArgs.
@dataclass
class HerokuArchitectArgs(ArchitectArgs):
    _architect_type: str = "heroku"
    use_hobby: bool = False
    heroku_team: str | None = MISSING
    heroku_app_name: str | None = MISSING
    heroku_config_args: dict[str, str] = field(default_factory=dict)


# Mirrors mephisto.abstractions.architects.ec2.ec2_architect.EC2ArchitectArgs.
@dataclass
class EC2ArchitectArgs(ArchitectArgs):
    _architect_type: str = "ec2"
    instance_type: str = "t2.micro"
    subdomain: str = "${mephisto.task.task_name}"
    profile_name: str = MISSING


# Mirrors mephisto.abstractions.architects.mock_architect.MockArchitectArgs.
@dataclass
class MockArchitectArgs(ArchitectArgs):
    _architect_type: str = "mock"
    should_run_server: bool = False
    port: str = "3000"


# mephisto.provider: each provider's own schema, its `args_class` (see PROVIDERS).


# --------------------------------------------------------------------------
# other mephisto.* sections
# --------------------------------------------------------------------------


# Mirrors mephisto.operations.hydra_config.DatabaseArgs.
@dataclass
class DatabaseArgs:
    _database_type: str = "singleton"


# Keys allowed directly under ``mephisto:`` (mephisto.operations.hydra_config
# .MephistoConfig); log_level is a plain string defaulting to DEFAULT_LOG_LEVEL.
MEPHISTO_SECTIONS: tuple[str, ...] = (
    "blueprint",
    "provider",
    "architect",
    "task",
    "database",
    "log_level",
)
DEFAULT_LOG_LEVEL = "info"

# --------------------------------------------------------------------------
# Registries
# --------------------------------------------------------------------------

BLUEPRINTS: dict[str, type] = {
    "static_react_task": StaticReactBlueprintArgs,
    "static_task": StaticHTMLBlueprintArgs,
    "remote_procedure": RemoteProcedureBlueprintArgs,
    "mock": MockBlueprintArgs,
}

# Mephisto blueprints crowdsite recognises but does not run, and what to use.
UNSUPPORTED_BLUEPRINTS: dict[str, str] = {
    "parlai_chat": (
        "ParlAI chat worlds (workers paired with each other or a ParlAI agent) "
        "are not hosted by crowdsite; for a worker talking to or correcting a "
        "model, use `remote_procedure` with a `function_registry` in the hooks "
        "(docs/live-tasks.md)"
    ),
}

ARCHITECTS: dict[str, type] = {
    "local": LocalArchitectArgs,
    "server": ServerArchitectArgs,
}

# Mephisto architects crowdsite recognises but refuses to run.
UNSUPPORTED_ARCHITECTS: dict[str, type] = {
    "heroku": HerokuArchitectArgs,
    "ec2": EC2ArchitectArgs,
    "mock": MockArchitectArgs,
}

# Each provider's own schema (mephisto.provider) is its `args_class`.
PROVIDERS: dict[str, type] = {
    name: get_provider_class(name).args_class for name in PROVIDER_CLASSES
}

# mephisto.data_model.qualification.SUPPORTED_COMPARATORS, in Mephisto's order
# (providers.base.QUALIFICATION_COMPARATORS is the one list).
QUALIFICATION_COMPARATORS = base.QUALIFICATION_COMPARATORS


# Keys the platform derives or adds at the top level next to `mephisto:`.
PLATFORM_TOP_LEVEL_KEYS = ("task_dir",)
TASK_NAME_MAX_LENGTH = 200
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATA_SOURCE_KEYS = ("data_csv", "data_json", "data_jsonl")
# What build_shared_state may return, besides each provider's own key
# (`Provider.specific_state_key`, e.g. mturk_specific_qualifications).
SHARED_STATE_KEYS = (
    "qualifications",
    "static_task_data",
    "onboarding_data",
)
