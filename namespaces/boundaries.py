"""Namespace boundaries: what a flow may reach outside its own namespace tree (issue 21).

A flow of namespace ``source`` reaches a namespace ``target`` — its KV entries, its files,
its flows as subflows, its executions' ends through a Flow trigger — when

* ``target`` is in ``source``'s tree: ``source`` itself, a namespace above it (a namespace
  inherits from its parents, as Kestra's KV inheritance has it) or one inside it (a grant
  on ``source`` covers those too); or
* ``target``, or a namespace above it, lists ``source`` (or a namespace above ``source``, or
  ``*``) among its allowed namespaces (:class:`namespaces.models.AllowedNamespace`).

Everything else is refused with :class:`BoundaryRefused`, whose message names both
namespaces and the fix. The runtime holds a :class:`Boundary` per running namespace; plugins
never see it, they get stores bound to it through the run context.
"""

from __future__ import annotations

from namespaces.models import AllowedNamespace

#: An allowed-namespaces entry that lets every namespace in.
ANY = "*"


class BoundaryRefused(PermissionError):
    """A flow tried to reach a namespace that does not allow its own."""

    def __init__(self, source: str, target: str, reach: str) -> None:
        self.source, self.target, self.reach = source, target, reach
        super().__init__(
            f"namespace {target!r} does not allow flows of namespace {source!r} to {reach} "
            f"(add {source!r} to the allowed namespaces of {target!r})"
        )


def inside(namespace: str, prefix: str) -> bool:
    """``a.b.c`` is inside ``a.b`` (and ``a.b`` inside itself); ``a.bc`` is not."""
    return namespace == prefix or namespace.startswith(f"{prefix}.")


def in_tree(source: str, target: str) -> bool:
    """``target`` is ``source``, above it or inside it: no policy needed."""
    return inside(source, target) or inside(target, source)


def ancestors(namespace: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b", "a.b.c"]``."""
    parts = namespace.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def permits(source: str, entries: list[str]) -> bool:
    """Whether allowed-namespaces ``entries`` let flows of ``source`` in."""
    return any(entry == ANY or inside(source, entry) for entry in entries)


def policy_of(target: str) -> list[str]:
    """The allowed namespaces that apply to ``target``: its own and its parents' entries."""
    return list(
        AllowedNamespace.objects.filter(namespace__in=ancestors(target))
        .values_list("allowed", flat=True)
        .distinct()
    )


def allows(source: str, target: str) -> bool:
    """Whether flows of ``source`` may reach ``target`` (one query unless in the tree)."""
    return in_tree(source, target) or permits(source, policy_of(target))


class Boundary:
    """The boundary of one running namespace, asked many times during one task or render:
    each target's policy is read once (a task reading 100 keys of one namespace makes one
    query, and a policy changed mid-task applies from the next task on)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._seen: dict[str, bool] = {}

    def allows(self, target: str) -> bool:
        if target not in self._seen:
            self._seen[target] = allows(self.source, target)
        return self._seen[target]

    def check(self, target: str, reach: str) -> None:
        """Raise :class:`BoundaryRefused` unless this namespace may ``reach`` ``target``
        (``reach`` completes "may not ...": "read its KV store")."""
        if not self.allows(target):
            raise BoundaryRefused(self.source, target, reach)


def check_write(boundary: Boundary | None, target: str, reach: str) -> None:
    """Writing is narrower than reading (issue 17: the git tasks deploy flows and write
    namespace files): the flow's own namespace, the ones inside it, and namespaces whose
    policy explicitly allows it; never one above it merely because it is in the tree."""
    if boundary is None or inside(target, boundary.source):
        return
    if not permits(boundary.source, policy_of(target)):
        raise BoundaryRefused(boundary.source, target, reach)
