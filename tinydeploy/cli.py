"""Command line: one class per subcommand (as Zephyr's west does), each a thin layer over the API.

Problems the user can fix print one line, `error: <problem> (<fix>)`, and exit with status 2;
nothing the user had is overwritten.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from tinydeploy import __version__
from tinydeploy.compile_options import add_patch_argument
from tinydeploy.errors import TinyDeployError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class Command:
    name = ""
    help = ""
    description = ""

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="an int8 .tflite model")


def _board_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", default="qemu-m4",
                   help="board name from 'tinydeploy boards' (default: qemu-m4, simulated)")


def _clock_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clock", choices=["max", "reset"],
                   help="clock configuration from the board file: max (PLL, wait states, caches: "
                        "the MLPerf Tiny set-up) or reset (what the chip boots with); default: the "
                        "board's own (max on the real boards)")


def _activations_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activations", choices=["int8", "int16"], default="int8",
                   help="int8 (default), or int16 for TFLite's 16x8 mode: int16 activations, "
                        "int8 weights, 64-bit biases; more accurate, twice the activation memory")


def _write_json(path: Path | None, data: Any) -> None:
    if path:
        from tinydeploy.bench import write_json_atomic

        write_json_atomic(path, data)
        print(f"report: {path}")


class Demo(Command):
    name = "demo"
    help = "the whole pipeline: train a keyword spotter, quantize, compile, run in QEMU, report"
    description = ("Trains a DS-CNN on keywords spoken by espeak-ng, quantizes it to int8, compiles "
                   "it to C, builds firmware for a simulated Cortex-M4 with PlatformIO, runs it in "
                   "QEMU and compares every output with TFLite on the host. Takes a few minutes.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", type=Path, help="write the report here (default OUT/report.json)")
        p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
        _board_arg(p)
        p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
        p.add_argument("--inputs", type=int, default=100,
                       help="test inputs streamed to the device (default 100)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quick", action="store_true",
                       help="a smaller dataset and fewer epochs: a smoke test in about a minute")

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.demo import run_demo

        report = run_demo(args.out, args.board, 4 if args.quick else args.epochs,
                          min(args.inputs, 30) if args.quick else args.inputs, args.seed,
                          args.json, "tiny" if args.quick else "default")
        return 0 if report["mismatches"] == 0 else 1


class Train(Command):
    name = "train"
    help = "train a model and write model.tflite (int8 or 16x8), model_card.json and plots"
    description = ("Datasets: --task kws with 'builtin' (keywords spoken by espeak-ng) or a folder "
                   "of word folders in the Speech Commands layout (--keywords picks words); "
                   "--task image with 'digits' (scikit-learn's 8x8 digits), an "
                   "image-folder tree, CIFAR-10 binary batches or MNIST idx files; --task anomaly "
                   "with 'builtin' (synthetic machines) or a DCASE/ToyADMOS folder. Models: "
                   "ds_cnn[:xs|s|m|l], small_cnn[:width], mobilenet_v1[:alpha], resnet8[:width], "
                   "fc_autoencoder[:width], mobilenet_v2[:alpha], efficientnet_lite[:width], "
                   "mcunet[:width], squeezenet[:width]; any knob by name: "
                   "mcunet:width=8,kernels=3-5-7,expansions=4-6-3.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--task", choices=["kws", "image", "anomaly"], default="kws")
        p.add_argument("--dataset", default="builtin",
                       help="'builtin', 'digits' or a dataset folder (default builtin)")
        p.add_argument("--keywords", help="kws folders: the words to tell apart, comma-separated "
                                          "(default: every word folder is a class); the other "
                                          "words become _unknown_")
        p.add_argument("--no-augment", action="store_true",
                       help="train on the data as it is: no time shift, noise, SpecAugment "
                            "masks (audio) or flips, crops, brightness (images)")
        p.add_argument("--model", help="zoo model and size, e.g. ds_cnn:s or mobilenet_v1:0.25 "
                                       "(default: ds_cnn:xs, small_cnn:16, fc_autoencoder:64)")
        p.add_argument("--board", help="pick the largest size of --model that fits this board")
        p.add_argument("--epochs", type=int, default=12)
        p.add_argument("--seed", type=int, default=0, help="same seed, same .tflite bytes")
        p.add_argument("--prune", type=float, default=0.0, metavar="SPARSITY",
                       help="magnitude pruning to this fraction of zero weights, e.g. 0.5")
        p.add_argument("--prune-channels", type=float, default=0.0, metavar="FRACTION",
                       help="remove this fraction of the filters after training (structured: "
                            "fewer MACs, weights and arena), fine-tune, and record both models' "
                            "figures measured on --board (default qemu-m4) in the model card")
        p.add_argument("--distill-from", metavar="MODEL",
                       help="train this larger zoo model first and distil it into --model")
        p.add_argument("--qat", action="store_true",
                       help="quantization-aware training after the float epochs (int8 accuracy "
                            "beside post-training quantization's in the model card)")
        _activations_arg(p)
        p.add_argument("--out", type=Path, default=Path("out/train"))

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.train import train

        keywords = [k.strip() for k in args.keywords.split(",") if k.strip()] if args.keywords \
            else None
        r = train(args.task, args.dataset, args.model, args.epochs, args.out, args.seed,
                  board=args.board, prune=args.prune, distill_from=args.distill_from,
                  qat=args.qat, keywords=keywords, augment=not args.no_augment,
                  activations=args.activations, prune_channels=args.prune_channels)
        card = r.card
        twin = (f", its int8 twin {card['accuracy_int8_twin']:.1%}"
                if "accuracy_int8_twin" in card else "")
        print(f"wrote {r.tflite_path} and {r.card_path}: {card['metric']} float "
              f"{card['accuracy_float']:.1%}, {args.activations} "
              f"{card['accuracy_quantized']:.1%}{twin}")
        return 0


class Tune(Command):
    name = "tune"
    help = "search zoo architectures for the most accurate model within a board's limits"
    description = ("Optuna's TPE sampler draws families (DS-CNN, MobileNetV2, MCUNet-style, "
                   "EfficientNet-Lite, SqueezeNet, ...), their width, depth, kernels and strides, "
                   "and the input (image size, MFCC coefficients and frames). Each candidate is "
                   "compiled first: exact arena and weights, latency from a per-layer cost model "
                   "calibrated in QEMU on the board's core; those within the board's flash and "
                   "RAM and the limits train briefly, the Pareto front trains fully and runs in "
                   "QEMU. Writes OUT/model.tflite, model_card.json, tradeoffs.png and "
                   "tune_report.json. Resumable: run the same command again.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--task", choices=["kws", "image", "anomaly"], default="kws")
        p.add_argument("--dataset", default="builtin",
                       help="'builtin', 'digits' or a dataset folder, as for train")
        _board_arg(p)
        p.add_argument("--max-latency-ms", type=float, metavar="MS",
                       help="latency limit at the board's clock (QEMU: instructions as cycles)")
        p.add_argument("--max-arena", type=float, metavar="KB", help="arena limit in KB")
        p.add_argument("--trials", type=int, default=20,
                       help="candidates to train briefly (default 20); infeasible ones are "
                            "drawn on top and cost a compile only")
        p.add_argument("--proxy-epochs", type=int, default=3,
                       help="epochs of each candidate's brief training (default 3)")
        p.add_argument("--epochs", type=int, default=12,
                       help="epochs of the finalists' full training (default 12)")
        p.add_argument("--finalists", type=int, default=3,
                       help="Pareto-front candidates trained fully, best proxy first (default 3)")
        p.add_argument("--families", help="zoo families to search, comma-separated "
                                          "(default: all for the task)")
        p.add_argument("--calibration", type=int, default=24, metavar="N",
                       help="random models run in QEMU to fit the cost model (default 24)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--qat", action="store_true",
                       help="quantization-aware training for the finalists")
        p.add_argument("--out", type=Path, default=Path("out/tune"))

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.tune import TuneConfig, tune

        families = [f.strip() for f in args.families.split(",")] if args.families else None
        r = tune(TuneConfig(args.task, args.dataset, args.board, args.max_latency_ms,
                            args.max_arena, args.trials, args.proxy_epochs, args.epochs,
                            args.finalists, args.seed, families, args.calibration,
                            qat=args.qat), args.out)
        c = r.report["chosen"]
        print(f"wrote {r.tflite_path} and {r.card_path}: {c['model_spec']}, int8 test "
              f"{r.card['metric']} {c['test_int8']:.1%}, {c['latency_ms_measured']} ms "
              f"({c['latency_instructions_measured']:,} instructions), arena "
              f"{c['arena_bytes']:,} B, flash {c['flash_bytes']:,} B; plot "
              f"{args.out / 'tradeoffs.png'}")
        return 0


class Quantize(Command):
    name = "quantize"
    help = "full-integer quantization (int8, or 16x8) of a Keras model with representative data"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("model", type=Path, help="a saved Keras model (.keras)")
        p.add_argument("--data", type=Path, required=True,
                       help=".npy array of representative float inputs [N, ...]")
        p.add_argument("--out", type=Path, required=True, help="the .tflite to write")
        _activations_arg(p)

    def run(self, args: argparse.Namespace) -> int:
        import numpy as np

        from tinydeploy.quantize import quantize_model

        for f in (args.model, args.data):
            if not f.is_file():
                raise TinyDeployError(f"{f}: no such file", "check the path")
        if args.out.exists():
            raise TinyDeployError(f"{args.out} already exists", "choose a new output name")
        import keras

        try:
            model = keras.models.load_model(args.model)
            data = np.load(args.data)
        except (ValueError, OSError) as exc:
            raise TinyDeployError(f"cannot read {args.model} or {args.data}: {exc}",
                                  "give a model saved with model.save('x.keras') and a .npy "
                                  "array of inputs") from None
        tflite = quantize_model(model, data, activations=args.activations)
        args.out.write_bytes(tflite)
        print(f"wrote {args.out} ({len(tflite):,} bytes, {args.activations} activations)")
        return 0


class Convert(Command):
    name = "convert"
    help = "write the TFLite Micro C array and the ahead-of-time compiled C for a .tflite"
    description = ("Writes OUT/tflm/model_data.{h,c} (const, 16-byte aligned, op list, arena size) "
                   "and OUT/aot/td_model.{h,c} (our engine: plain C calling firmware/kernels, "
                   "reentrant: you own the arena and the state). 'tinydeploy ops' lists the "
                   "operators and types it compiles.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        _model_arg(p)
        p.add_argument("--out", type=Path, default=Path("out/convert"))
        p.add_argument("--json", type=Path, help="write a summary report here")
        p.add_argument("--prefix", default="td_model",
                       help="C name of the model: PREFIX_invoke(), PREFIX_desc, PREFIX.h/.c "
                            "(default td_model); give each model its own to link several")
        p.add_argument("--rounding", choices=["tflite", "tflm"], default="tflite",
                       help="follow TensorFlow/LiteRT's reference rounding (default) or TFLite "
                            "Micro's where they differ (fully connected layers)")
        _weights_arg(p, board=False)
        add_patch_argument(p)

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.compiler import compile_model
        from tinydeploy.reference import tflm_arena_bytes
        from tinydeploy.tflm_array import write_tflm_array

        compiled = compile_model(args.model, layout=args.weights, rounding=args.rounding,
                                 prefix=args.prefix, patch_overhead=args.patch_overhead)
        tflite = args.model.read_bytes()
        tflm = tflm_arena_bytes(tflite)
        paths = write_tflm_array(tflite, args.out / "tflm", arena_bytes=tflm)
        paths += compiled.write(args.out / "aot")
        summary = {"model": compiled.name, "arena_bytes": compiled.arena_bytes,
                   "state_bytes": compiled.state_bytes, "prefix": compiled.prefix,
                   "tflm_arena_bytes_host": tflm, "weights_bytes": compiled.weight_bytes,
                   "macs": compiled.macs, "layers": len([x for x in compiled.layers if x.func]),
                   "patch": compiled.patch.describe() if compiled.patch else None,
                   "files": [str(p) for p in paths]}
        for p in paths:
            print(f"wrote {p}")
        print(f"arena {compiled.arena_bytes:,} B (TFLM host: {tflm if tflm else 'n/a'}), "
              f"weights {compiled.weight_bytes:,} B, {compiled.macs:,} MACs")
        if compiled.patch:
            print(f"patches: {compiled.patch.summary()}")
        _write_json(args.json, summary)
        return 0


def _weights_arg(p: argparse.ArgumentParser, board: bool = True) -> None:
    choices = ["auto", "int16", "int8", "rows"] if board else ["int16", "int8", "rows"]

    def layout(value: str) -> str:
        """One of the choices, or a layout followed by per-layer ones (int8,L3=int16; their
        names and layouts are checked with the model, compile_options.parse_layout)."""
        base = value.split(",")[0]
        if base not in choices or (base == "auto" and value != "auto"):
            raise argparse.ArgumentTypeError(
                f"invalid choice: '{value}' (choose from {', '.join(choices)}, or per layer: "
                "int8,L3=int16)")
        return value

    p.add_argument("--weights", type=layout, default=choices[0],
                   help="conv/FC weight layout in flash: int16 (pre-widened: fastest on cores "
                        "with the DSP extension, twice the flash for those weights), int8, or "
                        "rows (int8 rows for Helium's vector dot products, Cortex-M55); per "
                        "layer by C name after the default one: int8,L3=int16,L7=int16"
                        + ("; auto picks rows on M55, int16 on M4/M7/M33 when it fits, else "
                           "int16 for the layers that save most within the flash, int8 for the "
                           "rest (default: auto)" if board else " (default: int16)"))


class Build(Command):
    name = "build"
    help = "render the firmware project for a board and build it with PlatformIO (offline)"
    description = ("Several models go into one firmware (a voice-activity detector in front of a "
                   "keyword spotter, say): they share one arena, each keeps its own state, and "
                   "the protocol's 'td-model N' selects one.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("model", type=Path, nargs="+", help="one or more .tflite models")
        _board_arg(p)
        p.add_argument("--out", type=Path, help="project folder (default out/firmware/BOARD)")
        p.add_argument("--json", type=Path, help="write a summary (sizes, models) here")
        _weights_arg(p)
        add_patch_argument(p)
        _clock_arg(p)

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.bench import make_firmware
        from tinydeploy.boards import get_board
        from tinydeploy.compiler import compile_model

        board = get_board(args.board, args.clock)
        fw = make_firmware([compile_model(m, patch_overhead=args.patch_overhead)
                            for m in args.model], board,
                           args.out or Path("out/firmware") / board.name, weights=args.weights)
        print(f"built {fw.build.elf}: flash {fw.build.flash_bytes:,} B, RAM {fw.build.ram_bytes:,} B"
              f", {len(fw.models)} model{'s' if len(fw.models) > 1 else ''}")
        _write_json(args.json, {
            "elf": str(fw.build.elf), "board": board.name, "flash_bytes": fw.build.flash_bytes,
            "ram_bytes": fw.build.ram_bytes, "models": [
                {"model": m.name, "prefix": m.prefix, "arena_bytes": m.arena_bytes,
                 "state_bytes": m.state_bytes, "weights_bytes": m.weight_bytes}
                for m in fw.models]})
        return 0


class Bench(Command):
    name = "bench"
    help = "run a model on a board (QEMU or real) and measure latency, accuracy and bit agreement"
    description = ("Builds the firmware, streams inputs over serial, compares every output with "
                   "TFLite on the host, times each inference, profiles layers and runs MLPerf "
                   "Tiny's timed 'infer N W'. Several models and boards (--board a,b) compare in "
                   "one report. QEMU boards start automatically; real boards need --port.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("model", type=Path, nargs="+", help="one or more int8 .tflite models")
        p.add_argument("--board",
                       help="board name(s) from 'tinydeploy boards', comma-separated "
                            "(default: qemu-m4, simulated)")
        p.add_argument("--port", help="serial port or pyserial URL of a real board "
                                      "(default: start QEMU for simulated boards)")
        p.add_argument("--baud", type=int, help="baud rate (default: the board's)")
        p.add_argument("--inputs", type=Path,
                       help="folder of input files (.bin raw int8 or .npy); labels from "
                            "labels.json ({file: class index}) when present")
        p.add_argument("--count", type=int, default=20,
                       help="random inputs when --inputs is not given (default 20)")
        p.add_argument("--runs", type=int, default=10,
                       help="back-to-back timed inferences for MLPerf-style latency (default 10)")
        p.add_argument("--warmup", type=int, default=1, help="warm-up inferences (default 1)")
        p.add_argument("--input-format", choices=["int8", "uint8_minus_128"], default="int8",
                       help="bytes on the wire: int8 as the model takes them, or uint8 that the "
                            "device shifts by -128 (MLPerf Tiny's image inputs)")
        p.add_argument("--audio-frontend", choices=["auto", "on", "off"], default="auto",
                       help="build the on-device MFCC front end in and report its cost per 20 ms "
                            "hop; auto: for models taking 49x10 int8 MFCCs with one int8 "
                            "output of class probabilities (default auto)")
        _weights_arg(p)
        add_patch_argument(p)
        _clock_arg(p)
        p.add_argument("--cycles", choices=["auto", "on", "off"], default="auto",
                       help="estimated Cortex-M4/M7 cycles per inference and layer from a traced "
                            "QEMU run (qemu-m4 and qemu-m7 boards; Arm TRM timings, an estimate, "
                            "not a measurement). auto (default): with --json")
        p.add_argument("--json", type=Path, help="write the report here")
        p.add_argument("--csv", type=Path, help="write one CSV row per model and board")
        p.add_argument("--html", type=Path, help="write an HTML report with plots")
        p.add_argument("--out", type=Path, default=Path("out/firmware"),
                       help="firmware folders go under here (default out/firmware)")
        farm = p.add_argument_group("board farm (labgrid)")
        where = farm.add_mutually_exclusive_group()
        where.add_argument("--place", help="run on this labgrid place (its 'board' tag says which "
                                           "firmware to build), acquired and released here")
        where.add_argument("--places", metavar="NAME,NAME|KEY=VALUE",
                           help="run every model on every board these places offer (names, or "
                                "tags such as board=qemu-m4), one job per place at a time, in "
                                "parallel; a job whose board stops answering moves to another "
                                "place of that board once")
        farm.add_argument("--coordinator", metavar="HOST:PORT",
                          help="labgrid coordinator (default: $LG_COORDINATOR, else "
                               "127.0.0.1:20408)")
        farm.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                          help="wait this long for a place someone else holds (default: fail "
                               "at once, naming the holder)")

    def _inputs(self, args: argparse.Namespace, compiled: Any) -> tuple[Any, Any]:
        import numpy as np

        from tinydeploy.verify import random_inputs, read_input_file

        if not args.inputs:
            return np.stack([s[0] for s in random_inputs(compiled, args.count)]), None
        files = sorted(f for f in args.inputs.glob("*") if f.suffix in (".bin", ".npy"))
        if not files:
            raise TinyDeployError(f"{args.inputs}: no .bin or .npy input files",
                                  "put one input per file in the folder")
        xs = np.stack([read_input_file(f, compiled)[0] for f in files])
        lab = args.inputs / "labels.json"
        if not lab.is_file():
            return xs, None
        try:
            table = json.loads(lab.read_text())
        except json.JSONDecodeError as exc:
            raise TinyDeployError(f"{lab}: not valid JSON ({exc})",
                                  'write it as {"file.bin": class_index, ...}') from None
        missing = [f.name for f in files if f.name not in table]
        if missing:
            raise TinyDeployError(f"{lab}: no label for {', '.join(missing[:3])}",
                                  "give every input file a class index in labels.json")
        return xs, np.array([int(table[f.name]) for f in files])

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.bench import CYCLE_CORES, bench, format_report, make_firmware, oracle_for
        from tinydeploy.boards import get_board
        from tinydeploy.compiler import compile_model
        from tinydeploy.firmware import takes_mfcc
        from tinydeploy.targets import open_target

        if args.place or args.places:
            return self._run_farm(args)
        boards = [get_board(b, args.clock) for b in (args.board or "qemu-m4").split(",") if b]
        real = [b for b in boards if not b.is_qemu]
        if len(real) > 1:
            raise TinyDeployError("several real boards in one run",
                                  "bench real boards one at a time, each with its --port")
        # an explicit --port wins (an emulator the user started, a board); QEMU boards start
        # their own emulator. Every port is opened once here, before anything is built.
        traced = [b for b in boards if b.is_qemu and args.port is None and b.core in CYCLE_CORES]
        if args.cycles == "on" and len(traced) < len(boards):
            raise TinyDeployError("--cycles on: no cycle estimates for "
                                  f"{', '.join(b.name for b in boards if b not in traced)}",
                                  "they come from traced runs on qemu-m4 or qemu-m7")
        targets = {b.name: open_target(b, args.port, args.baud) for b in boards}
        runs = []
        for model in args.model:
            compiled = compile_model(model, patch_overhead=args.patch_overhead)
            _, rounding = oracle_for(model.read_bytes())
            compiled = compiled.with_options(rounding=rounding)
            xs, labels = self._inputs(args, compiled)
            audio = args.audio_frontend == "on" or (args.audio_frontend == "auto"
                                                    and takes_mfcc(compiled))
            for board in boards:
                fw = make_firmware(compiled, board, args.out / f"{compiled.name}-{board.name}",
                                   args.input_format, audio_frontend=audio,
                                   weights=args.weights)
                with targets[board.name] as target:
                    report = bench(fw, model.read_bytes(), xs, labels, args.port, args.baud,
                                   runs=args.runs, warmup=args.warmup, target=target,
                                   cycles_work=self._cycles_work(args, board, fw))
                print(format_report(report))
                runs.append(report)
        return self._write_reports(args, runs)

    @staticmethod
    def _cycles_work(args: argparse.Namespace, board: Any, fw: Any) -> Path | None:
        """Where the traced run for cycle estimates builds, or None for no estimates."""
        from tinydeploy.bench import CYCLE_CORES

        simulated = board.is_qemu and args.port is None and board.core in CYCLE_CORES
        wanted = args.cycles == "on" or (args.cycles == "auto" and args.json is not None)
        return fw.project.parent / f"{fw.project.name}-cycles" if wanted and simulated else None

    def _write_reports(self, args: argparse.Namespace, runs: list[dict[str, Any]]) -> int:
        """The one report (JSON, CSV, HTML) of every run; exit status 1 on any mismatch."""
        from tinydeploy.report import write_csv, write_html

        result: dict[str, Any] = runs[0] if len(runs) == 1 else {
            "runs": runs, "mismatches": sum(r["mismatches"] for r in runs),
            "inputs": sum(r["inputs"] for r in runs)}
        _write_json(args.json, result)
        if args.csv:
            write_csv(runs, args.csv)
            print(f"csv: {args.csv}")
        if args.html:
            write_html(runs, args.html)
            print(f"html: {args.html}")
        return 0 if result["mismatches"] == 0 else 1

    def _run_farm(self, args: argparse.Namespace) -> int:
        """Every model on every board of the chosen places, built here, run there."""
        import threading
        import time

        from tinydeploy.bench import format_report, make_firmware, oracle_for
        from tinydeploy.boards import get_board
        from tinydeploy.compiler import compile_model
        from tinydeploy.farm import Farm, coordinator_address
        from tinydeploy.farm_bench import Job, no_free_place, run_jobs

        if args.port or args.board:
            raise TinyDeployError("--board or --port with a farm place",
                                  "leave them out: a place's board tag names its board")
        # labgrid logs a lost coordinator on the root logger; the error line here says it once
        logging.getLogger().addHandler(logging.NullHandler())
        address = coordinator_address(args.coordinator)
        with Farm(address) as farm:  # which boards, before building: fail early on a bad place
            places = farm.places(args.place or args.places)
            untagged = [p.name for p in places if not p.board]
            if untagged:
                raise TinyDeployError(f"place {untagged[0]} has no board tag",
                                      f"tag it: labgrid-client -x {address} -p {untagged[0]} "
                                      "set-tags board=BOARD")
            if args.wait <= 0:
                for board in {p.board for p in places}:
                    busy = [farm.why_busy(p) for p in places if p.board == board]
                    if all(busy):
                        raise no_free_place({board}, [str(b) for b in busy])
        boards = [get_board(b, args.clock) for b in dict.fromkeys(str(p.board) for p in places)]
        jobs = []
        for model in args.model:
            tflite = model.read_bytes()
            compiled = compile_model(model).with_options(rounding=oracle_for(tflite)[1])
            xs, labels = self._inputs(args, compiled)
            for board in boards:
                fw = make_firmware(compiled, board, args.out / f"{compiled.name}-{board.name}",
                                   args.input_format, weights=args.weights)
                jobs.append(Job(len(jobs), fw, tflite, xs, labels))
        # a plain kill must unwind like Ctrl-C, so every place acquired is released (Python
        # takes signal handlers from its main thread only)
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
        started = time.monotonic()
        try:
            with Farm(address) as farm:
                runs = run_jobs(farm, places, jobs, {"runs": args.runs, "warmup": args.warmup},
                                args.wait)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
        for report in runs:
            print(format_report(report) + f"\n  place {report['place']}, {report['seconds']} s")
        print(f"{len(runs)} job{'s' if len(runs) > 1 else ''} in "
              f"{time.monotonic() - started:.1f} s")
        return self._write_reports(args, runs)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM as Ctrl-C: the same unwinding, the same cleanup."""
    raise KeyboardInterrupt


class Run(Bench):
    name = "run"
    help = "run a model in QEMU (or on a board) on a few inputs; same as bench"


class Flash(Command):
    name = "flash"
    help = "build and upload in one command (real boards: PlatformIO upload; QEMU: start it)"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        _model_arg(p)
        _board_arg(p)
        p.add_argument("--port", help="serial/upload port (default: found automatically)")
        p.add_argument("--serial", choices=["tcp", "pty"], default="tcp",
                       help="QEMU boards: the UART as a local TCP port (socket://, default) or a "
                            "pseudo-terminal /dev/pts/N that any serial program, the MLPerf Tiny "
                            "runner included, can open")
        _clock_arg(p)

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.bench import make_firmware
        from tinydeploy.boards import get_board
        from tinydeploy.compiler import compile_model
        from tinydeploy.qemu import QemuSession
        from tinydeploy.targets import SerialTarget, require_upload_tool

        board = get_board(args.board, args.clock)
        if not board.is_qemu:
            require_upload_tool(board)
            target = SerialTarget(board, args.port, upload=True)
        fw = make_firmware(compile_model(args.model), board, Path("out/firmware") / board.name)
        if board.is_qemu:
            # a plain kill should stop the emulator too: make SIGTERM unwind like Ctrl-C
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            with QemuSession(board, fw.build.elf, args.serial) as q:
                print(f"QEMU is running {fw.build.elf}; its UART is {q.url} (Ctrl-C stops it)",
                      flush=True)
                try:
                    q.proc.wait()  # type: ignore[union-attr]
                except KeyboardInterrupt:
                    pass
            return 0
        target.flash(fw.build.elf, fw.project)
        print(f"flashed {fw.build.elf} to {target.description}")
        return 0


class Listen(Command):
    name = "listen"
    help = "always-on keyword spotting on a board: stream a WAV, report detections and cost"
    description = ("Builds the firmware with the audio front end, streams the recording to the "
                   "board in time order (QEMU for simulated boards), where features are computed "
                   "hop by hop, the model runs every --every hops and posteriors are averaged "
                   "over --window inferences. Writes the detections ({time_s, label, score}) "
                   "and the per-hop front-end and inference cost; with --reference, hits, misses "
                   "and false accepts per hour as MLPerf Tiny's streaming wakeword benchmark "
                   "scores them.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        _model_arg(p)
        _board_arg(p)
        p.add_argument("--port", help="serial port or pyserial URL of a real board "
                                      "(default: start QEMU for simulated boards)")
        p.add_argument("--baud", type=int, help="baud rate (default: the board's)")
        p.add_argument("--wav", type=Path, required=True,
                       help="the recording (PCM WAV, any rate, mono or stereo, any length)")
        p.add_argument("--reference", type=Path,
                       help='JSON list of {"time_s", "label"}: when each keyword starts')
        p.add_argument("--labels", help="class names, comma-separated (default: the classes in "
                                        "model_card.json beside the model)")
        p.add_argument("--every", type=int, default=1, help="hops between inferences (default 1)")
        p.add_argument("--window", type=int, default=3,
                       help="inferences whose posteriors are averaged (default 3)")
        p.add_argument("--threshold", type=float, default=0.6,
                       help="averaged probability that makes a detection (default 0.6)")
        p.add_argument("--refractory", type=float, default=1.0,
                       help="seconds after a detection in which none is made (default 1)")
        p.add_argument("--tolerance", type=float, default=1.5,
                       help="seconds after a reference keyword's start in which its detection "
                            "counts as a hit (default 1.5)")
        p.add_argument("--json", type=Path, required=True, help="write the report here")
        p.add_argument("--out", type=Path, default=Path("out/firmware"),
                       help="firmware folders go under here (default out/firmware)")

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.boards import get_board
        from tinydeploy.listen import ListenConfig, format_listen, listen

        cfg = ListenConfig(args.every, args.window, args.threshold, args.refractory,
                           args.tolerance)
        report = listen(args.model, get_board(args.board), args.wav, args.port, args.baud,
                        args.reference, cfg, args.labels, args.out)
        print(format_listen(report))
        _write_json(args.json, report)
        return 0


class Boards(Command):
    name = "boards"
    help = "list the boards (one data file each in boards/) with their memory"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print a JSON list")

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.boards import list_boards

        boards = list_boards()
        if args.json:
            print(json.dumps([b.as_dict() for b in boards], indent=2))
            return 0
        print(f"{'board':<17} {'core':<13} {'clock (default first)':<23} {'flash':>8} "
              f"{'RAM':>8}  description")
        for b in boards:
            ordered = sorted(b.clock_options, key=lambda c: c.name != b.clock)
            clocks = (", ".join(f"{c.name} {c.hz / 1e6:g}" for c in ordered)
                      or f"{b.clock_hz / 1e6:g}") + " MHz"
            print(f"{b.name:<17} {b.core:<13} {clocks:<23} {b.flash_size // 1024:>6}KB "
                  f"{b.ram_size // 1024:>6}KB  {b.description}")
        return 0


class Verify(Command):
    name = "verify"
    help = "compile the generated C for this machine and compare it with TFLite bit for bit"
    description = ("Runs the very C that goes into the firmware, built for this machine, against "
                   "the reference interpreter (LiteRT's reference kernels; TFLite Micro's where "
                   "LiteRT refuses the model). Exit status: 0 bit-exact, 1 mismatches, 2 a bad "
                   "model or argument, 3 the reference interpreter refused or crashed.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        _model_arg(p)
        p.add_argument("--oracle", choices=["auto", "litert", "tflm"], default="auto",
                       help="the reference: LiteRT, TFLite Micro, or LiteRT then TFLite Micro "
                            "(default auto)")
        p.add_argument("--inputs", type=int, default=100, help="random inputs (default 100)")
        p.add_argument("--input", type=Path, action="append", default=[],
                       help="an input file (.bin raw, .npy) to check too; may repeat")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", type=Path, help="write the report here")
        add_patch_argument(p)

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.verify import verify

        r = verify(args.model, args.inputs, args.input, args.seed, args.oracle,
                   args.patch_overhead)
        print(f"{r['model']}: {r['mismatches']} of {r['inputs']} inputs differ from {r['oracle']} "
              f"(per output {r['mismatches_per_output']}); arena {r['arena_bytes']:,} B"
              + (f" (TFLM host {r['tflm_arena_bytes_host']:,} B)" if r["tflm_arena_bytes_host"] else ""))
        _write_json(args.json, r)
        return 0 if r["mismatches"] == 0 else 1


class Ops(Command):
    name = "ops"
    help = "list the operators the engine compiles, with their types and optimized paths"
    description = ("One row per TFLite builtin operator: the activation types it compiles "
                   "(int8, int16x8, float32) and the core families with hand-optimized paths "
                   "(DSP/Helium); the rest run the portable C kernels.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print a JSON list of {op, types, "
                                                          "optimized}")

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.ops import all_specs

        rows = [{"op": s.opcode, "types": s.types,
                 "optimized": {t: list(c) for t, c in sorted(s.optimized.items())}}
                for s in all_specs()]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'operator':<30} {'types':<26} optimized paths")
        for r in rows:
            opt = "; ".join(f"{t}: {', '.join(c)}" for t, c in r["optimized"].items()) or "-"
            print(f"{r['op']:<30} {', '.join(r['types']):<26} {opt}")
        print(f"\n{len(rows)} operators")
        return 0


class Farm(Command):
    name = "farm"
    help = "a board farm on labgrid: exporter and client configuration, simulated places"
    description = ("Boards plugged into other machines, shared through a labgrid coordinator. "
                   "On a host that owns a board: 'farm exporter-config' writes the "
                   "labgrid-exporter file for it (a QEMU board: first start 'farm simulate' "
                   "there). On a client: 'farm env' writes the labgrid environment that flashes "
                   "a place; 'tinydeploy bench MODEL --place NAME' or '--places board=NAME' "
                   "benchmarks through the farm.")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        sub = p.add_subparsers(dest="farm_command", metavar="COMMAND", required=True)
        exp = sub.add_parser("exporter-config", help="labgrid-exporter YAML for one board",
                             description="Writes the resource group of one board: its serial "
                                         "port and debug probe (real boards), or the UART link "
                                         "and flash service of 'farm simulate' (QEMU boards), "
                                         "with the labgrid-client commands that make its place.")
        self._place_args(exp)
        exp.add_argument("--serial", metavar="DEVICE",
                         help="a real board's serial port (/dev/serial/by-id/... is stable)")
        exp.add_argument("--probe", metavar="SERIAL",
                         help="the USB serial number of the board's debug probe (OpenOCD "
                              "flashes through it)")
        exp.add_argument("--simulator", metavar="HOST:PORT",
                         help="a QEMU board: where clients reach its 'farm simulate' service")
        exp.add_argument("--link", type=Path, help="a QEMU board: its UART link (default "
                                                   "/dev/shm/tinydeploy-farm/PLACE/uart)")
        exp.add_argument("--exporter", help="the exporter's -n name, for the place commands "
                                            "(default: this host's name)")
        env = sub.add_parser("env", help="the labgrid client environment that flashes a place",
                             description="Writes the labgrid environment (RemotePlace and the "
                                         "board's flashing driver) that tinydeploy uses; also "
                                         "for labgrid-client -c FILE -p PLACE bootstrap ELF.")
        self._place_args(env)
        env.add_argument("--coordinator", metavar="HOST:PORT",
                         help="written into the environment (default: none, labgrid's own)")
        sim = sub.add_parser("simulate", help="run a simulated board for an exporter host",
                             description="Runs QEMU for a qemu-* board with its UART on a "
                                         "pseudo-terminal behind --link (which the exporter "
                                         "serves through ser2net) and a flash service on "
                                         "--listen that restarts QEMU with each firmware sent. "
                                         "Stops with Ctrl-C or SIGTERM.")
        self._place_args(sim)
        sim.add_argument("--listen", metavar="HOST:PORT", required=True,
                         help="address of the flash service (clients must reach it)")
        sim.add_argument("--link", type=Path, help="the UART link (default "
                                                   "/dev/shm/tinydeploy-farm/PLACE/uart)")

    @staticmethod
    def _place_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--board", required=True, help="board name from 'tinydeploy boards'")
        p.add_argument("--place", help="resource group and place name (default: the board's)")

    def run(self, args: argparse.Namespace) -> int:
        from tinydeploy.boards import get_board

        board = get_board(args.board)
        place = args.place or board.name
        if args.farm_command == "exporter-config":
            from tinydeploy.farm import exporter_config

            print(exporter_config(board, place, args.serial, args.probe, args.simulator,
                                  args.link, args.exporter), end="")
        elif args.farm_command == "env":
            from tinydeploy.farm import client_env_yaml

            print(client_env_yaml(board, place, args.coordinator), end="")
        else:
            from tinydeploy.farm import host_port
            from tinydeploy.farm_sim import default_link, serve

            host, port = host_port(args.listen, "--listen")
            serve(board, args.link or default_link(place), host, port)
        return 0


COMMANDS: list[Command] = [Demo(), Train(), Tune(), Quantize(), Convert(), Build(), Run(),
                           Bench(), Listen(), Flash(), Boards(), Verify(), Ops(), Farm()]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinydeploy",
        description="From a model to measured results on a microcontroller, offline. Stages: "
                    "train -> quantize -> convert -> build -> bench (or flash). "
                    "Start with 'tinydeploy demo'.")
    parser.add_argument("--version", action="version", version=f"tinydeploy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(handler=cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler.run(args)
    except TinyDeployError as exc:
        from tinydeploy.reference import OracleError

        print(f"error: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, OracleError) else 2
    except OSError as exc:  # a path that cannot be read or written, a full disk
        print(f"error: {exc} (check the path, its permissions and free space)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, the traceback kept
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="tinydeploy-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        print(f"error: internal error ({type(exc).__name__}: {str(exc)[:200]}) (this is a "
              f"tinydeploy bug: please report it with the traceback in {path})", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
