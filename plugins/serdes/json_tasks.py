"""JSON <-> Ion (Kestra's ``serdes.json.JsonToIon`` and ``IonToJson``).

With ``newLine`` (the default) the JSON side is JSON lines, one value a line, read and written
a line at a time. ``newLine: false`` reads one JSON document (an array's items become rows)
and so holds that document in memory, as Kestra warns; writing an array stays streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, TaskFailed
from plugins.serdes.common import (
    CHARSET,
    FROM,
    TIME_ZONE,
    SerdesTask,
    charset,
    json_safe,
    read_ion,
    source_path,
    stop_point,
    store,
    target_path,
    text_stream,
    time_zone,
    write_ion_rows,
)

NEW_LINE = Prop("newLine", "boolean", default=True,
                description="JSON lines (one value a line) rather than one JSON document.")  # fmt: skip

_EXAMPLE = """id: json_round_trip
namespace: trellis.examples
tasks:
  - id: write
    type: trellis.core.storage.Write
    content: |
      {"id": 1, "tags": ["a", "b"]}
      {"id": 2, "tags": []}
    extension: .jsonl
  - id: to_ion
    type: trellis.serdes.json.JsonToIon
    from: "{{ outputs.write.uri }}"
  - id: to_json
    type: trellis.serdes.json.IonToJson
    from: "{{ outputs.to_ion.uri }}"
    newLine: false
"""


def _json_rows(path: Path, encoding: str, new_line: bool) -> Iterator[Any]:
    with text_stream(path, encoding) as stream:
        if not new_line:
            try:
                document = json.load(stream)
            except ValueError as exc:
                raise TaskFailed(f"the file is not one JSON document: {exc}") from exc
            yield from document if isinstance(document, list) else [document]
            return
        for number, line in enumerate(stream, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                yield json.loads(text)
            except ValueError as exc:
                raise TaskFailed(
                    f"line {number} is not JSON ({exc}); "
                    "set newLine: false for a file holding one JSON document"
                ) from exc


class JsonToIon(SerdesTask):
    """Read JSON lines (or one JSON document with ``newLine: false``) into Ion rows."""

    type = "trellis.serdes.json.JsonToIon"
    aliases = ("io.kestra.plugin.serdes.json.JsonToIon", "io.kestra.plugin.serdes.json.JsonReader")
    properties: ClassVar = (FROM, CHARSET, NEW_LINE)
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = source_path(ctx, props.get("from"))
        target = target_path(ctx, source, ".ion")
        new_line = props.get("newLine") is not False
        count = write_ion_rows(ctx, target, _json_rows(source, charset(props), new_line))
        ctx.logger.debug(f"Converted {count} JSON values to Ion")
        return {"uri": store(ctx, target)}


class IonToJson(SerdesTask):
    """Write Ion rows as JSON lines (or one JSON array with ``newLine: false``); timestamps
    become ISO 8601 text, blobs base64."""

    type = "trellis.serdes.json.IonToJson"
    aliases = ("io.kestra.plugin.serdes.json.IonToJson", "io.kestra.plugin.serdes.json.JsonWriter")
    properties: ClassVar = (
        FROM,
        CHARSET,
        NEW_LINE,
        TIME_ZONE,
        Prop("shouldKeepAnnotations", "boolean", default=False,
             description="Only false: Trellis's Ion reader drops annotations."),
    )  # fmt: skip
    examples = (_EXAMPLE,)

    outputs: ClassVar = (Output("uri", "The converted file.", "uri"),)

    @classmethod
    def validate_props(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        if props.get("shouldKeepAnnotations") is True:
            return [("shouldKeepAnnotations", "Ion annotations are not kept by Trellis")]
        return []

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source = source_path(ctx, props.get("from"))
        new_line = props.get("newLine") is not False
        target = target_path(ctx, source, ".jsonl" if new_line else ".json")
        zone = time_zone(props)
        count = 0
        with target.open("w", encoding=charset(props), newline="\n") as out:
            if not new_line:
                out.write("[")
            for row in read_ion(source):
                text = json.dumps(json_safe(row, zone), ensure_ascii=False)
                if new_line:
                    out.write(text + "\n")
                else:
                    out.write(("," if count else "") + text)
                count += 1
                stop_point(ctx, count)
            if not new_line:
                out.write("]")
        ctx.logger.debug(f"Converted {count} Ion rows to JSON")
        return {"uri": store(ctx, target)}


PLUGINS = [JsonToIon, IonToJson]
