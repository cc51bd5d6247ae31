"""API tokens, stored hashed.

The key is shown once, when the token is created; only its SHA-256 is kept, so a leaked
database does not leak usable credentials. A prefix of the key stays in clear so a user can
tell their tokens apart in the admin.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


def hash_key(key: str) -> str:
    """The stored form of a token key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    #: First characters of the key, kept in clear to recognise a token.
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: None: never expires.
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        label = f" ({self.name})" if self.name else ""
        return f"{self.prefix}…{label}"


class MetricSample(models.Model):
    """One sample of a counter or histogram that processes push (``orchestrator.observability``).

    Every process adds its deltas to these rows every few seconds, so ``/metrics`` on any web
    host shows what executors, workers and beat on every host counted, across restarts.
    ``labels`` is the sample's label set as JSON with sorted keys (one text per label set).
    """

    name = models.CharField(max_length=200)
    labels = models.TextField(default="{}")
    value = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "labels"], name="metric_sample_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} {self.value}"
