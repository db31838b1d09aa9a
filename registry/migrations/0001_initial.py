"""ModelArchitecture, GlobalModel move here from the rounds app: the tables are kept (state only); 0002 renames them."""

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
                    name="ModelArchitecture",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=50)),
                        ("num_classes", models.PositiveSmallIntegerField()),
                        ("description", models.TextField()),
                        ("architecture_hash", models.CharField(max_length=64)),
                        ("parameter_count", models.PositiveIntegerField()),
                    ],
                    options={
                        "db_table": "rounds_modelarchitecture",
                        "constraints": [
                            models.UniqueConstraint(fields=("key", "num_classes"), name="unique_architecture")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="GlobalModel",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("version", models.PositiveIntegerField()),
                        ("weights_digest", models.CharField(max_length=64)),
                        ("head_hash", models.CharField(blank=True, max_length=80)),
                        ("metrics", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "produced_by",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="result_model",
                                to="rounds.round",
                            ),
                        ),
                        (
                            "architecture",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="versions",
                                to="registry.modelarchitecture",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rounds_globalmodel",
                        "ordering": ["architecture_id", "version"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("architecture", "version"), name="unique_model_version"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
