"""Flow use cases. Import from here; the submodules split them by concern.

Every service is keyword-only, runs in one transaction and leaves the database unchanged when
it raises (``SpecError`` for invalid documents, ``FlowError`` for impossible operations).
"""

from flows.services.common import FlowError, namespace_ensure
from flows.services.deploy import DeployResult, flow_deploy
from flows.services.folders import FolderDeployResult, flows_deploy_folder
from flows.services.hooks import on_flow_changed, register_flow_changed, unregister_flow_changed
from flows.services.lifecycle import (
    flow_delete,
    flow_revision_restore,
    flow_revisions_diff,
    flow_set_disabled,
)

__all__ = [
    "DeployResult",
    "FlowError",
    "FolderDeployResult",
    "flow_delete",
    "flow_deploy",
    "flow_revision_restore",
    "flow_revisions_diff",
    "flow_set_disabled",
    "flows_deploy_folder",
    "namespace_ensure",
    "on_flow_changed",
    "register_flow_changed",
    "unregister_flow_changed",
]
