"""Template.namespace points at ``namespaces.Namespace`` (moved from ``flows``, issue 16).

State only: the table behind the model is still ``flows_namespace``, so the column and its
foreign key constraint are unchanged.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("namespaces", "0003_namespace"),
        ("templates", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="template",
                    name="namespace",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="templates",
                        to="namespaces.namespace",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
