"""Running the ``git`` command for the git tasks, safely (issue 17; the choice of the CLI over
dulwich is in docs/architecture.md, "Git tasks use the git command").

What a flow may make git do is narrowed here, once, for every git task:

* only ``https``/``http`` URLs and local repositories (``file://`` or an absolute path);
  ``ssh``, ``ext::`` and the rest are refused by ``protocol.allow=never``, redirects are not
  followed, hooks never run;
* an http(s) host must pass the outbound guard (plugins/_shared/guard.py) and a local
  repository must lie in a folder ``TRELLIS_FS_ALLOWED_PATHS`` lists, as the local file tasks;
* the process sees no configuration of the worker (no system or global gitconfig, an empty
  ``HOME``, no terminal prompt) and its credentials come from ``GIT_ASKPASS`` reading the
  environment, so they never appear on a command line or in a log; every message is masked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kernel.plugin import Prop, TaskFailed
from plugins._shared.guard import host_refusal
from plugins._shared.local_paths import checked

#: Properties every git task takes (Kestra's names).
CONNECTION = (
    Prop("url", "string", required=True, description="The repository: https URL or local."),
    Prop("username", "string", description="User name for https (any name with a token)."),
    Prop("password", "string", description="Password or access token (use a secret)."),
    Prop("branch", "string", description="The branch (the remote's default when unset)."),
)

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$TRELLIS_GIT_USERNAME" ;;
  *) printf '%s\\n' "$TRELLIS_GIT_PASSWORD" ;;
esac
"""
TIMEOUT = 600.0


def git_available() -> list[tuple[str, str]]:
    """A validation problem when the worker has no git command."""
    if shutil.which("git") is None:
        return [("type", "this type needs the `git` command on the worker (apt install git)")]
    return []


def check_url(url: str) -> str:
    """The URL git may use (a local path becomes ``file://``); refuses anything else."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        if parts.username or parts.password:
            raise TaskFailed("put credentials in `username`/`password`, not in `url`")
        reason = host_refusal(parts.hostname or "", parts.port or 443)
        if reason:
            raise TaskFailed(
                f"git repository refused: {reason}; TRELLIS_HTTP_ALLOW must name the host"
            )
        return url
    if parts.scheme == "file" or (not parts.scheme and url.startswith("/")):
        path = parts.path if parts.scheme == "file" else url
        return f"file://{checked(path)}"
    raise TaskFailed(
        f"unsupported repository URL {url!r}: use https://, file:// or an absolute path"
    )


class Git:
    """The git command in one folder, with the task's credentials and secrets to mask."""

    def __init__(
        self,
        cwd: Path,
        props: Mapping[str, Any],
        secrets: Sequence[str] = (),
    ) -> None:
        self.cwd = cwd
        # Local repositories are opened only for a local URL: a remote repository's
        # submodule must not make git read the worker's disk.
        self._file = "always" if str(props.get("url") or "").startswith(("file:", "/")) else "never"
        self._home = Path(tempfile.mkdtemp(prefix="trellis-git-"))
        askpass = self._home / "askpass.sh"
        askpass.write_text(_ASKPASS)
        askpass.chmod(0o700)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._home),
            "LANG": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ASKPASS": str(askpass),
            "TRELLIS_GIT_USERNAME": str(props.get("username") or ""),
            "TRELLIS_GIT_PASSWORD": str(props.get("password") or ""),
        }
        self._secrets = [s for s in (*secrets, props.get("password")) if s]

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(str(secret), "********")
        return text

    def __call__(self, *args: str, check: bool = True, cwd: Path | None = None) -> str:
        code, out, err = self.attempt(*args, cwd=cwd)
        if check and code != 0:
            raise TaskFailed(f"git {args[0]} failed: {(err or out).strip()}")
        return out

    def attempt(self, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        """Run git; (exit code, stdout, stderr), both outputs masked."""
        command = [
            "git",
            "-c", "protocol.allow=never",
            "-c", "protocol.https.allow=always",
            "-c", "protocol.http.allow=always",
            "-c", f"protocol.file.allow={self._file}",
            "-c", "http.followRedirects=false",
            "-c", f"core.hooksPath={os.devnull}",
            "-c", "credential.helper=",
            "-c", "init.defaultBranch=main",
            *args,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, cwd=cwd or self.cwd, env=self.env, capture_output=True, text=True,
                timeout=TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise TaskFailed(f"git {args[0]} took more than {TIMEOUT:.0f}s") from exc
        return done.returncode, self.mask(done.stdout), self.mask(done.stderr)

    def close(self) -> None:
        shutil.rmtree(self._home, ignore_errors=True)


def checkout(git: Git, url: str, branch: str | None, folder: Path) -> bool:
    """A shallow checkout of ``branch`` in ``folder`` (a new, empty branch when the
    repository does not have it yet: the push tasks create it). True when it existed."""
    folder.mkdir(parents=True, exist_ok=True)
    git("init", "-q", cwd=folder)
    git("remote", "add", "origin", url, cwd=folder)
    code, _, err = git.attempt(
        "fetch", "-q", "--depth", "1", "origin", branch or "HEAD", cwd=folder
    )
    if code == 0:
        git("checkout", "-q", "-B", branch or "main", "FETCH_HEAD", cwd=folder)
        return True
    if "couldn't find remote ref" not in err:
        raise TaskFailed(f"git fetch failed: {err.strip()}")
    git("checkout", "-q", "--orphan", branch or "main", cwd=folder)
    return False
