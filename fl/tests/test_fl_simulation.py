"""The round defaults must train a useful model: the full PneumoniaMNIST setting of the demo."""

import time

from fl.data import load_medmnist_npz, partition_iid
from fl.simulation import run_fedavg
from fl.training import DEFAULT_TRAIN_CONFIG


def test_fedavg_with_fixed_point_head_reaches_90_percent_on_pneumonia_val(pneumonia_npz):
    train, validation = load_medmnist_npz(pneumonia_npz, "train"), load_medmnist_npz(pneumonia_npz, "val")
    hospitals = [train.subset(part) for part in partition_iid(train.labels, 3, seed=0)]
    config = DEFAULT_TRAIN_CONFIG
    assert (config.loss, config.local_epochs, config.batch_size) == ("mse_onehot", 1, 8)
    started = time.perf_counter()
    _, reports = run_fedavg("cnn28-d16", config, hospitals, validation, rounds=5, seed=0)
    elapsed = time.perf_counter() - started
    for report in reports:
        print(report)
    print(f"5 rounds in {elapsed:.1f} s")
    assert [r["round"] for r in reports] == [1, 2, 3, 4, 5]
    assert reports[-1]["accuracy"] >= 0.90
    assert reports[-1]["auc"] >= 0.95
