"""The common shape of every dataset the trainer accepts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    # how examples were assigned to train/val/test, for the model card
    split_rule: str = ""
    # keyword spotting: the training clips as int16 audio (one second at 16 kHz, in the order of
    # train.y) and background noise clips (float, 16 kHz), so that augmentation can shift, mix
    # and re-featurize them every epoch
    train_audio: np.ndarray | None = None
    noise: list[np.ndarray] = field(default_factory=list)
    # images: whether a mirror image keeps its class (photos of objects, not digits or text)
    mirror_ok: bool = False
    # what augmentation the examples already had when they were made (generated datasets), so
    # that training adds none
    pre_augmented: str = ""
    # a view of the features (fewer MFCC coefficients, say) that train/val/test already show;
    # features made afresh from train_audio by augmentation are passed through it too
    view: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])
