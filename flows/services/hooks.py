"""``on_flow_changed``: callbacks run inside the transaction that changed a flow.

Why a plain list and not a Django signal: business logic that must happen with a flow change
(syncing Schedule triggers into django-celery-beat, for instance) should be visible where it
is wired and must fail the change when it fails. A hook that raises rolls the whole deploy
back, so the catalogue and the schedules never disagree.

How to use it (for example from another app's ``AppConfig.ready()``)::

    from flows.services.hooks import register_flow_changed

    @register_flow_changed
    def sync_schedules(flow, spec):
        ...  # spec is None when the flow was deleted

A hook is called after the flow row (and its new revision) is written, with the locked
``Flow`` and its parsed ``FlowSpec``, on create, source change, re-create, restore,
enable/disable (read ``flow.disabled``) and, with ``spec=None``, on delete. It must not start
Celery work directly; use ``transaction.on_commit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.models import Flow
    from kernel.spec.model import FlowSpec

FlowChangedHook = Callable[["Flow", "FlowSpec | None"], None]

#: The registered hooks, called in order.
on_flow_changed: list[FlowChangedHook] = []


def register_flow_changed(hook: FlowChangedHook) -> FlowChangedHook:
    """Add ``hook`` once (registering twice is harmless); usable as a decorator."""
    if hook not in on_flow_changed:
        on_flow_changed.append(hook)
    return hook


def unregister_flow_changed(hook: FlowChangedHook) -> None:
    if hook in on_flow_changed:
        on_flow_changed.remove(hook)


def notify_flow_changed(flow: Flow, spec: FlowSpec | None) -> None:
    """Run every hook; an exception propagates and rolls the caller's transaction back."""
    for hook in list(on_flow_changed):
        hook(flow, spec)


#: ``(spec) -> [(path, message)]``: what another app wants a deploy to warn about (a Flow
#: trigger listening to a namespace that does not allow this one, issue 21). A warning never
#: refuses the deploy: the CLI and the admin print it.
DeployWarner = Callable[["FlowSpec"], list[tuple[str, str]]]
deploy_warners: list[DeployWarner] = []


def register_deploy_warner(warner: DeployWarner) -> DeployWarner:
    if warner not in deploy_warners:
        deploy_warners.append(warner)
    return warner


def deploy_warnings(spec: FlowSpec) -> list[tuple[str, str]]:
    return [found for warner in list(deploy_warners) for found in warner(spec)]
