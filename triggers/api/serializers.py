"""Request and response shapes of the trigger API (Kestra's field names)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from triggers.services import BackfillWindow, TriggerKey

# ruff: noqa: N815 - JSON field names are Kestra's camelCase


class TriggerKeySerializer(serializers.Serializer):
    """Names one trigger; other fields (a whole ``triggerContext`` sent back) are ignored."""

    namespace = serializers.CharField(max_length=255)
    flowId = serializers.CharField(max_length=255)
    triggerId = serializers.CharField(max_length=255)

    def key(self) -> TriggerKey:
        data = self.validated_data
        return TriggerKey(data["namespace"], data["flowId"], data["triggerId"])


@extend_schema_field(
    {
        "oneOf": [
            {"type": "object", "additionalProperties": {"type": "string"}},
            {"type": "array", "items": {"type": "object", "properties": {
                "key": {"type": "string"}, "value": {"type": "string"}}}},
        ]
    }
)  # fmt: skip
class LabelsField(serializers.Field):
    """Labels as a map or as Kestra's list of ``{key, value}``."""

    default_error_messages = {"invalid": "expected a map or a list of {key, value}"}

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, dict):
            return {str(k): "" if v is None else str(v) for k, v in data.items()}
        if isinstance(data, list) and all(isinstance(i, dict) and "key" in i for i in data):
            return {str(i["key"]): str(i.get("value") or "") for i in data}
        self.fail("invalid")
        return {}

    def to_representation(self, value: Any) -> Any:
        return value


class BackfillRequestSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="first tick date (ISO-8601)")
    end = serializers.DateTimeField(
        required=False, allow_null=True, help_text="last tick date; default now"
    )
    inputs = serializers.DictField(required=False, default=dict)
    labels = LabelsField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end")
        if end is not None and end < attrs["start"]:
            raise serializers.ValidationError({"end": "end is before start"})
        return attrs


class TriggerUpdateSerializer(TriggerKeySerializer):
    disabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    backfill = BackfillRequestSerializer(required=False, allow_null=True, default=None)

    def window(self, now: Any) -> BackfillWindow | None:
        backfill = self.validated_data.get("backfill")
        if not backfill:
            return None
        return BackfillWindow(
            start=backfill["start"],
            end=backfill.get("end") or now,
            inputs=backfill.get("inputs") or {},
            labels=backfill.get("labels") or {},
        )


class SetDisabledSerializer(serializers.Serializer):
    triggers = TriggerKeySerializer(many=True, allow_empty=False)
    disabled = serializers.BooleanField(default=True)

    def keys(self) -> list[TriggerKey]:
        return [
            TriggerKey(t["namespace"], t["flowId"], t["triggerId"])
            for t in self.validated_data["triggers"]
        ]


# -- responses (for the OpenAPI schema) --------------------------------------------------


class TriggerBackfillSerializer(serializers.Serializer):
    start = serializers.CharField()
    end = serializers.CharField()
    currentDate = serializers.CharField(help_text="ticks up to this date are handled")
    inputs = serializers.DictField()
    labels = serializers.DictField()
    paused = serializers.BooleanField()
    status = serializers.ChoiceField(["RUNNING", "PAUSED", "DONE"])
    total = serializers.IntegerField(help_text="ticks in the window")
    handled = serializers.IntegerField()
    created = serializers.IntegerField(help_text="executions started")
    skipped = serializers.IntegerField(help_text="ticks that had run already or were refused")
    percent = serializers.FloatField()
    error = serializers.CharField(allow_null=True)


class TriggerContextSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    flowId = serializers.CharField()
    triggerId = serializers.CharField()
    type = serializers.CharField()
    disabled = serializers.BooleanField(help_text="the operator's switch (or stopAfter)")
    disabledReason = serializers.CharField(allow_null=True)
    armed = serializers.BooleanField(help_text="may fire: flow and trigger enabled")
    date = serializers.CharField(allow_null=True, help_text="last fire")
    nextExecutionDate = serializers.CharField(
        allow_null=True, help_text="next schedule tick or next poll"
    )
    executionId = serializers.CharField(allow_null=True, help_text="last execution started")
    lastEvaluationDate = serializers.CharField(allow_null=True, help_text="polling triggers")
    nextEvaluationDate = serializers.CharField(allow_null=True, help_text="polling triggers")
    evaluationStartedDate = serializers.CharField(allow_null=True, help_text="a poll running")
    lastError = serializers.CharField(allow_null=True, help_text="why the last poll failed")
    backfill = TriggerBackfillSerializer(allow_null=True)
    updatedDate = serializers.CharField()


class TriggerDocumentSerializer(serializers.Serializer):
    abstractTrigger = serializers.DictField(
        allow_null=True, help_text="the declaration in the flow's YAML"
    )
    triggerContext = TriggerContextSerializer()


class TriggerPageSerializer(serializers.Serializer):
    results = TriggerDocumentSerializer(many=True)
    total = serializers.IntegerField()


class TriggerBulkItemSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    flowId = serializers.CharField()
    triggerId = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()


class TriggerBulkResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="triggers acted on")
    results = TriggerBulkItemSerializer(many=True)
