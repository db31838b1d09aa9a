import json

import numpy as np
import pytest
import torch

from fl.export import METADATA_FILE, export_torchscript
from fl.models import architecture_hash, build_model
from fl.training import predict_logits

pytestmark = [pytest.mark.unit]


def test_exported_torchscript_loads_alone_and_predicts_the_same_logits(tmp_path):
    state = build_model("cnn28-d16", 2, seed=3).state_dict()
    path = export_torchscript(state, "cnn28-d16", tmp_path / "out" / "model.pt")
    extra = {METADATA_FILE: ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    images = np.random.default_rng(0).uniform(0, 1, (6, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        scripted = loaded(torch.from_numpy(images)).numpy()
    assert scripted.shape == (6, 2)
    assert np.allclose(scripted, predict_logits(state, "cnn28-d16", images), atol=1e-6)
    metadata = json.loads(extra[METADATA_FILE])
    assert metadata["architecture_hash"] == architecture_hash("cnn28-d16")
    assert metadata["num_classes"] == 2 and metadata["input_shape"] == ["N", 1, 28, 28]
