"""The command line as a tool: Trellis's commands only in ``trellis --help``, every
subcommand in its parent's help, a closed pipe ending quietly, counted words in the singular."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.base import plural

ROOT = Path(__file__).resolve().parents[2]


def trellis(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRELLIS_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_help_lists_trellis_commands_and_hides_djangos(tmp_path: Path) -> None:
    done = trellis("--help", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    assert {"flow", "execution", "trigger", "namespace", "server", "token"} <= listed
    assert not listed & {"migrate", "shell", "createsuperuser", "runserver", "collectstatic"}
    assert "trellis django" in done.stdout

    django = trellis("django", "help", tmp_path=tmp_path)
    assert django.returncode == 0, django.stderr
    assert "migrate" in django.stdout


@pytest.mark.parametrize(
    ("command", "subcommands"),
    [
        ("trigger", ["list", "sync", "enable", "disable", "backfill", "backfill-pause",
                     "backfill-resume", "backfill-status"]),
        ("flow", ["validate", "deploy", "run", "test", "schema"]),
        ("execution", ["list", "show", "logs", "kill", "wait", "restart", "replay"]),
    ],
)  # fmt: skip
def test_every_subcommand_is_in_its_parents_help(
    tmp_path: Path, command: str, subcommands: list[str]
) -> None:
    done = trellis(command, "--help", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    described = {
        line.split()[0]
        for line in done.stdout.splitlines()
        if line.startswith("    ") and len(line.split()) > 1 and not line.strip().startswith("-")
    }
    missing = set(subcommands) - described
    assert not missing, done.stdout


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """The reader goes away before the command writes (``| head`` that has its lines):
    Python's default is a BrokenPipeError traceback and exit 1."""
    env = {**os.environ, "TRELLIS_HOME": str(tmp_path / "home")}
    with subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "flow", "schema"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert code == 141  # what a shell reports for a command its pipe's reader left


def test_plural() -> None:
    assert [plural(n, "flow") for n in (0, 1, 2)] == ["0 flows", "1 flow", "2 flows"]


def test_no_command_hides_a_subcommand_from_its_help() -> None:
    """Every subcommand of every Trellis command, at any depth, has a help line (argparse
    leaves a subcommand without one out of its parent's list)."""
    import argparse

    from django.core.management import get_commands, load_command_class

    from orchestrator.cli import trellis_commands

    hidden = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    if name not in listed:
                        hidden.append(" ".join([*path, name]))
                    walk(sub, [*path, name])

    for name in trellis_commands():
        command = load_command_class(get_commands()[name], name)
        walk(command.create_parser("trellis", name), [name])
    assert not hidden
