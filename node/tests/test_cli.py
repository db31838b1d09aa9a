"""`dh-node` as an admin meets it before anything works: one-line errors that say what to do, no traceback."""

from __future__ import annotations

import numpy as np
import pytest

from fl.local_data import describe_local_data
from node import cli
from protocol import transport

pytestmark = [pytest.mark.unit]


def test_run_and_status_without_enrollment_say_how_to_enroll(tmp_path, capsys):
    for command in ("run", "status"):
        assert cli.main(["--home", str(tmp_path / "nowhere"), command]) == 2
        error = capsys.readouterr().err
        assert error.startswith("dh-node: no node configuration at") and "dh-node enroll" in error
        assert "Traceback" not in error


def test_enroll_refuses_missing_data_before_making_anything(tmp_path, capsys):
    home = tmp_path / "home"
    arguments = ["--home", str(home), "enroll", "--portal", "http://127.0.0.1:9", "--code", "c"]
    assert cli.main([*arguments, "--data", str(tmp_path / "missing.npz")]) == 2
    assert "no data at" in capsys.readouterr().err
    assert not home.exists()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"train_images": np.zeros((2, 32, 32), np.uint8)}, "has no <split>_labels array"),
        (
            {"train_images": np.zeros((2, 32, 32), np.uint8), "train_labels": np.array([[0], [1]])},
            "32x32 images; the models take square images of 28, 64, 128, 224 px",
        ),
    ],
)
def test_enroll_refuses_data_no_model_takes_before_spending_the_code(tmp_path, capsys, arrays, message):
    data = tmp_path / "odd.npz"
    np.savez(data, **arrays)
    home = tmp_path / "home"
    arguments = ["--home", str(home), "enroll", "--portal", "http://127.0.0.1:9", "--code", "c"]
    assert cli.main([*arguments, "--data", str(data)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"dh-node: --data: {data}") and message in error and "Traceback" not in error
    assert not home.exists()


def test_local_data_is_described_in_counts_and_shapes(tmp_path):
    data = tmp_path / "blood.npz"
    images = np.zeros((6, 64, 64, 3), np.uint8)
    np.savez(data, train_images=images, train_labels=np.array([[0], [1], [2], [7], [7], [1]]))
    assert describe_local_data(data) == "6 images of 3x64x64 (RGB) (train), 4 classes"
    folder = tmp_path / "folder"
    for name, count in (("normal", 2), ("lesion", 3)):
        (folder / name).mkdir(parents=True)
        for index in range(count):
            (folder / name / f"{index}.png").write_bytes(b"")
    assert describe_local_data(folder) == "image folder: 5 files in 2 class folders (lesion, normal)"


def test_enroll_with_an_unreachable_portal_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(transport, "RETRY_DELAYS_SECONDS", ())
    data = tmp_path / "data.npz"
    np.savez(data, train_images=np.zeros((2, 28, 28, 3), np.uint8), train_labels=np.array([[0], [1]]))
    arguments = ["--home", str(tmp_path / "home"), "enroll", "--portal", "http://127.0.0.1:9", "--code", "c"]
    assert cli.main([*arguments, "--data", str(data)]) == 1
    assert capsys.readouterr().err.startswith("dh-node: cannot reach the portal")
    # The keys made before the portal answered stay, so enrolling again registers the same ones.
    assert (tmp_path / "home" / "chain.key").stat().st_mode & 0o777 == 0o600


def test_pin_key_party_keeps_each_commitment_once_and_status_says_so(tmp_path, capsys):
    from node.config import NodeConfig, read_node_config, write_node_config

    write_node_config(
        tmp_path, NodeConfig(portal_url="https://portal.test", token="t", data_path="d", hospital="h")
    )
    assert "takes the key committee's key from the portal" in cli.status_text(tmp_path)
    commitment = "ab" * 32
    for _ in range(2):
        assert cli.main(["--home", str(tmp_path), "pin-key-party", commitment.upper()]) == 0
    assert read_node_config(tmp_path).pinned_key_parties == (commitment,)
    assert "holding the 1 key part(ies) it pinned" in cli.status_text(tmp_path)
    assert cli.main(["--home", str(tmp_path), "pin-key-party", "not-a-commitment"]) == 2
    assert "is not a commitment: 64 hex digits" in capsys.readouterr().err
    assert read_node_config(tmp_path).pinned_key_parties == (commitment,)
