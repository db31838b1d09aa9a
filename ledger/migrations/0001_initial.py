"""ChainDeployment, ChainTransaction move here from the rounds app: the tables are kept (state only); 0002 renames them."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("hospitals", "0001_initial"),
        ("rounds", "0004_chain"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ChainDeployment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("chain_id", models.PositiveBigIntegerField()),
                        ("verification_key_digest", models.CharField(blank=True, max_length=64)),
                        ("registry_address", models.CharField(max_length=42)),
                        ("verifier_address", models.CharField(max_length=42)),
                        ("coordinator_address", models.CharField(max_length=42)),
                        ("num_public_signals", models.PositiveSmallIntegerField()),
                        ("deploy_gas_used", models.PositiveBigIntegerField()),
                        ("registry_tx_hash", models.CharField(max_length=66)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "rounds_chaindeployment",
                        "ordering": ["id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("chain_id", "registry_address"), name="unique_chain_registry"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ChainTransaction",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("register", "Register"),
                                    ("open", "Open"),
                                    ("submit", "Submit"),
                                    ("close", "Close"),
                                    ("cancel", "Cancel"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("tx_hash", models.CharField(max_length=66, unique=True)),
                        ("block_number", models.PositiveBigIntegerField()),
                        ("gas_used", models.PositiveBigIntegerField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "deployment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="transactions",
                                to="ledger.chaindeployment",
                            ),
                        ),
                        (
                            "hospital",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="chain_transactions",
                                to="hospitals.hospital",
                            ),
                        ),
                        (
                            "round",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="chain_transactions",
                                to="rounds.round",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rounds_chaintransaction",
                        "ordering": ["id"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("kind__in", ["open", "close", "cancel"])),
                                fields=("round", "kind"),
                                name="one_round_transaction_per_kind",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("kind", "submit")),
                                fields=("round", "hospital"),
                                name="one_submission_tx",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("kind", "register")),
                                fields=("deployment", "hospital"),
                                name="one_registration_per_registry",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
