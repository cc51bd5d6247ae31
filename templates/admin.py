"""Admin for templates: the YAML source is edited and saved through ``templates.services``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Lower

from access.policy import readable
from flows.admin import SOURCE_CHANGE_FORM, NamespacePrefixFilter
from flows.forms import YamlSourceForm
from kernel.spec.model import FlowSpec, SpecError
from templates.models import Template
from templates.services import template_delete, template_deploy, template_parse


class TemplateSourceForm(YamlSourceForm):
    filename = "<template>"

    class Meta:
        model = Template
        fields = ["source"]

    def parse(self, source: str) -> FlowSpec:
        return template_parse(source, filename=self.filename)[0]

    def check_identity(self, spec: FlowSpec) -> str | None:
        instance = self.instance
        if instance.pk and (
            spec.namespace != instance.namespace.name
            or spec.id.lower() != instance.template_id.lower()
        ):
            return f"this page edits {instance}; the source describes {spec.namespace}.{spec.id}"
        clash = (
            Template.objects.alias(id_lower=Lower("template_id"))
            .filter(namespace__name=spec.namespace, id_lower=spec.id.lower())
            .exclude(pk=instance.pk)
            .first()
        )
        return f"template {clash} already exists" if clash else None


class TemplateNamespaceFilter(NamespacePrefixFilter):
    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(namespace__name__startswith=f"{self.value()}.") | queryset.filter(
            namespace__name=self.value()
        )


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    form = TemplateSourceForm
    change_form_template = SOURCE_CHANGE_FORM
    list_display = ["template_id", "namespace", "revision", "updated_at"]
    list_filter = [TemplateNamespaceFilter]
    list_select_related = ["namespace"]
    search_fields = ["template_id", "description"]
    readonly_fields = ["namespace", "template_id", "revision"]

    def get_queryset(self, request):
        """Only templates in namespaces the user may read (issue 6)."""
        return readable(super().get_queryset(request), request.user, "namespace__name")

    def get_fields(self, request, obj=None):
        return ["source"] if obj is None else [*self.readonly_fields, "source"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        try:
            result = template_deploy(source=form.cleaned_data["source"], author=request.user)
        except SpecError as exc:
            raise PermissionDenied(str(exc))
        obj.pk = result.template.pk
        obj.__dict__.update(
            {k: v for k, v in result.template.__dict__.items() if not k.startswith("_")}
        )
        if not result.changed:
            messages.info(request, "The source is unchanged.")

    def save_related(self, request, form, formsets, change) -> None:
        """Nothing related to save: the service wrote everything."""

    def delete_model(self, request, obj) -> None:
        template_delete(template=obj, author=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for template in queryset:
            template_delete(template=template, author=request.user)
