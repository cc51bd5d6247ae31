"""How ``manage.py flow`` finds its subcommands, and helpers they share.

Each subcommand lives in its own module with one function::

    def register(subparsers) -> None:
        parser = subparsers.add_parser("name", help="...")
        parser.add_argument(...)
        parser.set_defaults(handler=handle)

    def handle(command: BaseCommand, options: dict) -> None: ...

``handle`` writes to ``command.stdout``/``command.stderr`` and raises ``fail(...)`` (a
CommandError, exit code 1) for invalid input; argparse usage errors exit with 2.

To add a subcommand from another app, list its module in ``FLOW_SUBCOMMAND_MODULES`` or in
the ``TRELLIS_FLOW_CLI_MODULES`` setting. ``executions.cli.run`` (``flow run``) is listed
already and is picked up as soon as that module exists.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flows.models import Flow
from flows.selectors import flow_get
from kernel.spec.model import SpecProblem

FLOW_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "flows.cli.validate",
    "flows.cli.deploy",
    "flows.cli.export",
    "flows.cli.revisions",
    "flows.cli.state",
    "flows.cli.test",
    "flows.cli.schema",
    "executions.cli.run",
)


def subcommand_modules() -> list[ModuleType]:
    """The subcommand modules that exist (a listed module not written yet is skipped)."""
    names = [*FLOW_SUBCOMMAND_MODULES, *getattr(settings, "TRELLIS_FLOW_CLI_MODULES", ())]
    modules = []
    for name in dict.fromkeys(names):
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name not in _parents(name):
                raise  # the module exists but one of its own imports is missing: say so
    return modules


def _parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[: i + 1]) for i in range(len(parts))}


def fail(message: str) -> CommandError:
    """An error for invalid input: exit status 1."""
    return CommandError(message, returncode=1)


def write_problems(command: BaseCommand, problems: list[SpecProblem]) -> None:
    """One ``file:line:col: message`` line per problem, like a compiler or linter."""
    for p in problems:
        command.stdout.write(str(p))


def write_warnings(command: BaseCommand, warnings: tuple[SpecProblem, ...]) -> None:
    for w in warnings:
        command.stderr.write(f"warning: {w}")


def get_flow(namespace: str, flow_id: str, *, include_deleted: bool = False) -> Flow:
    """The flow or a clear CommandError."""

    try:
        return flow_get(namespace, flow_id, include_deleted=include_deleted)
    except Flow.DoesNotExist:
        raise fail(f"no flow {flow_id!r} in namespace {namespace!r}")


def plural(count: int, word: str) -> str:
    """``1 flow``, ``2 flows``, ``0 flows``."""
    return f"{count} {word}{'' if count == 1 else 's'}"
