import dataclasses
import json

import pytest
import torch

from fl.models import (
    ARCHITECTURES,
    BasicBlock,
    architecture_definition,
    architecture_for_input,
    architecture_hash,
    build_model,
    model_from_state,
    register,
)
from fl.params import parameter_count

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize("arch_id", sorted(ARCHITECTURES))
def test_body_features_lie_in_unit_interval_and_head_is_linear(arch_id):
    model = build_model(arch_id, num_classes=3, seed=0)
    x = torch.randn(5, *ARCHITECTURES[arch_id].input_shape) * 10
    features = model.body(x)
    assert features.shape == (5, ARCHITECTURES[arch_id].features)
    assert features.abs().max() <= 1.0
    assert model(x).shape == (5, 3)
    assert (
        isinstance(model.head, torch.nn.Linear) and model.head.in_features == ARCHITECTURES[arch_id].features
    )


def test_a_standardising_body_sees_the_same_image_whatever_its_gain_and_offset():
    model = build_model("cnn28-d16-std", 2, seed=0)
    plain = build_model("cnn28-d16", 2, seed=0)
    images = torch.rand(6, 1, 28, 28)
    for gain, offset in ((0.5, 0.2), (1.5, -0.3)):
        shifted = images * gain + offset
        assert torch.allclose(model(shifted), model(images), atol=1e-2)
        assert not torch.allclose(plain(shifted), plain(images), atol=1e-2)
    # The same layers as the plain CNN after the standardisation, and a hash of its own.
    assert [name for name, _ in model.body.named_parameters()] == [
        f"{int(name.split('.')[0]) + 1}.{name.split('.', 1)[1]}" for name, _ in plain.body.named_parameters()
    ]
    assert architecture_hash("cnn28-d16-std") != architecture_hash("cnn28-d16")


def test_cnn_is_small_enough_for_cpu_rounds():
    assert 20_000 <= parameter_count(build_model("cnn28-d16", 2).state_dict()) <= 100_000


def test_seeded_models_are_reproducible_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("cnn28-d16", 2, seed=7).state_dict()
    assert torch.rand(1) == expected_next
    b = build_model("cnn28-d16", 2, seed=7).state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    c = build_model("cnn28-d16", 2, seed=8).state_dict()
    assert not torch.equal(a["head.weight"], c["head.weight"])


def test_architecture_hash_is_stable_and_distinct():
    hashes = {arch_id: architecture_hash(arch_id) for arch_id in ARCHITECTURES}
    assert len(set(hashes.values())) == len(hashes)
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes.values())
    assert architecture_hash("cnn28-d16") == hashes["cnn28-d16"]


def test_unknown_architecture_and_mismatched_state_are_value_errors():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet50", 2)
    with pytest.raises(ValueError, match="does not fit"):
        model_from_state(build_model("mlp30-d16", 2).state_dict(), "cnn28-d16")
    with pytest.raises(ValueError, match="at least 2"):
        build_model("cnn28-d16", 1)


def test_resnet18_has_the_original_shape_and_its_narrow_variant_a_sixteenth_of_the_weights():
    full = parameter_count(build_model("resnet18-28-d16", 2).state_dict())
    narrow = parameter_count(build_model("resnet18w16-28-d16", 2).state_dict())
    # torchvision's resnet18 has 11,689,512 weights with its 1000-class head and 7x7 RGB stem; this one has a
    # 3x3 grayscale stem, GroupNorm (as many weights as BatchNorm) and a 512 -> 16 -> 2 end.
    assert 11_000_000 < full < 11_300_000
    assert 600_000 < narrow < 800_000
    body = build_model("resnet18-64c3-d16", 2).body
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in body.modules())
    assert sum(isinstance(m, BasicBlock) for m in body.modules()) == 8


def test_architecture_hash_covers_the_definition_not_only_the_name():
    arch = ARCHITECTURES["resnet18w16-28-d16"]
    wider = dataclasses.replace(arch, arch_id="test-wider", arguments=(1, 28, 32))
    same = dataclasses.replace(arch, arch_id="test-same")
    try:
        register(wider)
        register(same)
        with pytest.raises(ValueError, match="already registered"):
            register(same)
        description = json.loads(json.dumps(architecture_definition(same, same.build_body())))
        assert "class BasicBlock" in description["classes"]["fl.models.BasicBlock"]
        assert "def resnet18" in description["builder"]
        assert architecture_hash("test-wider") != architecture_hash("test-same")
    finally:
        ARCHITECTURES.pop("test-wider", None)
        ARCHITECTURES.pop("test-same", None)


def test_an_image_shape_finds_the_model_of_each_family():
    assert architecture_for_input((3, 64, 64)) == "cnn64c3-d16"
    assert architecture_for_input((1, 28, 28), "resnet18") == "resnet18-28-d16"
    assert architecture_for_input((1, 224, 224), "resnet18w16") == "resnet18w16-224-d16"
    assert architecture_for_input((1, 28, 28), "resnet18w16", 32) == "resnet18w16-28-d32"
    assert architecture_for_input((30,), "resnet18") == "mlp30-d16"
    with pytest.raises(ValueError, match="16 or 32 features, not 24"):
        architecture_for_input((1, 28, 28), "cnn", 24)
    with pytest.raises(ValueError, match="unknown model family"):
        architecture_for_input((1, 28, 28), "vgg")
