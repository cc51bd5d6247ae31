"""Namespace leaves ``flows`` for ``namespaces`` (issue 16), in Django's state only.

``namespaces`` 0003 took the model over with its table (``flows_namespace``); here Flow's
foreign key is re-pointed and the flows copy removed, after ``templates`` 0002 re-pointed
Template's. No table, column or constraint changes.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0001_initial"),
        ("namespaces", "0003_namespace"),
        ("templates", "0002_namespace_moved"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="flow",
                    name="namespace",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="flows",
                        to="namespaces.namespace",
                    ),
                ),
                migrations.DeleteModel(name="Namespace"),
            ],
            database_operations=[],
        ),
    ]
