"""The file tasks of every protocol, written once over a :class:`~plugins.fs.remote.Backend`.

``family(...)`` builds Kestra's set for one protocol (List, Download, Downloads, Upload,
Uploads, Delete, Move and, for remote servers, Trigger): each generated class only adds its
type names and how to connect.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from executions.expr_limits import regex_fullmatch
from plugins.base import (
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    RunContext,
    RunnableTask,
    StoreFile,
    TaskFailed,
)
from plugins.fs.remote import ACTIONS, Backend, Entry, library_problems, remote_join, walk

#: Opens a backend from the task's rendered properties.
Connector = Callable[[Mapping[str, Any]], Backend]


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _check_regexp(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    regexp = props.get("regExp")
    if isinstance(regexp, str) and not _templated(regexp):
        try:
            re.compile(regexp)
        except re.error as exc:
            return [("regExp", f"invalid regular expression {regexp!r}: {exc}")]
    return []


def _check_action(props: Mapping[str, Any]) -> list[tuple[str, str]]:
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


def _listing(backend: Backend, props: Mapping[str, Any]) -> list[Entry]:
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _check_regexp(props)

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


def _apply_action(backend: Backend, props: Mapping[str, Any], entries: list[Entry]) -> None:
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _check_regexp(props) + _check_action(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        backend = self.open(props)
        try:
            entries = _listing(backend, props)
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
            _apply_action(backend, props, entries)
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


class RemoteTrigger(PollingTrigger):
    """Start one execution per poll that finds files (``trigger.files``, each with ``uri``,
    a copy in internal storage). With ``action: NONE`` a file starts again only once it
    changed (size or time); MOVE and DELETE act once the execution is committed."""

    scheme: ClassVar[str] = "sftp"
    connect: ClassVar[Connector]
    default_interval = "PT60S"
    #: Shown as ``******`` to users who may not write the flow (flows/confidential.py).
    confidential: ClassVar = ("password", "keyfile", "passphrase")

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _check_regexp(props) + _check_action(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        connect = type(self).connect
        backend = connect(props)
        try:
            entries = _listing(backend, props)
        finally:
            backend.close()
        action = str(props.get("action") or "NONE").upper()
        seen: dict[str, str] = dict(ctx.state.get("seen") or {})
        versions = {e.path: f"{e.size}:{e.mtime}" for e in entries}
        if action == "NONE":
            # Forget files that are gone or changed, so the state stays as large as the folder.
            ctx.state["seen"] = {p: v for p, v in seen.items() if versions.get(p) == v}
            entries = [e for e in entries if seen.get(e.path) != versions[e.path]]
        entries = entries[: int(props.get("maxFiles") or 25)]
        if not entries:
            return []
        key = hashlib.sha256(
            "\n".join(f"{e.path}:{versions[e.path]}" for e in entries).encode()
        ).hexdigest()
        scheme = self.scheme

        def describe(entry: Entry, uri: str | None = None) -> dict[str, Any]:
            where = f"{props.get('host')}:{props.get('port')}" if props.get("port") else ""
            shown = f"{scheme}://{where or props.get('host')}/{entry.path.lstrip('/')}"
            return {**entry.describe(uri or shown), "remotePath": shown}

        def attach(store: StoreFile) -> Mapping[str, Any]:
            described = []
            with tempfile.TemporaryDirectory(prefix="trellis-fs-") as folder:
                opened = connect(props)
                try:
                    for index, entry in enumerate(entries):
                        local = Path(folder) / str(index)
                        opened.download(entry.path, local)
                        described.append(describe(entry, store(local, entry.name)))
                finally:
                    opened.close()
            return {"files": described}

        def done() -> None:
            if action == "NONE":
                for entry in entries:
                    ctx.state.setdefault("seen", {})[entry.path] = versions[entry.path]
                return
            opened = connect(props)
            try:
                _apply_action(opened, props, [e for e in entries if opened.stat(e.path)])
            finally:
                opened.close()

        return [
            PollEvent(
                key=f"files:{key}",
                variables={"files": [describe(e) for e in entries]},
                attach=attach,
                done=done,
            )
        ]


#: The properties each type's example shows, beside the connection.
_EXAMPLE_PROPS = {
    "List": '    from: "/in/"\n    regExp: ".*\\\\.csv"\n',
    "Download": '    from: "/in/file.txt"\n',
    "Downloads": '    from: "/in/"\n    action: MOVE\n    moveDirectory: "/archive/"\n',
    "Upload": '    from: "{{ inputs.file }}"\n    to: "/upload/file.txt"\n',
    "Uploads": '    from:\n      - "{{ inputs.file }}"\n    to: "/upload/"\n',
    "Delete": '    uri: "/upload/file.txt"\n',
    "Move": '    from: "/in/file.txt"\n    to: "/archive/file.txt"\n',
}


def _example(protocol: str, kestra: str, name: str, remote: bool) -> str:
    connection = (
        f"    host: {protocol}.example.com\n    username: foo\n"
        f"    password: \"{{{{ secret('{protocol.upper()}_PASSWORD') }}}}\"\n"
        if remote
        else ""
    )
    inputs = "inputs:\n  - id: file\n    type: FILE\n" if name.startswith("Upload") else ""
    if name == "Trigger":
        return (
            f"id: fs_{protocol}_trigger\nnamespace: company.team\ntasks:\n"
            "  - id: each\n    type: io.kestra.plugin.core.log.Log\n"
            '    message: "{{ trigger.files | length }} file(s)"\n'
            f"triggers:\n  - id: watch\n    type: {kestra}.Trigger\n{connection}"
            '    from: "/in/"\n    interval: PT1M\n    action: MOVE\n    moveDirectory: "/archive/"\n'
        )
    return (
        f"id: fs_{protocol}_{name.lower()}\nnamespace: company.team\n{inputs}tasks:\n"
        f"  - id: {name.lower()}\n    type: {kestra}.{name}\n{connection}{_EXAMPLE_PROPS[name]}"
    )


def family(
    protocol: str,
    connect: Connector,
    *,
    scheme: str,
    connection: tuple[Prop, ...],
    kestra: str,
    trigger: bool = True,
    library: str | None = None,
) -> list[type]:
    """Kestra's task set for one protocol: ``trellis.fs.<protocol>.<Name>`` with
    ``<kestra>.<Name>`` as alias, connecting with ``connect``."""
    bases: dict[str, type] = {
        "List": ListTask,
        "Download": DownloadTask,
        "Downloads": DownloadsTask,
        "Upload": UploadTask,
        "Uploads": UploadsTask,
        "Delete": DeleteTask,
        "Move": MoveTask,
    }
    classes: list[type] = []

    def checked(base: type) -> classmethod:
        def validate(cls: type, props: Mapping[str, Any]) -> list[tuple[str, str]]:
            found = library_problems(library, "fs")
            return found or base.validate.__func__(cls, props)  # type: ignore[attr-defined]

        return classmethod(validate)

    for name, base in bases.items():
        namespace = {
            "type": f"trellis.fs.{protocol}.{name}",
            "aliases": (f"{kestra}.{name}",),
            "scheme": scheme,
            "connect": staticmethod(connect),
            "properties": (*connection, *base.properties),
            "__doc__": f"{base.__doc__} ({protocol.upper()})",
            "__module__": f"plugins.fs.{protocol}",
            "validate": checked(base),
            "examples": (_example(protocol, kestra, name, scheme != "file"),),
        }
        classes.append(type(f"{protocol.capitalize()}{name}", (base,), namespace))
    if trigger:
        namespace = {
            "type": f"trellis.fs.{protocol}.Trigger",
            "aliases": (f"{kestra}.Trigger",),
            "scheme": scheme,
            "connect": staticmethod(connect),
            "properties": (
                *connection,
                *DownloadsTask.properties,
                Prop("interval", "duration", default="PT60S", dynamic=False),
                *PollingTrigger.shared_properties,
            ),
            "__doc__": RemoteTrigger.__doc__,
            "__module__": f"plugins.fs.{protocol}",
            "validate": checked(RemoteTrigger),
            "examples": (_example(protocol, kestra, "Trigger", True),),
        }
        classes.append(type(f"{protocol.capitalize()}Trigger", (RemoteTrigger,), namespace))
    return classes
