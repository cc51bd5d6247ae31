"""``python bench/run.py [--backend embedded|postgres|both] [--only NAME]... [--keep]``

Trellis's benchmark (``make bench``): per backend, a fresh database and broker, real Celery
workers, and the scenarios of bench/README.md, then one table: scenario | measured | target |
ok?. A benchmark, not a test: a missed target is printed, not an exit status (a scenario
that crashed is: exit 1).

Settings are read from the environment once per process, so this process only prepares and
cleans up each backend and runs the measuring in a child process (``--child``) with that
backend's environment. Every Celery process is stopped at the end, on error or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backends import BACKENDS, ROOT, Unavailable, prepare, release
from bench.report import Row, print_table

SCENARIOS = ("queries", "floor", "skeleton", "sequential", "throughput", "parallel", "foreach",
             "transactions", "scale")  # fmt: skip
#: Run only when named with ``--only``: too long for every ``make bench``.
OPT_IN = ("foreach_item_100k",)


def _interrupt_on_sigterm() -> None:
    """SIGTERM (``timeout``, a CI cancel) unwinds like Ctrl-C, so cleanup still runs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME",
        help=f"run only these scenarios (repeat or comma-separate): {', '.join(SCENARIOS)}; "
        f"opt-in: {', '.join(OPT_IN)}",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep TRELLIS_HOME (worker logs)")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = [n for item in args.only for n in item.split(",") if n]
    unknown = sorted(set(args.only) - set(SCENARIOS) - set(OPT_IN))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from "
                     f"{SCENARIOS + OPT_IN}")  # fmt: skip
    return args


def run_backend(name: str, args: argparse.Namespace, rows: list[Row]) -> None:
    """Prepare ``name``, measure it in a child process, clean it up; its rows are added to
    ``rows`` even when interrupted."""
    try:
        backend = prepare(name)
    except Unavailable as exc:
        print(f"[{name}] skipped: {exc}")
        rows.append(Row(name, "(backend unavailable)", None, "", error=f"skipped: {exc}"))
        return
    result = backend.home / "results.json"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--result",
            str(result), *(f"--only={n}" for n in args.only)]  # fmt: skip
    child = subprocess.Popen(argv, cwd=ROOT, env=backend.env)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        # The child got the same signal and is stopping its workers: let it finish that.
        try:
            child.wait(timeout=90)
        except subprocess.TimeoutExpired:
            child.kill()
        raise
    finally:
        rows += _read_rows(result)
        release(backend, keep=args.keep)
    if code != 0:
        rows.append(Row(name, "(benchmark process)", None, "", error=f"exited with {code}"))


def _read_rows(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [Row.from_json(item) for item in json.loads(path.read_text())]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _interrupt_on_sigterm()
    if args.child:
        from bench.child import measure

        try:
            measure(args.child, args.only or list(SCENARIOS), args.result)
        except KeyboardInterrupt:
            return 130  # workers are stopped; the parent reports what was measured
        return 0
    names = BACKENDS if args.backend == "both" else (args.backend,)
    rows: list[Row] = []
    try:
        for name in names:
            run_backend(name, args, rows)
    except KeyboardInterrupt:
        print("interrupted: workers stopped, databases dropped", file=sys.stderr)
        print_table(rows)
        return 130
    print_table(rows)
    return 1 if any(r.error and not r.error.startswith(("skipped", ">")) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
