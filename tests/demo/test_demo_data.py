"""The demo picks the model body a user names (--model, --head-features, --normalise) for the data's image
shape."""

import numpy as np
import pytest

from demo.data import locate_data
from demo.options import DemoError

pytestmark = [pytest.mark.unit]


def rgb_64px_file(path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    labels = (np.arange(12) % 3)[:, None].astype(np.uint8)
    np.savez(path, train_images=images, train_labels=labels, val_images=images[:6], val_labels=labels[:6])
    return path


@pytest.mark.parametrize(
    ("model", "architecture"),
    [
        (("cnn", 16, "none"), "cnn64c3-d16"),
        (("cnn", 16, "image"), "cnn64c3-d16-std"),
        (("resnet18", 16, "none"), "resnet18-64c3-d16"),
        (("resnet18w16", 32, "image"), "resnet18w16-64c3-d32-std"),
    ],
)
def test_the_named_body_for_the_files_shape(tmp_path, model, architecture):
    data = locate_data(str(rgb_64px_file(tmp_path / "rgb.npz")), tmp_path, tmp_path, model)
    assert data.architecture == architecture
    assert data.train.sample_shape == (3, 64, 64) and data.train.num_classes == 3


def test_an_unknown_head_width_is_a_message_naming_the_widths(tmp_path):
    with pytest.raises(DemoError, match="the head takes 16 or 32 features, not 24"):
        locate_data(str(rgb_64px_file(tmp_path / "rgb.npz")), tmp_path, tmp_path, ("cnn", 24, "image"))
