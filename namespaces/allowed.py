"""Use cases of a namespace's allowed-namespaces policy (the API, the admin and the CLI call
these; :mod:`namespaces.boundaries` reads the rows at run time).

Opening a namespace to others changes who can read and write its data, so changing the
policy needs write access on it; reading the policy needs read access.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from access.policy import Action, check
from kernel.spec.common import NAMESPACE, NAMESPACE_MAX
from namespaces.boundaries import ANY
from namespaces.models import AllowedNamespace


class AllowedNamespaceError(ValueError):
    """Bad input: the message names the value refused and says what is expected."""


def validated_name(value: Any, what: str, *, wildcard: bool = False) -> str:
    text = str(value or "").strip()
    if wildcard and text == ANY:
        return text
    if (
        not NAMESPACE.fullmatch(text)
        or len(text) > NAMESPACE_MAX
        or ".." in text
        or text.endswith(".")
    ):
        hint = " or '*' for every namespace" if wildcard else ""
        raise AllowedNamespaceError(
            f"{what} {value!r} is not a namespace: lower-case letters, digits, '_' and '-' in "
            f"dot-separated words{hint}"
        )
    return text


def allowed_namespaces_list(namespace: str, *, actor: Any = None) -> list[str]:
    """The namespaces ``namespace`` itself lists (its parents' entries apply too, see
    :func:`namespaces.boundaries.policy_of`)."""
    namespace = validated_name(namespace, "namespace")
    check(actor, namespace, Action.READ)
    return list(
        AllowedNamespace.objects.filter(namespace=namespace).values_list("allowed", flat=True)
    )


def allowed_namespace_add(*, namespace: str, allowed: str, actor: Any = None) -> bool:
    """Let flows of ``allowed`` (and inside it; ``*``: all) reach ``namespace``. False when
    the entry was already there."""
    namespace = validated_name(namespace, "namespace")
    allowed = validated_name(allowed, "allowed namespace", wildcard=True)
    check(actor, namespace, Action.WRITE)
    _, created = AllowedNamespace.objects.get_or_create(namespace=namespace, allowed=allowed)
    return created


def allowed_namespace_remove(*, namespace: str, allowed: str, actor: Any = None) -> bool:
    """Remove one entry; False when there was none."""
    namespace = validated_name(namespace, "namespace")
    allowed = validated_name(allowed, "allowed namespace", wildcard=True)
    check(actor, namespace, Action.WRITE)
    deleted, _ = AllowedNamespace.objects.filter(namespace=namespace, allowed=allowed).delete()
    return bool(deleted)


def allowed_namespaces_set(*, namespace: str, allowed: list[str], actor: Any = None) -> list[str]:
    """Replace the whole list (every entry is validated before anything changes)."""
    namespace = validated_name(namespace, "namespace")
    if not isinstance(allowed, list | tuple):
        raise AllowedNamespaceError("allowed namespaces: expected a list of namespaces")
    wanted = list(
        dict.fromkeys(validated_name(a, "allowed namespace", wildcard=True) for a in allowed)
    )
    check(actor, namespace, Action.WRITE)
    with transaction.atomic():
        AllowedNamespace.objects.filter(namespace=namespace).exclude(allowed__in=wanted).delete()
        for entry in wanted:
            AllowedNamespace.objects.get_or_create(namespace=namespace, allowed=entry)
    return sorted(wanted)
