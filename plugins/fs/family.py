"""``family(...)`` builds Kestra's set of types for one protocol (List, Download, Downloads,
Upload, Uploads, Delete, Move and, for remote servers, Trigger): each generated class only adds
its type names, an example and how to connect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kernel.plugin import (
    PollingTrigger,
    Prop,
)
from plugins.fs.remote import library_problems
from plugins.fs.tasks import (
    Connector,
    DeleteTask,
    DownloadsTask,
    DownloadTask,
    ListTask,
    MoveTask,
    UploadsTask,
    UploadTask,
)
from plugins.fs.trigger import RemoteTrigger

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
