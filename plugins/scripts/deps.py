"""Cached virtual environments for script ``dependencies`` (Kestra's python ``dependencies``).

A Python Script or Commands task that lists ``dependencies`` runs with a virtual environment
holding exactly those packages. Installing them on every run would cost seconds to minutes,
so the environment is built once per *dependency set* and kept under
``TRELLIS_HOME/script-envs``:

* the key is a hash of the sorted, de-duplicated requirement strings, the interpreter's
  version and implementation, the platform and the installer (uv or pip): a different set,
  Python or machine never shares an environment;
* ``script-envs/<key>`` is a symbolic link to the real folder ``script-envs/<key>-<random>``.
  The folder is built in place (a virtualenv holds absolute paths: its scripts' shebangs,
  ``pyvenv.cfg``, so it cannot be moved once built), and published by renaming a fresh link
  over ``<key>``: a reader sees no environment or a complete one, never half of one;
* ``script-envs/<key>.lock`` (``flock``) makes sure two workers sharing TRELLIS_HOME (same
  machine, or a shared file system that honours locks) don't build the same set at once: the
  second waits and then reuses the first's;
* ``uv`` builds it when it is on the worker's PATH (and ``packageManager`` is not ``PIP``),
  ``python -m venv`` and pip otherwise. A failed install fails the task run with the
  installer's own last lines, and leaves nothing behind.

The install step is not the script: it runs as the worker would, but in its own bubblewrap
sandbox when scripts are sandboxed (:mod:`plugins.scripts.sandbox`), with the host's network
(pip must reach the package index), the system and the worker's interpreter read-only, and
*only its build folder* writable; its environment is the basic variables plus the ``PIP_*``,
``UV_*``, proxy and certificate variables, never the worker's secrets. Package builds
(``setup.py`` of an sdist) are code the flow author chose, so this matters. The script then
sees the finished environment read-only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel import config
from kernel.plugin import TaskFailed, TaskLogger
from plugins.scripts.sandbox import Sandbox, SandboxUnavailable, sandbox_for_scripts

#: Folder under TRELLIS_HOME holding the environments.
ENVS_FOLDER = "script-envs"
#: File written last into a finished environment (its dependency list, for people).
READY_MARKER = ".trellis-env.json"
#: Seconds an install may take (``TRELLIS_SCRIPT_INSTALL_TIMEOUT``); a worker waiting for
#: another's build waits as long.
DEFAULT_INSTALL_TIMEOUT = 900.0
#: How often a running install looks at the task run's stop flag.
POLL_SECONDS = 0.2
#: Installer output lines quoted in the error when an install fails.
ERROR_TAIL_LINES = 25
#: Worker variables the install step gets besides the basics: the installers' own settings,
#: proxies and certificate bundles (what reaching a package index needs).
INSTALL_ENV_PREFIXES = ("PIP_", "UV_")
INSTALL_ENV_NAMES = (
    "PATH", "HOME", "LANG", "TZ", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)  # fmt: skip


@dataclass(frozen=True)
class PythonEnv:
    """A finished environment: where it is and what a script needs to use it."""

    key: str
    #: The real folder (never the link): what the sandbox binds and PATH names.
    path: Path
    reused: bool

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python"

    def environment(self) -> dict[str, str]:
        """Variables a script gets so ``python``/``pip``/console scripts are the env's."""
        return {"VIRTUAL_ENV": str(self.path)}


def _setting(name: str, default: Any) -> Any:
    return config.setting(name, default)


def trellis_home() -> Path:
    """TRELLIS_HOME as the settings resolved it (the environment when Django is not set up)."""
    return Path(str(_setting("TRELLIS_HOME", Path.home() / ".trellis"))).resolve()


def envs_root(home: Path | None = None) -> Path:
    root = (home or trellis_home()) / ENVS_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # sandboxed scripts (uid 65534) must cross it
        root.chmod(0o755)
    return root


def normalise(dependencies: Iterable[Any] | str | None) -> list[str]:
    """Requirement strings, stripped, without blanks and duplicates, sorted: the order a
    flow lists them in does not make a different environment."""
    if dependencies is None:
        return []
    if isinstance(dependencies, str):
        dependencies = dependencies.splitlines()
    return sorted({str(d).strip() for d in dependencies if str(d).strip()})


def refusals(dependencies: Iterable[Any]) -> list[str]:
    """Why some requirement strings are refused: an option (``--index-url ...``) or a local
    path would let a flow steer the worker's installer, so only names/specifiers/URLs pass."""
    problems = []
    for dep in normalise(dependencies):
        if dep.startswith("-"):
            problems.append(f"{dep!r}: installer options are not allowed, only requirements")
        elif dep.startswith((".", "/", "~", "file:")) or "@ file:" in dep.replace(
            "@file:", "@ file:"
        ):
            problems.append(f"{dep!r}: local paths are not allowed, only requirements")
    return problems


def env_key(dependencies: Sequence[str], python: str, installer: str) -> str:
    """The cache key of a dependency set on this interpreter and platform."""
    identity = {
        "dependencies": list(dependencies),
        "python": python,
        "platform": f"{sys.platform}-{platform.machine()}",
        "installer": installer,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return digest[:24]


def base_python(version: str | None) -> tuple[str, str]:
    """The interpreter a new environment is made from, and its ``implementation-X.Y`` tag.

    Without ``pythonVersion`` it is the one the worker runs on. With it, it must be that
    version or a ``pythonX.Y`` program on the worker's PATH; Trellis never downloads Python.
    """
    base = getattr(sys, "_base_executable", None) or sys.executable
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = str(version or "").strip()
    if not wanted or wanted == own or own.startswith(wanted + "."):
        return base, f"{sys.implementation.name}-{own}"
    parts = wanted.split(".")
    short = ".".join(parts[:2])
    found = shutil.which(f"python{short}")
    if found is None:
        raise TaskFailed(
            f"pythonVersion {wanted} is not available on this worker (it runs Python {own} and "
            f"has no python{short} on PATH); Trellis does not download interpreters"
        )
    return found, f"{sys.implementation.name}-{short}"


def installer_for(package_manager: str | None) -> str | None:
    """``uv``'s path when it should build environments, else None (pip)."""
    if str(package_manager or "UV").upper() == "PIP":
        return None
    return shutil.which("uv")


def install_environment(worker: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the install step runs with (see the module's docstring)."""
    source = os.environ if worker is None else worker
    env = {
        k: v
        for k, v in source.items()
        if k in INSTALL_ENV_NAMES or k.startswith(INSTALL_ENV_PREFIXES)
    }
    env.setdefault("PATH", os.defpath)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def worker_pip() -> bool:
    """True when the worker's interpreter has a pip that can install into another one
    (``pip --python``, pip 22.3 and later)."""
    try:
        from importlib.metadata import version

        major, minor = (int(p) for p in version("pip").split(".")[:2])
    except (ImportError, ValueError, LookupError):
        return False
    return (major, minor) >= (22, 3)


def install_commands(
    folder: Path,
    dependencies: Sequence[str],
    python: str,
    uv: str | None,
    *,
    own_pip: bool | None = None,
) -> list[list[str]]:
    """The command lines that create ``folder`` and install ``dependencies`` into it.

    Without uv, the environment is made without pip of its own when the worker's pip can
    install into it (``ensurepip`` costs seconds per environment); a flow that wants pip in
    the environment lists ``pip`` among its dependencies."""
    env_python = str(folder / "bin" / "python")
    if uv:
        return [
            [uv, "venv", "--quiet", "--python", python, str(folder)],
            [uv, "pip", "install", "--python", env_python, *dependencies],
        ]
    if own_pip is None:
        own_pip = not worker_pip()
    if not own_pip:
        return [
            [python, "-m", "venv", "--without-pip", str(folder)],
            [sys.executable, "-m", "pip", "--python", env_python, "install", "--no-input",
             *dependencies],
        ]  # fmt: skip
    return [
        [python, "-m", "venv", str(folder)],
        [env_python, "-m", "pip", "install", "--no-input", *dependencies],
    ]


def _timeout() -> float:
    raw = _setting("TRELLIS_SCRIPT_INSTALL_TIMEOUT", DEFAULT_INSTALL_TIMEOUT)
    try:
        return float(raw)
    except (TypeError, ValueError):
        return DEFAULT_INSTALL_TIMEOUT


@contextlib.contextmanager
def _locked(path: Path, timeout: float, logger: TaskLogger) -> Any:
    """Hold an exclusive ``flock`` on ``path``, waiting at most ``timeout`` seconds."""
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    logger.info("another worker is building this environment; waiting for it")
                    told = True
                if time.monotonic() > deadline:
                    raise TaskFailed(
                        f"timed out after {timeout:.0f}s waiting for another worker to build "
                        f"the environment ({path.name})"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ready(link: Path) -> Path | None:
    """The real folder behind ``link`` when it holds a finished environment."""
    if not link.is_symlink() and not link.is_dir():
        return None
    real = Path(os.path.realpath(link))
    return real if (real / READY_MARKER).is_file() else None


def _chown_tree(folder: Path, uid: int, gid: int) -> None:
    os.lchown(folder, uid, gid)
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), uid, gid)


def _run_install(
    commands: Sequence[Sequence[str]],
    folder: Path,
    jail: Sandbox | None,
    timeout: float,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[int, str]:
    """Run the install lines in order; (exit code of the first failing one or 0, output).
    A stop (the task run killed or timed out) kills the installer's process group."""
    env = install_environment()
    if jail is not None:
        env = jail.environment(env)
    output: list[str] = []
    deadline = time.monotonic() + timeout
    for argv in commands:
        command = list(argv)
        cwd = folder.parent
        if jail is not None:
            command = jail.argv(command, folder)
            cwd = folder
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log:
            try:
                proc = subprocess.Popen(
                    command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                return 127, f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            stopped = ""
            while proc.poll() is None:
                if should_stop is not None and should_stop():
                    stopped = "killed"
                elif time.monotonic() > deadline:
                    stopped = f"install timed out after {timeout:.0f}s"
                if stopped:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(POLL_SECONDS)
            log.seek(0)
            output.append(log.read())
        if stopped == "killed":
            raise TaskFailed("killed")
        if stopped:
            return 124, "\n".join([*output, stopped])
        if proc.returncode != 0:
            return proc.returncode, "\n".join(output)
    return 0, "\n".join(output)


def ensure_env(
    dependencies: Iterable[Any],
    logger: TaskLogger,
    *,
    python_version: str | None = None,
    package_manager: str | None = None,
    home: Path | None = None,
    sandboxed: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> PythonEnv:
    """The environment holding ``dependencies``: reused when it exists, built otherwise.

    Raises TaskFailed with the installer's message when the install fails.
    """
    deps = normalise(dependencies)
    problems = refusals(deps)
    if problems:
        raise TaskFailed("dependencies: " + "; ".join(problems))
    python, tag = base_python(python_version)
    uv = installer_for(package_manager)
    # The interpreter's path too: an environment links to it, so workers sharing TRELLIS_HOME
    # with the same version installed elsewhere must not share one.
    key = env_key(deps, f"{tag}@{os.path.realpath(python)}", "uv" if uv else "pip")
    root = envs_root(home)
    link = root / key
    found = ready(link)
    if found is not None:
        logger.debug(f"dependencies: reusing the environment {key}")
        return PythonEnv(key, found, reused=True)
    timeout = _timeout()
    with _locked(root / f"{key}.lock", timeout, logger):
        found = ready(link)  # built by another worker while this one waited
        if found is not None:
            logger.info(f"dependencies: reusing the environment {key} another worker built")
            return PythonEnv(key, found, reused=True)
        folder = root / f"{key}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(mode=0o755)
        jail = None
        if sandboxed:
            try:
                jail = sandbox_for_scripts()
            except SandboxUnavailable as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise TaskFailed(str(exc)) from None
        tool = "uv" if uv else "pip"
        logger.info(f"dependencies: installing {', '.join(deps)} with {tool} (environment {key})")
        started = time.monotonic()
        try:
            if jail is not None:
                if uv:  # uv may live outside the system folders (~/.local/bin)
                    jail = jail.widened(read_only=(os.path.dirname(os.path.realpath(uv)),))
                jail.prepare(folder)
            commands = install_commands(folder, deps, python, uv)
            code, output = _run_install(commands, folder, jail, timeout, should_stop)
            if code != 0:
                tail = [line for line in output.splitlines() if line.strip()][-ERROR_TAIL_LINES:]
                raise TaskFailed(
                    f"installing dependencies with {tool} failed (exit code {code}):\n"
                    + "\n".join(tail)
                )
            (folder / READY_MARKER).write_text(
                json.dumps({"dependencies": deps, "python": tag, "installer": tool}),
                encoding="utf-8",
            )
            if jail is not None and jail.setpriv is not None:
                # Built as uid 65534; handed back so no script identity owns what others run.
                _chown_tree(folder, os.geteuid(), os.getegid())
            os.chmod(folder, 0o755)
            temp_link = root / f".{key}-{uuid.uuid4().hex[:8]}.link"
            os.symlink(folder.name, temp_link)
            old = os.path.realpath(link) if link.is_symlink() else None
            os.replace(temp_link, link)  # the publication: atomic on POSIX
            if old and os.path.realpath(old) != str(folder):
                shutil.rmtree(old, ignore_errors=True)  # a broken earlier attempt
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        logger.info(f"dependencies: environment {key} ready in {time.monotonic() - started:.1f}s")
        return PythonEnv(key, folder, reused=False)
