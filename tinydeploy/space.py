"""The architecture search space of `tinydeploy tune`: zoo families with their knobs (width, depth,
kernel sizes, strides, expansions) and the model's input (image resolution, MFCC coefficients and
frames, log-mel frames), for each task.

A space is written once, as calls of `choose(name, options)`, so the same code draws candidates for
Optuna's sampler (tune) and at random (cost-model calibration). Every choice is categorical: the
options are few, and a candidate is reproducible from its parameters alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from tinydeploy import zoo
from tinydeploy.datasets.base import Dataset, Split
from tinydeploy.errors import TinyDeployError

FAMILIES = {
    "kws": ["ds_cnn", "mobilenet_v2", "mcunet", "efficientnet_lite", "squeezenet"],
    "image": ["small_cnn", "ds_cnn", "mobilenet_v2", "mcunet", "efficientnet_lite", "squeezenet",
              "resnet8"],
    "anomaly": ["fc_autoencoder"],
}
MFCC_COEFFS = [10, 8, 6]      # the first k DCT coefficients (they come lowest quefrency first)
FRAME_STEPS = [1, 2]          # every frame (20 ms hop) or every other one (40 ms)
IMAGE_SCALES = [1.0, 0.75, 0.5]
MIN_SIDE = 6                  # images are not shrunk below this many pixels a side
LOG_MEL_FRAMES = [5, 4, 3, 2]
MEL_BANDS = 40


class Chooser(Protocol):
    def choose(self, name: str, options: list[Any]) -> Any: ...


class RandomChooser:
    """Draws every choice uniformly from a seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, name: str, options: list[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]


class TrialChooser:
    """Lets an Optuna trial make every choice (suggest_categorical)."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def choose(self, name: str, options: list[Any]) -> Any:
        return self.trial.suggest_categorical(name, options)


@dataclass
class Candidate:
    """One point of the space: a zoo family, its knobs and the input it takes."""

    family: str
    knobs: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> str:
        """The --model string that builds it."""
        return zoo.spec_string(self.family, self.knobs)

    def describe_inputs(self) -> str:
        """The input as the model card states it."""
        i = self.inputs
        if "coeffs" in i:
            step = i["frame_step"]
            every = "frame" if step == 1 else f"{step}nd frame" if step == 2 else f"{step}th frame"
            return (f"the first {i['coeffs']} MFCC coefficients of every {every} "
                    f"({20 * step} ms hop)")
        if "size" in i:
            return f"images resized to {i['size'][0]}x{i['size'][1]} (bilinear, antialiased)"
        if "frames" in i:
            return f"the last {i['frames']} of each example's log-mel frames"
        return "the dataset's features as they are"


def _kernels(c: Chooser, family: str, blocks: int) -> str:
    return "-".join(str(c.choose(f"{family}.kernel{i}", [3, 5, 7])) for i in range(blocks))


def _knobs(c: Chooser, family: str) -> dict[str, Any]:
    """The knobs of one family, each named after it (Optuna keeps one range per name)."""

    def ch(knob: str, options: list[Any]) -> Any:
        return c.choose(f"{family}.{knob}", options)

    if family == "ds_cnn":
        return {"width": ch("width", [8, 16, 24, 32, 48, 64]), "depth": ch("depth", [1, 2, 3, 4]),
                "kernel": ch("kernel", [3, 5]), "stride": ch("stride", [1, 2])}
    if family == "small_cnn":
        return {"width": ch("width", [4, 8, 12, 16, 24, 32]), "depth": ch("depth", [1, 2, 3]),
                "kernel": ch("kernel", [3, 5])}
    if family == "mobilenet_v2":
        return {"alpha": ch("alpha", [0.25, 0.35, 0.5, 0.75]), "depth": ch("depth", [2, 3, 4, 5]),
                "expansion": ch("expansion", [2, 3, 4, 6]), "kernel": ch("kernel", [3, 5]),
                "stride": ch("stride", [1, 2])}
    if family == "efficientnet_lite":
        return {"width": ch("width", [0.25, 0.35, 0.5]), "depth": ch("depth", [0.5, 1.0]),
                "stages": ch("stages", [2, 3, 4, 5]), "stride": ch("stride", [1, 2])}
    if family == "mcunet":
        blocks = ch("blocks", [2, 3, 4, 5, 6])
        return {"width": ch("width", [8, 12, 16, 24]), "kernels": _kernels(c, family, blocks),
                "expansions": "-".join(str(ch(f"expansion{i}", [3, 4, 6])) for i in range(blocks)),
                "stride": ch("stride", [1, 2])}
    if family == "squeezenet":
        return {"width": ch("width", [4, 8, 12, 16]), "depth": ch("depth", [2, 4, 6, 8]),
                "kernel": ch("kernel", [3, 5]), "stride": ch("stride", [1, 2])}
    if family == "resnet8":
        return {"width": ch("width", [8, 16, 24, 32])}
    if family == "fc_autoencoder":
        return {"width": ch("width", [32, 64, 128, 256]), "depth": ch("depth", [1, 2, 3, 4]),
                "bottleneck": ch("bottleneck", [4, 8, 16])}
    raise TinyDeployError(f"no search space for '{family}'", "this is a tinydeploy bug")


def input_options(task: str, shape: tuple[int, ...]) -> dict[str, list[Any]]:
    """The input choices a dataset of this shape allows."""
    if task == "kws" and len(shape) == 3 and shape[2] == 1:
        return {"coeffs": [k for k in MFCC_COEFFS if k <= shape[1]], "frame_step": FRAME_STEPS}
    if task == "image" and len(shape) == 3:
        sizes = []
        for f in IMAGE_SCALES:
            s = (round(shape[0] * f), round(shape[1] * f))
            if min(s) >= min(MIN_SIDE, *shape[:2]) and list(s) not in sizes:
                sizes.append(list(s))
        return {"size": sizes}
    if task == "anomaly" and len(shape) == 1 and shape[0] % MEL_BANDS == 0:
        return {"frames": [k for k in LOG_MEL_FRAMES if k <= shape[0] // MEL_BANDS]}
    return {}


def sample(c: Chooser, task: str, shape: tuple[int, ...],
           families: list[str] | None = None) -> Candidate:
    """One candidate for a task whose dataset has inputs of `shape`."""
    if task not in FAMILIES:
        raise TinyDeployError(f"unknown task '{task}'", "use --task kws, image or anomaly")
    family = c.choose("family", families or FAMILIES[task])
    inputs = {}
    for name, options in input_options(task, shape).items():
        # sizes are lists; Optuna stores categorical choices as JSON-friendly scalars
        picked = c.choose(f"input.{name}", [str(o) if isinstance(o, list) else o
                                            for o in options])
        inputs[name] = options[[str(o) if isinstance(o, list) else o
                                for o in options].index(picked)]
    return Candidate(family, _knobs(c, family), inputs)


def transform(x: np.ndarray, task: str, inputs: dict[str, Any]) -> np.ndarray:
    """Features [N, ...] as the candidate takes them."""
    if "coeffs" in inputs:
        return np.ascontiguousarray(x[:, ::inputs["frame_step"], :inputs["coeffs"], :])
    if "size" in inputs:
        if list(x.shape[1:3]) == list(inputs["size"]):
            return x
        import tensorflow as tf

        return tf.image.resize(x, inputs["size"], antialias=True).numpy().astype(np.float32)
    if "frames" in inputs:
        return np.ascontiguousarray(x[:, x.shape[1] - inputs["frames"] * MEL_BANDS:])
    return x


def transform_dataset(ds: Dataset, task: str, inputs: dict[str, Any]) -> Dataset:
    """The dataset as the candidate sees it; augmentation made from the training audio gets the
    same view (Dataset.view)."""
    if not inputs or transform(ds.train.x[:1], task, inputs).shape == ds.train.x[:1].shape:
        return ds

    def view(x: np.ndarray) -> np.ndarray:
        return transform(x, task, inputs)

    return replace(ds, train=Split(view(ds.train.x), ds.train.y),
                   val=Split(view(ds.val.x), ds.val.y), test=Split(view(ds.test.x), ds.test.y),
                   view=view)
