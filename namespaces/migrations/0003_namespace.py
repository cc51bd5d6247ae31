"""Namespace moves here from ``flows`` (issue 16) without touching the database.

The table stays ``flows_namespace`` (``Meta.db_table``): this migration only tells Django's
state that the model now belongs to ``namespaces``; ``flows`` 0002 removes it from the flows
state after ``templates`` 0002 and ``flows`` 0002 re-point their foreign keys. The content
type row is renamed as well, so the permissions granted on namespaces (``view_namespace``)
and the admin's history keep pointing at the model.
"""

import django.db.models.deletion
from django.db import migrations, models

import namespaces.models


def rename_content_type(apps, schema_editor, old: str = "flows", new: str = "namespaces"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if ContentType.objects.using(db).filter(app_label=new, model="namespace").exists():
        return  # already there (created by hand): leave both, as Django would
    ContentType.objects.using(db).filter(app_label=old, model="namespace").update(app_label=new)


def rename_content_type_back(apps, schema_editor):
    rename_content_type(apps, schema_editor, old="namespaces", new="flows")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("flows", "0001_initial"),
        ("namespaces", "0002_allowed_namespaces"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Namespace",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "name",
                            models.CharField(
                                max_length=255,
                                unique=True,
                                validators=[namespaces.models.validate_namespace_name],
                            ),
                        ),
                        (
                            "depth",
                            models.PositiveSmallIntegerField(
                                default=0, help_text="0 for a top-level namespace"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "parent",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="children",
                                to="namespaces.namespace",
                            ),
                        ),
                    ],
                    options={"db_table": "flows_namespace", "ordering": ["name"]},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_type, rename_content_type_back, elidable=True),
    ]
