"""Which global model `manage.py export_model --version ...` writes: latest, a number, or the best by validation AUC."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from registry import selectors
from registry.models import GlobalModel
from web.errors import InvalidInput

pytestmark = [pytest.mark.unit, pytest.mark.django_db]


def add_versions(model: GlobalModel, aucs: list[float | None]) -> None:
    for version, auc in enumerate(aucs, start=model.version + 1):
        GlobalModel.objects.create(
            architecture=model.architecture,
            version=version,
            weights_digest=model.weights_digest,
            metrics={} if auc is None else {"val_auc": auc, "val_accuracy": 0.5},
        )


def test_best_is_the_version_of_highest_validation_auc_the_later_on_a_tie(consortium):
    add_versions(consortium.model, [0.95, 0.99, 0.97, 0.99, None])
    assert selectors.model_for_export("latest", None).version == 5
    assert selectors.model_for_export("best", None).version == 4  # 2 and 4 tie at 0.99
    assert selectors.model_for_export("2", None).version == 2


def test_best_without_any_validation_says_what_to_give_instead(consortium, tmp_path):
    with pytest.raises(InvalidInput, match="No version has a validation AUC"):
        selectors.model_for_export("best", None)
    with pytest.raises(CommandError, match="must be a number, 'latest' or 'best'"):
        call_command("export_model", "--version", "newest", "--out", str(tmp_path / "m.pt"))
