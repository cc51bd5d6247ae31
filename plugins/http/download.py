"""``Download``: fetch a URL into internal storage (Kestra's ``http.Download``).

The same request as :class:`plugins.http.request.Request` (method, body, formData, headers,
options, the SSRF guard on every connection and redirect) but the response body is streamed
to a file of the task run instead of being held in memory and put in the outputs; the task
outputs its ``kestra://`` ``uri``, ``code``, ``headers`` and ``length``.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import PurePosixPath
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins.http.request import METHODS, Request, build_request, exchange, header_map

CHUNK = 64 * 1024
_DISPOSITION = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


def file_name(uri: str, disposition: str | None) -> str:
    """The name the server gave (Content-Disposition), else the URL's last path segment,
    else ``download``; never a path."""
    found = _DISPOSITION.search(disposition or "")
    raw = urllib.parse.unquote(found.group(1)) if found else ""
    if not raw:
        raw = urllib.parse.unquote(urllib.parse.urlsplit(uri).path.rsplit("/", 1)[-1])
    name = PurePosixPath(raw.replace("\\", "/")).name.strip()
    return name if name and name not in (".", "..") and not name.startswith(".") else "download"


class Download(RunnableTask):
    """Download a file over HTTP(S) into internal storage; a 4xx/5xx fails the task (unless
    ``allowFailed``), and so does an empty body unless ``failOnEmptyResponse`` is false."""

    type = "trellis.http.Download"
    aliases = ("io.kestra.plugin.core.http.Download", "io.kestra.plugin.fs.http.Download")
    properties: ClassVar = (
        *(p for p in Request.properties if p.name not in ("method", "encryptBody")),
        Prop("method", "string", default="GET", choices=METHODS),
        Prop("failOnEmptyResponse", "boolean", default=True,
             description="An empty response body fails the task."),
        Prop("saveAs", "string", description="File name in storage (default: the server's)."),
    )  # fmt: skip
    examples = (
        """id: fetch
namespace: trellis.examples
tasks:
  - id: download
    type: trellis.http.Download
    uri: https://example.com/data.csv
  - id: size
    type: trellis.core.log.Log
    message: "{{ outputs.download.length }} bytes at {{ outputs.download.uri }}"
""",
    )

    outputs: ClassVar = (
        Output("uri", "The downloaded file.", "uri"),
        Output("code", "The HTTP status.", "integer"),
        Output("headers", "Response headers, name -> values.", "map"),
        Output("length", "Bytes written.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        request, options, allow_failed = build_request(props, ctx)
        limit = int(options["maxContentLength"]) if options.get("maxContentLength") else None
        target = ctx.working_dir / "download.part"
        written = 0

        def save(stream: Any) -> None:
            nonlocal written
            with target.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    written += len(chunk)
                    if limit is not None and written > limit:
                        raise TaskFailed(f"the file is larger than maxContentLength ({limit})")
                    if ctx.should_stop():
                        raise TaskFailed("stopped while downloading")
                    out.write(chunk)

        code, headers, raw = exchange(request, options, props.get("sslOptions") or {}, save)
        uri = request.full_url
        if code >= 400 and not allow_failed:
            text = raw.decode("utf-8", errors="replace")
            raise TaskFailed(f"HTTP {code} from {uri}: {text[:200]}")
        if not target.exists():
            target.write_bytes(raw)
            written = len(raw)
        if written == 0 and props.get("failOnEmptyResponse") is not False:
            raise TaskFailed(f"the response from {uri} is empty (failOnEmptyResponse)")
        asked = PurePosixPath(str(props.get("saveAs") or "").replace("\\", "/")).name
        name = asked or file_name(uri, headers.get("Content-Disposition"))
        stored = ctx.put_file(target, name)
        ctx.logger.debug(f"Downloaded {written} bytes from '{uri}' to {stored}")
        return {"uri": stored, "code": code, "headers": header_map(headers), "length": written}


PLUGINS = [Download]
