"""Architecture hashes recomputed for fl.models SPEC_VERSION 2 (bodies hashed from their torch definition, not
from layer specs). The bodies' tensors are unchanged, so stored weights still fit; without this, nodes running the
new software would refuse every round of a model registered before (node/pipeline.py model_template)."""

from django.db import migrations


def rehash(apps, schema_editor):
    from fl import models as fl_models

    ModelArchitecture = apps.get_model("registry", "ModelArchitecture")
    for architecture in ModelArchitecture.objects.all():
        if architecture.key in fl_models.ARCHITECTURES:
            architecture.architecture_hash = fl_models.architecture_hash(architecture.key)
            architecture.save(update_fields=["architecture_hash"])


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_server_strategy")]

    operations = [migrations.RunPython(rehash, migrations.RunPython.noop)]
