"""Namespaces in the admin (a read-only tree with flow counts), namespace files (list,
upload, replace, download and delete) and the allowed-namespaces policy.

The admin only translates: saving calls ``nsfile_put``/``nsfile_mkdir`` and deleting calls
``nsfile_delete``, so the content in storage and the rows never disagree.
"""

from __future__ import annotations

import contextlib

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import FileResponse, Http404
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from access.policy import Action, check, readable
from namespaces import services
from namespaces.allowed import (
    AllowedNamespaceError,
    allowed_namespace_add,
    allowed_namespace_remove,
    validated_name,
)
from namespaces.models import AllowedNamespace, Namespace, NamespaceFile
from namespaces.services import NamespaceFileError, NamespaceFileNotFound


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    """Namespaces are created by deploys; here they are a read-only tree with flow counts.

    Flows are counted through the reverse relation ``flows`` (Flow.namespace), so this module
    imports nothing from ``flows``, which imports this app's models."""

    list_display = ["tree_name", "own_flows", "flows_inside"]
    list_display_links = None
    ordering = ["name"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live_flows=Count("flows", filter=Q(flows__deleted=False)))
        )

    @admin.display(description="namespace", ordering="name")
    def tree_name(self, obj: Namespace) -> str:
        label = obj.name.rsplit(".", 1)[-1]
        return format_html(
            '<span style="padding-left:{}em" title="{}">{}{}</span>',
            2 * obj.depth,
            obj.name,
            "└ " if obj.depth else "",
            label,
        )

    @admin.display(description="flows here")
    def own_flows(self, obj: Namespace) -> str:
        url = reverse("admin:flows_flow_changelist")
        return format_html('<a href="{}?namespace={}">{}</a>', url, obj.name, obj.live_flows)

    @admin.display(description="flows inside (all levels)")
    def flows_inside(self, obj: Namespace) -> int:
        inside = Namespace.objects.inside(obj.name)
        return inside.aggregate(n=Count("flows", filter=Q(flows__deleted=False)))["n"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NamespaceFileForm(forms.ModelForm):
    content = forms.FileField(
        required=False,
        help_text="The file to store (replaces the current content). Leave empty to create "
        "a folder.",
    )

    class Meta:
        model = NamespaceFile
        fields = ["namespace", "path"]
        help_texts = {"path": "Where the file lives in the namespace, like /scripts/etl.py"}

    #: The user saving the form (set by the admin), whose grants the checks use.
    actor = None

    def clean(self):
        data = super().clean()
        if self.instance.pk is None:
            try:
                data["path"] = services.nsfile_check(
                    data.get("namespace") or "",
                    data.get("path") or "",
                    directory=not data.get("content"),
                    actor=self.actor,
                )
            except (NamespaceFileError, PermissionDenied) as exc:
                self.add_error("path", str(exc))
        elif self.instance.is_directory and data.get("content"):
            self.add_error("content", "a folder holds no content; upload a file inside it")
        return data

    def validate_unique(self) -> None:
        """Uploading to an existing path replaces that file (as the API and CLI do)."""


@admin.register(NamespaceFile)
class NamespaceFileAdmin(admin.ModelAdmin):
    form = NamespaceFileForm
    list_display = ("path", "namespace", "kind", "human_size", "updated_at", "download")
    list_filter = ("is_directory",)
    search_fields = ("namespace", "path")
    ordering = ("namespace", "path")
    readonly_fields = ("kind", "human_size", "sha256", "created_at", "updated_at", "download")

    def get_readonly_fields(self, request, obj=None):
        fixed = ("namespace", "path") if obj is not None else ()
        return (*fixed, *self.readonly_fields) if obj is not None else ()

    @admin.display(description="type")
    def kind(self, obj: NamespaceFile) -> str:
        return "folder" if obj.is_directory else "file"

    @admin.display(description="size")
    def human_size(self, obj: NamespaceFile) -> str:
        return "" if obj.is_directory else filesizeformat(obj.size)

    @admin.display(description="content")
    def download(self, obj: NamespaceFile) -> str:
        if obj.pk is None or obj.is_directory:
            return ""
        url = reverse("admin:namespaces_namespacefile_download", args=[obj.pk])
        return format_html('<a href="{}">download</a>', url)

    def get_queryset(self, request):
        return readable(super().get_queryset(request), request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="namespaces_namespacefile_download",
            )
        ]
        return extra + super().get_urls()

    def download_view(self, request, pk: int):
        row = NamespaceFile.objects.filter(pk=pk).first()
        if row is None or not self.has_view_permission(request, row):
            raise Http404("no such namespace file")
        try:
            stream = services.nsfile_open(row.namespace, row.path, actor=request.user)
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise Http404(str(exc)) from exc
        return FileResponse(stream, as_attachment=True, filename=row.name)

    def save_model(self, request, obj: NamespaceFile, form, change: bool) -> None:
        content = form.cleaned_data.get("content")
        try:
            if change and obj.is_directory:
                return
            if content is None and not change:
                row = services.nsfile_mkdir(
                    namespace=obj.namespace, path=obj.path, actor=request.user
                )
            elif content is None:
                return
            else:
                row = services.nsfile_put(
                    namespace=obj.namespace, path=obj.path, data=content, actor=request.user
                )
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            messages.error(request, str(exc))  # a race after the form's checks
            raise
        obj.pk, obj.path, obj.is_directory = row.pk, row.path, row.is_directory

    def delete_model(self, request, obj: NamespaceFile) -> None:
        # a row already gone went with its folder, deleted in the same action
        with contextlib.suppress(NamespaceFileNotFound):
            services.nsfile_delete(namespace=obj.namespace, path=obj.path, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for row in queryset.order_by("path"):
            self.delete_model(request, row)


class AllowedNamespaceForm(forms.ModelForm):
    """Both names checked by the service's rules, and write access on the namespace."""

    class Meta:
        model = AllowedNamespace
        fields = ["namespace", "allowed"]
        help_texts = {
            "namespace": "The namespace opened (and the namespaces inside it).",
            "allowed": "Whose flows may reach it: a namespace (and those inside it), or * for "
            "every namespace. A namespace's own tree never needs an entry.",
        }

    #: The user saving the form (set by the admin), whose grants the checks use.
    actor = None

    def clean(self):
        data = super().clean()
        try:
            data["namespace"] = validated_name(data.get("namespace"), "namespace")
            data["allowed"] = validated_name(
                data.get("allowed"), "allowed namespace", wildcard=True
            )
            check(self.actor, data["namespace"], Action.WRITE)
        except AllowedNamespaceError as exc:
            raise forms.ValidationError(str(exc)) from exc
        except PermissionDenied as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(AllowedNamespace)
class AllowedNamespaceAdmin(admin.ModelAdmin):
    """A namespace's allowed-namespaces policy (issue 21); saving and deleting go through
    :mod:`namespaces.allowed`, which checks write access."""

    form = AllowedNamespaceForm
    list_display = ("namespace", "allowed", "created_at")
    search_fields = ("namespace", "allowed")
    ordering = ("namespace", "allowed")

    def get_queryset(self, request):
        return readable(super().get_queryset(request), request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def save_model(self, request, obj: AllowedNamespace, form, change: bool) -> None:
        if change:  # an entry is a pair: changing one is removing it and adding another
            old = AllowedNamespace.objects.get(pk=obj.pk)
            allowed_namespace_remove(
                namespace=old.namespace, allowed=old.allowed, actor=request.user
            )
        allowed_namespace_add(namespace=obj.namespace, allowed=obj.allowed, actor=request.user)
        saved = AllowedNamespace.objects.get(namespace=obj.namespace, allowed=obj.allowed)
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def delete_model(self, request, obj: AllowedNamespace) -> None:
        allowed_namespace_remove(namespace=obj.namespace, allowed=obj.allowed, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for row in queryset:
            self.delete_model(request, row)
