"""Admin: trigger state (next and last fire, disabled, polling evaluations, backfill progress)
with the operator's actions, and the firing log. Read-only rows; every change goes through ``triggers.services``."""

from __future__ import annotations

from django.contrib import admin, messages

from triggers.backfills import backfill_progress
from triggers.models import TriggerFire, TriggerState
from triggers.services import (
    BackfillError,
    TriggerError,
    backfill_set_paused,
    trigger_set_disabled,
)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # state and fire rows are kept in step by the services only


@admin.register(TriggerState)
class TriggerStateAdmin(_ReadOnly):
    list_display = [
        "__str__", "kind", "armed", "disabled", "next_fire", "last_fire_date",
        "last_execution_id", "last_evaluation_date", "evaluation_error", "backfill_status",
    ]  # fmt: skip
    list_filter = ["armed", "disabled", "type"]
    search_fields = ["namespace", "flow_id", "trigger_id"]
    actions = ["enable", "disable", "pause_backfill", "resume_backfill"]

    def has_change_permission(self, request, obj=None) -> bool:
        # The actions need change permission; the form itself stays read-only.
        return request.user.has_perm("triggers.change_triggerstate")

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in TriggerState._meta.fields]

    @admin.display(description="type")
    def kind(self, obj: TriggerState) -> str:
        return obj.type.rsplit(".", 1)[-1]

    @admin.display(description="next fire", ordering="next_date")
    def next_fire(self, obj: TriggerState):  # noqa: ANN201 - a datetime or None
        """The next schedule tick, or a polling trigger's next evaluation."""
        return obj.next_date or obj.next_evaluation_date

    @admin.display(description="last poll error")
    def evaluation_error(self, obj: TriggerState) -> str:
        return (obj.last_error[:80] + "...") if len(obj.last_error) > 80 else obj.last_error or "-"

    @admin.display(description="backfill")
    def backfill_status(self, obj: TriggerState) -> str:
        progress = backfill_progress(obj)
        if progress is None:
            return "-"
        return f"{progress['status']} {progress['handled']}/{progress['total']}"

    def _each(self, request, queryset, action, done: str) -> None:
        count = 0
        for state in queryset:
            try:
                action(state)
                count += 1
            except (TriggerError, BackfillError) as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"{count} trigger(s) {done}.")

    @staticmethod
    def _key(state: TriggerState) -> dict[str, str]:
        return {"namespace": state.namespace, "flow_id": state.flow_id,
                "trigger_id": state.trigger_id}  # fmt: skip

    @admin.action(description="Enable the selected triggers")
    def enable(self, request, queryset) -> None:
        self._each(request, queryset,
                   lambda s: trigger_set_disabled(**self._key(s), disabled=False), "enabled")  # fmt: skip

    @admin.action(description="Disable the selected triggers")
    def disable(self, request, queryset) -> None:
        self._each(request, queryset,
                   lambda s: trigger_set_disabled(**self._key(s), disabled=True,
                                                  reason=f"disabled by {request.user}"),
                   "disabled")  # fmt: skip

    @admin.action(description="Pause their backfills")
    def pause_backfill(self, request, queryset) -> None:
        self._each(request, queryset,
                   lambda s: backfill_set_paused(**self._key(s), paused=True), "paused")  # fmt: skip

    @admin.action(description="Resume their backfills")
    def resume_backfill(self, request, queryset) -> None:
        self._each(request, queryset,
                   lambda s: backfill_set_paused(**self._key(s), paused=False), "resumed")  # fmt: skip


@admin.register(TriggerFire)
class TriggerFireAdmin(_ReadOnly):
    """The firing log; its rows are the unique keys, so nobody deletes them here."""

    list_display = ["__str__", "execution_id", "backfill", "error", "created_at"]
    list_filter = ["backfill"]
    search_fields = ["namespace", "flow_id", "trigger_id", "execution_id"]
