"""Round.aggregation named the protection scheme of the updates (ckks, plaintext): it is now Round.protection."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("rounds", "0005_models_moved_to_their_apps"),
    ]

    operations = [
        migrations.RenameField(model_name="round", old_name="aggregation", new_name="protection"),
    ]
