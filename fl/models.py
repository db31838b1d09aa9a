"""Model architectures: a body (a torch module) that maps an input to 16 or 32 features in [-1, 1], then a linear
head.

The head is the part whose training steps are proven (fl.fixed_head), so every body ends in Hardtanh or Tanh:
the quantised features then lie in the range the circuit checks. Architectures are registered by name (register)
with the function that builds their body; the architecture hash covers that function's source, the source of
every module class of this project the body uses, each torch module's type and settings, and every tensor's
name, shape and dtype, so that a round plan binds the definition, not only the name.

Normalisation is GroupNorm (no running statistics): under federated averaging a BatchNorm's statistics would be
averaged across hospitals whose data differ, and GroupNorm needs none.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from fl.data import IMAGE_CHANNELS, IMAGE_SIZES

FEATURE_DIM = 16  # the head's input width unless an architecture says otherwise
HEAD_FEATURE_WIDTHS = (16, 32)  # the widths registered for every image body (their circuits: docs/PROOFS.md)
HEAD_WEIGHT = "head.weight"
HEAD_BIAS = "head.bias"
# Bump when what the hash covers changes: it is part of every architecture hash.
SPEC_VERSION = 2
MODEL_FAMILIES = ("cnn", "resnet18", "resnet18w16")
# "image": each image standardised on its own (ImageStandardisation) before the body's first layer.
NORMALISATIONS = ("none", "image")
DEFAULT_NORMALISATION = "image"  # the demo's and fl.simulation's, chosen on validation (bench/recipe.py)


@dataclass(frozen=True)
class Architecture:
    arch_id: str
    family: str  # one of MODEL_FAMILIES, or "mlp" for tabular data
    description: str
    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    builder: Callable[..., nn.Module]  # builder(*arguments, features): a fresh body
    arguments: tuple[int, ...]
    features: int = FEATURE_DIM  # the body's output width: the proven head's input
    normalisation: str = "none"  # one of NORMALISATIONS: what the body does to each input first

    def build_body(self) -> nn.Module:
        body = self.builder(*self.arguments, self.features)
        return nn.Sequential(ImageStandardisation(), *body) if self.normalisation == "image" else body


ARCHITECTURES: dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    """Adds an architecture to the registry under its id (refused if the id is taken)."""
    if architecture.arch_id in ARCHITECTURES:
        raise ValueError(f"architecture {architecture.arch_id!r} is already registered")
    ARCHITECTURES[architecture.arch_id] = architecture
    return architecture


class ImageStandardisation(nn.Module):
    """Each image to zero mean and unit variance over all its pixels and channels (colours keep their relation).
    It needs no statistics of anyone's data, so hospitals share none, and a scanner's gain and offset change
    nothing. On PneumoniaMNIST's validation split (bench/recipe.py: 5 hospitals, Dirichlet 0.5, 10 rounds, seeds
    0-2) it beat the raw [0, 1] pixels in accuracy on every seed and in AUC on 2 of 3; with the images' contrast
    or brightness changed by up to 40%, the raw pixels lost up to 4 points of accuracy and this nothing."""

    EPSILON = 1e-3  # a blank image stays finite

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.flatten(1)
        shape = (-1,) + (1,) * (images.dim() - 1)
        return (images - flat.mean(dim=1).view(shape)) / (flat.std(dim=1).view(shape) + self.EPSILON)


def _features(width: int, features: int, smooth: bool = False) -> nn.Sequential:
    """The end of every body: a dense layer to `features` features in [-1, 1] for the circuit, clipped (Hardtanh)
    or, with `smooth`, squashed (Tanh). A wide body needs Tanh: with Hardtanh, ResNet-18 drove every feature of
    every image to +-1 within one local epoch (Adam, lr 1e-3), where Hardtanh has no gradient, and never left
    (validation AUC 0.5 after 3 rounds); with Tanh the same epoch reached AUC 0.97."""
    return nn.Sequential(nn.Linear(width, features), nn.Tanh() if smooth else nn.Hardtanh(-1.0, 1.0))


# --- the small CNN ---------------------------------------------------------------------------------------

POOLED_SIZE = 7  # the CNN's feature map before its dense layer, whatever the image size


def small_cnn(channels: int, size: int, features: int) -> nn.Sequential:
    """Two 3x3 conv + max-pool blocks; at 28 px they leave 7x7, larger images are averaged down to 7x7."""
    pooling = [] if size == 28 else [nn.AdaptiveAvgPool2d(POOLED_SIZE)]
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        *pooling,
        nn.Flatten(),
        *_features(32 * POOLED_SIZE * POOLED_SIZE, features),
    )


# --- ResNet-18 ---------------------------------------------------------------------------------------------

CHANNELS_PER_GROUP = 16  # GroupNorm's groups: 16 channels each (Wu and He: about as good as 32 groups)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, channels // CHANNELS_PER_GROUP), channels)


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with a skip connection (1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm1 = _group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = _group_norm(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), _group_norm(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


def resnet18(channels: int, size: int, width: int, features: int) -> nn.Sequential:
    """ResNet-18 (He et al.): a stem, four stages of two BasicBlocks (width, 2, 4 and 8 x width channels), global
    average pooling. As in MedMNIST's baselines, 28 px images get a 3x3 stride-1 stem without max-pooling, larger
    ones ImageNet's 7x7 stride-2 stem and max-pool; width 64 is the original."""
    if size == 28:
        stem = [nn.Conv2d(channels, width, 3, padding=1, bias=False), _group_norm(width), nn.ReLU()]
    else:
        stem = [
            nn.Conv2d(channels, width, 7, stride=2, padding=3, bias=False),
            _group_norm(width),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
        ]
    stages: list[nn.Module] = []
    in_channels = width
    for stage in range(4):
        out_channels = width * 2**stage
        stride = 1 if stage == 0 else 2
        stages += [BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels, 1)]
        in_channels = out_channels
    return nn.Sequential(
        *stem, *stages, nn.AdaptiveAvgPool2d(1), nn.Flatten(), *_features(in_channels, features, smooth=True)
    )


# --- tabular ---------------------------------------------------------------------------------------------


def mlp(inputs: int, hidden: int, features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), *_features(hidden, features))


# --- the registry ------------------------------------------------------------------------------------------


def image_arch_id(
    family: str, channels: int, size: int, features: int = FEATURE_DIM, normalisation: str = "none"
) -> str:
    """An image model's id: cnn28-d16 (1x28x28, the first one), cnn64c3-d16 (3x64x64), resnet18-28c3-d32 (32
    features into the head), cnn28-d16-std (each image standardised first), ..."""
    shape = f"{size}{'c3' if channels == 3 else ''}"
    arch_id = f"{family}{shape}-d{features}" if family == "cnn" else f"{family}-{shape}-d{features}"
    return arch_id + ("-std" if normalisation == "image" else "")


def _register_image_models(channels: int, size: int, features: int, normalisation: str) -> None:
    image = f"{channels}x{size}x{size} {'RGB' if channels == 3 else 'grayscale'} images"
    first = "each image standardised (zero mean, unit variance), then " if normalisation == "image" else ""
    end = f"a dense layer to {features} features in [-1, 1] (Hardtanh), linear head."
    register(
        Architecture(
            arch_id=image_arch_id("cnn", channels, size, features, normalisation),
            family="cnn",
            description=f"Small CNN for {image}: {first}two 3x3 conv + max-pool blocks, "
            + ("" if size == 28 else f"average-pooled to {POOLED_SIZE}x{POOLED_SIZE}, ")
            + end,
            input_shape=(channels, size, size),
            builder=small_cnn,
            arguments=(channels, size),
            features=features,
            normalisation=normalisation,
        )
    )
    for family, width in (("resnet18", 64), ("resnet18w16", 16)):
        register(
            Architecture(
                arch_id=image_arch_id(family, channels, size, features, normalisation),
                family=family,
                description=f"ResNet-18 for {image}"
                + (" (MedMNIST's baseline body)" if width == 64 else f" at a quarter of the width ({width})")
                + f": {first}GroupNorm, global average pooling, a dense layer to {features} features in [-1, 1] "
                "(Tanh), linear head.",
                input_shape=(channels, size, size),
                builder=resnet18,
                arguments=(channels, size, width),
                features=features,
                normalisation=normalisation,
            )
        )


for _normalisation in NORMALISATIONS:
    for _features_width in HEAD_FEATURE_WIDTHS:
        for _size in IMAGE_SIZES:
            for _channels in IMAGE_CHANNELS:
                _register_image_models(_channels, _size, _features_width, _normalisation)
register(
    Architecture(
        arch_id="mlp30-d16",
        family="mlp",
        description="MLP for 30 standardised tabular features (sklearn breast cancer): one hidden layer of 32, "
        "then 16 features in [-1, 1] (Hardtanh), linear head.",
        input_shape=(30,),
        builder=mlp,
        arguments=(30, 32),
    )
)


def architecture_for_input(
    input_shape: tuple[int, ...],
    family: str = "cnn",
    features: int = FEATURE_DIM,
    normalisation: str = "none",
) -> str:
    """The architecture of `family` with `features` head inputs and `normalisation` that takes samples of
    `input_shape` (tabular data: the MLP)."""
    if family not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(MODEL_FAMILIES)}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; known: {', '.join(NORMALISATIONS)}")
    if features not in HEAD_FEATURE_WIDTHS:
        raise ValueError(
            f"the head takes {' or '.join(map(str, HEAD_FEATURE_WIDTHS))} features, not {features}"
        )
    for arch in ARCHITECTURES.values():
        tabular = len(input_shape) == 1 and arch.family == "mlp"
        if arch.input_shape == tuple(input_shape) and (
            tabular or (arch.family, arch.features, arch.normalisation) == (family, features, normalisation)
        ):
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
    """body: input -> `features` features in [-1, 1]; head: nn.Linear(features, num_classes)."""

    def __init__(self, body: nn.Module, num_classes: int, features: int = FEATURE_DIM) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def get_architecture(arch_id: str) -> Architecture:
    try:
        return ARCHITECTURES[arch_id]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch_id!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        ) from None


def build_model(arch_id: str, num_classes: int, seed: int | None = None) -> HeadedModel:
    """A freshly initialised model; with `seed`, the initial weights are reproducible (the global RNG is left
    as it was)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    arch = get_architecture(arch_id)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return HeadedModel(arch.build_body(), num_classes, arch.features)


def architecture_definition(arch: Architecture, body: nn.Module) -> dict:
    """What a body is made of: its builder's source, the source of this project's module classes in it, and each
    torch module's type and settings (extra_repr: kernel, stride, groups, ...)."""
    own_classes = sorted(
        {type(m) for m in body.modules() if not type(m).__module__.startswith("torch.")},
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )
    normalised = {"normalisation": arch.normalisation} if arch.normalisation != "none" else {}
    return {
        **normalised,  # absent when "none": the hashes of the bodies registered before it stay as they were
        "builder": inspect.getsource(arch.builder),
        "arguments": list(arch.arguments),
        "classes": {f"{cls.__module__}.{cls.__qualname__}": inspect.getsource(cls) for cls in own_classes},
        "modules": [
            [name, f"{type(m).__module__}.{type(m).__qualname__}", m.extra_repr()]
            for name, m in body.named_modules()
        ],
    }


@functools.cache
def architecture_hash(arch_id: str) -> str:
    """sha256 (hex) of the canonical description: id, input shape, the body's definition (architecture_definition) and the
    name, shape and dtype of every tensor of its state.

    The number of classes is not part of it (the head is Linear(features, k)); it belongs to the round's
    configuration.
    """
    arch = get_architecture(arch_id)
    body = build_model(arch_id, num_classes=2, seed=0).body
    description = {
        "spec_version": SPEC_VERSION,
        "id": arch.arch_id,
        "input_shape": list(arch.input_shape),
        "definition": architecture_definition(arch, body),
        "state": [[name, list(t.shape), str(t.dtype)] for name, t in body.state_dict().items()],
        "head": ["linear", arch.features, "num_classes"],
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
