"""The file tasks of every protocol, written once over a :class:`~plugins.fs.remote.Backend`
(``plugins.fs.family`` turns them into each protocol's types)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.expressions.limits import regex_fullmatch
from kernel.plugin import (
    Output,
    Prop,
    RunContext,
    RunnableTask,
    TaskFailed,
)
from plugins.fs.remote import ACTIONS, Backend, Entry, remote_join, walk

#: Opens a backend from the task's rendered properties.
Connector = Callable[[Mapping[str, Any]], Backend]


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_regexp(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    regexp = props.get("regExp")
    if isinstance(regexp, str) and not _templated(regexp):
        try:
            re.compile(regexp)
        except re.error as exc:
            return [("regExp", f"invalid regular expression {regexp!r}: {exc}")]
    return []


def check_action(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    if props.get("action") == "MOVE" and not props.get("moveDirectory"):
        return [("moveDirectory", "`action: MOVE` needs a `moveDirectory`")]
    return []


class FsTask(RunnableTask):
    """A task of one protocol: ``scheme`` names it in output URIs, ``connect`` opens it."""

    scheme: ClassVar[str] = "file"
    connect: ClassVar[Connector]

    def uri(self, props: Mapping[str, Any], path: str) -> str:
        """How outputs name a remote file: ``sftp://host:port/path`` (Kestra's form)."""
        if self.scheme == "file":
            return path
        port = props.get("port")
        where = f"{props.get('host')}:{port}" if port else str(props.get("host"))
        return f"{self.scheme}://{where}/{path.lstrip('/')}"

    def open(self, props: Mapping[str, Any]) -> Backend:
        return type(self).connect(props)


def listing(backend: Backend, props: Mapping[str, Any]) -> list[Entry]:
    """The files ``from`` holds that match ``regExp`` (on the full path), at most maxFiles."""
    root = str(props["from"])
    regexp = props.get("regExp")
    found: list[Entry] = []
    for entry in walk(backend, root, recursive=props.get("recursive") is True):
        if entry.is_dir:
            continue
        # In the regex engine with a timeout: a catastrophic pattern must not pin a worker.
        if regexp and not regex_fullmatch(str(regexp), entry.path, timeout=1.0):
            continue
        found.append(entry)
    return found


class ListTask(FsTask):
    """List the files of a remote folder (``files``: name, path, size, fileType...)."""

    properties: ClassVar = (
        Prop("from", "string", required=True, description="The folder to list."),
        Prop("regExp", "string", description="Only paths matching this regular expression."),
        Prop("recursive", "boolean", default=False, description="List sub-folders too."),
    )

    outputs: ClassVar = (
        Output("files", "One entry per file: name, path, size, fileType, updatedDate.", "list"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return check_regexp(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        backend = self.open(props)
        try:
            regexp = props.get("regExp")
            files = []
            for entry in walk(
                backend, str(props["from"]), recursive=props.get("recursive") is True
            ):
                if regexp and not regex_fullmatch(str(regexp), entry.path, timeout=1.0):
                    continue
                files.append(entry.describe(self.uri(props, entry.path)))
        finally:
            backend.close()
        ctx.logger.debug(f"found {len(files)} entries in {props['from']}")
        return {"files": files}


class DownloadTask(FsTask):
    """Copy one remote file into internal storage (``to``/``uri``: its ``kestra://`` URI)."""

    properties: ClassVar = (
        Prop("from", "string", required=True, description="The remote file to download."),
    )

    outputs: ClassVar = (
        Output("from", "The remote file.", "string"),
        Output("to", "Its copy in internal storage.", "uri"),
        Output("uri", "The same URI as `to`.", "uri"),
        Output("size", "Bytes downloaded.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = str(props["from"])
        target = ctx.working_dir / f"download-{hashlib.sha1(source.encode()).hexdigest()[:8]}"
        backend = self.open(props)
        try:
            backend.download(source, target)
        except FileNotFoundError as exc:
            raise TaskFailed(f"{source}: no such file") from exc
        finally:
            backend.close()
        uri = ctx.put_file(target, Path(source).name or "file")
        size = target.stat().st_size
        target.unlink(missing_ok=True)
        ctx.logger.info(f"downloaded {source} ({size} bytes)")
        return {"from": self.uri(props, source), "to": uri, "uri": uri, "size": size}


def apply_action(backend: Backend, props: Mapping[str, Any], entries: list[Entry]) -> None:
    action = str(props.get("action") or "NONE").upper()
    if action == "DELETE":
        for entry in entries:
            backend.delete(entry.path)
    elif action == "MOVE":
        folder = str(props["moveDirectory"])
        backend.makedirs(folder)
        for entry in entries:
            backend.rename(entry.path, remote_join(folder, entry.name))


class DownloadsTask(FsTask):
    """Download every file of a folder matching ``regExp``, then MOVE, DELETE or keep them."""

    properties: ClassVar = (
        *ListTask.properties,
        Prop("action", "string", default="NONE", choices=ACTIONS),
        Prop("moveDirectory", "string", description="Where MOVE puts the files."),
        Prop("maxFiles", "integer", default=25, description="Files downloaded, at most."),
    )

    outputs: ClassVar = (
        Output("files", "One entry per file downloaded, with its `uri`.", "list"),
        Output("outputFiles", "Remote path -> internal-storage URI.", "map"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return check_regexp(props) + check_action(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        backend = self.open(props)
        try:
            entries = listing(backend, props)
            limit = int(props.get("maxFiles") or 25)
            if len(entries) > limit:
                ctx.logger.warning(f"{len(entries)} files found, only the first {limit} taken")
                entries = entries[:limit]
            files, output_files = [], {}
            for entry in entries:
                local = ctx.working_dir / f"dl-{len(files)}"
                backend.download(entry.path, local)
                uri = ctx.put_file(local, entry.name)
                local.unlink(missing_ok=True)
                files.append(entry.describe(uri))
                output_files[entry.name] = uri
            apply_action(backend, props, entries)
        finally:
            backend.close()
        return {"files": files, "outputFiles": output_files}


def _sources(value: Any) -> list[tuple[str | None, str]]:
    """``from`` of Uploads: one URI, a list of them or a mapping name -> URI."""
    if isinstance(value, Mapping):
        return [(str(k), str(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [(None, str(v)) for v in value]
    if isinstance(value, str):
        return [(None, value)]
    raise TaskFailed("`from` must be a URI, a list of URIs or a mapping of name to URI")


class UploadTask(FsTask):
    """Copy one file of internal storage to the remote ``to`` path (folders created)."""

    properties: ClassVar = (
        Prop("from", "string", required=True, description="The kestra:// URI to upload."),
        Prop("to", "string", description="The remote path (default: the file's name)."),
        Prop("overwrite", "boolean", default=True, description="Replace an existing file."),
    )

    outputs: ClassVar = (
        Output("from", "The uploaded file's URI.", "string"),
        Output("to", "Where it was written.", "string"),
        Output("size", "Bytes uploaded.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        local = ctx.open_uri(str(props["from"]))
        target = str(props.get("to") or local.name)
        backend = self.open(props)
        try:
            if props.get("overwrite") is False and backend.stat(target) is not None:
                raise TaskFailed(f"{target} exists and `overwrite` is false")
            parent = target.rsplit("/", 1)[0] if "/" in target.strip("/") else ""
            if parent:
                backend.makedirs(parent)
            backend.upload(local, target)
        finally:
            backend.close()
        size = local.stat().st_size
        ctx.logger.info(f"uploaded {size} bytes to {target}")
        return {"from": str(props["from"]), "to": self.uri(props, target), "size": size}


class UploadsTask(FsTask):
    """Copy several files of internal storage into the remote folder ``to``."""

    properties: ClassVar = (
        Prop("from", "any", required=True, description="URIs: one, a list or name -> URI."),
        Prop("to", "string", required=True, description="The remote folder."),
        Prop("overwrite", "boolean", default=True, description="Replace existing files."),
    )

    outputs: ClassVar = (Output("files", "Where each file was written.", "list"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        folder = str(props["to"])
        backend = self.open(props)
        uploaded = []
        try:
            backend.makedirs(folder)
            for name, uri in _sources(props["from"]):
                local = ctx.open_uri(uri)
                target = remote_join(folder, name or local.name)
                if props.get("overwrite") is False and backend.stat(target) is not None:
                    raise TaskFailed(f"{target} exists and `overwrite` is false")
                backend.upload(local, target)
                uploaded.append(self.uri(props, target))
        finally:
            backend.close()
        return {"files": uploaded}


class DeleteTask(FsTask):
    """Delete one remote file (``deleted`` says whether there was one)."""

    properties: ClassVar = (
        Prop("uri", "string", required=True, description="The remote file to delete."),
        Prop("errorOnMissing", "boolean", default=False),
    )

    outputs: ClassVar = (
        Output("uri", "The file named.", "string"),
        Output("deleted", "Whether it existed and was deleted.", "boolean"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        path = _path_of(str(props["uri"]))
        backend = self.open(props)
        try:
            deleted = backend.delete(path)
        finally:
            backend.close()
        if not deleted and props.get("errorOnMissing"):
            raise TaskFailed(f"{path}: no such file")
        return {"uri": self.uri(props, path), "deleted": deleted}


class MoveTask(FsTask):
    """Move (rename) a remote file; ``to`` ending in ``/`` keeps the file's name."""

    properties: ClassVar = (
        Prop("from", "string", required=True, description="The remote file to move."),
        Prop("to", "string", required=True, description="The new path, or a folder + '/'."),
        Prop("overwrite", "boolean", default=False, description="Replace an existing file."),
    )

    outputs: ClassVar = (
        Output("from", "The old path.", "string"),
        Output("to", "The new path.", "string"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = _path_of(str(props["from"]))
        target = _path_of(str(props["to"]))
        if target.endswith("/"):
            target = remote_join(target, source.rsplit("/", 1)[-1])
        backend = self.open(props)
        try:
            if backend.stat(source) is None:
                raise TaskFailed(f"{source}: no such file")
            if backend.stat(target) is not None:
                if not props.get("overwrite"):
                    raise TaskFailed(f"{target} exists and `overwrite` is false")
                backend.delete(target)
            parent = target.rsplit("/", 1)[0]
            if parent:
                backend.makedirs(parent)
            backend.rename(source, target)
        finally:
            backend.close()
        return {"from": self.uri(props, source), "to": self.uri(props, target)}


def _path_of(value: str) -> str:
    """A remote path from a path or a ``scheme://host:port/path`` URI (Delete's ``uri``)."""
    if "://" in value:
        rest = value.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return value
