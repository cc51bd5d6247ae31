"""Who may do what in which namespace: the one check every service and API view calls.

Three actions, cumulative (issue 6):

* ``read``: everything that only reads (flows, revisions, executions, logs, files, templates);
* ``execute``: create executions and act on them (kill, restart, replay, resume, force-run,
  unqueue, change a state, labels, delete);
* ``write``: change the catalogue (deploy, update, delete, enable/disable, restore flows;
  deploy and delete templates).

The *actor* is a Django user, or ``None`` for a trusted operator: the CLI (whoever runs
``manage.py`` holds the database credentials anyway), triggers, the executor and the examples
loader. An active superuser may do everything; an inactive or anonymous user nothing; any other
user what the grants of the user and of the user's groups allow.

:func:`check` raises :class:`AccessDenied`, a Django ``PermissionDenied``, so the API answers
403 in its error shape and the admin shows its 403 page without either catching it.
:func:`readable` filters a queryset down to what the actor may read (searches list only those).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from access.models import RANK, NamespaceGrant


class Action(StrEnum):
    READ = "read"
    EXECUTE = "execute"
    WRITE = "write"


class AccessDenied(PermissionDenied):
    """The actor may not do ``action`` in ``namespace``."""

    def __init__(self, namespace: str, action: Action | str) -> None:
        self.namespace, self.action = namespace, Action(action)
        super().__init__(f"you may not {self.action} in namespace {namespace!r}")


def inside(namespace: str, prefix: str) -> bool:
    """``a.b.c`` is inside ``a.b`` and ``a.b``; ``a.bc`` is not (whole segments)."""
    return namespace == prefix or namespace.startswith(f"{prefix}.")


def within(queryset: QuerySet, prefix: str, field: str = "namespace") -> QuerySet:
    """The rows of ``queryset`` whose namespace (``field``) is :func:`inside` ``prefix``."""
    return queryset.filter(Q(**{field: prefix}) | Q(**{f"{field}__startswith": f"{prefix}."}))


@dataclass(frozen=True)
class Access:
    """What one actor may do, read once from the database (use it for many checks)."""

    #: Everything allowed (a trusted operator or a superuser).
    everything: bool
    #: (namespace prefix, rank) for each grant of the user and of the user's groups.
    grants: tuple[tuple[str, int], ...] = ()

    def allows(self, namespace: str, action: Action | str) -> bool:
        if self.everything:
            return True
        needed = RANK[Action(action).value]
        return any(rank >= needed and inside(namespace, p) for p, rank in self.grants)

    def check(self, namespace: str, action: Action | str) -> None:
        if not self.allows(namespace, action):
            raise AccessDenied(namespace, action)

    def reads_within(self, prefix: str) -> bool:
        """May read ``prefix`` or at least one namespace inside it."""
        if self.everything:
            return True
        return any(inside(p, prefix) or inside(prefix, p) for p, _ in self.grants)

    def readable_q(self, field: str) -> Q:
        """A filter on a namespace-name ``field`` keeping what this actor may read."""
        if self.everything:
            return Q()
        if not self.grants:
            return Q(pk__in=[])
        condition = Q()
        for prefix in sorted({p for p, _ in self.grants}):
            condition |= Q(**{field: prefix}) | Q(**{f"{field}__startswith": f"{prefix}."})
        return condition


def access_for(actor: Any) -> Access:
    """The :class:`Access` of ``actor`` (``None``: a trusted operator)."""
    if actor is None:
        return Access(everything=True)
    if not getattr(actor, "is_authenticated", False) or not getattr(actor, "is_active", False):
        return Access(everything=False)
    if actor.is_superuser:
        return Access(everything=True)
    rows = (
        NamespaceGrant.objects.filter(Q(user=actor) | Q(group__user=actor))
        .values_list("namespace", "permission")
        .distinct()
    )
    return Access(everything=False, grants=tuple((ns, RANK[perm]) for ns, perm in rows))


def check(actor: Any, namespace: str, action: Action | str) -> None:
    """Raise :class:`AccessDenied` unless ``actor`` may do ``action`` in ``namespace``."""
    if actor is None:
        return
    access_for(actor).check(namespace, action)


def check_all(actor: Any, namespaces: Iterable[str], action: Action | str) -> None:
    """:func:`check` for several namespaces with one read of the grants; names the first
    namespace refused."""
    if actor is None:
        return
    access = access_for(actor)
    for namespace in sorted(set(namespaces)):
        access.check(namespace, action)


def allows(actor: Any, namespace: str, action: Action | str) -> bool:
    return actor is None or access_for(actor).allows(namespace, action)


def readable(queryset: QuerySet, actor: Any, field: str = "namespace") -> QuerySet:
    """``queryset`` without the rows whose namespace (``field``) ``actor`` may not read."""
    if actor is None:
        return queryset
    return queryset.filter(access_for(actor).readable_q(field))
