"""The common shape of every dataset the trainer accepts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    x: np.ndarray       # float32 features, [N, ...]
    y: np.ndarray       # int64 labels, [N]


@dataclass
class Dataset:
    name: str
    classes: list[str]
    train: Split
    val: Split
    test: Split
    description: str = ""
    # anomaly detection scores clips, not examples: the clip of each test example, clip labels
    test_groups: np.ndarray | None = None
    group_labels: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])
