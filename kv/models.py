"""The KV store: typed values by (namespace, key), optionally expiring."""

from __future__ import annotations

from django.db import models

KV_TYPES = ("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON")


class KVEntry(models.Model):
    namespace = models.CharField(max_length=150)
    key = models.CharField(max_length=255)
    value = models.JSONField(null=True, blank=True)
    value_type = models.CharField(max_length=10, choices=[(t, t) for t in KV_TYPES])
    description = models.TextField(blank=True, default="")
    #: After this instant the entry reads as missing (and is purged lazily).
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "KV entry"
        verbose_name_plural = "KV entries"
        ordering = ["namespace", "key"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "key"], name="kv_unique_namespace_key")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.key}"
