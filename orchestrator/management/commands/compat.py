"""``manage.py compat [--filter S] [--json PATH] [--keep-going] [--timeout S]``: Kestra's own
test scenarios through Trellis's real executor and workers, and the share that passes.

Runs against the configured database (after ``migrate``): executions of the ``io.kestra.*``
namespaces are deleted first, the corpus flows are deployed, and the command starts its own
executor, task worker and beat for the run and stops them at the end. Corpus flows with a
Schedule trigger are deleted after the run, so they never fire in this installation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from orchestrator.compat import live
from orchestrator.compat.checks import CATEGORIES, ERROR, PASS, Result, summary, top_reasons
from orchestrator.compat.environment import TIMINGS, kestra_environment, kestra_test_env
from orchestrator.compat.runner import Runner
from orchestrator.compat.scenarios import default_corpus, load_corpus, select
from orchestrator.supervisor import Fleet, purge_broker

#: An executor whose log has not grown for this long (beat sweeps every second) is stuck.
STUCK_SECONDS = 20
_STYLE = {"pass": "green", "fail": "red", "error": "magenta", "refused": "yellow"}


class Command(BaseCommand):
    help = "Run Kestra's compatibility corpus through the real executor and workers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--filter", default="", help="only scenarios whose file:name has this")
        parser.add_argument("--json", type=Path, help="write every result to this file")
        parser.add_argument(
            "--keep-going", action="store_true",
            help="go on after an error (an exception); by default the first one stops the run",
        )  # fmt: skip
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds per wait")
        parser.add_argument("--corpus", type=Path, default=None, help="the corpus folder")
        parser.add_argument("--workers", type=int, default=4, help="task worker concurrency")

    def handle(self, *args, **options) -> None:
        corpus_dir = options["corpus"] or default_corpus()
        if not (corpus_dir / "expectations.yaml").is_file():
            raise CommandError(f"no Kestra corpus at {corpus_dir}")
        console = Console(file=self.stdout._out, width=200, highlight=False)
        corpus = load_corpus(corpus_dir)
        scenarios = select(corpus.scenarios, options["filter"])
        if not scenarios:
            raise CommandError(f"no scenario matches {options['filter']!r}")
        call_command("migrate", interactive=False, verbosity=0)
        deleted = live.forget_previous_runs()
        env = {**TIMINGS, **kestra_test_env(corpus.header.get("global_setup"))}
        logs = settings.TRELLIS_HOME / "compat-logs"
        logs.mkdir(parents=True, exist_ok=True)
        for old in logs.glob("*.log"):
            old.unlink()  # the fleet waits for " ready." in its log: never an old one
        console.print(f"{len(scenarios)} scenarios; {deleted} old rows of io.kestra.* deleted")
        with kestra_environment(env):
            deployment = live.deploy_corpus(corpus)
            purge_broker()
            fleet = Fleet(logs, env)
            roles = {"compat-executor": ("executor", 2),
                     "compat-tasks": ("default", options["workers"])}  # fmt: skip
            try:
                for name, (queues, concurrency) in roles.items():
                    fleet.start_worker(name, queues, concurrency=concurrency)
                fleet.start_beat()
                runner = Runner(
                    corpus, deployment, timeout=options["timeout"],
                    watchdog=lambda: self._revive(console, fleet, roles),
                )  # fmt: skip
                results = runner.run_all(
                    scenarios,
                    keep_going=options["keep_going"],
                    on_result=lambda r: self._progress(console, r),
                )
            finally:
                fleet.stop()
                withdrawn = live.withdraw_scheduled(deployment)
        if withdrawn:
            console.print(f"flows with a Schedule trigger deleted after the run: {withdrawn}")
        self._report(console, results, deployment, len(scenarios))
        if options["json"]:
            self._write_json(options["json"], results, deployment)
            console.print(f"details written to {options['json']}")

    @staticmethod
    def _revive(console: Console, fleet: Fleet, roles: dict[str, tuple[str, int]]) -> list[str]:
        """Restart a process that died during the run (its log is kept aside): a crashed
        executor would otherwise turn every later scenario into a timeout."""
        restarted = []
        for name, proc in list(fleet.procs.items()):
            log = fleet.logs / f"{name}.log"
            if proc.poll() is None:
                # beat sends the executor a sweep every second, which it logs: a silent
                # executor log means a stuck consumer, not a quiet system
                if name != "compat-executor" or time.time() - log.stat().st_mtime < STUCK_SECONDS:
                    continue
                console.print(f"[magenta]{name} silent for {STUCK_SECONDS}s; restarting it[/]")
                fleet.kill(name)
            else:
                console.print(f"[magenta]{name} exited ({proc.returncode}); restarting it[/]")
            if log.exists():
                log.rename(log.with_name(f"{name}.{int(time.time())}.log"))
            if name in roles:
                fleet.start_worker(name, roles[name][0], concurrency=roles[name][1])
            else:
                fleet.start_beat()
            restarted.append(name)
        return restarted

    @staticmethod
    def _progress(console: Console, result: Result) -> None:
        style = _STYLE.get(result.category, "cyan")
        reason = f"  {escape(result.reason[:150])}" if result.reason else ""
        console.print(
            f"[{style}]{result.category:<15}[/] {escape(result.key)} ({result.seconds:.1f}s){reason}",
            markup=True,
            soft_wrap=True,
        )

    def _report(self, console: Console, results: list[Result], deployment, wanted: int) -> None:
        for category in CATEGORIES:
            rows = [r for r in results if r.category == category]
            if not rows:
                continue
            table = Table(title=f"{category} ({len(rows)})", title_justify="left", expand=False)
            table.add_column("scenario", no_wrap=True)
            if category != PASS:
                table.add_column("reason", overflow="fold", max_width=140)
            for r in rows:
                table.add_row(r.key, *([] if category == PASS else [Text(r.reason)]))
            console.print(table)
        if deployment.refused:
            table = Table(title="flows Trellis refuses", title_justify="left")
            table.add_column("file", no_wrap=True)
            table.add_column("first problem", overflow="fold", max_width=140)
            for file, reason in sorted(deployment.refused.items()):
                table.add_row(file, Text(reason))
            console.print(table)
        reasons = Table(title="top failure reasons (grouped)", title_justify="left")
        reasons.add_column("n", justify="right")
        reasons.add_column("reason", overflow="fold", max_width=160)
        for reason, count in top_reasons(results):
            reasons.add_row(str(count), Text(reason))
        console.print(reasons)
        figures = summary(results)
        by = figures["by_category"]
        applicable = figures["total"] - by["not applicable"]
        share = 100.0 * figures["passed"] / applicable if applicable else 0.0
        console.print(", ".join(f"{k}: {v}" for k, v in by.items()))
        if len(results) < wanted:
            console.print(f"[magenta]stopped at the first error after {len(results)} of "
                          f"{wanted} scenarios (--keep-going runs them all)[/]")  # fmt: skip
        console.print(
            f"[bold]{figures['passed']}/{figures['total']} scenarios pass "
            f"({figures['percent']:.1f}%)[/] — {figures['passed']}/{applicable} of the "
            f"applicable ones ({share:.1f}%)"
        )
        if any(r.category == ERROR for r in results):
            console.print("[magenta]errors are exceptions in the run: see their reasons above[/]")

    @staticmethod
    def _write_json(path: Path, results: list[Result], deployment) -> None:
        data = {
            "summary": summary(results),
            "top_reasons": [{"reason": r, "count": n} for r, n in top_reasons(results, 25)],
            "refused_flows": deployment.refused,
            "templates_refused": deployment.templates_refused,
            "results": [r.as_dict() for r in results],
        }
        path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
