"""Flows and namespace files to and from a git repository (Kestra's ``PushFlows``,
``SyncFlows``, ``PushNamespaceFiles``, ``SyncNamespaceFiles``).

The tasks reach flows and namespace files through the run context (``ctx.flows``,
``ctx.namespace_files``), bound to the running flow's namespace boundary: reading follows it,
writing is allowed only in the flow's namespace, inside it, or where a policy allows it.

Layout in the repository: flows of ``namespace`` as ``<gitDirectory>/<flowId>.yml``, those of
a child namespace ``namespace.a.b`` under ``<gitDirectory>/a/b/``; namespace files under
``<gitDirectory>/`` with their own paths.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins.git.repo import CONNECTION, Git, check_url, checkout, git_available

COMMIT = (
    Prop("commitMessage", "string", description="The commit's message."),
    Prop("authorName", "string", default="Trellis", description="The commit's author."),
    Prop("authorEmail", "string", default="trellis@localhost"),
    Prop("dryRun", "boolean", default=False, description="Compute the changes, write none."),
)
_NAMESPACE_LINE = re.compile(r"^namespace:[^\n]*$", re.MULTILINE)


def _service(ctx: RunContext, name: str) -> Any:
    found = getattr(ctx, name, None)
    if found is None:
        raise TaskFailed(f"this worker gives tasks no access to {name.replace('_', ' ')}")
    return found


def _safe_relative(text: str, what: str) -> str:
    clean = str(text or "").strip().strip("/")
    if ".." in Path(clean).parts:
        raise TaskFailed(f"`{what}` must stay inside the repository: {text!r}")
    return clean


class GitTask(RunnableTask):
    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return git_available()


def _commit_and_push(
    git: Git, folder: Path, props: Mapping[str, Any], message: str, branch: str
) -> tuple[str | None, list[str]]:
    """Commit what changed under ``folder`` and push it; (commit id or None, changes)."""
    git("add", "-A", cwd=folder)
    status = git("status", "--porcelain", cwd=folder)
    changes = [line[3:] for line in status.splitlines() if line.strip()]
    if not changes or props.get("dryRun"):
        return None, changes
    author = f"{props.get('authorName') or 'Trellis'} <{props.get('authorEmail') or 'trellis@localhost'}>"
    git(
        "-c", f"user.name={props.get('authorName') or 'Trellis'}",
        "-c", f"user.email={props.get('authorEmail') or 'trellis@localhost'}",
        "commit", "-q", "-m", message, "--author", author, cwd=folder,
    )  # fmt: skip
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=folder)
    return git("rev-parse", "HEAD", cwd=folder).strip(), changes


def _patterns(value: Any, default: str) -> list[str]:
    """The ``flows``/``files`` selection as a list of globs (one string or a list)."""
    value = value or [default]
    return [value] if isinstance(value, str) else [str(p) for p in value]


def _push(
    props: Mapping[str, Any],
    ctx: RunContext,
    write: Callable[[Path], None],
    message: str,
) -> tuple[str | None, list[str]]:
    """Check the branch out, let ``write`` fill the repository folder, commit and push."""
    url = check_url(str(props["url"]))
    branch = str(props.get("branch") or "main")
    with tempfile.TemporaryDirectory(prefix="trellis-push-") as work:
        folder = Path(work) / "repo"
        git = Git(Path(work), props, ctx.secret_values())
        try:
            checkout(git, url, branch, folder)
            write(folder)
            return _commit_and_push(git, folder, props, message, branch)
        finally:
            git.close()


@contextlib.contextmanager
def _checked_out(props: Mapping[str, Any], ctx: RunContext, directory: str) -> Iterator[Path]:
    """The branch's ``directory`` in a temporary checkout, which the sync tasks read and
    which is removed afterwards."""
    url = check_url(str(props["url"]))
    with tempfile.TemporaryDirectory(prefix="trellis-sync-") as work:
        folder = Path(work) / "repo"
        git = Git(Path(work), props, ctx.secret_values())
        try:
            if not checkout(git, url, props.get("branch"), folder):
                raise TaskFailed(f"branch {props.get('branch') or 'HEAD'} not found")
        finally:
            git.close()
        yield folder / directory


class PushFlows(GitTask):
    """Commit the namespace's flows to a branch (``dryRun`` lists what would change)."""

    type = "trellis.git.PushFlows"
    aliases = ("io.kestra.plugin.git.PushFlows",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("gitDirectory", "string", default="_flows"),
        Prop("sourceNamespace", "string", description="Default: the flow's namespace."),
        Prop("targetNamespace", "string", description="Rewrite the flows' namespace to this."),
        Prop("flows", "any", description="Flow ids or globs to push (default: all)."),
        Prop("includeChildNamespaces", "boolean", default=False),
        *COMMIT,
    )

    outputs: ClassVar = (
        Output("commitId", "The commit pushed (None when nothing changed).", "string"),
        Output("changes", "Files added, changed or deleted.", "list"),
        Output("flows", "Ids of the flows pushed.", "list"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source_ns = str(props.get("sourceNamespace") or ctx.namespace)
        target_ns = props.get("targetNamespace")
        patterns = _patterns(props.get("flows"), "*")
        flows = _service(ctx, "flows").list(
            source_ns, children=props.get("includeChildNamespaces") is True
        )
        chosen = [f for f in flows if any(fnmatch.fnmatchcase(f.id, p) for p in patterns)]
        directory = _safe_relative(props.get("gitDirectory") or "_flows", "gitDirectory")

        def write(folder: Path) -> None:
            for flow in chosen:
                below = flow.namespace[len(source_ns) :].strip(".").replace(".", "/")
                source = flow.source
                if target_ns:
                    namespace = str(target_ns) + flow.namespace[len(source_ns) :]
                    source = _NAMESPACE_LINE.sub(f"namespace: {namespace}", source, count=1)
                path = folder / directory / below / f"{flow.id}.yml"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(source)

        message = str(props.get("commitMessage") or f"Add flows from {source_ns} namespace")
        commit, changes = _push(props, ctx, write, message)
        ctx.logger.info(f"{len(changes)} flow file(s) changed; commit {commit or '(none)'}")
        return {"commitId": commit, "changes": changes, "flows": [f.id for f in chosen]}


class PushNamespaceFiles(GitTask):
    """Commit the namespace's files to a branch."""

    type = "trellis.git.PushNamespaceFiles"
    aliases = ("io.kestra.plugin.git.PushNamespaceFiles",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("namespace", "string", description="Default: the flow's namespace."),
        Prop("files", "any", description="Paths or globs to push (default: all)."),
        Prop("gitDirectory", "string", default="_files"),
        *COMMIT,
    )

    outputs: ClassVar = (
        Output("commitId", "The commit pushed (None when nothing changed).", "string"),
        Output("changes", "Files added, changed or deleted.", "list"),
        Output("files", "Paths of the files pushed.", "list"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        namespace = str(props.get("namespace") or ctx.namespace)
        store = _service(ctx, "namespace_files")
        patterns = _patterns(props.get("files"), "**")
        paths = [p for p in store.list(namespace) if store.matches(p, patterns)]
        directory = _safe_relative(props.get("gitDirectory") or "_files", "gitDirectory")

        def write(folder: Path) -> None:
            for path in paths:
                store.copy_to(namespace, path, folder / directory / path.lstrip("/"))

        message = str(props.get("commitMessage") or f"Add files from {namespace} namespace")
        commit, changes = _push(props, ctx, write, message)
        ctx.logger.info(f"{len(changes)} file(s) changed; commit {commit or '(none)'}")
        return {"commitId": commit, "changes": changes, "files": paths}


def _repo_files(root: Path) -> list[Path]:
    """Files under ``root`` (no ``.git``), relative, sorted; symbolic links refused."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if ".git" in relative.parts:
            continue
        if path.is_symlink():
            raise TaskFailed(f"{relative} is a symbolic link; the sync refuses them")
        if path.is_file():
            found.append(relative)
    return found


class SyncFlows(GitTask):
    """Deploy the flows of a branch's ``gitDirectory`` into ``targetNamespace`` (their
    namespace rewritten; sub-folders become child namespaces with
    ``includeChildNamespaces``); ``delete`` removes flows absent from git."""

    type = "trellis.git.SyncFlows"
    aliases = ("io.kestra.plugin.git.SyncFlows",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("gitDirectory", "string", default="_flows"),
        Prop("targetNamespace", "string", description="Default: the flow's namespace."),
        Prop("includeChildNamespaces", "boolean", default=False),
        Prop("delete", "boolean", default=False, description="Delete flows absent from git."),
        Prop("dryRun", "boolean", default=False),
    )

    outputs: ClassVar = (Output("flows", "One entry per flow, with its `syncState`.", "list"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        target = str(props.get("targetNamespace") or ctx.namespace)
        directory = _safe_relative(props.get("gitDirectory") or "_flows", "gitDirectory")
        children = props.get("includeChildNamespaces") is True
        documents: list[tuple[str, str]] = []
        with _checked_out(props, ctx, directory) as root:
            for relative in _repo_files(root):
                if relative.suffix not in (".yml", ".yaml"):
                    continue
                below = relative.parent.parts
                if below and not children:
                    continue
                namespace = ".".join((target, *below))
                source = (root / relative).read_text()
                source = _NAMESPACE_LINE.sub(f"namespace: {namespace}", source, count=1)
                documents.append((f"{directory}/{relative.as_posix()}", source))
        try:
            report = _service(ctx, "flows").deploy(
                documents,
                namespace=target,
                delete_missing=props.get("delete") is True,
                dry_run=props.get("dryRun") is True,
            )
        except PermissionError as exc:
            raise TaskFailed(str(exc)) from exc
        except Exception as exc:  # SpecError and friends: the message names file and line
            if type(exc).__name__ != "SpecError":
                raise
            raise TaskFailed(f"invalid flows in git: {exc}") from exc
        changed = sum(1 for r in report if r["syncState"] != "UNCHANGED")
        ctx.logger.info(f"{len(report)} flow(s) in sync, {changed} changed")
        return {"flows": report}


class SyncNamespaceFiles(GitTask):
    """Write the files of a branch's ``gitDirectory`` as the namespace's files; ``delete``
    removes namespace files absent from git."""

    type = "trellis.git.SyncNamespaceFiles"
    aliases = ("io.kestra.plugin.git.SyncNamespaceFiles",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("namespace", "string", description="Default: the flow's namespace."),
        Prop("gitDirectory", "string", default="_files"),
        Prop("delete", "boolean", default=False, description="Delete files absent from git."),
        Prop("dryRun", "boolean", default=False),
    )

    outputs: ClassVar = (Output("files", "One entry per file, with its `syncState`.", "list"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        namespace = str(props.get("namespace") or ctx.namespace)
        directory = _safe_relative(props.get("gitDirectory") or "_files", "gitDirectory")
        store = _service(ctx, "namespace_files")
        report: list[dict[str, Any]] = []
        with _checked_out(props, ctx, directory) as root:
            existing = set(store.list(namespace))
            wanted = set()
            for relative in _repo_files(root):
                path = "/" + relative.as_posix()
                wanted.add(path)
                data = (root / relative).read_bytes()
                if path in existing and store.read(namespace, path) == data:
                    state = "UNCHANGED"
                else:
                    state = "UPDATED" if path in existing else "ADDED"
                    if not props.get("dryRun"):
                        store.write(namespace, path, data)
                report.append({"path": path, "syncState": state})
        if props.get("delete") is True:
            for path in sorted(existing - wanted):
                if not props.get("dryRun"):
                    store.delete(namespace, path)
                report.append({"path": path, "syncState": "DELETED"})
        ctx.logger.info(f"{len(report)} namespace file(s) in sync")
        return {"files": report}


PLUGINS = [PushFlows, SyncFlows, PushNamespaceFiles, SyncNamespaceFiles]
