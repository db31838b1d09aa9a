"""The tables moved from the rounds app take this app's names."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("rounds", "0005_models_moved_to_their_apps"),
    ]

    operations = [
        migrations.AlterModelTable(name="modelarchitecture", table=None),
        migrations.AlterModelTable(name="globalmodel", table=None),
    ]
