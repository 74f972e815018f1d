"""tinydeploy tune: search zoo architectures and inputs for the most accurate model a board holds.

1. A per-layer cost model is calibrated on QEMU runs of random models from the search space on the
   board's core (tinydeploy/costmodel.py), once per board, task and input shape (cached).
2. Optuna's TPE sampler (seeded, multi-objective: proxy accuracy up, estimated latency down)
   proposes candidates from tinydeploy/space.py. Every candidate is quantized and compiled by our
   compiler before any training: its arena, weights and RAM are exact, flash is the image
   estimate of `firmware.flash_needed`, latency the cost model's. Candidates over the board's flash
   or RAM, --max-arena or --max-latency-ms are recorded as infeasible (Optuna's constraints) and
   never trained; the others train briefly (the proxy) and report validation accuracy.
3. The Pareto front of the feasible candidates (accuracy against estimated latency) is trained
   fully and quantized by `train`; the finalists run in QEMU, which measures their latency
   against the estimate. The best finalist that meets every limit, by int8 validation accuracy,
   is the result: model.tflite, model_card.json (with the search's figures) and tradeoffs.png.

The study lives in OUT/study.db (SQLite): a run that stops resumes where it was with the same
command, and a larger --trials continues a finished search.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinydeploy import costmodel, space, zoo
from tinydeploy.boards import Board, get_board
from tinydeploy.compiler import CompiledModel, compile_model
from tinydeploy.costmodel import CostModel, calibrate, calibration_source_hash, simulated_twin
from tinydeploy.datasets.base import Dataset
from tinydeploy.errors import TinyDeployError
from tinydeploy.firmware import flash_needed, ram_needed, weights_for_board
from tinydeploy.progress import progress, step
from tinydeploy.toolchain import cache_dir

STUDY = "tune"
ATTEMPTS_PER_TRIAL = 10   # candidates drawn per trained one at most (the rest were infeasible)
PROBE_SAMPLES = 32        # representative inputs for the untrained candidate's quantization
# options that define a search: a stored study continues only under the same ones
SEARCH_KEYS = ("task", "dataset", "board", "max_latency_ms", "max_arena_kb", "proxy_epochs",
               "epochs", "seed", "families", "calibration_models", "size", "qat")


@dataclass
class TuneConfig:
    task: str
    dataset: str
    board: str
    max_latency_ms: float | None = None
    max_arena_kb: float | None = None
    trials: int = 20
    proxy_epochs: int = 3
    epochs: int = 12
    finalists: int = 3
    seed: int = 0
    families: list[str] | None = None
    calibration_models: int = 24
    size: str = "default"
    qat: bool = False


@dataclass
class TuneResult:
    out_dir: Path
    tflite_path: Path
    card_path: Path
    card: dict[str, Any]
    report: dict[str, Any]


@dataclass
class Probe:
    """A candidate as compiled for the board: exact memory, estimated latency."""

    tflite: bytes
    compiled: CompiledModel    # with the board's weight layout
    arena_bytes: int
    weights_bytes: int
    flash_bytes: int
    ram_bytes: int
    instructions: float
    ms: float

    KEYS = ("arena_bytes", "weights_bytes", "flash_bytes", "ram_bytes", "layout", "macs",
            "latency_instructions_est", "latency_ms_est")

    def figures(self) -> dict[str, Any]:
        return {"arena_bytes": self.arena_bytes, "weights_bytes": self.weights_bytes,
                "flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes,
                "layout": self.compiled.layout, "macs": self.compiled.macs,
                "latency_instructions_est": round(self.instructions),
                "latency_ms_est": round(self.ms, 3)}


class Search:
    """One tune run: the dataset views, the board, the cost model and the limits."""

    def __init__(self, cfg: TuneConfig, ds: Dataset, out: Path) -> None:
        self.cfg, self.ds, self.out = cfg, ds, out
        self.board: Board = get_board(cfg.board)
        self.twin = simulated_twin(self.board)
        self.classes = 0 if ds.test_groups is not None else len(ds.classes)
        self.views: dict[str, Dataset] = {}
        self.cost: CostModel | None = None

    def view(self, cand: space.Candidate) -> Dataset:
        key = json.dumps(cand.inputs, sort_keys=True)
        if key not in self.views:
            self.views[key] = space.transform_dataset(self.ds, self.cfg.task, cand.inputs)
        return self.views[key]

    def build(self, cand: space.Candidate) -> Any:
        return zoo.build(cand.family, self.view(cand).input_shape, self.classes, **cand.knobs)

    def probe(self, cand: space.Candidate, name: str, net: Any = None) -> Probe:
        """Quantize and compile a candidate (untrained unless `net` is given) for the board."""
        from tinydeploy.quantize import quantize_int8

        net = net if net is not None else self.build(cand)
        tflite = quantize_int8(net, self.view(cand).train.x, samples=PROBE_SAMPLES)
        laid = weights_for_board(compile_model(tflite, name=name), self.board)
        est = self.cost.instructions(laid, self.twin) if self.cost else 0.0
        return Probe(tflite, laid, laid.arena_bytes, laid.weight_bytes,
                     flash_needed([laid], self.board).total, ram_needed(laid), est,
                     est / self.board.clock_hz * 1e3)

    def violations(self, p: Probe) -> dict[str, float]:
        """How far a probe is over each limit (<= 0: within it)."""
        c = self.cfg
        return {"flash": p.flash_bytes - self.board.flash_size,
                "ram": p.ram_bytes - self.board.ram_size,
                "arena": p.arena_bytes - c.max_arena_kb * 1024 if c.max_arena_kb else 0.0,
                "latency": p.ms - c.max_latency_ms if c.max_latency_ms else 0.0}

    def proxy(self, cand: space.Candidate, seed: int) -> tuple[float, Any]:
        """Brief training: validation accuracy (anomaly: minus the reconstruction error) after
        the proxy epochs, and the trained network."""
        import keras

        from tinydeploy.train import _set_seed

        _set_seed(seed)
        ds = self.view(cand)
        net = self.build(cand)
        anomaly = self.classes == 0
        net.compile(optimizer=keras.optimizers.Adam(2e-3),
                    loss="mse" if anomaly else "sparse_categorical_crossentropy",
                    metrics=[] if anomaly else ["accuracy"])
        y = ds.train.x if anomaly else ds.train.y
        net.fit(ds.train.x, y, epochs=self.cfg.proxy_epochs, batch_size=64, verbose=0,
                shuffle=True)
        if anomaly:
            return -float(net.evaluate(ds.val.x, ds.val.x, verbose=0)), net
        return float(net.evaluate(ds.val.x, ds.val.y, verbose=0)[1]), net

    # ---- the cost model ----

    def calibration_models(self) -> list[CompiledModel]:
        """Random candidates of the search space that fit the board, untrained, compiled; the
        families take turns, so that each one's kernels and shapes are measured."""
        families = self.cfg.families or space.FAMILIES[self.cfg.task]
        models: list[CompiledModel] = []
        tries = 0
        for i in progress(range(self.cfg.calibration_models), desc="calibration models"):
            while tries < 4 * self.cfg.calibration_models:
                cand = space.sample(space.RandomChooser(self.cfg.seed * 100_003 + tries),
                                    self.cfg.task, self.ds.input_shape,
                                    [families[i % len(families)]])
                tries += 1
                try:
                    p = self.probe(cand, f"{cand.spec} ({cand.describe_inputs()})")
                except TinyDeployError:
                    continue
                if p.flash_bytes <= self.twin.flash_size and p.ram_bytes <= self.twin.ram_size:
                    models.append(p.compiled)
                    break
        if len(models) < 4:
            raise TinyDeployError(f"only {len(models)} random models of the search space fit "
                                  f"{self.twin.name}: too few to calibrate latency on",
                                  "pick a board with more memory or other --families")
        return models

    def cost_model(self) -> CostModel:
        """The calibrated cost model: OUT/costmodel.json, else the cache, else QEMU runs."""
        local = self.out / "costmodel.json"
        if local.is_file():
            return CostModel.from_json(json.loads(local.read_text()))
        key = json.dumps([self.twin.name, self.cfg.task, list(self.ds.input_shape),
                          self.cfg.families, self.cfg.calibration_models, self.cfg.seed,
                          calibration_source_hash(self.twin),
                          *(Path(m.__file__).read_text() for m in (zoo, space, costmodel))])
        import hashlib

        cached = (cache_dir() / "costmodel"
                  / f"{self.twin.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json")
        if cached.is_file():
            model = CostModel.from_json(json.loads(cached.read_text()))
        else:
            step(f"calibrating the latency cost model on {self.twin.name} "
                 f"({self.cfg.calibration_models} random models of the search space)")
            model = calibrate(self.calibration_models(), self.twin, self.out / "calibration")
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(model.to_json(), indent=1))
        local.write_text(json.dumps(model.to_json(), indent=1))
        return model


def _check_config(out: Path, cfg: TuneConfig) -> None:
    """A folder holds one search: resuming it with other search options is refused."""
    path = out / "tune_config.json"
    mine = {k: v for k, v in asdict(cfg).items() if k in SEARCH_KEYS}
    if path.is_file():
        stored = json.loads(path.read_text())
        changed = [k for k in SEARCH_KEYS if stored.get(k) != mine.get(k)]
        if changed:
            raise TinyDeployError(f"{out} holds a search with other {', '.join(changed)}",
                                  "resume it with the same options or choose a new --out")
    path.write_text(json.dumps(mine, indent=2))


def _objective(search: Search, out: Path) -> Any:
    import optuna

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        cand = space.sample(space.TrialChooser(trial), search.cfg.task, search.ds.input_shape,
                            search.cfg.families)
        name = f"trial{trial.number:03d}"
        trial.set_user_attr("spec", cand.spec)
        trial.set_user_attr("inputs", cand.inputs)
        seen = _same_candidate(trial.study, cand)
        if seen is not None:   # TPE redraws categorical points: answer from the first draw
            for k, v in seen.user_attrs.items():
                if k not in ("trained", "reason"):
                    trial.set_user_attr(k, v)
            trial.set_user_attr("duplicate_of", seen.number)
            trial.set_user_attr("reason", f"the same candidate as trial {seen.number}")
            for k, v in seen.constraints.items():
                trial.set_constraint(k, v)
            return seen.values[0], seen.values[1]
        net, score = None, None
        try:
            p = search.probe(cand, name)
        except TinyDeployError:
            # an untrained network's scales can defeat a kernel (a softmax fed tiny logits):
            # train the proxy first and compile the trained one
            score, net = search.proxy(cand, search.cfg.seed)
            try:
                p = search.probe(cand, name, net)
            except TinyDeployError as exc:
                trial.set_user_attr("reason", str(exc))
                for key in ("flash", "ram", "arena", "latency"):
                    trial.set_constraint(key, 0.0)
                trial.set_constraint("compiles", 1.0)
                return 0.0, 0.0
        (out / "candidates").mkdir(exist_ok=True)
        (out / "candidates" / f"{name}.tflite").write_bytes(p.tflite)
        for k, v in p.figures().items():
            trial.set_user_attr(k, v)
        over = search.violations(p)
        for k, v in over.items():
            trial.set_constraint(k, float(v))
        trial.set_constraint("compiles", 0.0)
        if any(v > 0 for v in over.values()):
            trial.set_user_attr("reason", "over " + ", ".join(k for k, v in over.items() if v > 0))
            return 0.0, p.ms
        if score is None:
            score, _ = search.proxy(cand, search.cfg.seed)
        trial.set_user_attr("trained", True)
        trial.set_user_attr("score", score)
        return score, p.ms

    return objective


def _same_candidate(study: Any, cand: space.Candidate) -> Any:
    """An earlier finished trial of the very same candidate, or None."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("spec") == cand.spec and t.user_attrs.get("inputs") == cand.inputs \
                and "duplicate_of" not in t.user_attrs:
            return t
    return None


def _trained(study: Any) -> list[Any]:
    """The candidates trained, each once."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("trained")]


def _front(trials: list[Any]) -> list[Any]:
    """The trained trials no other beats on both proxy score and estimated latency."""
    def beaten(t: Any) -> bool:
        return any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1]
                   and tuple(o.values) != tuple(t.values) for o in trials)

    return sorted([t for t in trials if not beaten(t)], key=lambda t: -t.values[0])


def _search(search: Search, out: Path) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # multivariate and grouped TPE are marked experimental; they handle the conditional space
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    study = optuna.create_study(storage=storage, study_name=STUDY, load_if_exists=True,
                                directions=["maximize", "minimize"])
    # seeded by the seed and the trials so far: a resumed run does not replay the first draws
    sampler = optuna.samplers.TPESampler(seed=search.cfg.seed * 10_007 + len(study.trials),
                                         n_startup_trials=max(4, search.cfg.trials // 3),
                                         multivariate=True, group=True)
    study.sampler = sampler
    objective = _objective(search, out)
    done = len(_trained(study))
    attempts = 0
    for _ in progress(range(done, search.cfg.trials), total=search.cfg.trials - done,
                      desc="candidates trained"):
        before = len(_trained(study))
        while len(_trained(study)) == before:
            if attempts >= ATTEMPTS_PER_TRIAL * search.cfg.trials:
                raise TinyDeployError(
                    f"{attempts} candidates drawn, {before} within the limits on "
                    f"{search.board.name}", "relax --max-latency-ms or --max-arena, or "
                    "pick a board with more memory")
            study.optimize(objective, n_trials=1, catch=())
            attempts += 1
    return study


def _int8_val(tflite: bytes, ds: Dataset, anomaly: bool) -> float:
    """Int8 validation accuracy (anomaly: minus the reconstruction error) on TFLite's
    reference kernels: how finalists are ranked, the test split staying unseen."""
    from tinydeploy.train import quantized_outputs

    _, out, _ = quantized_outputs(tflite, ds.val.x)
    if anomaly:
        return -float(np.mean((out.reshape(len(out), -1) - ds.val.x.reshape(len(out), -1)) ** 2))
    return float(np.mean(np.argmax(out, -1) == ds.val.y))


def _plot(path: Path, trained: list[Any], front: list[Any], best: Any, board: Board,
          cfg: TuneConfig, anomaly: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ylabel = ("minus validation MSE" if anomaly else "validation accuracy") + \
        f" after {cfg.proxy_epochs} epochs"
    panels = [("latency_ms_est", f"estimated latency on {board.name} (ms)", 1.0,
               cfg.max_latency_ms),
              ("arena_bytes", "arena (KB)", 1 / 1024, cfg.max_arena_kb),
              ("flash_bytes", "flash image (KB)", 1 / 1024, board.flash_size / 1024)]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharey=True)
    ids = {t.number for t in front}
    for ax, (key, label, scale, limit) in zip(axes, panels):
        rest = [t for t in trained if t.number not in ids]
        ax.scatter([t.user_attrs[key] * scale for t in rest], [t.values[0] for t in rest],
                   c="0.6", s=18, label="candidates")
        pts = sorted(front, key=lambda t: t.user_attrs[key])
        ax.plot([t.user_attrs[key] * scale for t in pts], [t.values[0] for t in pts],
                "o-" if key == "latency_ms_est" else "o", c="tab:red", ms=5,
                label="Pareto front (accuracy, latency)")
        if best is not None:
            ax.scatter([best.user_attrs[key] * scale], [best.values[0]], marker="*", s=220,
                       c="gold", edgecolors="k", zorder=5, label="chosen")
        if limit:
            ax.axvline(limit, ls="--", c="k", lw=0.8, label="limit")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"tinydeploy tune: {cfg.task} on {cfg.dataset}, {board.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tune(cfg: TuneConfig, out_dir: str | Path, ds: Dataset | None = None) -> TuneResult:
    """Run (or resume) a search; writes OUT/model.tflite, model_card.json, tradeoffs.png,
    tune_report.json, the finalists' training folders and every candidate's .tflite."""
    from tinydeploy.costmodel import measure
    from tinydeploy.train import load_dataset, train

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.trials < 1 or cfg.finalists < 1:
        raise TinyDeployError("--trials and --finalists must be at least 1", "e.g. --trials 20")
    for f in cfg.families or []:
        if f not in space.FAMILIES.get(cfg.task, []):
            raise TinyDeployError(f"'{f}' is not searched for {cfg.task}",
                                  f"use some of {', '.join(space.FAMILIES.get(cfg.task, []))}")
    _check_config(out, cfg)
    started = time.time()
    step(f"preparing dataset '{cfg.dataset}'")
    ds = ds or load_dataset(cfg.task, cfg.dataset, cfg.seed, cfg.size)
    search = Search(cfg, ds, out)
    search.cost = search.cost_model()
    step(f"cost model on {search.twin.name}: {search.cost.models_measured} models, "
         f"{search.cost.layers_measured} kernel calls measured, stated error "
         f"{search.cost.error:.0%}")
    step(f"searching: {cfg.trials} candidates to train for {cfg.proxy_epochs} epochs each")
    study = _search(search, out)
    trained = _trained(study)
    front = _front(trained)
    chosen = front[:cfg.finalists]
    step(f"Pareto front: {len(front)} candidates; training {len(chosen)} fully "
         f"({cfg.epochs} epochs)")
    finalists = []
    for t in chosen:
        cand = space.Candidate(*zoo.parse_spec(t.user_attrs["spec"]), t.user_attrs["inputs"])
        folder = out / "finalists" / f"trial{t.number:03d}"
        card_path = folder / "model_card.json"
        if not card_path.is_file():
            train(cfg.task, search.view(cand), cand.spec, cfg.epochs, folder, cfg.seed,
                  qat=cfg.qat)
        tflite = (folder / "model.tflite").read_bytes()
        laid = weights_for_board(compile_model(tflite, name=f"trial{t.number:03d}"),
                                 search.board)
        finalists.append((t, cand, folder, tflite, laid))
    step(f"measuring the {len(finalists)} finalists in QEMU ({search.twin.name})")
    measured, _ = measure([f[4] for f in finalists], search.twin, out / "measure")
    rows, anomaly = [], search.classes == 0
    for (t, cand, folder, tflite, laid), instr in zip(finalists, measured):
        card = json.loads((folder / "model_card.json").read_text())
        est = search.cost.instructions(laid, search.twin)
        ms = instr / search.board.clock_hz * 1e3
        p = Probe(tflite, laid, laid.arena_bytes, laid.weight_bytes,
                  flash_needed([laid], search.board).total, ram_needed(laid), instr, ms)
        over = search.violations(p)
        rows.append({
            "trial": t.number, "model_spec": cand.spec, "inputs": cand.describe_inputs(),
            "proxy_score": t.values[0], "val_int8": _int8_val(tflite, search.view(cand), anomaly),
            "test_float": card["accuracy_float"], "test_int8": card["accuracy_int8"],
            **{k: v for k, v in p.figures().items() if not k.startswith("latency")},
            "latency_instructions_est": round(est), "latency_instructions_measured": round(instr),
            "latency_ms_measured": round(ms, 3), "cost_model_error": round(est / instr - 1, 4),
            "within_stated_error": abs(est / instr - 1) <= search.cost.error,
            "meets_limits": all(v <= 0 for v in over.values()), "folder": str(folder)})
    fits = [r for r in rows if r["meets_limits"]]
    report: dict[str, Any] = {
        "task": cfg.task, "dataset": ds.name, "board": search.board.name,
        "limits": {"flash_bytes": search.board.flash_size, "ram_bytes": search.board.ram_size,
                   "max_arena_kb": cfg.max_arena_kb, "max_latency_ms": cfg.max_latency_ms},
        "cost_model": {"calibrated_on": search.cost.board, "core": search.cost.core,
                       "stated_error": search.cost.error,
                       "heldout_errors": search.cost.heldout_errors,
                       "models_measured": search.cost.models_measured,
                       "layers_measured": search.cost.layers_measured,
                       "basis": "instructions under QEMU -icount; ms at one instruction per "
                                f"cycle at {search.board.clock_hz / 1e6:g} MHz"},
        "search": {"sampler": "optuna TPESampler (multivariate, seeded), objectives: proxy "
                              "accuracy up, estimated latency down; limits as constraints",
                   "trials_drawn": len(study.trials), "trained": len(trained),
                   "redrawn": sum(1 for t in study.trials if "duplicate_of" in t.user_attrs),
                   "infeasible": sum(1 for t in study.trials if "reason" in t.user_attrs
                                     and "duplicate_of" not in t.user_attrs),
                   "proxy_epochs": cfg.proxy_epochs, "pareto_front": [
                       {"trial": t.number, "model_spec": t.user_attrs["spec"],
                        "proxy_score": t.values[0], "latency_ms_est": t.values[1]}
                       for t in front]},
        "candidates": [{"trial": t.number, "model_spec": t.user_attrs.get("spec"),
                        "inputs": t.user_attrs.get("inputs"),
                        "tflite": f"candidates/trial{t.number:03d}.tflite"
                        if "arena_bytes" in t.user_attrs else None,
                        **{k: t.user_attrs[k] for k in Probe.KEYS if k in t.user_attrs},
                        "proxy_score": t.user_attrs.get("score"),
                        "within_limits": bool(t.user_attrs.get("trained")),
                        "reason": t.user_attrs.get("reason")}
                       for t in study.trials if "spec" in t.user_attrs],
        "finalists": rows, "selection": "the finalist within every limit (latency as measured "
                                        "in QEMU) with the best int8 validation score",
        "seconds": round(time.time() - started, 1)}
    best_row = max(fits, key=lambda r: (r["val_int8"], -r["latency_instructions_measured"]),
                   default=None)
    best_trial = next((t for t in trained if best_row and t.number == best_row["trial"]), None)
    _plot(out / "tradeoffs.png", trained, front, best_trial, search.board, cfg, anomaly)
    report["chosen"] = best_row
    (out / "tune_report.json").write_text(json.dumps(report, indent=2))
    if best_row is None:
        raise TinyDeployError(f"no finalist meets the limits on {search.board.name} as "
                              f"measured (see {out / 'tune_report.json'})",
                              "relax --max-latency-ms or --max-arena, or search more --trials")
    best_dir = Path(best_row["folder"])
    for f in best_dir.iterdir():
        if f.is_file() and f.name != "model_card.json":
            shutil.copy(f, out / f.name)
    card = json.loads((best_dir / "model_card.json").read_text())
    card["input_features"] = next(r["inputs"] for r in rows if r is best_row)
    card["tune"] = {k: report[k] for k in ("board", "limits", "cost_model", "search",
                                           "finalists", "selection")}
    card["tune"]["chosen"] = best_row
    card_path = out / "model_card.json"
    card_path.write_text(json.dumps(card, indent=2))
    step(f"chosen: {best_row['model_spec']} ({best_row['inputs']}): int8 test "
         f"{card['metric']} {best_row['test_int8']:.1%}, {best_row['latency_ms_measured']} ms "
         f"measured, arena {best_row['arena_bytes']:,} B")
    return TuneResult(out, out / "model.tflite", card_path, card, report)
