import json

import numpy as np
import pytest
import torch

from fl.export import METADATA_FILE, export_torchscript
from fl.models import architecture_hash, build_model
from fl.training import predict_logits

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize("arch_id", ["cnn28-d16", "resnet18w16-28-d16"])
def test_exported_torchscript_loads_alone_and_predicts_the_same_logits(tmp_path, arch_id):
    state = build_model(arch_id, 2, seed=3).state_dict()
    path = export_torchscript(state, arch_id, tmp_path / "out" / "model.pt")
    extra = {METADATA_FILE: ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    images = np.random.default_rng(0).uniform(0, 1, (6, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        scripted = loaded(torch.from_numpy(images)).numpy()
    assert scripted.shape == (6, 2)
    assert np.allclose(scripted, predict_logits(state, arch_id, images), atol=1e-5)
    metadata = json.loads(extra[METADATA_FILE])
    assert metadata["architecture_hash"] == architecture_hash(arch_id)
    assert metadata["num_classes"] == 2 and metadata["input_shape"] == ["N", 1, 28, 28]
