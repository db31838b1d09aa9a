"""Model architectures: a float body that maps an input to 16 features in [-1, 1], then a linear head.

The head is the part whose training steps are proven (fl.fixed_head), so the body must end in Hardtanh: the
quantised features then lie in the range the circuit checks. Architectures are declared as data (LAYERS
specs) so that their hash depends on the declaration alone, not on how a torch version prints a module.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch
from torch import nn

from fl.data import IMAGE_CHANNELS, IMAGE_SIZES

FEATURE_DIM = 16
HEAD_WEIGHT = "head.weight"
HEAD_BIAS = "head.bias"
# Bump when the meaning of a layer spec changes: it is part of every architecture hash.
SPEC_VERSION = 1


@dataclass(frozen=True)
class Architecture:
    arch_id: str
    description: str
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    # Body layers, each (kind, *integer arguments); see _build_layer for the kinds.
    layers: tuple[tuple, ...]


POOLED_SIZE = 7  # the CNN's feature map before its dense layer, whatever the image size


def cnn_id(channels: int, size: int) -> str:
    """The small CNN's id for an image shape: cnn28-d16 (1x28x28, the first one), cnn64c3-d16 (3x64x64), ..."""
    return f"cnn{size}{'c3' if channels == 3 else ''}-d16"


def _cnn(channels: int, size: int) -> Architecture:
    colour = "RGB" if channels == 3 else "grayscale"
    # At 28 px two pooling steps leave 7x7; larger images are averaged down to 7x7 after the same two blocks.
    pooling = () if size == 28 else (("adaptiveavgpool2d", POOLED_SIZE),)
    return Architecture(
        arch_id=cnn_id(channels, size),
        description=f"Small CNN for {channels}x{size}x{size} {colour} images (MedMNIST): two 3x3 conv + "
        + "max-pool blocks, "
        + ("" if size == 28 else f"average-pooled to {POOLED_SIZE}x{POOLED_SIZE}, ")
        + "a dense layer to 16 features in [-1, 1] (Hardtanh), linear head.",
        input_shape=(channels, size, size),
        layers=(
            ("conv2d", channels, 16, 3, 1),
            ("relu",),
            ("maxpool2d", 2),
            ("conv2d", 16, 32, 3, 1),
            ("relu",),
            ("maxpool2d", 2),
            *pooling,
            ("flatten",),
            ("linear", 32 * POOLED_SIZE * POOLED_SIZE, FEATURE_DIM),
            ("hardtanh",),
        ),
    )


ARCHITECTURES: dict[str, Architecture] = {
    arch.arch_id: arch
    for arch in (
        *(_cnn(channels, size) for size in IMAGE_SIZES for channels in IMAGE_CHANNELS),
        Architecture(
            arch_id="mlp30-d16",
            description="MLP for 30 standardised tabular features (sklearn breast cancer): one hidden layer "
            "of 32, then 16 features in [-1, 1] (Hardtanh), linear head.",
            input_shape=(30,),
            layers=(
                ("linear", 30, 32),
                ("relu",),
                ("linear", 32, FEATURE_DIM),
                ("hardtanh",),
            ),
        ),
    )
}


def architecture_for_input(input_shape: tuple[int, ...]) -> str:
    """The architecture that takes samples of `input_shape` (images: the small CNN of that shape)."""
    for arch in ARCHITECTURES.values():
        if arch.input_shape == tuple(input_shape):
            return arch.arch_id
    raise ValueError(
        f"no architecture takes inputs of shape {describe_input(input_shape)}; images must be square, "
        f"{', '.join(map(str, IMAGE_SIZES))} px, grayscale or RGB"
    )


def describe_input(input_shape: tuple[int, ...]) -> str:
    """Words for a sample shape: '3x28x28 (RGB)', '1x64x64 (grayscale)', '30 features'."""
    if len(input_shape) == 1:
        return f"{input_shape[0]} features"
    colour = {1: " (grayscale)", 3: " (RGB)"}.get(input_shape[0], "")
    return "x".join(map(str, input_shape)) + colour


class HeadedModel(nn.Module):
    """body: input -> FEATURE_DIM features in [-1, 1]; head: nn.Linear(FEATURE_DIM, num_classes)."""

    def __init__(self, body: nn.Sequential, num_classes: int) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def get_architecture(arch_id: str) -> Architecture:
    try:
        return ARCHITECTURES[arch_id]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch_id!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def _build_layer(spec: tuple) -> nn.Module:
    kind, *args = spec
    if kind == "conv2d":
        in_channels, out_channels, kernel, padding = args
        return nn.Conv2d(in_channels, out_channels, kernel, padding=padding)
    if kind == "linear":
        return nn.Linear(*args)
    if kind == "maxpool2d":
        return nn.MaxPool2d(*args)
    if kind == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(*args)
    if kind == "relu":
        return nn.ReLU()
    if kind == "flatten":
        return nn.Flatten()
    if kind == "hardtanh":
        return nn.Hardtanh(-1.0, 1.0)
    raise ValueError(f"unknown layer kind {kind!r}")


def build_model(arch_id: str, num_classes: int, seed: int | None = None) -> HeadedModel:
    """A freshly initialised model; with `seed`, the initial weights are reproducible (the global RNG is left
    as it was)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    arch = get_architecture(arch_id)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return HeadedModel(nn.Sequential(*(_build_layer(spec) for spec in arch.layers)), num_classes)


def architecture_hash(arch_id: str) -> str:
    """sha256 (hex) of the canonical description: id, input shape, layer specs and body parameter shapes.

    The number of classes is not part of it (the head is always Linear(FEATURE_DIM, k)); it belongs to the
    round's configuration.
    """
    arch = get_architecture(arch_id)
    body = build_model(arch_id, num_classes=2, seed=0).body
    description = {
        "spec_version": SPEC_VERSION,
        "id": arch.arch_id,
        "input_shape": list(arch.input_shape),
        "layers": [list(spec) for spec in arch.layers],
        "body_parameters": [[name, list(p.shape)] for name, p in body.named_parameters()],
        "head": ["linear", FEATURE_DIM, "num_classes"],
    }
    canonical = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def num_classes_of(state: dict[str, torch.Tensor]) -> int:
    """The number of classes a state dict's head predicts."""
    if HEAD_WEIGHT not in state:
        raise ValueError(f"state dict has no {HEAD_WEIGHT!r}: not a state of a fl.models.HeadedModel")
    return int(state[HEAD_WEIGHT].shape[0])


def model_from_state(state: dict[str, torch.Tensor], arch_id: str) -> HeadedModel:
    model = build_model(arch_id, num_classes_of(state))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"state dict does not fit architecture {arch_id!r}: {exc}") from None
    return model
