"""Flow and namespace routes, mounted under /api/v1/. Fixed paths come before {namespace}."""

from django.urls import path

from flows.api import views, views_bulk, views_by_ids, views_namespaces, views_tests

urlpatterns = [
    path("tests/run", views_tests.TestSuiteRunView.as_view(), name="api-tests-run"),
    path("flows", views.FlowCreateView.as_view(), name="api-flow-create"),
    path("flows/search", views_bulk.FlowSearchView.as_view(), name="api-flow-search"),
    path("flows/validate", views_bulk.FlowValidateView.as_view(), name="api-flow-validate"),
    path("flows/import", views_bulk.FlowImportView.as_view(), name="api-flow-import"),
    path("flows/export/by-query", views_bulk.FlowExportView.as_view(), name="api-flow-export"),
    path(
        "flows/export/by-ids",
        views_by_ids.FlowExportByIdsView.as_view(),
        name="api-flow-export-ids",
    ),
    path("flows/enable/by-ids", views_by_ids.FlowEnableView.as_view(), name="api-flow-enable"),
    path("flows/disable/by-ids", views_by_ids.FlowDisableView.as_view(), name="api-flow-disable"),
    path(
        "flows/delete/by-ids",
        views_by_ids.FlowDeleteByIdsView.as_view(),
        name="api-flow-delete-ids",
    ),
    path(
        "flows/distinct-namespaces",
        views_bulk.DistinctNamespacesView.as_view(),
        name="api-flow-distinct-namespaces",
    ),
    path(
        "flows/<str:namespace>", views_bulk.NamespaceFlowsView.as_view(), name="api-flow-namespace"
    ),
    path("flows/<str:namespace>/<str:flow_id>", views.FlowDetailView.as_view(), name="api-flow"),
    path(
        "flows/<str:namespace>/<str:flow_id>/revisions",
        views.FlowRevisionsView.as_view(),
        name="api-flow-revisions",
    ),
    path(
        "flows/<str:namespace>/<str:flow_id>/revisions/diff",
        views.FlowRevisionsDiffView.as_view(),
        name="api-flow-revisions-diff",
    ),
    path(
        "flows/<str:namespace>/<str:flow_id>/revisions/<int:revision>/restore",
        views.FlowRevisionRestoreView.as_view(),
        name="api-flow-revision-restore",
    ),
    path(
        "flows/<str:namespace>/<str:flow_id>/graph",
        views.FlowGraphView.as_view(),
        name="api-flow-graph",
    ),
    path("namespaces", views_namespaces.NamespaceListView.as_view(), name="api-namespaces"),
    path(
        "namespaces/tree", views_namespaces.NamespaceTreeView.as_view(), name="api-namespace-tree"
    ),
]
