"""``io.kestra.plugin.git.Clone``: clone a repository into the task's working directory.

Inside a WorkingDirectory the folder is the one its tasks share (executions/worker/workdir.py), so a
script task after the clone finds the files; alone, the clone lives as long as the task run.
"""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins.git.repo import CONNECTION, Git, check_url, git_available

_EXAMPLE = """id: git_clone
namespace: company.team
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: clone
        type: io.kestra.plugin.git.Clone
        url: https://github.com/kestra-io/scripts
        branch: main
      - id: python
        type: io.kestra.plugin.scripts.python.Commands
        commands:
          - python etl/global_power_plant.py
"""


def _relative(value: Any) -> str:
    text = str(value or "").strip()
    if text.startswith("/") or ".." in Path(text).parts:
        raise TaskFailed(
            f"`directory` must be a relative path inside the working directory: {text!r}"
        )
    return text


def _submodules(git: Git, folder: Path, url: str) -> None:
    """Clone the submodules (one level) once each URL passed the same checks as the
    repository's own: a repository may not point git at the worker's neighbours."""
    if not (folder / ".gitmodules").exists():
        return
    listed = git("config", "-f", ".gitmodules", "--get-regexp", r"^submodule\..*\.url$",
                 cwd=folder)  # fmt: skip
    for line in listed.splitlines():
        _name, _, found = line.partition(" ")
        found = found.strip()
        if found.startswith(("./", "../")):
            if not url.startswith("file://"):
                continue  # relative to an https repository: the same, checked host
            # Relative to a local repository: it must stay in the allowed folders too.
            found = "file://" + posixpath.normpath(posixpath.join(url[len("file://") :], found))
        check_url(found)
    git("submodule", "update", "--init", "--depth", "1", cwd=folder)


class Clone(RunnableTask):
    """Clone a repository (https with a token, or a local one) into the working directory;
    ``directory`` outputs where it is."""

    type = "trellis.git.Clone"
    aliases = ("io.kestra.plugin.git.Clone",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("directory", "string", description="Sub-folder of the working directory."),
        Prop("depth", "integer", default=1, description="History depth (commits)."),
        Prop("cloneSubmodules", "boolean", default=False),
    )
    examples = (_EXAMPLE,)

    outputs: ClassVar = (
        Output("directory", "The clone in the working directory.", "string"),
        Output("commitId", "The commit checked out.", "string"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = git_available()
        directory = props.get("directory")
        if (
            isinstance(directory, str)
            and "{{" not in directory
            and (directory.startswith("/") or ".." in Path(directory).parts)
        ):
            problems.append(("directory", "`directory` must be a relative path"))
        depth = props.get("depth")
        if isinstance(depth, int) and depth < 1:
            problems.append(("depth", "`depth` must be at least 1"))
        return problems

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        url = check_url(str(props["url"]))
        base = ctx.working_dir
        relative = _relative(props.get("directory"))
        target = (base / relative) if relative else base
        if relative and target.exists() and any(target.iterdir()):
            raise TaskFailed(f"`directory` {relative!r} exists and is not empty")
        # Cloned into a staging folder, then moved: the working directory itself may already
        # hold files of earlier tasks of its WorkingDirectory.
        git = Git(base, props, ctx.secret_values())
        try:
            staging = base / f".clone-{ctx.task_run_id[:8]}"
            arguments = ["clone", "-q", "--depth", str(int(props.get("depth") or 1))]
            if props.get("branch"):
                arguments += ["--branch", str(props["branch"])]
            # A local repository is copied, never hard-linked to the source's objects.
            arguments += ["--no-local", url, str(staging)]
            git(*arguments)
            target.mkdir(parents=True, exist_ok=True)
            for item in staging.iterdir():
                destination = target / item.name
                if destination.exists():
                    raise TaskFailed(f"{item.name} already exists in the working directory")
                shutil.move(str(item), destination)
            staging.rmdir()
            if props.get("cloneSubmodules"):
                _submodules(git, target, url)
            commit = git("rev-parse", "HEAD", cwd=target).strip()
        finally:
            git.close()
        ctx.logger.info(f"cloned {git.mask(str(props['url']))} at {commit[:12]}")
        return {"directory": str(target), "commitId": commit}


PLUGINS = [Clone]
