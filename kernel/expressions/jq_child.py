"""The jq helper process (see ``kernel.expressions.jq``): reads one request a line, answers one
line. Standard library and jq only, so it starts fast and knows nothing of the worker.

Request: ``{"program": str, "input": <JSON text>}``. Answer: ``{"ok": [results]}`` or
``{"error": str}``. Its memory is capped by ``RLIMIT_AS`` (argument 1, bytes) and it writes
no core file: a jq program that exhausts memory aborts this process, never its parent.
"""

from __future__ import annotations

import functools
import json
import resource
import sys

import jq


def _limit(memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


#: Compiling loads jq's builtins (~5 ms); a flow asks the same few programs again and again.
_compile = functools.lru_cache(maxsize=128)(jq.compile)


def _answer(line: bytes) -> dict[str, object]:
    try:
        request = json.loads(line)
        program = _compile(request["program"])
        return {"ok": list(program.input_text(request["input"]).all())}
    except Exception as exc:  # noqa: BLE001 - every jq or JSON error goes back as text
        return {"error": str(exc) or type(exc).__name__}


def main() -> None:
    _limit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        try:
            reply = json.dumps(_answer(line), separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            reply = json.dumps({"error": f"jq result is not JSON: {exc}"})
        except MemoryError:
            reply = '{"error":"jq ran out of memory"}'
        stdout.write(reply.encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    main()
