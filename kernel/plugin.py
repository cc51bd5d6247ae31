"""The contract between Trellis and task/trigger plugins.

Plugins know nothing of Django models. A task type declares its properties once (``Prop``);
that declaration drives YAML validation (``kernel.spec.parse``), the JSON schema served by the API
and the generated docs. Runnable tasks get a :class:`RunContext` and return outputs; flowable
tasks answer two questions for the pure engine: which children start now, and am I finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from kernel.states import State

if TYPE_CHECKING:
    from kernel.engine.snapshot import TaskRunSnapshot
    from kernel.spec.model import TaskSpec

#: Property kinds understood by the spec validator and the JSON-schema generator.
#: ``tasks`` is a list of task definitions, ``task_map`` a mapping of key -> list of tasks
#: (Switch ``cases``), ``dag`` a list of ``{task, dependsOn}`` items.
PropKind = Literal[
    "string",
    "integer",
    "number",
    "boolean",
    "duration",
    "list",
    "map",
    "any",
    "tasks",
    "task_map",
    "dag",
]
TASK_KINDS: frozenset[str] = frozenset({"tasks", "task_map", "dag"})


@dataclass(frozen=True)
class Prop:
    """One declared property of a task or trigger type."""

    name: str
    kind: PropKind = "string"
    required: bool = False
    default: Any = None
    #: Rendered as an expression before the task runs (Kestra's "dynamic" properties).
    dynamic: bool = True
    description: str = ""
    #: Allowed values (case-sensitive), when the property is an enumeration.
    choices: tuple[Any, ...] = ()
    #: Other accepted spellings (deprecated names included).
    aliases: tuple[str, ...] = ()
    #: Set to a message when the property is deprecated; deploy reports it as a warning.
    deprecated: str | None = None
    #: Item kind for ``list`` properties, when it is checked.
    items: PropKind | None = None


@dataclass(frozen=True)
class Output:
    """One output a task returns (``outputs.<task>.<name>``), or one variable a trigger gives
    the executions it starts (``trigger.<name>``). Declared next to the properties so the
    generated docs (``trellis plugins docs``) list them and a test can hold ``run`` to them."""

    name: str
    description: str = ""
    #: A PropKind-like word for readers (``string``, ``integer``, ``map``, ``list``, ``uri``...).
    kind: str = "any"


class PluginType:
    """Common declaration of task and trigger types."""

    #: Canonical type name, e.g. ``trellis.core.log.Log``.
    type: ClassVar[str]
    #: Other names accepted for this type (Kestra's new and old names).
    aliases: ClassVar[tuple[str, ...]] = ()
    properties: ClassVar[tuple[Prop, ...]] = ()
    #: Complete flow YAML documents showing the type in use; a test validates every one.
    examples: ClassVar[tuple[str, ...]] = ()
    #: The pyproject extra installing this type's optional libraries (``jdbc`` for
    #: ``pip install 'trellis[jdbc]'``), named by the error when one is missing.
    extra: ClassVar[str | None] = None
    #: Modules the type imports when it runs (optional dependencies): a flow using the type
    #: fails validation, naming ``extra``, when one is not importable (kernel.registry).
    requires: ClassVar[tuple[str, ...]] = ()

    #: Extra validation over the raw property mapping: return (property path, message) pairs.
    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return []

    @classmethod
    def prop(cls, name: str) -> Prop | None:
        for p in cls.properties:
            if p.name == name or name in p.aliases:
                return p
        return None


class TaskFailed(Exception):
    """Raised by a runnable task: the user's work failed (the task run becomes FAILED)."""


@dataclass
class TaskResult:
    """What a runnable task returns when it wants a state other than SUCCESS."""

    outputs: dict[str, Any] = field(default_factory=dict)
    state: State = State.SUCCESS


class TaskLogger(Protocol):
    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...
    def trace(self, msg: str) -> None: ...


class RunContext(Protocol):
    """What a runnable task may use while it runs on a worker.

    Optional capabilities, read with ``getattr``: ``kv`` and ``namespace_files`` (stores
    bound to the flow's namespace boundary: naming a namespace outside the flow's tree that
    does not allow it raises ``PermissionError``, issue 21; ``namespace_files.write``/``delete``
    only below the flow's namespace or where allowed, issue 17), ``flows`` (list and deploy
    flows, bound the same way: the git tasks), ``records`` (housekeeping) and
    ``boundary`` (``check(namespace, reach)``, for a plugin reaching another namespace some
    other way). Plugins never decide a boundary themselves.
    """

    execution_id: str
    task_run_id: str
    attempt: int
    namespace: str
    flow_id: str
    logger: TaskLogger
    #: A fresh directory owned by this attempt; removed after the run.
    working_dir: Path

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Render templates inside ``value`` (str, list, dict) with the execution's context."""

    def put_file(self, local_path: Path, name: str | None = None) -> str:
        """Copy a file to internal storage for this task run; returns its ``kestra://`` URI."""

    def open_uri(self, uri: str) -> Path:
        """Local path of a file of this execution (or a parent's) from internal storage."""

    def should_stop(self) -> bool:
        """True once the run was killed or timed out: long tasks poll this."""

    def secret_values(self) -> Sequence[str]:
        """Secret values to mask in anything the task prints."""

    def execution_summary(self, execution_id: str | None = None) -> Mapping[str, Any]:
        """An execution (this one by default) as plain data shaped like Kestra's execution
        JSON: ``id``, ``namespace``, ``flowId``, ``flowRevision``, ``state`` (``current``,
        ``startDate``, ``endDate``), ``labels``, ``taskRunList`` (``id``, ``taskId``,
        ``parentTaskRunId``, ``value``, ``state``) and ``link`` (its page, or None). For tasks
        that report on a run (notifications); no inputs or outputs. Raises TaskFailed when
        there is no such execution, PermissionError when its namespace is out of reach."""


class RunnableTask(PluginType):
    """A task that does work on a worker."""

    kind: ClassVar[str] = "runnable"
    #: The keys ``run`` may return, by name exactly. A task that returns nothing says so with
    #: an explicit ``outputs = ()`` (tests/unit/test_plugin_outputs.py checks every type).
    outputs: ClassVar[tuple[Output, ...]] = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any] | TaskResult:
        raise NotImplementedError


@dataclass(frozen=True)
class ChildStart:
    """A child task run a flowable wants created now."""

    task: TaskSpec
    #: Loop value (ForEach), as the string users see in ``taskrun.value``.
    value: str | None = None
    iteration: int | None = None


class FlowableContext(Protocol):
    """What the engine tells a flowable about its own task run and its children.

    Everything is plain data from the execution snapshot; no I/O happens here.
    """

    #: The flowable's own task run.
    run: TaskRunSnapshot
    now: datetime
    #: The decision remembered from the first planning (``decide``), or {}.
    decision: Mapping[str, Any]

    def children(
        self, tasks: Sequence[TaskSpec] | None = None, value: str | None = None
    ) -> list[TaskRunSnapshot]:
        """Current child task runs of this flowable (optionally of these tasks / loop value),
        in creation order; only the latest attempt row per (task, value)."""

    def render(self, value: Any) -> Any:
        """Render an expression in the context of this flowable's task run."""


class FlowableTask(PluginType):
    """A task that only decides what runs next; evaluated by the executor, never does I/O."""

    kind: ClassVar[str] = "flowable"
    #: What :meth:`outputs` may return. Named apart from the other types' ``outputs``
    #: declaration because ``outputs`` is the method here (read both with
    #: :func:`declared_outputs`).
    declared_outputs: ClassVar[tuple[Output, ...]] = ()

    def decide(self, task: TaskSpec, ctx: FlowableContext) -> Mapping[str, Any] | None:
        """Called once, when the flowable's task run starts; the result is stored on the run
        and handed back as ``ctx.decision`` forever after (If's branch, ForEach's values)."""
        return None

    def on_create(self, task: TaskSpec, ctx: FlowableContext) -> tuple[State, datetime | None]:
        """State of the flowable's run when it is created, and when it is due, if ever
        (Pause starts PAUSED until a delay); after ``decide``."""
        return State.RUNNING, None

    def on_due(self, task: TaskSpec, ctx: FlowableContext) -> State:
        """The run's new state once its due time has passed (a Pause's delay or timeout)."""
        return State.RUNNING

    def wake_at(self, task: TaskSpec, ctx: FlowableContext) -> datetime | None:
        """When to be asked again although no child changed (WaitFor's interval), or None."""
        return None

    def effects(self, task: TaskSpec, ctx: FlowableContext) -> list[Any]:
        """Plan actions needing the runtime, asked once at creation (``kernel.engine.plan``
        StartSubflow, SetLabels); plain data, so the flowable still does no I/O."""
        return []

    #: Set on types that end the whole execution when their run ends (Exit).
    ends_execution: ClassVar[bool] = False
    #: Set on types that read their ``timeout`` themselves (Pause): the engine then sets no
    #: deadline of its own on their run.
    handles_timeout: ClassVar[bool] = False
    #: How the main children relate, for replays: ``sequence`` (one after another),
    #: ``parallel`` (beside each other) or ``dag`` (``dependsOn`` edges).
    children_layout: ClassVar[Literal["sequence", "parallel", "dag"]] = "sequence"
    #: Set on types whose children share state that does not outlive the run (a
    #: WorkingDirectory's folder): a replay inside it starts all of its children again.
    replay_restarts_children: ClassVar[bool] = False
    #: Set on types whose work is their effect (Subflow): a retry policy retries them by
    #: asking for the effects again, each time counted as one attempt by the runtime.
    retries_by_effects: ClassVar[bool] = False

    def next_runs(self, task: TaskSpec, ctx: FlowableContext) -> list[ChildStart]:
        """Which children start now (never ones that already exist)."""
        raise NotImplementedError

    def resolve_state(self, task: TaskSpec, ctx: FlowableContext) -> State | None:
        """The flowable's final state once it is finished, else None."""
        raise NotImplementedError

    def outputs(self, task: TaskSpec, ctx: FlowableContext) -> dict[str, Any]:
        """Outputs recorded on the flowable's task run when it ends."""
        return {}


class TriggerType(PluginType):
    """A trigger declaration (Schedule, Flow, Webhook, polling)."""

    kind: ClassVar[str] = "trigger"
    #: The ``trigger.*`` variables an execution started by this trigger gets.
    outputs: ClassVar[tuple[Output, ...]] = ()
    #: Dotted property paths whose value is a credential (a Webhook's ``key``): shown only to
    #: users who may write the flow, ``******`` to everyone else (issue 21).
    confidential: ClassVar[tuple[str, ...]] = ()
    #: What starts the executions, so the runtime picks its machinery by asking the registry,
    #: never by reading the type's name: ``schedule`` (ticks), ``flow`` (another execution
    #: ended), ``webhook`` (an HTTP call), ``polling`` (evaluated every interval on a worker)
    #: or ``realtime`` (a long-lived listener); "" for a type the runtime does not fire.
    trigger_kind: ClassVar[str] = ""
    #: The name recorded as the execution's ``trigger.type`` (Kestra's, which flows read);
    #: None records the canonical name.
    recorded_type: ClassVar[str | None] = None
    #: A ``schedule`` type whose past ticks can be replayed (``trigger backfill``).
    backfills: ClassVar[bool] = False
    #: A ``schedule`` type ticking at listed ``dates`` rather than on a ``cron``.
    schedule_dates: ClassVar[bool] = False


#: Copies a local file into the new execution's internal storage; returns its ``kestra://``
#: URI. Given to :attr:`PollEvent.attach`.
StoreFile = Callable[[Path, str], str]


@dataclass(frozen=True)
class PollEvent:
    """One execution a polling trigger asks for.

    ``key`` identifies the event among all of this trigger's events, for ever: a second
    event with the same key (a duplicated or concurrent poll) starts nothing. The callbacks
    run on the poller, in this order: ``attach`` inside the transaction that creates the
    execution (store files, return more trigger variables), ``done`` once the execution is
    committed or was already started by another poll (move or delete a file), ``decline``
    when the trigger's ``conditions`` refuse the event (put a claimed file back).
    """

    key: str
    variables: Mapping[str, Any]
    attach: Callable[[StoreFile], Mapping[str, Any]] | None = None
    done: Callable[[], None] | None = None
    decline: Callable[[], None] | None = None


class PollContext(Protocol):
    """What a polling trigger may use during one poll (on a worker)."""

    namespace: str
    flow_id: str
    trigger_id: str
    #: Unique per poll; a poll delivered twice carries the same id.
    poll_id: str
    now: datetime
    logger: TaskLogger
    #: What this trigger kept from its previous polls; changes are saved after the poll.
    state: dict[str, Any]

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Render templates in ``value`` with the flow's context plus ``extra``."""


class PollingTrigger(TriggerType):
    """A trigger evaluated every ``interval`` on a worker: it looks at the outside world
    and returns zero or more events, each of which starts one execution.

    ``evaluate`` gets the trigger's properties (dynamic ones rendered) and may do I/O; it
    must be safe to run twice at once for the same trigger (a duplicated poll message), which
    the event keys and an atomic claim (see the local file trigger) make possible.
    """

    trigger_kind: ClassVar[str] = "polling"
    #: Used when the flow does not set ``interval``.
    default_interval: ClassVar[str] = "PT60S"
    #: Accepted by every polling trigger; rendered by the runtime per event, with the
    #: event's ``trigger.*`` variables, so they are not dynamic here.
    shared_properties: ClassVar[tuple[Prop, ...]] = (
        Prop("inputs", "map", default={}, dynamic=False, description="The execution's inputs."),
        Prop("labels", "any", dynamic=False, description="Labels added to the execution."),
    )

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        raise NotImplementedError


def declared_outputs(cls: type[PluginType]) -> tuple[Output, ...]:
    """The outputs a type declares, whatever its kind: a flowable's ``outputs`` is a method,
    so its declaration is ``declared_outputs``; types without either declare none."""
    found = getattr(cls, "outputs", ())
    if not isinstance(found, tuple):
        found = getattr(cls, "declared_outputs", ())
    return tuple(found) if isinstance(found, tuple) else ()


def kestra_aliases(suffix: str, *, core_tasks: str | None = None) -> tuple[str, ...]:
    """Kestra's names for a core type: new (``io.kestra.plugin.core.<suffix>``), old
    (``io.kestra.core.tasks.<suffix>``) and oldest (``org.kestra.core.tasks.<suffix>``).

    ``core_tasks`` overrides the suffix used by the two old packages when Kestra moved the type
    (``debug.Return`` was ``debugs.Return``).
    """
    old = core_tasks or suffix
    return (
        f"io.kestra.plugin.core.{suffix}",
        f"io.kestra.core.tasks.{old}",
        f"org.kestra.core.tasks.{old}",
    )


@dataclass(frozen=True)
class Delivery:
    """One message a realtime trigger received, asking for one execution.

    ``key`` is the broker's own identity of the message (a JetStream stream sequence, an
    AMQP ``message_id``, an id stored beside the message in Redis): a redelivery of the same
    message carries the same key, and the runtime starts nothing for a key it has seen.
    """

    key: str
    variables: Mapping[str, Any]


class RealtimeContext(Protocol):
    """What a realtime trigger may use while it listens (in the ``triggers`` role)."""

    namespace: str
    flow_id: str
    trigger_id: str
    logger: TaskLogger

    def fire(self, delivery: Delivery) -> bool:
        """Start the delivery's execution and COMMIT it; True if it started now, False if
        this key had started one already or the trigger's conditions refused it. Raises
        when nothing could be committed: the plugin must then not acknowledge the message."""

    def should_stop(self) -> bool:
        """True once the flow changed or the role is stopping: return from ``listen``."""


class RealtimeTrigger(TriggerType):
    """A trigger that listens to a broker without pause and starts one execution per message.

    ``listen`` runs in the ``triggers`` role (never on a worker), with the trigger's
    properties (dynamic ones rendered). It receives messages, calls ``ctx.fire`` for each and
    acknowledges the message to its broker only after ``fire`` returned: a crash before that
    leaves the message with the broker, which delivers it again, and the key makes the second
    delivery start nothing if the first one's execution was committed. It returns when
    ``ctx.should_stop()``; an exception is logged and ``listen`` is called again after a pause.
    """

    shared_properties: ClassVar[tuple[Prop, ...]] = PollingTrigger.shared_properties
    trigger_kind: ClassVar[str] = "realtime"

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        raise NotImplementedError
