"""A flow's topology (``flows.graph``) drawn as SVG, every node coloured by its task runs.

Pure: a FlowGraph and per-task states in, markup out. The layout is layered and nested: in
each container (the flow, or a flowable's cluster) the direct members — nodes and child
clusters, each a box — get a column by the longest path that reaches them, and are stacked
in that column. A cluster is laid out first, so it is one box to its parent: flowables are
drawn as groups, and a loop's box says how many iterations ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape

from executions.admin.common import short_type, state_color, text_color
from flows.graph import FlowGraph, GraphCluster, GraphEdge, GraphNode
from kernel.states import ACTIVE, TERMINAL, State, worst

NODE_W, NODE_H = 150, 38
POINT = 18  # start/end nodes
GAP_X, GAP_Y = 36, 14
PAD, HEADER = 10, 18
MARGIN = 10
#: Labels at the entrance of a flow's or a task's ``errors`` and ``finally`` tasks.
BRANCH_LABELS = {"error": "on error", "finally": "finally"}
_LOOPS = {"ForEach", "EachSequential", "EachParallel", "ForEachItem", "LoopUntil"}


@dataclass(frozen=True)
class NodeStatus:
    """What the task runs of one task say: an overall state and how many runs per state."""

    state: str
    counts: Mapping[str, int]
    #: Distinct loop values seen (a loop's children run once per value).
    values: int = 0

    @property
    def runs(self) -> int:
        return sum(self.counts.values())


def node_statuses(runs: Iterable[tuple[str, str, str | None]]) -> dict[str, NodeStatus]:
    """``(task_id, state, value)`` of every task run -> one status per task id.

    A task with a single run shows that run's state. With several (loop iterations), a run
    still going wins (the node is live), else the worst ended state.
    """
    by_task: dict[str, list[tuple[str, str | None]]] = {}
    for task_id, state, value in runs:
        by_task.setdefault(task_id, []).append((state, value))
    out: dict[str, NodeStatus] = {}
    for task_id, items in by_task.items():
        states = [s for s, _ in items]
        live = [s for s in states if s in ACTIVE]
        if len(states) == 1:
            overall = states[0]
        elif live:
            overall = live[-1]
        else:
            overall = worst([State(s) for s in states if s in TERMINAL])
        values = len({v for _, v in items if v is not None})
        out[task_id] = NodeStatus(str(overall), dict(Counter(states)), values)
    return out


@dataclass
class _Box:
    uid: str
    w: float
    h: float
    x: float = 0.0  # relative to the container's origin until placed
    y: float = 0.0
    members: list[_Box] = field(default_factory=list)


class _Layout:
    def __init__(self, graph: FlowGraph) -> None:
        self.graph = graph
        self.nodes = {n.uid: n for n in graph.nodes}
        self.clusters = {c.uid: c for c in graph.clusters}
        self.order = {n.uid: i for i, n in enumerate(graph.nodes)}
        self.boxes: dict[str, _Box] = {}

    def member_of(self, uid: str, container: str | None) -> str | None:
        """The direct member of ``container`` holding node ``uid`` (None if outside it)."""
        current = self.nodes[uid].cluster
        member = uid
        while current != container:
            if current is None:
                return None
            member = current
            current = self.clusters[current].parent
        return member

    def first_index(self, member: str) -> int:
        if member in self.nodes:
            return self.order[member]
        return min((self.order[n] for n in self.clusters[member].nodes), default=0)

    def size(self, uid: str) -> tuple[float, float]:
        node = self.nodes[uid]
        if node.kind in ("start", "end"):
            return POINT, POINT
        return NODE_W, NODE_H

    def lay_out(self, container: str | None) -> _Box:
        members = [n.uid for n in self.graph.nodes if n.cluster == container]
        members += [c.uid for c in self.graph.clusters if c.parent == container]
        members.sort(key=self.first_index)
        boxes: dict[str, _Box] = {}
        for member in members:
            if member in self.clusters:
                boxes[member] = self.lay_out(member)
            else:
                boxes[member] = _Box(member, *self.size(member))
            self.boxes[member] = boxes[member]
        ranks = self._ranks(members, container)
        columns: dict[int, list[_Box]] = {}
        for member in members:
            columns.setdefault(ranks[member], []).append(boxes[member])
        inner_h = max(
            (sum(b.h for b in col) + GAP_Y * (len(col) - 1) for col in columns.values()),
            default=0,
        )
        left = PAD if container else 0.0
        top = (PAD + HEADER) if container else 0.0
        x = left
        for rank in sorted(columns):
            col = columns[rank]
            col_w = max(b.w for b in col)
            col_h = sum(b.h for b in col) + GAP_Y * (len(col) - 1)
            y = top + (inner_h - col_h) / 2
            for box in col:
                box.x, box.y = x + (col_w - box.w) / 2, y
                y += box.h + GAP_Y
            x += col_w + GAP_X
        width = max(x - GAP_X, left) + (PAD if container else 0)
        height = top + inner_h + (PAD if container else 0)
        return _Box(container or "", width, height, members=[boxes[m] for m in members])

    def _ranks(self, members: list[str], container: str | None) -> dict[str, int]:
        """Longest-path layering of the members (a cycle, which the spec refuses, is cut)."""
        succ: dict[str, set[str]] = {m: set() for m in members}
        indegree = dict.fromkeys(members, 0)
        for edge in self.graph.edges:
            a = self.member_of(edge.source, container)
            b = self.member_of(edge.target, container)
            if a is None or b is None or a == b or b in succ[a]:
                continue
            succ[a].add(b)
            indegree[b] += 1
        rank = dict.fromkeys(members, 0)
        ready = [m for m in members if indegree[m] == 0]
        seen: set[str] = set()
        while ready:
            member = ready.pop(0)
            seen.add(member)
            for nxt in sorted(succ[member], key=self.first_index):
                rank[nxt] = max(rank[nxt], rank[member] + 1)
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
        return rank

    def place(self, box: _Box, dx: float, dy: float) -> None:
        """Turn relative positions into absolute ones, depth first."""
        box.x += dx
        box.y += dy
        for member in box.members:
            self.place(member, box.x, box.y)


def topology_svg(
    graph: FlowGraph, statuses: Mapping[str, NodeStatus] | None = None, *, link_prefix: str = ""
) -> str:
    """The flow drawn as SVG; nodes whose task has runs are filled with their state's colour.

    ``link_prefix`` + task id makes each task node a link (``#taskrun-`` on an execution page).
    """
    statuses = statuses or {}
    layout = _Layout(graph)
    root = layout.lay_out(None)
    layout.place(root, MARGIN, MARGIN)
    width, height = root.w + 2 * MARGIN, root.h + 2 * MARGIN
    out = [
        f'<svg class="trellis-topology" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'aria-label="flow topology">',
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#888"/>'
        "</marker></defs>",
    ]
    depth = {c.uid: _depth(c, layout.clusters) for c in graph.clusters}
    for cluster in sorted(graph.clusters, key=lambda c: depth[c.uid]):
        out.append(_cluster(cluster, layout.boxes[cluster.uid], statuses))
    obstacles = list(layout.boxes.values())
    lowest = height
    entered: set[str] = set()  # branches already labelled (``finally`` has one edge per exit)
    for edge in graph.edges:
        a, b = layout.boxes[edge.source], layout.boxes[edge.target]
        path, bottom = _edge(a, b, edge, obstacles)
        if edge.relation in BRANCH_LABELS and not edge.value and edge.target not in entered:
            entered.add(edge.target)
            path += _branch_label(b, BRANCH_LABELS[edge.relation], edge.relation)
        out.append(path)
        lowest = max(lowest, bottom + MARGIN)
    for node in graph.nodes:
        out.append(_node(node, layout.boxes[node.uid], statuses, link_prefix))
    out.append("</svg>")
    if lowest > height:  # an edge routed under everything needs room
        out[0] = (
            out[0]
            .replace(f'height="{height:.0f}"', f'height="{lowest:.0f}"')
            .replace(f'{width:.0f} {height:.0f}"', f'{width:.0f} {lowest:.0f}"')
        )
    return "".join(out)


def _depth(cluster: GraphCluster, clusters: Mapping[str, GraphCluster]) -> int:
    depth, parent = 0, cluster.parent
    while parent is not None:
        depth, parent = depth + 1, clusters[parent].parent
    return depth


def _cluster(cluster: GraphCluster, box: _Box, statuses: Mapping[str, NodeStatus]) -> str:
    kind = short_type(cluster.type)
    title = kind
    status = statuses.get(cluster.task_id)
    if kind in _LOOPS and status is not None:
        children = [statuses[n].values for n in cluster.nodes if n in statuses]
        iterations = max([status.values, *children], default=0)
        title += f" · {iterations} iteration{'s' if iterations != 1 else ''}"
    return (
        f'<g class="topology-cluster" data-task="{escape(cluster.task_id)}">'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" '
        'rx="6" fill="#f5f7fa" fill-opacity="0.6" stroke="#90a4ae" stroke-dasharray="4 3"/>'
        f'<text x="{box.x + 6:.1f}" y="{box.y + 13:.1f}" font-size="11" fill="#546e7a">'
        f"{escape(title)}</text></g>"
    )


def _blocking(x1: float, x2: float, y1: float, y2: float, boxes: list[_Box]) -> float | None:
    """The lowest bottom of the leaf boxes a straight edge from x1 to x2 would cross, or
    None when its way is clear."""
    top, bottom = min(y1, y2) - 2, max(y1, y2) + 2
    crossed = [
        box.y + box.h
        for box in boxes
        if not box.members  # nodes, not cluster frames: crossing a frame is fine
        and box.x < x2 - 2
        and box.x + box.w > x1 + 2
        and box.y < bottom
        and box.y + box.h > top
    ]
    return max(crossed) if crossed else None


def _edge(a: _Box, b: _Box, edge: GraphEdge, boxes: list[_Box]) -> tuple[str, float]:
    """The edge's path (with its branch label), and the lowest y it reaches. An edge that
    would run through nodes (an ``errors`` branch joining the end) goes under them."""
    x1, y1 = a.x + a.w, a.y + a.h / 2
    x2, y2 = b.x, b.y + b.h / 2
    if x2 < x1:  # drawn backwards (should not happen in a DAG layout): go straight
        x1, x2 = a.x + a.w / 2, b.x + b.w / 2
    bend = max((x2 - x1) / 2, 12)
    dash = {"error": ' stroke-dasharray="5 3"', "finally": ' stroke-dasharray="2 3"'}
    color = "#c62828" if edge.relation == "error" else "#888"
    under = _blocking(x1, x2, y1, y2, boxes) if x2 - x1 > NODE_W else None
    if under is None:
        d = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        lowest = max(y1, y2)
    else:
        lowest = under + GAP_Y
        d = (
            f"M{x1:.1f},{y1:.1f} C{x1 + 16:.1f},{y1:.1f} {x1 + 4:.1f},{lowest:.1f} "
            f"{x1 + 24:.1f},{lowest:.1f} L{x2 - 24:.1f},{lowest:.1f} "
            f"C{x2 - 4:.1f},{lowest:.1f} {x2 - 16:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        )
    path = (
        f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.3"'
        f'{dash.get(edge.relation, "")} marker-end="url(#arrow)"/>'
    )
    if edge.value:
        label = edge.value.removeprefix("cases.")
        path += (
            f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 4:.1f}" font-size="10" '
            f'fill="#555" text-anchor="middle">{escape(label)}</text>'
        )
    return path, lowest


def _branch_label(target: _Box, text: str, relation: str) -> str:
    """A small tag just above the first task of an ``errors``/``finally`` branch."""
    color = "#c62828" if relation == "error" else "#546e7a"
    width = 7 * len(text) + 8
    x, y = target.x, target.y - 13
    if y < 0:  # the branch's first task is on the top row: tag it from below
        y = target.y + target.h + 1
    return (
        f'<g class="topology-branch" data-relation="{relation}">'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width}" height="12" rx="3" fill="#fff" '
        f'stroke="{color}" stroke-width="0.8"/>'
        f'<text x="{x + 4:.1f}" y="{y + 9:.1f}" font-size="9" fill="{color}">{text}</text></g>'
    )


def _node(node: GraphNode, box: _Box, statuses: Mapping[str, NodeStatus], link_prefix: str) -> str:
    if node.kind in ("start", "end"):
        r = POINT / 2
        fill = "#607d8b" if node.kind == "start" else "#fff"
        return (
            f'<circle class="topology-point" cx="{box.x + r:.1f}" cy="{box.y + r:.1f}" r="{r - 2}" '
            f'fill="{fill}" stroke="#607d8b" stroke-width="2"/>'
        )
    status = statuses.get(node.task_id or "") if node.kind == "task" else None
    state = status.state if status else ""
    fill = state_color(state) if status else "#ffffff"
    ink = text_color(state) if status else "#263238"
    dash = ' stroke-dasharray="4 2"' if node.kind == "trigger" or node.disabled else ""
    label = node.task_id or node.uid
    label = label if len(label) <= 20 else label[:19] + "…"
    sub = short_type(node.type)
    if status and status.runs > 1:
        sub = f"{sub} ×{status.runs}"
    tooltip = f"{node.task_id} ({node.type})" + (f": {state}" if state else "")
    if status and status.runs > 1:
        tooltip += " — " + ", ".join(f"{n} {s}" for s, n in sorted(status.counts.items()))
    text = (
        f'<text x="{box.x + 8:.1f}" y="{box.y + 15:.1f}" font-size="12" font-weight="bold" '
        f'fill="{ink}">{escape(label)}</text>'
        f'<text x="{box.x + 8:.1f}" y="{box.y + 29:.1f}" font-size="10" fill="{ink}">'
        f"{escape(sub)}</text>"
    )
    body = (
        f'<g class="topology-node" data-task="{escape(node.task_id or "")}" '
        f'data-state="{escape(state)}"><title>{escape(tooltip)}</title>'
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="4" '
        f'fill="{fill}" stroke="#546e7a" stroke-width="1"{dash}/>{text}</g>'
    )
    if link_prefix and node.kind == "task" and status:
        return f'<a href="{escape(link_prefix + (node.task_id or ""))}">{body}</a>'
    return body
