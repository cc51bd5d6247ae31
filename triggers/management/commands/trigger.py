"""``manage.py trigger SUBCOMMAND ...``: see and control triggers, run backfills.

  trigger list [--namespace NS] [--flow ID] [--type Schedule|Flow|Webhook|Polling] [--json]
  trigger enable|disable NAMESPACE FLOW TRIGGER
  trigger backfill NAMESPACE FLOW TRIGGER --start ISO --end ISO [--input K=V]... [--label K=V]...
                   [--wait] [--timeout S]
  trigger backfill-pause|backfill-resume|backfill-status NAMESPACE FLOW TRIGGER
  trigger sync     (re-sync every flow's triggers with beat's tables and the index)

Only translates arguments and calls ``triggers.services``. Dates without an offset are UTC.
Exit codes: 0 ok, 1 invalid input or refused action, 2 usage.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from triggers.backfills import backfill_progress
from triggers.models import TriggerState
from triggers.selectors import trigger_state_get, trigger_states
from triggers.services import (
    BackfillError,
    TriggerError,
    backfill_set_paused,
    backfill_start,
    trigger_set_disabled,
)
from triggers.sync import sync_all


def _fail(message: str) -> CommandError:
    return CommandError(message, returncode=1)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"not an ISO-8601 date: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--{what} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else "-"


def _row(state: TriggerState) -> dict[str, Any]:
    return {
        "namespace": state.namespace, "flowId": state.flow_id, "triggerId": state.trigger_id,
        "type": state.type.rsplit(".", 1)[-1], "armed": state.armed, "disabled": state.disabled,
        "disabledReason": state.disabled_reason or None, "nextDate": _iso(state.next_date),
        "lastFireDate": _iso(state.last_fire_date),
        "lastExecutionId": state.last_execution_id or None,
        "nextEvaluationDate": _iso(state.next_evaluation_date),
        "lastEvaluationDate": _iso(state.last_evaluation_date),
        "lastError": state.last_error or None,
        "backfill": backfill_progress(state),
    }  # fmt: skip


class Command(BaseCommand):
    help = "List, enable and disable triggers; backfill Schedule triggers."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        listing = sub.add_parser("list", help="triggers with their next and last fire")
        listing.add_argument("--namespace")
        listing.add_argument("--flow")
        listing.add_argument("--type", choices=["Schedule", "Flow", "Webhook", "Polling"])
        listing.add_argument("--json", action="store_true")
        listing.set_defaults(handler=self.handle_list)
        sub.add_parser("sync", help="re-sync every flow's triggers").set_defaults(
            handler=self.handle_sync
        )
        for name, handler, text in [
            ("enable", self.handle_enable, "let a trigger fire again"),
            ("disable", self.handle_disable, "stop a trigger firing (the flow stays enabled)"),
            ("backfill", self.handle_backfill, "run a Schedule over past dates, one by one"),
            ("backfill-pause", self.handle_pause, "pause a running backfill"),
            ("backfill-resume", self.handle_resume, "resume a paused backfill"),
            ("backfill-status", self.handle_status, "how far a backfill has gone"),
        ]:
            one = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
            for arg in ("namespace", "flow_id", "trigger_id"):
                one.add_argument(arg, metavar=arg.split("_")[0].upper())
            one.set_defaults(handler=handler)
            if name == "backfill":
                one.add_argument("--start", required=True, help="ISO-8601; no offset = UTC")
                one.add_argument("--end", required=True, help="ISO-8601; no offset = UTC")
                one.add_argument("--input", action="append", metavar="K=V")
                one.add_argument("--label", action="append", metavar="K=V")
                one.add_argument("--wait", action="store_true", help="print progress until done")
                one.add_argument("--timeout", type=float, default=3600.0)

    def handle(self, *args, **options) -> None:
        try:
            options["handler"](options)
        except (TriggerError, BackfillError) as exc:
            raise _fail(str(exc)) from None
        except TriggerState.DoesNotExist:
            raise _fail("no such trigger (is the flow deployed?)") from None

    @staticmethod
    def _key(options: dict) -> dict[str, str]:
        return {k: options[k] for k in ("namespace", "flow_id", "trigger_id")}

    def handle_list(self, options: dict) -> None:
        states = trigger_states(
            namespace=options["namespace"], flow_id=options["flow"], type_suffix=options["type"]
        )
        rows = [_row(s) for s in states]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        for r in rows:
            status = "disabled" if r["disabled"] else "armed" if r["armed"] else "silenced"
            polled = r["nextEvaluationDate"] != "-" or r["lastEvaluationDate"] != "-"
            next_date = r["nextEvaluationDate"] if polled else r["nextDate"]
            line = (
                f"{r['namespace']}.{r['flowId']}:{r['triggerId']}  {r['type']}  {status}  "
                f"next {next_date}  last {r['lastFireDate']}"
            )
            if polled:
                line += f"  polled {r['lastEvaluationDate']}"
            if r["lastError"]:
                line += f"  error: {r['lastError']}"
            self.stdout.write(line)

    def handle_sync(self, options: dict) -> None:
        self.stdout.write(f"{sync_all()} flow(s) synced")

    def handle_enable(self, options: dict) -> None:
        state = trigger_set_disabled(**self._key(options), disabled=False)
        self.stdout.write(f"{state} enabled (next {_iso(state.next_date)})")

    def handle_disable(self, options: dict) -> None:
        state = trigger_set_disabled(**self._key(options), disabled=True, reason="disabled by CLI")
        self.stdout.write(f"{state} disabled")

    def handle_backfill(self, options: dict) -> None:
        state = backfill_start(
            **self._key(options),
            start=_moment(options["start"]),
            end=_moment(options["end"]),
            inputs=_pairs(options["input"], "input"),
            labels=_pairs(options["label"], "label"),
        )
        self.stdout.write(f"{state}: backfill of {state.backfill['total']} tick(s) started")
        if options["wait"]:
            self._follow(options, options["timeout"])

    def handle_pause(self, options: dict) -> None:
        state = backfill_set_paused(**self._key(options), paused=True)
        self.stdout.write(f"{state}: backfill paused")

    def handle_resume(self, options: dict) -> None:
        state = backfill_set_paused(**self._key(options), paused=False)
        self.stdout.write(f"{state}: backfill resumed")

    def handle_status(self, options: dict) -> None:
        state = trigger_state_get(**self._key(options))
        self.stdout.write(json.dumps(backfill_progress(state), indent=2))

    def _follow(self, options: dict, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        shown = None
        while time.monotonic() < deadline:
            progress = backfill_progress(trigger_state_get(**self._key(options))) or {}
            line = (
                f"{progress.get('status')} {progress.get('handled')}/{progress.get('total')} "
                f"created {progress.get('created')} skipped {progress.get('skipped')}"
            )
            if line != shown:
                self.stdout.write(line)
                shown = line
            if progress.get("status") != "RUNNING":
                return
            time.sleep(0.5)
        raise _fail(f"the backfill is still running after {timeout:g}s")
