"""``flow schema``: print the JSON Schema of a flow document (``> flow.schema.json``), the
same document as ``GET /api/v1/plugins/schemas/flow``, for editors and CI linters."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from flows.schema import flow_schema


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of a flow (for VS Code's YAML extension and linters)",
        description="Built from this installation's plugins: regenerate it after adding one.",
    )
    parser.add_argument("--compact", action="store_true", help="one line, no indentation")
    parser.set_defaults(handler=handle)


def handle(command: BaseCommand, options: dict) -> None:
    indent = None if options["compact"] else 2
    command.stdout.write(json.dumps(flow_schema(), indent=indent, sort_keys=False))
