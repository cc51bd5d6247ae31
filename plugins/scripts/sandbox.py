"""The sandbox every script task runs in (issue 21: "scripts that cannot reach the worker").

A Shell, Python or Commands task runs user code on the worker. Left alone it could read the
worker's ``/proc/<pid>/environ`` (the Django key, every ``SECRET_*``), open the SQLite database
and other executions' files, and promote its author to superuser. So each script runs under
bubblewrap (``bwrap``, Debian's ``bubblewrap`` package): a new mount namespace whose root is an
empty tmpfs holding only

* the system's read-only directories (``/usr``, ``/etc``, ``/bin``, ``/lib*``...), the Python
  interpreter and virtualenv the worker runs (read-only: never the checkout around them), and
  the folders an operator names in ``TRELLIS_SCRIPT_READ_ONLY_PATHS``;
* a private ``/tmp``, a minimal ``/dev`` with a private ``/dev/shm``;
* folders granted for one run, read-only (a cached dependency environment under
  TRELLIS_HOME: :meth:`Sandbox.widened`);
* the task's working directory, read-write, at the path it has on the worker (and the
  shared folders an operator names in ``TRELLIS_SCRIPT_WRITABLE_PATHS``);

plus a new PID namespace with its own ``/proc`` (no worker process is visible), new IPC and
UTS namespaces, and the host's network. ``TRELLIS_HOME`` and the storage folder are covered
by an empty tmpfs should a read-only folder contain them.

The identity depends on who runs the worker:

* **root** (containers, CI): bwrap sets the sandbox up with root's privileges, then
  ``setpriv`` switches to uid/gid 65534 (``nobody``) with no capabilities, no supplementary
  groups and ``no_new_privs``; the working directory is handed to that uid first. The script
  is then an unprivileged user of the machine, not only of a namespace.
* **any other user**: bwrap makes an unprivileged user namespace in which the script is uid
  65534; outside it keeps the worker's uid, which is why the mount namespace hides everything
  that user owns.

Nothing here runs unsandboxed silently: :func:`sandbox_for_scripts` returns the sandbox, or
``None`` only when ``TRELLIS_UNSAFE_SCRIPTS=1`` allows running without one, and raises
:class:`SandboxUnavailable` otherwise. Workers call :func:`check_at_start` so a machine
without bwrap refuses at start-up instead of at the first script.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Allows running scripts without a sandbox when none works (local mode on a laptop).
UNSAFE_ENV = "TRELLIS_UNSAFE_SCRIPTS"
#: Path of the bwrap program; unset: ``bwrap`` on PATH.
BWRAP_ENV = "TRELLIS_BWRAP"
#: Extra read-only folders scripts may see (``:`` or ``,`` separated), e.g. ``/opt/java``.
READ_ONLY_ENV = "TRELLIS_SCRIPT_READ_ONLY_PATHS"
#: Folders every script may write (a shared drop folder): an operator's explicit choice, as
#: every execution's scripts see them. They must be writable by SCRIPT_UID.
WRITABLE_ENV = "TRELLIS_SCRIPT_WRITABLE_PATHS"
#: The unprivileged identity scripts run as (``nobody`` on Debian).
SCRIPT_UID = SCRIPT_GID = 65534
#: Read-only system folders every script sees (those that exist on this machine).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
#: On hosts whose /etc/resolv.conf points into /run (systemd-resolved).
RESOLVER_PATHS = ("/run/systemd/resolve",)
#: Folders that must stay hidden even when a read-only folder contains them.
HIDDEN_ENV = ("TRELLIS_HOME", "TRELLIS_STORAGE_DIR")
#: Inside the sandbox: HOME and TMPDIR (a private tmpfs).
SANDBOX_TMP = "/tmp"
PROBE_SECONDS = 20.0


class SandboxUnavailable(RuntimeError):
    """No working sandbox and TRELLIS_UNSAFE_SCRIPTS is not set: scripts must not run."""


def unsafe_allowed(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(UNSAFE_ENV, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def bwrap_path(environ: Mapping[str, str] | None = None) -> str | None:
    """The bwrap program this process would use, or None when there is none."""
    env = os.environ if environ is None else environ
    given = env.get(BWRAP_ENV, "").strip()
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("bwrap", path=env.get("PATH", os.defpath))


def _split_paths(raw: str) -> list[str]:
    return [p.strip() for p in raw.replace(",", ":").split(":") if p.strip()]


def interpreter_paths() -> list[str]:
    """The worker's Python installation: the virtualenv and the interpreter it was made
    from (pyenv and uv keep it under the installing user's home), never their parents."""
    found = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    found.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    return sorted(p for p in found if p and p != "/")


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a command line in bubblewrap on this worker."""

    bwrap: str
    #: Set when the worker is root: the setpriv program that drops to SCRIPT_UID.
    setpriv: str | None
    read_only: tuple[str, ...]
    hidden: tuple[str, ...]
    writable: tuple[str, ...] = ()
    #: Read-only folders bound after the hidden ones are covered: a script's cached
    #: dependency environment lives under TRELLIS_HOME, which stays hidden around it.
    granted: tuple[str, ...] = ()

    def widened(self, *, read_only: Sequence[str] = ()) -> Sandbox:
        """This sandbox plus read-only folders (real paths) for one run."""
        extra = tuple(os.path.realpath(p) for p in read_only if p)
        return dataclasses.replace(self, granted=(*self.granted, *extra))

    def prepare(self, working_dir: Path) -> None:
        """Hand the working directory to the script's uid (only when dropping from root;
        symlinks are never followed)."""
        if self.setpriv is None:
            return
        os.lchown(working_dir, SCRIPT_UID, SCRIPT_GID)
        for root, dirs, files in os.walk(working_dir):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), SCRIPT_UID, SCRIPT_GID)

    def argv(self, command: Sequence[str], working_dir: Path) -> list[str]:
        """``command`` run in ``working_dir`` inside the sandbox. Order matters: bubblewrap
        mounts in sequence, so the private /tmp comes before anything bound below it."""
        work = os.path.abspath(working_dir)
        args = _Mounts()
        for path in SYSTEM_PATHS:
            args.read_only(path)
        args.add("--perms", "1777", "--tmpfs", SANDBOX_TMP)
        args.made.add(SANDBOX_TMP)
        args.add("--dev", "/dev", "--proc", "/proc")
        # A private, writable /dev/shm: Python's multiprocessing locks (dbt's adapters) need
        # one, and bwrap's minimal /dev leaves it root-owned.
        args.add("--perms", "1777", "--tmpfs", "/dev/shm")
        for path in (*self.read_only, *RESOLVER_PATHS):
            args.read_only(path)
        for path in self.hidden:  # an empty tmpfs over it, when a visible folder holds it
            if any(_within(path, shown) for shown in args.shown):
                args.add("--tmpfs", path)
        for path in self.granted:
            args.granted(path)
        for path in (*self.writable, work):
            args.parents(path)
            args.add("--bind", os.path.realpath(path), path)
        args.add("--chdir", work)
        head = [self.bwrap, "--die-with-parent", "--unshare-ipc", "--unshare-pid"]
        head += ["--unshare-uts", "--hostname", "sandbox", "--unshare-cgroup-try"]
        if self.setpriv is None:
            head += ["--unshare-user", "--uid", str(SCRIPT_UID), "--gid", str(SCRIPT_GID)]
            tail = ["--", *command]
        else:
            drop = [self.setpriv, f"--reuid={SCRIPT_UID}", f"--regid={SCRIPT_GID}"]
            drop += ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
            tail = ["--", *drop, "--no-new-privs", "--", *command]
        return [*head, *args.argv, *tail]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The script's variables adjusted to the sandbox: HOME and TMPDIR are its private
        /tmp, and the worker's user names (root's, often) are not passed on."""
        adjusted = {k: v for k, v in env.items() if k not in {"USER", "LOGNAME"}}
        adjusted["HOME"] = adjusted["TMPDIR"] = SANDBOX_TMP
        return adjusted


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class _Mounts:
    """bwrap arguments in order, remembering which folders exist inside the sandbox."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.shown: list[str] = []
        self.made: set[str] = {"/"}

    def add(self, *args: str) -> None:
        self.argv.extend(args)

    def parents(self, path: str) -> None:
        """Create ``path``'s missing ancestors readable by everyone (bwrap would make them
        0700, which the unprivileged script could not cross)."""
        missing = []
        parent = os.path.dirname(path)
        while parent not in self.made and not any(_within(parent, s) for s in self.shown):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(missing):
            self.add("--perms", "0755", "--dir", folder)
            self.made.add(folder)

    def granted(self, path: str) -> None:
        """Bind ``path`` read-only even inside a hidden folder (its parents are made)."""
        if not os.path.isdir(path):
            return
        missing, parent = [], os.path.dirname(path)
        while parent not in self.made and parent != "/":
            missing.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(missing):
            self.add("--perms", "0755", "--dir", folder)
            self.made.add(folder)
        self.add("--ro-bind", path, path)
        self.made.add(path)

    def read_only(self, path: str) -> None:
        if not os.path.lexists(path) or any(_within(path, s) for s in self.shown):
            return
        if os.path.islink(path) and os.path.dirname(path) == "/":  # /bin -> usr/bin
            self.add("--symlink", os.readlink(path), path)
            return
        real = os.path.realpath(path)
        self.parents(path)
        self.add("--ro-bind", real, path)
        self.shown.append(path)


def build_sandbox(bwrap: str, environ: Mapping[str, str] | None = None) -> Sandbox:
    env = os.environ if environ is None else environ
    setpriv = None
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv", path=env.get("PATH", os.defpath)) or "/usr/bin/setpriv"
    extra = [os.path.realpath(p) for p in _split_paths(env.get(READ_ONLY_ENV, ""))]
    hidden = [os.path.realpath(env[name]) for name in HIDDEN_ENV if env.get(name)]
    writable = [os.path.realpath(p) for p in _split_paths(env.get(WRITABLE_ENV, ""))]
    return Sandbox(bwrap, setpriv, (*interpreter_paths(), *extra), tuple(hidden), tuple(writable))


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str | None, euid: int, settings: tuple[str, ...]) -> tuple[Sandbox | None, str]:
    """Build the sandbox and run a check in it once: bwrap may exist and still fail (no
    user namespaces, no privilege to mount). Returns the sandbox or None, and why not. The
    arguments are the cache key: what changes the answer (program, identity, folders)."""
    if bwrap is None:
        return None, "bubblewrap (bwrap) is not installed"
    sandbox = build_sandbox(bwrap)
    with tempfile.TemporaryDirectory(prefix="trellis-probe-") as folder:
        work = Path(folder)
        try:
            sandbox.prepare(work)
            done = subprocess.run(
                sandbox.argv(
                    ["/bin/sh", "-c", f'test -w . && test "$(id -u)" = {SCRIPT_UID}'], work
                ),
                env={"PATH": "/usr/bin:/bin"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=PROBE_SECONDS,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"{bwrap} cannot run: {exc}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return None, f"{bwrap} does not work here: {detail[-1] if detail else done.returncode}"
    return sandbox, ""


def probe() -> tuple[Sandbox | None, str]:
    """The working sandbox of this process (tried once per bwrap path), or None and why."""
    names = (READ_ONLY_ENV, WRITABLE_ENV, *HIDDEN_ENV)
    settings = tuple(os.environ.get(name, "") for name in names)
    return _probe(bwrap_path(), os.geteuid(), settings)


def sandbox_for_scripts() -> Sandbox | None:
    """The sandbox to run a script in; None only when running unsandboxed is allowed."""
    sandbox, why = probe()
    if sandbox is not None:
        return sandbox
    if unsafe_allowed():
        return None
    raise SandboxUnavailable(refusal(why))


def refusal(why: str) -> str:
    return (
        f"script tasks cannot run: {why}. Install bubblewrap (apt-get install bubblewrap; "
        f".ci/sandbox-setup does it), or set {UNSAFE_ENV}=1 to run scripts UNSANDBOXED, able "
        "to read the worker's secrets and database (acceptable only on your own laptop)"
    )


def check_at_start() -> str:
    """What a worker says at start about its scripts; raises SandboxUnavailable when it
    must refuse to start."""
    sandbox, why = probe()
    if sandbox is not None:
        how = "setpriv from root" if sandbox.setpriv else "user namespace"
        return f"script tasks run sandboxed by {sandbox.bwrap} as uid {SCRIPT_UID} ({how})"
    if unsafe_allowed():
        return f"script tasks run UNSANDBOXED ({why}; {UNSAFE_ENV}=1)"
    raise SandboxUnavailable(refusal(why))


def queues_run_scripts(queues: Iterable[str] | str | None) -> bool:
    """True unless the worker consumes only the ``executor`` queue (flowable logic)."""
    if queues is None:
        return True
    names = queues.split(",") if isinstance(queues, str) else list(queues)
    names = [n.strip() for n in names if n and n.strip()]
    return not names or any(n != "executor" for n in names)
