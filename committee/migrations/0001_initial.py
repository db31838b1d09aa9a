"""KeyCommittee move here from the rounds app: the tables are kept (state only); 0002 renames them."""

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
                    name="KeyCommittee",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "seed",
                            models.CharField(
                                help_text="public seed of the common polynomial a (hex)", max_length=64
                            ),
                        ),
                        ("key_id", models.CharField(max_length=64, unique=True)),
                        ("public_context_digest", models.CharField(max_length=64)),
                        ("parties", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "rounds_keycommittee",
                        "ordering": ["-id"],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
