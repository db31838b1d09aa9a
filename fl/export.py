"""Export a trained model as TorchScript: loadable with torch.jit.load alone, no DecentraHealth code needed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from fl.models import architecture_hash, get_architecture, model_from_state
from fl.params import StateDict

METADATA_FILE = "decentrahealth.json"


def export_torchscript(state: StateDict, arch_id: str, out_path: str | Path) -> Path:
    """Write a TorchScript module mapping float inputs of the architecture's shape (N x C x S x S in
    [0, 1] for images) to logits. The archive also holds METADATA_FILE (architecture, hash, classes, input shape),
    readable with torch.jit.load(path, _extra_files={METADATA_FILE: ""})."""
    arch = get_architecture(arch_id)
    model = model_from_state(state, arch_id).eval()
    metadata = {
        "arch_id": arch_id,
        "architecture_hash": architecture_hash(arch_id),
        "num_classes": model.head.out_features,
        "input_shape": ["N", *arch.input_shape],
        "output": "logits",
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but TorchScript is what loads with torch.jit.load
        # alone (or libtorch in C++), without this package or the model's Python source.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        scripted = torch.jit.script(model)
    torch.jit.save(scripted, str(out_path), _extra_files={METADATA_FILE: json.dumps(metadata)})
    return out_path
