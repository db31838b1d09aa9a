"""AuditEvent move here from the rounds app: the tables are kept (state only); 0002 renames them."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("rounds", "0004_chain"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("actor", models.CharField(max_length=150)),
                        ("kind", models.CharField(max_length=50)),
                        ("from_state", models.CharField(blank=True, max_length=20)),
                        ("to_state", models.CharField(blank=True, max_length=20)),
                        ("detail", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "round",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="events",
                                to="rounds.round",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rounds_auditevent",
                        "ordering": ["id"],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
