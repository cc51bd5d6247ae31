"""The ``trellis`` command: ``manage.py`` under the product's name, installed by pip.

``trellis import-kestra ./export``, ``trellis flow run NS FLOW --wait`` and every other
management command work from any folder once the package is installed; settings come from
the environment as for ``manage.py``.

``trellis`` and ``trellis --help`` list Trellis's own commands only: Django's thirty
(migrate, shell, createsuperuser...) still run by name, and ``trellis django --help`` lists
them. A closed pipe (``trellis execution show ID | head``) ends quietly, as ``cat`` does.
"""

from __future__ import annotations

import os
import sys

#: Apps whose management commands are Trellis's (the others are Django's and libraries').
TRELLIS_APPS = frozenset(
    {"flows", "executions", "triggers", "templates", "orchestrator", "namespaces", "kv",
     "access", "plugins"}
)  # fmt: skip
HELP_FLAGS = ("-h", "--help", "help")
#: Exit status of a command whose reader went away (128 + SIGPIPE, what a shell reports).
BROKEN_PIPE_EXIT = 141


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        _dispatch(args)
    except BrokenPipeError:
        _quiet_broken_pipe()


def _dispatch(args: list[str]) -> None:
    from django.core.management import execute_from_command_line

    if args[:1] == ["django"]:
        execute_from_command_line(["trellis django", *args[1:]])
    elif not args or (len(args) == 1 and args[0] in HELP_FLAGS):
        sys.stdout.write(main_help())
    else:
        execute_from_command_line(["trellis", *args])


def trellis_commands() -> dict[str, str]:
    """Command name -> one-line help, for Trellis's own commands."""
    import django
    from django.core.management import get_commands, load_command_class

    django.setup()
    found = {}
    for name, app in sorted(get_commands().items()):
        if app.split(".")[0] in TRELLIS_APPS:
            command = load_command_class(app, name)
            found[name] = (command.help or "").strip().splitlines()[0] if command.help else ""
    return found


def main_help() -> str:
    commands = trellis_commands()
    width = max(map(len, commands), default=0)
    lines = [
        "usage: trellis COMMAND [ARGS...]",
        "",
        "Trellis: workflow orchestration (Kestra's flows on Django and Celery).",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, text in commands.items()),
        "",
        "`trellis COMMAND --help` tells more about one. Django's own commands (migrate,",
        "createsuperuser, shell...) run as `trellis django COMMAND`; `trellis django help`",
        "lists them.",
        "",
    ]
    return "\n".join(lines)


def _quiet_broken_pipe() -> None:
    """Python would print a traceback, then another when it flushes stdout at exit: point
    stdout at /dev/null and leave with the status a shell gives a command killed by SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(BROKEN_PIPE_EXIT)


if __name__ == "__main__":
    main()
