"""A flow's topology as nodes, edges and clusters, for the API and the admin.

Pure: a FlowSpec in, plain data out (no Django). Every task is a node; a flowable task with
children is also a cluster holding its children, entered through the task's own node and left
through a ``<id>.end`` node. Edges follow the order tasks run in: one after another in a
sequence, fanned out from the flowable in a Parallel (or a ForEach with concurrency), from the
flowable to each branch of If/Switch (``relation="branch"``, ``value`` = branch name), and to
``errors``/``finally`` lists with those relations. The flow starts at ``root.start`` and ends at
``root.end``; triggers point at ``root.start``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kernel.spec.model import FlowSpec, TaskSpec

NodeKind = Literal["start", "end", "task", "trigger"]
Relation = Literal[
    "sequential", "parallel", "branch", "dynamic", "error", "finally", "dag", "trigger"
]

ROOT_START = "root.start"
ROOT_END = "root.end"
#: Child lists handled after the main branches of a flowable.
_AFTER = ("errors", "finally")


@dataclass(frozen=True)
class GraphNode:
    uid: str
    kind: NodeKind
    task_id: str | None = None
    #: Canonical type name (``None`` for start/end nodes).
    type: str | None = None
    #: The uid of the innermost cluster holding the node (None at the top level).
    cluster: str | None = None
    disabled: bool = False


@dataclass(frozen=True)
class GraphEdge:
    source: str
    target: str
    relation: Relation = "sequential"
    #: Branch name for ``branch`` edges ("then", "else", "cases.<key>", "default").
    value: str | None = None


@dataclass
class GraphCluster:
    uid: str
    task_id: str
    type: str
    parent: str | None
    #: The flowable's own node (where the cluster is entered) and its end node.
    start: str
    end: str
    nodes: list[str] = field(default_factory=list)


@dataclass
class FlowGraph:
    nodes: list[GraphNode] = field(default_factory=list)
    edges: list[GraphEdge] = field(default_factory=list)
    clusters: list[GraphCluster] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, camelCase keys as the rest of the API."""

        def camel(data: dict[str, Any]) -> dict[str, Any]:
            return {("taskId" if k == "task_id" else k): v for k, v in data.items()}

        return {
            "nodes": [camel(asdict(n)) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "clusters": [camel(asdict(c)) for c in self.clusters],
        }


# An entry into a chain: (source uid, relation, value) of the edge that leads into it.
_Pred = tuple[str, Relation, str | None]


def is_parallel(task: TaskSpec) -> bool:
    """Whether a flowable starts its ``tasks`` children together."""
    short = task.type.rsplit(".", 1)[-1]
    if short in {"Parallel", "EachParallel", "Dag"}:
        return True
    if short == "ForEach":
        limit = task.properties.get("concurrencyLimit", 1)
        return not (isinstance(limit, int) and limit == 1)
    return False


def _is_loop(task: TaskSpec) -> bool:
    return task.type.rsplit(".", 1)[-1] in {"ForEach", "EachSequential", "EachParallel"}


def _dag_dependencies(task: TaskSpec) -> dict[str, list[str]]:
    """``task id -> ids it depends on`` for a Dag (the spec stores them as ``dependsOn``)."""
    depends_on = task.properties.get("dependsOn")
    if isinstance(depends_on, Mapping):
        return {str(k): [str(d) for d in v or ()] for k, v in depends_on.items()}
    return {}


class _Builder:
    def __init__(self) -> None:
        self.graph = FlowGraph()
        self._clusters: dict[str, GraphCluster] = {}

    def node(self, node: GraphNode) -> str:
        self.graph.nodes.append(node)
        if node.cluster is not None:
            self._clusters[node.cluster].nodes.append(node.uid)
        return node.uid

    def edge(self, source: str, target: str, relation: Relation, value: str | None = None) -> None:
        self.graph.edges.append(GraphEdge(source, target, relation, value))

    def chain(
        self, tasks: Sequence[TaskSpec], preds: list[_Pred], cluster: str | None
    ) -> list[str]:
        """Tasks one after another; returns the uids the next step continues from."""
        exits = [p[0] for p in preds]
        for task in tasks:
            # A task is entered through its own node (uid = its id): edges into it come first.
            for source, relation, value in preds:
                self.edge(source, task.id, relation, value)
            _, task_exits = self.task(task, cluster)
            preds = [(uid, "sequential", None) for uid in task_exits]
            exits = task_exits
        return exits

    def task(self, task: TaskSpec, cluster: str | None) -> tuple[str, list[str]]:
        """Add ``task`` (and its children); returns its entry uid and exit uids."""
        uid = task.id
        branches = {k: v for k, v in task.children.items() if k not in _AFTER}
        if not task.children:
            self.node(GraphNode(uid, "task", task.id, task.type, cluster, task.disabled))
            return uid, [uid]

        cluster_uid = f"cluster_{task.id}"
        end_uid = f"{task.id}.end"
        group = GraphCluster(cluster_uid, task.id, task.type, cluster, uid, end_uid)
        self.graph.clusters.append(group)
        self._clusters[cluster_uid] = group
        self.node(GraphNode(uid, "task", task.id, task.type, cluster_uid, task.disabled))

        exits: list[str] = []
        for key, children in branches.items():
            if key == "tasks" and is_parallel(task):
                exits.extend(self._fan_out(task, children, cluster_uid))
            elif key == "tasks":
                relation: Relation = "dynamic" if _is_loop(task) else "sequential"
                exits.extend(self.chain(children, [(uid, relation, None)], cluster_uid))
            else:
                exits.extend(self.chain(children, [(uid, "branch", key)], cluster_uid))
        if not exits:
            exits = [uid]
        if task.children.get("errors"):
            exits.extend(self.chain(task.children["errors"], [(uid, "error", None)], cluster_uid))
        if task.children.get("finally"):
            preds: list[_Pred] = [(e, "finally", None) for e in exits]
            exits = self.chain(task.children["finally"], preds, cluster_uid)
        self.node(GraphNode(end_uid, "end", task.id, None, cluster_uid))
        for source in _unique(exits):
            self.edge(source, end_uid, "sequential")
        return uid, [end_uid]

    def _fan_out(self, task: TaskSpec, children: Sequence[TaskSpec], cluster: str) -> list[str]:
        """Children started together; a Dag child waits for the exits of its dependencies."""
        deps = _dag_dependencies(task)
        known = {child.id for child in children}
        exits: dict[str, list[str]] = {}
        needed: set[str] = set()
        pending = list(children)
        while pending:
            # Dependencies first (the spec refused cycles); declaration order otherwise.
            ready = [
                c for c in pending if all(d in exits for d in deps.get(c.id, ()) if d in known)
            ]
            child = ready[0] if ready else pending[0]
            pending.remove(child)
            parents = [d for d in deps.get(child.id, ()) if d in known]
            if not parents:
                self.edge(task.id, child.id, "dynamic" if _is_loop(task) else "parallel")
            for parent in parents:
                needed.add(parent)
                for source in exits.get(parent, ()):
                    self.edge(source, child.id, "dag")
            exits[child.id] = self.task(child, cluster)[1]
        return [uid for cid, ex in exits.items() if cid not in needed for uid in ex]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def flow_graph(spec: FlowSpec) -> FlowGraph:
    """The graph of ``spec``: see the module docstring for its shape."""
    b = _Builder()
    b.node(GraphNode(ROOT_START, "start"))
    for trigger in spec.triggers:
        uid = f"trigger.{trigger.id}"
        b.node(GraphNode(uid, "trigger", trigger.id, trigger.type, None, trigger.disabled))
        b.edge(uid, ROOT_START, "trigger")
    exits = b.chain(spec.tasks, [(ROOT_START, "sequential", None)], None)
    if spec.errors:
        exits = exits + b.chain(spec.errors, [(ROOT_START, "error", None)], None)
    if spec.finally_:
        exits = b.chain(spec.finally_, [(e, "finally", None) for e in _unique(exits)], None)
    if spec.after_execution:
        exits = b.chain(
            spec.after_execution, [(e, "sequential", None) for e in _unique(exits)], None
        )
    b.node(GraphNode(ROOT_END, "end"))
    for source in _unique(exits):
        b.edge(source, ROOT_END, "sequential")
    return b.graph
