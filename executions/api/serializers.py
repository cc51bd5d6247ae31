"""OpenAPI descriptions of the execution and log documents, and of the bulk payloads.

The documents themselves are built by :mod:`executions.api.documents` (plain functions that
the admin and the compatibility runner share); these serializers only tell drf-spectacular
their shape, plus validate the JSON list of ids the ``by-ids`` actions take.
"""

from __future__ import annotations

from rest_framework import serializers

from executions.api.documents import execution_document, log_document
from flows.api.serializers import LabelSerializer
from kernel.states import State

__all__ = [
    "ByIdsResultSerializer",
    "ExecutionPageSerializer",
    "ExecutionSerializer",
    "InputsValidationSerializer",
    "LogEntrySerializer",
    "LogPageSerializer",
    "execution_document",
    "log_document",
]

STATES = [s.value for s in State]


class StateHistorySerializer(serializers.Serializer):
    state = serializers.CharField(help_text="one of the states of `current`")
    date = serializers.DateTimeField()


class StateSerializer(serializers.Serializer):
    current = serializers.ChoiceField(STATES)
    histories = StateHistorySerializer(many=True)
    startDate = serializers.DateTimeField(allow_null=True)  # noqa: N815 - JSON field name
    endDate = serializers.DateTimeField(allow_null=True)  # noqa: N815
    duration = serializers.CharField(allow_null=True, help_text="ISO-8601, e.g. PT1.5S")


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    state = StateSerializer()
    startDate = serializers.DateTimeField(allow_null=True)  # noqa: N815
    endDate = serializers.DateTimeField(allow_null=True)  # noqa: N815
    workerId = serializers.CharField(allow_null=True)  # noqa: N815


class TaskRunSerializer(serializers.Serializer):
    id = serializers.CharField()
    executionId = serializers.CharField()  # noqa: N815
    namespace = serializers.CharField()
    flowId = serializers.CharField()  # noqa: N815
    parentTaskRunId = serializers.CharField(allow_null=True)  # noqa: N815
    taskId = serializers.CharField()  # noqa: N815
    value = serializers.CharField(allow_null=True)
    iteration = serializers.IntegerField(allow_null=True)
    state = StateSerializer()
    attempts = AttemptSerializer(many=True)
    outputs = serializers.DictField()


class TriggerSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    variables = serializers.DictField(required=False)


class ExecutionSerializer(serializers.Serializer):
    id = serializers.CharField()
    namespace = serializers.CharField()
    flowId = serializers.CharField()  # noqa: N815
    flowRevision = serializers.IntegerField()  # noqa: N815
    state = StateSerializer()
    inputs = serializers.DictField()
    outputs = serializers.DictField()
    labels = LabelSerializer(many=True)
    trigger = TriggerSerializer(allow_null=True)
    parentId = serializers.CharField(allow_null=True)  # noqa: N815
    originalId = serializers.CharField()  # noqa: N815
    taskRunList = TaskRunSerializer(many=True)  # noqa: N815


class ExecutionPageSerializer(serializers.Serializer):
    results = ExecutionSerializer(many=True)
    total = serializers.IntegerField()


class InputsValidationSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    flowId = serializers.CharField()  # noqa: N815
    revision = serializers.IntegerField()
    inputs = serializers.DictField(help_text="the typed inputs an execution would get")
    labels = LabelSerializer(many=True)


class ByIdsItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()


class ByIdsResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="executions acted on")
    results = ByIdsItemSerializer(many=True)


class LogEntrySerializer(serializers.Serializer):
    namespace = serializers.CharField()
    flowId = serializers.CharField()  # noqa: N815
    executionId = serializers.CharField()  # noqa: N815
    taskId = serializers.CharField(allow_null=True)  # noqa: N815
    taskRunId = serializers.CharField(allow_null=True)  # noqa: N815
    attemptNumber = serializers.IntegerField(allow_null=True)  # noqa: N815
    timestamp = serializers.DateTimeField()
    level = serializers.CharField()
    message = serializers.CharField()


class LogPageSerializer(serializers.Serializer):
    results = LogEntrySerializer(many=True)
    total = serializers.IntegerField()
