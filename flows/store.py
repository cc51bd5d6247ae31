"""Flows as the run context shows them to plugins (a thin adapter: the git tasks push and
sync flows without importing models or services, issue 17).

Bound to the running flow's :class:`~namespaces.boundaries.Boundary`. Reading follows the
boundary as the KV and namespace-file stores do. Writing (deploying, deleting) is narrower:
only the flow's own namespace, the ones inside it, and namespaces whose policy explicitly
allows the flow's namespace; never a namespace above it merely because it is in the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from flows.models import Flow
from flows.services import flows_deploy_folder
from flows.services.deploy import parse_source
from flows.services.lifecycle import flow_delete
from namespaces.boundaries import Boundary, check_write

READ = "read its flows"
WRITE = "deploy or delete its flows"


@dataclass(frozen=True)
class FlowSource:
    namespace: str
    id: str
    source: str


class FlowSourceStore:
    def __init__(self, boundary: Boundary | None = None) -> None:
        self.boundary = boundary

    def list(self, namespace: str, *, children: bool = False) -> list[FlowSource]:
        """Live flows of ``namespace`` (and the namespaces inside it), by namespace and id."""
        if self.boundary is not None:
            self.boundary.check(namespace, READ)
        rows = (
            Flow.objects.live()
            .in_namespace(namespace, descendants=children)
            .select_related("namespace")
            .order_by("namespace__name", "flow_id")
        )
        return [FlowSource(r.namespace.name, r.flow_id, r.source) for r in rows]

    def deploy(
        self,
        documents: list[tuple[str, str]],
        *,
        namespace: str,
        delete_missing: bool = False,
        dry_run: bool = False,
    ) -> list[dict[str, Any]]:
        """Deploy ``(filename, source)`` documents, all or nothing, into ``namespace`` (or
        inside it); ``delete_missing`` deletes its live flows absent from the documents.
        Returns one ``{namespace, flowId, syncState}`` per flow (ADDED, UPDATED, UNCHANGED,
        DELETED); ``dry_run`` computes it and writes nothing."""
        check_write(self.boundary, namespace, WRITE)
        specs = [(parse_source(source, filename=name), source) for name, source in documents]
        for spec, _ in specs:
            check_write(self.boundary, spec.namespace, WRITE)
        live = {
            (f.namespace.name, f.flow_id): f.source
            for f in Flow.objects.live().in_namespace(namespace).select_related("namespace")
        }
        report = []
        wanted = set()
        for spec, source in specs:
            key = (spec.namespace, spec.id)
            wanted.add(key)
            state = (
                "ADDED" if key not in live else ("UNCHANGED" if live[key] == source else "UPDATED")
            )
            report.append({"namespace": spec.namespace, "flowId": spec.id, "syncState": state})
        if delete_missing:
            report += [
                {"namespace": ns, "flowId": fid, "syncState": "DELETED"}
                for ns, fid in sorted(live) if (ns, fid) not in wanted
            ]  # fmt: skip
        if dry_run:
            return report
        with transaction.atomic():
            if documents:
                flows_deploy_folder(
                    documents=documents, namespace=namespace, delete_missing=delete_missing
                )
            elif delete_missing:
                for flow in Flow.objects.live().in_namespace(namespace):
                    flow_delete(flow=flow)
        return report
