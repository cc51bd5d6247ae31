"""``manage.py compat``: run Kestra's own test flows through real workers and print, per
scenario, pass / fail / error / not applicable / refused, then the compatibility figure."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from orchestrator.compat import runner
from orchestrator.compat.environment import kestra_test_env
from orchestrator.supervisor import Fleet, purge_broker


class Command(BaseCommand):
    help = "Run the Kestra compatibility corpus through the real executor and workers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--filter", default="", help="only scenarios whose name has this")
        parser.add_argument("--json", type=Path, help="write every result here")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds per scenario")
        parser.add_argument("--corpus", type=Path, default=runner.CORPUS)
        parser.add_argument(
            "--min-pass", type=float, default=0.0,
            help="exit 1 when fewer than this share (0-100) of applicable scenarios pass",
        )  # fmt: skip

    def handle(self, *args, **options) -> None:
        corpus: Path = options["corpus"]
        if not (corpus / "expectations.yaml").exists():
            raise CommandError(f"no Kestra corpus at {corpus}")
        call_command("migrate", interactive=False, verbosity=0)
        self._forget_previous_runs()
        scenarios = [s for s in runner.load(corpus) if options["filter"] in s.label]
        flows = runner.deploy_corpus(corpus)
        purge_broker()
        fleet = Fleet(settings.TRELLIS_HOME / "compat-logs", kestra_test_env())
        results = []
        try:
            fleet.start_worker("compat-executor", "executor", concurrency=2)
            fleet.start_worker("compat-tasks", "default", concurrency=2)
            fleet.start_beat()
            for scenario in scenarios:
                result = runner.run_scenario(scenario, flows, options["timeout"])
                results.append(result)
                reason = f"  {result.reason}" if result.reason else ""
                self.stdout.write(f"{result.status:<15} {scenario.label}{reason}")
        finally:
            fleet.stop()
        lines = list(runner.summarize(results))
        for line in lines:
            self.stdout.write(self.style.SUCCESS(line))
        if options["json"]:
            options["json"].write_text(json.dumps([
                {"scenario": r.scenario.label, "status": r.status, "reason": r.reason,
                 "seconds": round(r.seconds, 2), **r.details}
                for r in results
            ], indent=2))  # fmt: skip
        applicable = [r for r in results if r.status != "not applicable"]
        share = 100 * sum(r.status == "pass" for r in applicable) / max(len(applicable), 1)
        if share < options["min_pass"]:
            raise CommandError(f"{share:.0f}% pass, below --min-pass {options['min_pass']}")

    def _forget_previous_runs(self) -> None:
        from executions.models import Execution

        Execution.objects.filter(namespace__startswith="io.kestra").delete()
