"""Kestra's core storage tasks over internal storage: ``storage.Write``, ``Size``,
``Concat``, ``Split`` and ``Reverse``.

Each reads the files it is given through the run context (so only files of this execution,
its parents or its namespace) and writes its result as a file of the task run. Text is read
as UTF-8; Kestra's default extension for written files is ``.ion`` and Trellis keeps the
name but the content is whatever was written (see docs/migrating-from-kestra.md, Ion).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed, kestra_aliases
from plugins.core.flow.for_each_item import MAX_BATCHES, cut_items, split_items

_EXAMPLE = """id: files
namespace: trellis.examples
tasks:
  - id: write
    type: trellis.core.storage.Write
    content: "a\\nb\\nc\\n"
    extension: .txt
  - id: split
    type: trellis.core.storage.Split
    from: "{{ outputs.write.uri }}"
    rows: 2
  - id: concat
    type: trellis.core.storage.Concat
    files: "{{ outputs.split.uris }}"
  - id: size
    type: trellis.core.storage.Size
    uri: "{{ outputs.concat.uri }}"
"""


def _uri(value: Any, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text.startswith("kestra://"):
        raise TaskFailed(f"{what} must be an internal storage URI (kestra:///...), not {text!r}")
    return text


def _extension(value: Any, default: str) -> str:
    text = str(value or default).strip()
    text = text if text.startswith(".") else f".{text}"
    if "/" in text or "\\" in text or len(text) > 20:
        raise TaskFailed(f"extension {text!r} is not a file extension")
    return text


def _local(ctx: RunContext, uri: str) -> Path:
    path = Path(ctx.open_uri(uri))
    if not path.is_file():
        raise TaskFailed(f"no file at {uri}")
    return path


class Write(RunnableTask):
    """Write ``content`` to a file in internal storage; outputs its ``uri`` and ``size``."""

    type = "trellis.core.storage.Write"
    aliases = kestra_aliases("storage.Write")
    properties: ClassVar = (
        Prop("content", "string", required=True),
        Prop("extension", "string", default=".ion"),
    )
    examples = (_EXAMPLE,)

    outputs: ClassVar = (
        Output("uri", "The written file in internal storage.", "uri"),
        Output("size", "Its size in bytes.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        target = ctx.working_dir / f"content{_extension(props.get('extension'), '.ion')}"
        data = str(props.get("content") or "").encode("utf-8")
        target.write_bytes(data)
        return {"uri": ctx.put_file(target, target.name), "size": len(data)}


class Size(RunnableTask):
    """The size in bytes of a file in internal storage."""

    type = "trellis.core.storage.Size"
    aliases = kestra_aliases("storage.Size", core_tasks="storages.Size")
    properties: ClassVar = (Prop("uri", "string", required=True),)

    outputs: ClassVar = (Output("size", "The file's size in bytes.", "integer"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"size": _local(ctx, _uri(props.get("uri"), "uri")).stat().st_size}


def _file_list(value: Any) -> list[str]:
    """``files``: a list of URIs, or a JSON list of them (``{{ outputs.split.uris }}``)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if not isinstance(value, list) or not value:
        raise TaskFailed("files must be a non-empty list of internal storage URIs")
    return [_uri(v, "each of files") for v in value]


class Concat(RunnableTask):
    """Concatenate files, in order, with an optional ``separator`` between them."""

    type = "trellis.core.storage.Concat"
    aliases = kestra_aliases("storage.Concat", core_tasks="storages.Concat")
    properties: ClassVar = (
        Prop("files", "any", required=True, description="A list of URIs, or a JSON list."),
        Prop("separator", "string"),
        Prop("extension", "string", default=".tmp"),
    )

    outputs: ClassVar = (Output("uri", "The concatenated file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        separator = str(props.get("separator") or "").encode("utf-8")
        target = ctx.working_dir / f"concat{_extension(props.get('extension'), '.tmp')}"
        with target.open("wb") as out:
            for i, uri in enumerate(_file_list(props.get("files"))):
                if i and separator:
                    out.write(separator)
                out.write(_local(ctx, uri).read_bytes())
        return {"uri": ctx.put_file(target, target.name)}


class Split(RunnableTask):
    """Split a file into several by ``rows``, ``bytes`` (``10MB``) or ``partitions`` (the
    same rules as ForEachItem's batches); outputs the list of ``uris``."""

    type = "trellis.core.storage.Split"
    aliases = kestra_aliases("storage.Split", core_tasks="storages.Split")
    properties: ClassVar = (
        Prop("from", "string", required=True),
        Prop("rows", "integer"),
        Prop("bytes", "string"),
        Prop("partitions", "integer"),
        Prop("separator", "string", default="\n"),
    )

    outputs: ClassVar = (Output("uris", "The parts, in order, as internal-storage URIs.", "list"),)

    @classmethod
    def validate(cls, props: Any) -> list[tuple[str, str]]:
        given = [k for k in ("rows", "bytes", "partitions") if props.get(k) not in (None, "")]
        if len(given) != 1:
            return [("rows", "give exactly one of rows, bytes and partitions")]
        return []

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = _local(ctx, _uri(props.get("from"), "from"))
        separator = str(props.get("separator") or "\n")
        text = source.read_text(encoding="utf-8", errors="replace")
        batches = split_items(cut_items(text, separator), dict(props))
        if len(batches) > MAX_BATCHES:
            raise TaskFailed(f"{len(batches)} files: at most {MAX_BATCHES} are allowed")
        suffix = source.suffix or ".txt"
        uris = []
        for i, lines in enumerate(batches):
            local = ctx.working_dir / f"{i}{suffix}"
            local.write_text("".join(lines), encoding="utf-8")
            uris.append(ctx.put_file(local, local.name))
        return {"uris": uris}


class Reverse(RunnableTask):
    """The file's lines (or ``separator``-cut items) in reverse order."""

    type = "trellis.core.storage.Reverse"
    aliases = kestra_aliases("storage.Reverse", core_tasks="storages.Reverse")
    properties: ClassVar = (
        Prop("from", "string", required=True),
        Prop("separator", "string", default="\n"),
    )

    outputs: ClassVar = (Output("uri", "The file with its lines in reverse order.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = _local(ctx, _uri(props.get("from"), "from"))
        separator = str(props.get("separator") or "\n")
        items = [i.removesuffix(separator) for i in cut_items(source.read_text("utf-8"), separator)]
        target = ctx.working_dir / f"reverse{source.suffix or '.tmp'}"
        target.write_text("".join(i + separator for i in reversed(items)), encoding="utf-8")
        return {"uri": ctx.put_file(target, target.name)}


class DeleteFiles(RunnableTask):
    """Delete files of this execution from internal storage (``uris``: a list or its JSON);
    a missing file fails the task only with ``errorOnMissing``."""

    type = "trellis.core.storage.DeleteFiles"
    aliases = kestra_aliases("storage.DeleteFiles", core_tasks="storages.DeleteFiles")
    properties: ClassVar = (
        Prop("uris", "any", required=True),
        Prop("errorOnMissing", "boolean", default=False),
    )

    outputs: ClassVar = (Output("deleted", "How many files were deleted.", "integer"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        delete = getattr(ctx, "delete_uri", None)
        if delete is None:
            raise TaskFailed("this worker cannot delete stored files")
        uris = _file_list(props.get("uris"))
        missing = [uri for uri in uris if not delete(uri)]
        if missing and props.get("errorOnMissing") is True:
            raise TaskFailed(f"no file at {', '.join(missing)}")
        return {"deleted": len(uris) - len(missing)}


PLUGINS = [Write, Size, Concat, Split, Reverse, DeleteFiles]
