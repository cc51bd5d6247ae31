"""Reads of the flow catalogue. No writes here; use ``flows.services`` for those."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.db import connection
from django.db.models import Count, Q, QuerySet

from flows.models import Flow, FlowRevision
from kernel.spec import parse as spec_module
from kernel.spec.model import FlowSpec
from namespaces.models import Namespace


def flow_get(namespace: str, flow_id: str, *, include_deleted: bool = False) -> Flow:
    """The flow ``namespace``/``flow_id`` (exact id). Raises ``Flow.DoesNotExist``."""
    flows = Flow.objects.select_related("namespace")
    if not include_deleted:
        flows = flows.live()
    return flows.get(namespace__name=namespace, flow_id=flow_id)


def flow_spec(flow: Flow, *, revision: int | None = None) -> FlowSpec:
    """The parsed flow (its current revision, or ``revision``), cached per (flow, revision).

    Executions parse the same flow many times; a FlowSpec is frozen, so one shared copy is
    safe. The source is part of the cache key too, so a reused primary key (a test database
    rolled back) can never return another flow's spec.
    """
    if revision is None or revision == flow.revision:
        number, source = flow.revision, flow.source
    else:
        number = revision
        source = FlowRevision.objects.values_list("source", flat=True).get(
            flow=flow, revision=revision
        )
    return _parse_cached(flow.pk, number, source, f"{flow} revision {number}")


@lru_cache(maxsize=1)
def _revision_sql() -> str:
    def column(model: type, name: str) -> str:
        return model._meta.get_field(name).column

    r, f, n = (m._meta.db_table for m in (FlowRevision, Flow, Namespace))
    return (
        f'SELECT r."{column(FlowRevision, "flow")}", r."{column(FlowRevision, "source")}" '
        f'FROM "{r}" r JOIN "{f}" f ON f."id" = r."{column(FlowRevision, "flow")}" '
        f'JOIN "{n}" n ON n."id" = f."{column(Flow, "namespace")}" '
        f'WHERE n."{column(Namespace, "name")}" = %s AND f."{column(Flow, "flow_id")}" = %s '
        f'AND r."{column(FlowRevision, "revision")}" = %s'
    )


def flow_revision_spec(namespace: str, flow_id: str, revision: int) -> FlowSpec:
    """Revision ``revision`` of a flow, deleted or not, parsed (cached as ``flow_spec``).

    Executors and workers ask for it at the first hop of every execution they see; with
    many executions at once the ORM's get and its join cost a tenth of each process's time,
    so the source is read with one plain statement (built once) instead. A flow without revision
    rows (made outside ``flows.services``) is read through the ORM, as before.
    """
    with connection.cursor() as cursor:
        cursor.execute(_revision_sql(), [namespace, flow_id, revision])
        row = cursor.fetchone()
    if row is None:
        return flow_spec(flow_get(namespace, flow_id, include_deleted=True), revision=revision)
    pk, source = row
    return _parse_cached(pk, revision, source, f"{namespace}.{flow_id} revision {revision}")


@lru_cache(maxsize=512)
def _parse_cached(pk: int, revision: int, source: str, filename: str) -> FlowSpec:
    return spec_module.parse_flow(source, filename=filename)


def flow_revisions(flow: Flow) -> QuerySet[FlowRevision]:
    """Every revision of ``flow``, newest first."""
    return FlowRevision.objects.filter(flow=flow).select_related("author").order_by("-revision")


def flows_search(
    *,
    q: str | None = None,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    disabled: bool | None = None,
    include_deleted: bool = False,
) -> QuerySet[Flow]:
    """Flows matching every criterion given.

    ``q``: part of the id, namespace or description (case-insensitive). ``namespace``: that
    namespace and those inside it (``a.b`` matches ``a.b.c``, never ``a.bc``). ``labels``: all
    of these pairs. ``disabled``: True/False, or None for both.
    """
    flows = Flow.objects.select_related("namespace").prefetch_related("labels")
    if not include_deleted:
        flows = flows.live()
    if q:
        flows = flows.filter(
            Q(flow_id__icontains=q) | Q(namespace__name__icontains=q) | Q(description__icontains=q)
        )
    if namespace:
        flows = flows.in_namespace(namespace)
    if labels:
        flows = flows.with_labels(labels)
    if disabled is not None:
        flows = flows.filter(disabled=disabled)
    return flows.order_by("namespace__name", "flow_id")


def namespace_children(name: str) -> QuerySet[Namespace]:
    """The namespaces directly inside ``name``."""
    return Namespace.objects.filter(parent__name=name)


def namespace_descendants(name: str, *, include_self: bool = False) -> QuerySet[Namespace]:
    """Every namespace inside ``name`` at any depth (whole dotted segments only)."""
    return Namespace.objects.inside(name, include_self=include_self)


@dataclass
class NamespaceNode:
    name: str
    depth: int
    #: Live flows directly in this namespace.
    flow_count: int
    #: Live flows in this namespace and every namespace inside it.
    total_flow_count: int = 0
    children: list[NamespaceNode] = field(default_factory=list)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def walk(self):
        """This node and its descendants, depth first (tree order)."""
        yield self
        for child in self.children:
            yield from child.walk()


def namespace_tree() -> list[NamespaceNode]:
    """Every namespace as a tree of nodes with flow counts; the roots, sorted by name."""
    rows = Namespace.objects.annotate(live_flows=Count("flows", filter=Q(flows__deleted=False)))
    nodes: dict[int, NamespaceNode] = {}
    roots: list[NamespaceNode] = []
    # By depth then name (in Python, whatever the database collation): parents come first.
    for ns in sorted(rows, key=lambda n: (n.depth, n.name)):
        node = NamespaceNode(name=ns.name, depth=ns.depth, flow_count=ns.live_flows)
        nodes[ns.pk] = node
        parent = nodes.get(ns.parent_id) if ns.parent_id else None
        (parent.children if parent else roots).append(node)

    def total(node: NamespaceNode) -> int:
        node.total_flow_count = node.flow_count + sum(total(c) for c in node.children)
        return node.total_flow_count

    for root in roots:
        total(root)
    return roots
