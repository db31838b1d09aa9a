import numpy as np
import pytest
from PIL import Image

from fl.data import (
    image_folder_channels,
    load_breast_cancer,
    load_image_folder,
    load_medmnist_npz,
    partition_dirichlet,
    partition_iid,
)
from fl.dicom import read_dicom_image
from fl.local_data import load_local_dataset, save_npz
from fl.tests.dicom_files import write_dicom

pytestmark = [pytest.mark.unit]


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def synthetic_medmnist(tmp_path, n_train=12, n_val=5):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 3, (n_train, 1), dtype=np.uint8),
        "val_images": rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8),
        "val_labels": np.array([[0], [1], [0], [1], [1]], dtype=np.uint8),
    }
    arrays["train_labels"][0] = 2
    return write_npz(tmp_path / "tiny.npz", **arrays), arrays


def test_medmnist_npz_round_trip(tmp_path):
    path, arrays = synthetic_medmnist(tmp_path)
    train = load_medmnist_npz(path, "train")
    assert train.inputs.shape == (12, 1, 28, 28) and train.inputs.dtype == np.float32
    assert np.array_equal(np.rint(train.inputs[:, 0] * 255).astype(np.uint8), arrays["train_images"])
    assert train.labels.dtype == np.int64 and np.array_equal(train.labels, arrays["train_labels"][:, 0])
    val = load_medmnist_npz(path, "val")
    # Both splits agree on the number of classes although val holds only 0 and 1.
    assert train.num_classes == val.num_classes == 3
    assert 0.0 <= train.inputs.min() and train.inputs.max() <= 1.0


def test_real_pneumonia_file_loads(pneumonia_npz):
    train = load_medmnist_npz(pneumonia_npz, "train")
    assert train.inputs.shape == (4708, 1, 28, 28) and train.num_classes == 2
    assert np.bincount(train.labels).tolist() == [1214, 3494]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"val_images": np.zeros((2, 28, 28), np.uint8), "val_labels": np.zeros((2, 1), np.uint8)}, "lacks"),
        (
            {"train_images": np.zeros((2, 28, 28), np.uint8), "train_labels": np.zeros((2, 14), np.uint8)},
            "multi-label",
        ),
        (
            {"train_images": np.zeros((2, 28, 28, 4), np.uint8), "train_labels": np.zeros((2, 1), np.uint8)},
            "N x S x S x 3",
        ),
        (
            {"train_images": np.zeros((2, 32, 32), np.uint8), "train_labels": np.zeros((2, 1), np.uint8)},
            "32x32 images; the models take square images of 28, 64, 128, 224 px",
        ),
        (
            {"train_images": np.zeros((2, 64, 28), np.uint8), "train_labels": np.zeros((2, 1), np.uint8)},
            "64x28 images",
        ),
        (
            {"train_images": np.zeros((2, 28, 28), np.float32), "train_labels": np.zeros((2, 1), np.uint8)},
            "uint8",
        ),
        (
            {"train_images": np.zeros((3, 28, 28), np.uint8), "train_labels": np.zeros((2, 1), np.uint8)},
            "3 images",
        ),
        (
            {"train_images": np.zeros((2, 28, 28), np.uint8), "train_labels": np.zeros((2, 1), np.float32)},
            "integers",
        ),
    ],
)
def test_bad_npz_files_raise_value_errors_that_say_what_to_fix(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_medmnist_npz(path, "train")


@pytest.mark.parametrize(("size", "channels"), [(28, 3), (64, 1), (128, 3), (224, 1)])
def test_medmnist_files_of_every_size_in_grayscale_or_rgb(tmp_path, size, channels):
    rng = np.random.default_rng(size)
    layout = (4, size, size) if channels == 1 else (4, size, size, 3)
    images = rng.integers(0, 256, layout, dtype=np.uint8)
    path = write_npz(tmp_path / "set.npz", train_images=images, train_labels=np.arange(4)[:, None])
    dataset = load_medmnist_npz(path, "train")
    assert dataset.inputs.shape == (4, channels, size, size) and dataset.num_classes == 4
    # Channel-first, and exactly the stored pixels.
    back = np.moveaxis(np.rint(dataset.inputs * 255).astype(np.uint8), 1, -1)
    assert np.array_equal(back.reshape(images.shape), images)
    saved = save_npz(tmp_path / "again.npz", {"train": dataset})
    assert np.array_equal(np.load(saved)["train_images"], images)  # MedMNIST's own layout again


def test_labels_beyond_the_models_classes_name_the_file(tmp_path):
    path = write_npz(
        tmp_path / "eleven.npz",
        train_images=np.zeros((3, 28, 28, 3), np.uint8),
        train_labels=np.array([[0], [10], [4]], np.uint8),
    )
    assert load_medmnist_npz(path).num_classes == 11
    with pytest.raises(
        ValueError, match=r"eleven.npz: train_labels has labels up to 10, but the model predicts 5"
    ):
        load_medmnist_npz(path, num_classes=5)


def test_local_data_that_does_not_fit_the_rounds_model_says_what_and_where(tmp_path):
    path = write_npz(
        tmp_path / "colour.npz",
        train_images=np.zeros((3, 28, 28, 3), np.uint8),
        train_labels=np.array([[0], [1], [1]], np.uint8),
    )
    assert load_local_dataset(path, 2, (3, 28, 28)).sample_shape == (3, 28, 28)
    message = (
        r"colour.npz holds samples of 3x28x28 \(RGB\), but the round's model takes 1x28x28 \(grayscale\): point "
        "the node at data of that shape"
    )
    with pytest.raises(ValueError, match=message):
        load_local_dataset(path, 2, (1, 28, 28))


def test_missing_or_unreadable_npz_and_bad_split(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_medmnist_npz(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        load_medmnist_npz(tmp_path / "junk.npz")
    path, _ = synthetic_medmnist(tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_medmnist_npz(path, "validation")


def make_image_folder(root):
    rng = np.random.default_rng(1)
    (root / "normal").mkdir(parents=True)
    (root / "pneumonia").mkdir()
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / "normal" / "a.png")
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(root / "normal" / "b.jpg")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(root / "pneumonia" / "c.bmp")
    return root


def test_image_folder_loads_in_the_models_shape(tmp_path):
    root = make_image_folder(tmp_path / "images")
    colour = load_image_folder(root, sample_shape=(3, 64, 64))
    assert colour.inputs.shape == (3, 3, 64, 64)
    original = np.asarray(Image.open(root / "pneumonia" / "c.bmp").convert("RGB"))
    assert np.array_equal(np.rint(np.moveaxis(colour.inputs[2], 0, -1) * 255).astype(np.uint8), original)
    with pytest.raises(ValueError, match="channels 1 or 3"):
        load_image_folder(root, sample_shape=(2, 28, 28))


def test_image_folder_loads_any_pillow_format_as_gray_28px(tmp_path):
    root = make_image_folder(tmp_path / "images")
    dataset = load_image_folder(root)
    assert dataset.inputs.shape == (3, 1, 28, 28) and dataset.inputs.dtype == np.float32
    assert dataset.labels.tolist() == [0, 0, 1]
    assert dataset.class_names == ("normal", "pneumonia") and dataset.num_classes == 2
    original = np.asarray(Image.open(root / "normal" / "a.png"))
    assert np.array_equal(np.rint(dataset.inputs[0, 0] * 255).astype(np.uint8), original)


def test_dicom_files_are_windowed_and_read_like_other_images(tmp_path):
    root = tmp_path / "ct"
    hounsfield = np.array(
        [[-1000, -160, 40], [240, 1000, 0]]
    )  # air, window's low end, centre, high end, bone
    write_dicom(root / "lesion" / "slice1.dcm", (hounsfield + 1024).astype(np.uint16))
    write_dicom(
        root / "normal" / "film.dcm",
        np.array([[0, 100], [200, 300]], np.uint16),
        intercept=0.0,
        window=None,
        photometric="MONOCHROME1",
    )
    image = np.asarray(read_dicom_image(root / "lesion" / "slice1.dcm"))
    # The soft-tissue window 40 / 400: -160 HU and below black, 240 HU and above white, 40 HU mid-grey.
    assert image.tolist() == [[0, 0, 128], [255, 255, 102]]
    film = np.asarray(read_dicom_image(root / "normal" / "film.dcm"))  # no window: min..max; white is low
    assert film.tolist() == [[255, 170], [85, 0]]
    dataset = load_image_folder(root, sample_shape=(1, 28, 28))
    assert dataset.inputs.shape == (2, 1, 28, 28) and dataset.class_names == ("lesion", "normal")
    assert image_folder_channels(root) == 1


def test_dicom_files_that_cannot_be_read_name_the_file_and_the_fix(tmp_path):
    path = write_dicom(tmp_path / "a" / "x.dcm", np.zeros((4, 4), np.uint16))
    raw = bytearray(path.read_bytes())
    (tmp_path / "a" / "cut.dcm").write_bytes(bytes(raw[:200]))  # the header survives, the pixels do not
    with pytest.raises(ValueError, match="cut.dcm"):
        load_image_folder(tmp_path)


def test_image_folder_with_consortium_class_names(tmp_path):
    root = tmp_path / "images"
    (root / "pneumonia").mkdir(parents=True)
    Image.new("L", (28, 28)).save(root / "pneumonia" / "x.png")
    dataset = load_image_folder(root, class_names=["normal", "pneumonia"])
    assert dataset.labels.tolist() == [1] and dataset.num_classes == 2
    with pytest.raises(ValueError, match="not among the classes"):
        load_image_folder(root, class_names=["normal", "covid"])


def test_bad_image_folders_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "flat").mkdir()
    with pytest.raises(ValueError, match="no subfolders"):
        load_image_folder(tmp_path / "flat")
    (tmp_path / "empty_class" / "normal").mkdir(parents=True)
    with pytest.raises(ValueError, match="is empty"):
        load_image_folder(tmp_path / "empty_class")
    root = make_image_folder(tmp_path / "with_junk")
    (root / "normal" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt is not an image"):
        load_image_folder(root)


def test_breast_cancer_is_standardised_with_train_statistics():
    train, val = load_breast_cancer()
    assert train.inputs.shape[1] == val.inputs.shape[1] == 30
    assert len(train) + len(val) == 569 and train.num_classes == 2
    assert np.allclose(train.inputs.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(train.inputs.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(val.inputs.mean(axis=0), 0, atol=1e-3)


def assert_is_partition(parts, n):
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))
    assert all(len(part) > 0 for part in parts)


def test_iid_partition_sizes_and_determinism():
    labels = np.arange(103) % 2
    parts = partition_iid(labels, 4, seed=3)
    assert_is_partition(parts, 103)
    assert sorted(len(p) for p in parts) == [25, 26, 26, 26]
    assert all(np.array_equal(a, b) for a, b in zip(parts, partition_iid(labels, 4, seed=3), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, partition_iid(labels, 4, seed=4), strict=True))
    with pytest.raises(ValueError, match="non-empty"):
        partition_iid(labels[:3], 4, seed=0)


def label_share_spread(labels, parts):
    """Mean over parts of |share of class 1 in the part - share overall|: 0 for IID, large for skew."""
    overall = labels.mean()
    return float(np.mean([abs(labels[p].mean() - overall) for p in parts]))


def test_dirichlet_partition_skews_labels_more_for_smaller_alpha():
    labels = np.repeat([0, 1], [1200, 3500])
    skewed = partition_dirichlet(labels, 5, alpha=0.1, seed=0)
    mild = partition_dirichlet(labels, 5, alpha=100.0, seed=0)
    for parts in (skewed, mild):
        assert_is_partition(parts, len(labels))
    assert label_share_spread(labels, skewed) > 0.15 > 0.05 > label_share_spread(labels, mild)
    again = partition_dirichlet(labels, 5, alpha=0.1, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(skewed, again, strict=True))


def test_dirichlet_parts_are_never_empty():
    labels = np.repeat([0, 1, 2], 10)
    for seed in range(20):
        assert_is_partition(partition_dirichlet(labels, 10, alpha=0.01, seed=seed), 30)
    with pytest.raises(ValueError, match="alpha"):
        partition_dirichlet(labels, 2, alpha=0, seed=0)
