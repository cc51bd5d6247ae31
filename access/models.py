"""Namespace grants: a user or a group may read, execute or write inside a namespace prefix.

A grant on ``company.team`` covers ``company.team`` and every namespace inside it
(``company.team.etl``), by whole segments (never ``company.teamx``). The namespace is kept as
text rather than a foreign key so that access can be granted before anything is deployed there.
Levels are cumulative: execute includes read, write includes both. Superusers need no grant.
Checks live in :mod:`access.policy`; the models only hold the data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from namespaces.models import validate_namespace_name


class Permission(models.TextChoices):
    READ = "read", "read"
    EXECUTE = "execute", "read + execute"
    WRITE = "write", "read + execute + write"


#: How much each permission allows; a grant allows an action of its rank or below.
RANK: dict[str, int] = {Permission.READ: 1, Permission.EXECUTE: 2, Permission.WRITE: 3}


class NamespaceGrant(models.Model):
    namespace = models.CharField(
        max_length=255,
        validators=[validate_namespace_name],
        help_text="this namespace and every namespace inside it",
    )
    permission = models.CharField(max_length=10, choices=Permission.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="namespace_grants",
    )
    group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="namespace_grants",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace", "permission"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="access_grant_user_xor_group",
                violation_error_message="A grant is for a user or for a group, not both.",
            ),
            models.UniqueConstraint(
                fields=["user", "namespace"],
                condition=models.Q(user__isnull=False),
                name="access_grant_unique_user_namespace",
                violation_error_message="This user already has a grant on this namespace.",
            ),
            models.UniqueConstraint(
                fields=["group", "namespace"],
                condition=models.Q(group__isnull=False),
                name="access_grant_unique_group_namespace",
                violation_error_message="This group already has a grant on this namespace.",
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{who}: {self.permission} on {self.namespace}"
