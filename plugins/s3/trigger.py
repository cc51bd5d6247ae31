"""``io.kestra.plugin.aws.s3.Trigger``: one execution per poll that finds objects."""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import (
    Output,
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    StoreFile,
    TaskFailed,
)
from plugins.s3.connection import (
    ACTION,
    CONNECTION,
    LISTING,
    S3Task,
    apply_action,
    client,
    download_object,
    list_objects,
)


class Trigger(PollingTrigger):
    """Start one execution per poll that finds objects (``trigger.objects``, each with
    ``uri``: a copy in internal storage). ``action: NONE`` starts again only for a new or
    changed object (its eTag); MOVE and DELETE act once the execution is committed, so a
    duplicated poll's event, having the same key, starts nothing more."""

    type = "trellis.s3.Trigger"
    aliases = ("io.kestra.plugin.aws.s3.Trigger",)
    default_interval = "PT60S"
    #: Shown as ``******`` to users who may not write the flow (flows/confidential.py).
    confidential: ClassVar = ("secretKeyId", "sessionToken")
    properties: ClassVar = (
        *CONNECTION,
        *LISTING,
        *ACTION,
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    examples = (
        """id: s3_listen
namespace: company.team
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ trigger.objects | jq('.[].uri') }}"
    tasks:
      - id: return
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }}"
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
    interval: PT5M
    accessKeyId: "{{ secret('AWS_ACCESS_KEY_ID') }}"
    secretKeyId: "{{ secret('AWS_SECRET_KEY_ID') }}"
    region: eu-central-1
    bucket: my-bucket
    prefix: sub-dir
    action: MOVE
    moveTo:
      key: archive
      bucket: new-bucket
""",
    )

    outputs: ClassVar = (
        Output(
            "objects",
            "One entry per object found, with `uri` naming its copy in internal storage.",
            "list",
        ),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return S3Task.validate.__func__(cls, props)  # type: ignore[attr-defined]

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        s3 = client(props)
        bucket = str(props["bucket"])
        objects = [o for o in list_objects(s3, props) if not o["key"].endswith("/")]
        action = str(props.get("action") or "NONE").upper()
        if action == "NONE":
            seen: dict[str, str] = dict(ctx.state.get("seen") or {})
            present = {o["key"]: o["eTag"] for o in objects}
            ctx.state["seen"] = {k: v for k, v in seen.items() if present.get(k) == v}
            objects = [o for o in objects if seen.get(o["key"]) != o["eTag"]]
        if not objects:
            return []
        key = hashlib.sha256(
            "\n".join(f"{bucket}/{o['key']}:{o['eTag']}" for o in objects).encode()
        ).hexdigest()

        def attach(store: StoreFile) -> Mapping[str, Any]:
            stored = []
            with tempfile.TemporaryDirectory(prefix="trellis-s3-") as folder:
                for index, item in enumerate(objects):
                    local = Path(folder) / str(index)
                    download_object(s3, bucket, item["key"], local)
                    name = posixpath.basename(item["key"]) or "object"
                    stored.append({**item, "uri": store(local, name)})
            return {"objects": stored}

        def done() -> None:
            if action == "NONE":
                for item in objects:
                    ctx.state.setdefault("seen", {})[item["key"]] = item["eTag"]
                return
            for item in objects:
                # One at a time: an object a duplicated poll's event moved already is gone,
                # which is fine; the others still move.
                with contextlib.suppress(TaskFailed):
                    apply_action(s3, props, [item])

        return [PollEvent(key=f"objects:{key}", variables={"objects": objects}, attach=attach,
                          done=done)]  # fmt: skip
