# SPDX-License-Identifier: Apache-2.0
"""
TrainConfig: everything that decides a training run, and THE source of its defaults.

Free of torch, so `acnn train`'s option table can show these defaults without importing it.
"""
from dataclasses import dataclass, field
from typing import Any, Dict


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in every checkpoint)."""

    variant: str = 'opt'
    overrides: Dict[str, Any] = field(default_factory=dict)
    epochs: int = 8
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    labeled_fraction: float = 0.05
    loc_weight: float = 5.0            # 1.0 let the classification gradient drag the ROI away
    augment: bool = True
    seed: int = 0
    device: str = 'cpu'
    threads: int = 2
    # Weights that start this run: a checkpoint (a second stage) or a shipped model's .onnx
    # (transfer to a new product: acnn_ros/model/transfer.py).
    init_from: str = ''
    # Epochs at the start with the localization held fixed (transfer: the class layer settles).
    freeze_localization_epochs: int = 0
    # Validation when the dataset has no val split: this fraction of train, carved per class in
    # seeded blocks of `val_block` consecutive frames (neighbours stay on one side).
    val_fraction: float = 0.1
    val_block: int = 16
    # Epochs in a row without a better validation epoch before the run stops; 0 = never. Off by
    # default: the one-cycle schedule only anneals in its last epochs.
    patience: int = 0
