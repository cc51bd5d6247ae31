"""``trellis health``: the container health check of the worker, executor and beat roles.

Runs the readiness checks of ``/health/ready`` from inside the process's environment and
exits non-zero naming each failing part. ``--url`` instead asks a web role's endpoint (the
image has no curl): ``trellis health --url http://127.0.0.1:8000/health/ready``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orchestrator.health import run_checks


class Command(BaseCommand):
    help = "Check the database, migrations, broker and storage; exit 1 naming what fails."
    requires_system_checks: list = []  # a health check must not fail on a warning
    requires_migrations_checks = False

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", help="ask this /health/ready URL instead of checking here")
        parser.add_argument("--timeout", type=float, default=10.0, help="--url: seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["url"]:
            self.ask(options["url"], options["timeout"])
            return
        checks = run_checks()
        for check in checks:
            status = "ok" if check.ok else f"FAILING: {check.reason}"
            self.stdout.write(f"{check.name}: {status}")
        failing = [c.name for c in checks if not c.ok]
        if failing:
            raise CommandError(f"not healthy: {', '.join(failing)}")

    def ask(self, url: str, timeout: float) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                body = response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise CommandError(f"not healthy: {url} answered {exc.code} {_failing(body)}")
        except (urllib.error.URLError, OSError) as exc:
            raise CommandError(f"not healthy: {url} unreachable ({exc})")
        self.stdout.write(f"{url}: {body.strip()}")


def _failing(body: str) -> str:
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return body[:200]
    return ", ".join(name for name, status in checks.items() if status != "ok")
