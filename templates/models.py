"""Templates: namespaced task lists that flows include with a Template task (Kestra, deprecated).

Editing a template changes every flow that includes it, at that flow's next execution. Changes
go through ``templates.services``.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from namespaces.models import Namespace


class Template(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="templates")
    #: The template's ``id`` in YAML.
    template_id = models.CharField(max_length=255)
    source = models.TextField(help_text="YAML source, byte for byte as deployed")
    description = models.TextField(blank=True, default="")
    #: ``tasks`` and ``errors`` as written in the YAML (plain lists of mappings).
    tasks = models.JSONField(default=list)
    errors = models.JSONField(default=list)
    #: Bumped whenever the source changes; no history table (templates are deprecated).
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["namespace__name", "template_id"]
        constraints = [
            models.UniqueConstraint(
                "namespace", Lower("template_id"), name="templates_template_unique_ns_id_ci"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace.name}.{self.template_id}"
