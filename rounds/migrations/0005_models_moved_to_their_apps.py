"""Architectures and global models, the key committee, the chain ledger and the audit trail move to their own
apps (registry, committee, ledger, events): state only here, the tables stay (each app's 0002 renames them)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("committee", "0001_initial"),
        ("events", "0001_initial"),
        ("ledger", "0001_initial"),
        ("registry", "0001_initial"),
        ("rounds", "0004_chain"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="chaintransaction",
                    name="deployment",
                ),
                migrations.RemoveField(
                    model_name="chaintransaction",
                    name="hospital",
                ),
                migrations.RemoveField(
                    model_name="chaintransaction",
                    name="round",
                ),
                migrations.RemoveField(
                    model_name="globalmodel",
                    name="architecture",
                ),
                migrations.RemoveField(
                    model_name="globalmodel",
                    name="produced_by",
                ),
                migrations.AlterField(
                    model_name="round",
                    name="base_model",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rounds",
                        to="registry.globalmodel",
                    ),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="committee",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="committee.keycommittee",
                    ),
                ),
                migrations.DeleteModel(
                    name="AuditEvent",
                ),
                migrations.DeleteModel(
                    name="ChainDeployment",
                ),
                migrations.DeleteModel(
                    name="ChainTransaction",
                ),
                migrations.DeleteModel(
                    name="ModelArchitecture",
                ),
                migrations.DeleteModel(
                    name="GlobalModel",
                ),
                migrations.DeleteModel(
                    name="KeyCommittee",
                ),
            ],
            database_operations=[],
        ),
    ]
