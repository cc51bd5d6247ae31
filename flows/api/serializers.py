"""Flows as JSON, shaped like Kestra's ``Flow``/``FlowWithSource``.

The definition comes from the stored YAML (``tasks``, ``inputs``, ``triggers``... as written);
the catalogue fields (revision, disabled, deleted, labels) come from the database.
"""

from __future__ import annotations

from typing import Any

import yaml
from rest_framework import serializers

from flows import confidential
from flows.models import Flow, FlowRevision
from orchestrator.api.schema import ProblemItemSerializer


def _definition(source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError:  # stored sources were validated; stay readable if one is not
        return {}
    return data if isinstance(data, dict) else {}


def labels_list(labels: Any) -> list[dict[str, str]]:
    """Kestra's label shape: ``[{"key": ..., "value": ...}]``."""
    if isinstance(labels, dict):
        return [{"key": str(k), "value": "" if v is None else str(v)} for k, v in labels.items()]
    return [{"key": label.key, "value": label.value} for label in labels]


def _shown(body: dict[str, Any], credentials: bool) -> dict[str, Any]:
    """``body`` (with ``source`` when asked) as the viewer may see it: credentials (a
    Webhook's key) only for those who may write the flow (issue 21)."""
    if credentials:
        return body
    values = confidential.credentials(body)  # its triggers are the source's, as written
    shown = confidential.hide_in_document(body, values)
    if "source" in body:
        shown["source"] = confidential.hide_in_text(body["source"], values)
    return shown


def flow_json(flow: Flow, *, source: bool = False, credentials: bool = False) -> dict[str, Any]:
    """``credentials``: show Webhook keys as written (to a user with write access)."""
    body = _definition(flow.source)
    body.update(
        {
            "id": flow.flow_id,
            "namespace": flow.namespace.name,
            "revision": flow.revision,
            "description": flow.description or body.get("description"),
            "disabled": flow.disabled,
            "draft": False,  # Kestra 2's draft revisions; Trellis has none
            "deleted": flow.deleted,
            "labels": labels_list(flow.labels.all()),
            "updated": flow.updated_at,
        }
    )
    if source:
        body["source"] = flow.source
    return _shown(body, credentials)


def flow_revision_json(
    flow: Flow, revision: FlowRevision, *, source: bool = False, credentials: bool = False
) -> dict[str, Any]:
    """A past revision: its definition as it was, with that revision's number."""
    body = _definition(revision.source)
    body.update(
        {
            "id": flow.flow_id,
            "namespace": flow.namespace.name,
            "revision": revision.revision,
            "disabled": bool(body.get("disabled", False)),
            "draft": False,
            "deleted": revision.deleted,
            "labels": labels_list(body.get("labels") or {}),
            "updated": revision.created_at,
            "author": revision.author.get_username() if revision.author else None,
        }
    )
    if source:
        body["source"] = revision.source
    return _shown(body, credentials)


def flow_summary_json(flow: Flow) -> dict[str, Any]:
    """The short form used in lists and deploy results."""
    return {
        "id": flow.flow_id,
        "namespace": flow.namespace.name,
        "revision": flow.revision,
        "description": flow.description,
        "disabled": flow.disabled,
        "draft": False,
        "deleted": flow.deleted,
        "labels": labels_list(flow.labels.all()),
        "updated": flow.updated_at,
    }


# --- schema-only serializers (OpenAPI documentation of the shapes above) ----------------------


class LabelSerializer(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class FlowSerializer(serializers.Serializer):
    id = serializers.CharField()
    namespace = serializers.CharField()
    revision = serializers.IntegerField()
    description = serializers.CharField(allow_null=True)
    disabled = serializers.BooleanField()
    deleted = serializers.BooleanField()
    labels = LabelSerializer(many=True)
    updated = serializers.DateTimeField()
    tasks = serializers.ListField(child=serializers.DictField(), required=False)
    inputs = serializers.ListField(child=serializers.DictField(), required=False)
    triggers = serializers.ListField(child=serializers.DictField(), required=False)
    source = serializers.CharField(required=False, help_text="with ?source=true")


class FlowPageSerializer(serializers.Serializer):
    results = FlowSerializer(many=True)
    total = serializers.IntegerField()


class FlowRefSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    id = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class ValidationResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    namespace = serializers.CharField(allow_null=True)
    flow = serializers.CharField(allow_null=True)
    valid = serializers.BooleanField()
    errors = ProblemItemSerializer(many=True)
    warnings = ProblemItemSerializer(many=True)
    constraints = serializers.CharField(
        allow_null=True, help_text="Kestra's form: the errors as `path: message` lines"
    )


class NamespaceUpdateResultSerializer(serializers.Serializer):
    flows = FlowSerializer(many=True)
    deleted = FlowRefSerializer(many=True)
