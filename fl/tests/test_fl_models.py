import pytest
import torch

from fl.models import ARCHITECTURES, FEATURE_DIM, architecture_hash, build_model, model_from_state
from fl.params import parameter_count

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize("arch_id", sorted(ARCHITECTURES))
def test_body_features_lie_in_unit_interval_and_head_is_linear(arch_id):
    model = build_model(arch_id, num_classes=3, seed=0)
    x = torch.randn(5, *ARCHITECTURES[arch_id].input_shape) * 10
    features = model.body(x)
    assert features.shape == (5, FEATURE_DIM)
    assert features.abs().max() <= 1.0
    assert model(x).shape == (5, 3)
    assert isinstance(model.head, torch.nn.Linear) and model.head.in_features == FEATURE_DIM


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
