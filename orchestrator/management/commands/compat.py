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

from compat import live
from compat.checks import CATEGORIES, ERROR, PASS, Result, summary, top_reasons
from compat.environment import TIMINGS, kestra_environment, kestra_test_env
from compat.runner import Runner
from compat.scenarios import default_corpus, load_corpus, select
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
        parser.add_argument(
            "--extra", type=Path, action="append", default=[], metavar="FOLDER",
            help="another folder in the corpus's format (flows/ and expectations.yaml) whose "
            "scenarios run too; repeatable",
        )  # fmt: skip
        parser.add_argument("--workers", type=int, default=4, help="task worker concurrency")

    def handle(self, *args, **options) -> None:
        corpus_dir = options["corpus"] or default_corpus()
        if not (corpus_dir / "expectations.yaml").is_file():
            raise CommandError(f"no Kestra corpus at {corpus_dir}")
        console = Console(file=self.stdout._out, width=200, highlight=False)
        corpora = [load_corpus(corpus_dir)]
        for folder in options["extra"]:
            if not (folder / "expectations.yaml").is_file():
                raise CommandError(f"no expectations.yaml in {folder}")
            corpora.append(load_corpus(folder, origin=folder.resolve().name))
        chosen = [(c, select(c.scenarios, options["filter"])) for c in corpora]
        wanted = sum(len(s) for _, s in chosen)
        if not wanted:
            raise CommandError(f"no scenario matches {options['filter']!r}")
        extra_namespaces = {ns for c in corpora[1:] for ns in live.corpus_namespaces(c)}
        call_command("migrate", interactive=False, verbosity=0)
        deleted = live.forget_previous_runs(extra_namespaces)
        corpus = corpora[0]
        env = {**TIMINGS, **kestra_test_env(corpus.header.get("global_setup"))}
        logs = settings.TRELLIS_HOME / "compat-logs"
        logs.mkdir(parents=True, exist_ok=True)
        for old in logs.glob("*.log"):
            old.unlink()  # the fleet waits for " ready." in its log: never an old one
        console.print(f"{wanted} scenarios; {deleted} old rows of the corpus namespaces deleted")
        results: list[Result] = []
        deployments = []
        with kestra_environment(env):
            for each, _ in chosen:
                deployment = live.deploy_corpus(each)
                deployment.namespaces = extra_namespaces
                deployments.append(deployment)
            purge_broker()
            fleet = Fleet(logs, env)
            roles = {"compat-executor": ("executor", 2),
                     "compat-tasks": ("default", options["workers"])}  # fmt: skip
            withdrawn: list[str] = []
            try:
                for name, (queues, concurrency) in roles.items():
                    fleet.start_worker(name, queues, concurrency=concurrency)
                fleet.start_beat()
                for (each, scenarios), deployment in zip(chosen, deployments, strict=True):
                    runner = Runner(
                        each, deployment, timeout=options["timeout"],
                        watchdog=lambda: self._revive(console, fleet, roles),
                    )  # fmt: skip
                    results += runner.run_all(
                        scenarios,
                        keep_going=options["keep_going"],
                        on_result=lambda r: self._progress(console, r),
                    )
                    if any(r.category == ERROR for r in results) and not options["keep_going"]:
                        break
            finally:
                fleet.stop()
                for deployment in deployments:
                    withdrawn += live.withdraw_scheduled(deployment)
        if withdrawn:
            console.print(f"flows with a Schedule trigger deleted after the run: {withdrawn}")
        merged = _merge(deployments, corpora)
        self._report(console, results, merged, wanted)
        if options["json"]:
            self._write_json(options["json"], results, merged)
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


def _merge(deployments: list[live.Deployment], corpora: list) -> live.Deployment:
    """One deployment for the report: an extra corpus's files named with its folder."""
    merged = live.Deployment()
    for deployment, corpus in zip(deployments, corpora, strict=True):
        prefix = f"{corpus.origin}/" if corpus.origin else ""
        merged.refused.update({prefix + k: v for k, v in deployment.refused.items()})
        merged.templates_refused.update(deployment.templates_refused)
    return merged
