"""KV tasks: ``kv.Set``, ``kv.Get``, ``kv.GetKeys``, ``kv.Delete``. The store is reached
through the run context (``ctx.kv``), so these plugins know nothing of models."""

from __future__ import annotations

from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed, kestra_aliases


def _namespace(props: dict[str, Any], ctx: RunContext) -> str:
    return str(props.get("namespace") or ctx.namespace)


def _store(ctx: RunContext) -> Any:
    store = getattr(ctx, "kv", None)
    if store is None:
        raise TaskFailed("this worker has no KV store")
    return store


class Set(RunnableTask):
    type = "trellis.core.kv.Set"
    aliases = kestra_aliases("kv.Set", core_tasks="kv.Set")
    properties: ClassVar = (
        Prop("key", "string", required=True),
        Prop("value", "any", required=True),
        Prop("namespace", "string"),
        Prop("overwrite", "boolean", default=True),
        Prop("ttl", "duration"),
        Prop("kvType", "string"),
        Prop("kvDescription", "string"),
    )

    #: Returns nothing: its work is the stored key.
    outputs: ClassVar = ()

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        try:
            _store(ctx).set(
                _namespace(props, ctx), props["key"], props["value"],
                value_type=props.get("kvType"), ttl=props.get("ttl"),
                overwrite=bool(props.get("overwrite", True)),
                description=str(props.get("kvDescription") or ""),
            )  # fmt: skip
        except ValueError as exc:
            raise TaskFailed(str(exc)) from exc
        return {}


class Get(RunnableTask):
    type = "trellis.core.kv.Get"
    aliases = kestra_aliases("kv.Get", core_tasks="kv.Get")
    properties: ClassVar = (
        Prop("key", "string", required=True),
        Prop("namespace", "string"),
        Prop("errorOnMissing", "boolean", default=False),
    )

    outputs: ClassVar = (
        Output("value", "The key's value (None when absent and `errorOnMissing` is false).", "any"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        try:
            return {"value": _store(ctx).get(_namespace(props, ctx), props["key"])}
        except LookupError as exc:
            if props.get("errorOnMissing"):
                raise TaskFailed(str(exc)) from exc
            return {"value": None}


class GetKeys(RunnableTask):
    type = "trellis.core.kv.GetKeys"
    aliases = kestra_aliases("kv.GetKeys", core_tasks="kv.GetKeys")
    properties: ClassVar = (Prop("prefix", "string", default=""), Prop("namespace", "string"))

    outputs: ClassVar = (Output("keys", "The namespace's keys starting with `prefix`.", "list"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"keys": _store(ctx).keys(_namespace(props, ctx), props.get("prefix") or "")}


class Delete(RunnableTask):
    type = "trellis.core.kv.Delete"
    aliases = kestra_aliases("kv.Delete", core_tasks="kv.Delete")
    properties: ClassVar = (
        Prop("key", "string", required=True),
        Prop("namespace", "string"),
        Prop("errorOnMissing", "boolean", default=False),
    )

    outputs: ClassVar = (Output("deleted", "Whether the key existed.", "boolean"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        deleted = _store(ctx).delete(_namespace(props, ctx), props["key"])
        if not deleted and props.get("errorOnMissing"):
            raise TaskFailed(f"The key '{props['key']}' does not exist")
        return {"deleted": deleted}


PLUGINS = [Set, Get, GetKeys, Delete]
