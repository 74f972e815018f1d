"""Render a firmware project for one board: jinja2 templates + static C + the compiled models.

The result is an ordinary PlatformIO project (`platformio.ini`, `src/`, `boards/`, `linker.ld`) that
a user can open, change and build on their own. One firmware can hold several models (each under
its own C prefix, listed in the generated `td_models.c`); they share one arena, each keeps its own
state, and `td-model N` selects which one the protocol drives.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from tinydeploy.audio import c_tables
from tinydeploy.boards import Board
from tinydeploy.compile_options import LAYOUTS, layout_spec
from tinydeploy.compiler import CompiledModel, layer_weight_bytes
from tinydeploy.errors import TinyDeployError
from tinydeploy.paths import FIRMWARE, KERNELS, PIO_PLATFORM, TEMPLATES, kernel_sources
from tinydeploy.toolchain import cache_dir, require

MARKER = ".tinydeploy-project"
STACK_BYTES = 8192
INPUT_FORMATS = ("int8", "uint8_minus_128")
AUDIO_RAM_BYTES = 6144      # the streaming front end: frame, FFT buffer, feature ring, posteriors,
                            # the longer command line
AUDIO_FLASH_BYTES = 12288   # its code, float32 tables and the C library's logf
FIRMWARE_BASE_FLASH = 8192  # vectors, startup, HAL, protocol and the C library pieces they use
FIRMWARE_BASE_RAM = 1024    # their .data and .bss
CALL_BYTES = 48             # code per kernel call in the generated invoke function
WEIGHT_LAYOUTS = ("auto", "int16", "int8", "rows")  # or per layer: "int8,L3=int16"
# Instructions the int16 layout saves per multiply-accumulate over int8, by kernel (the int8 DSP
# kernels widen each group of four weights with an SXTB16 pair; fully connected and LSTM rows
# also lose the input row widened once). Measured on QEMU Cortex-M4 (-icount, exact counts):
# scripts/bench_engine.py --weights int8 vs int16, per-layer instructions over per-layer MACs,
# summed over the MLPerf Tiny models kws01, vww01, ic01 (conv), ad01 (fully connected, batch 1;
# per layer 0.66-0.86) and a 64-unit, 16-step, 32-feature LSTM. The estimated M4 cycles
# (tinydeploy/cycles.py) save 0.36, 0.46, 0.50 and 0.48 per MAC.
WIDE_SAVINGS = {"td_conv2d_s8": 0.36, "td_conv1x1_s8": 0.40, "td_fully_connected_s8": 0.72,
                "td_lstm_s8": 0.67}


def qemu_command(board: Board) -> str:
    """The QEMU command line (without -kernel and -serial) that runs firmware for this board."""
    if not board.is_qemu:
        return ""
    return (f"qemu-system-arm -machine {board.qemu_machine} -cpu {board.qemu_cpu} -nographic "
            "-monitor none -semihosting-config enable=on,target=native -icount shift=0")


def firmware_models(models: CompiledModel | list[CompiledModel]) -> list[CompiledModel]:
    """The models with the C prefixes a firmware gives them: td_model, td_model1, ..."""
    ms = [models] if isinstance(models, CompiledModel) else list(models)
    if not ms:
        raise TinyDeployError("no model to build", "give at least one .tflite")
    return [m.with_options(prefix="td_model" if i == 0 else f"td_model{i}")
            for i, m in enumerate(ms)]


def takes_mfcc(model: CompiledModel) -> bool:
    """Whether a model is a keyword spotter the audio front end can feed: one 49x10 int8 input
    (the front end's MFCCs) and one int8 output of class probabilities (at most 32 classes)."""
    ins, outs = model.input_tensors, model.output_tensors
    return (len(ins) == 1 and ins[0].dtype == "int8" and ins[0].size == 490 and len(outs) == 1
            and outs[0].dtype == "int8" and outs[0].size <= 32)


def ram_needed(models: CompiledModel | list[CompiledModel], audio_frontend: bool = False) -> int:
    """RAM the firmware needs: the shared arena, every model's state, the stack, the input buffer
    (and audio), and the firmware's own variables."""
    ms = [models] if isinstance(models, CompiledModel) else models
    return (max(m.arena_bytes for m in ms) + sum(m.state_bytes for m in ms) + STACK_BYTES
            + max(m.input_bytes for m in ms) + (AUDIO_RAM_BYTES if audio_frontend else 0)
            + FIRMWARE_BASE_RAM)


def kernel_code_bytes(board: Board) -> dict[str, int]:
    """Code bytes of each kernel function for the board's core: the kernel library compiled with
    the board's flags, once per core and sources (cached), each function's size read with nm."""
    h = hashlib.sha256(" ".join(board.cpu_flags).encode())
    for f in sorted(KERNELS.glob("*")):
        h.update(f.name.encode() + f.read_bytes())
    stamp = cache_dir() / "kernel-sizes" / f"{h.hexdigest()[:16]}.txt"
    if not stamp.is_file():
        gcc, nm = require("arm-none-eabi-gcc"), require("arm-none-eabi-nm")
        sizes: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for src in kernel_sources():
                obj = Path(tmp) / f"{src.stem}.o"
                subprocess.run([gcc, *board.cpu_flags, "-O2", "-DTD_LDM_LOOPS",
                                "-ffunction-sections", "-I", str(KERNELS), "-c", str(src), "-o",
                                str(obj)], check=True, capture_output=True)
                out = subprocess.run([nm, "--print-size", "--defined-only", str(obj)],
                                     capture_output=True, text=True, check=True).stdout
                file_total = 0
                for line in out.splitlines():
                    parts = line.split()
                    if len(parts) == 4 and parts[2] in "tT":
                        file_total += int(parts[1], 16)
                        if parts[2] == "T":
                            sizes[parts[3]] = 0
                # a kernel brings its file's static helpers along: charge the file to each
                for name in [k for k, v in sizes.items() if v == 0]:
                    sizes[name] = file_total
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text("".join(f"{k} {v}\n" for k, v in sorted(sizes.items())))
    return {k: int(v) for k, v in (ln.split() for ln in stamp.read_text().splitlines())}


@dataclass
class FlashEstimate:
    code: int
    weights: int
    total: int


def flash_needed(models: list[CompiledModel], board: Board, audio_frontend: bool = False
                 ) -> FlashEstimate:
    """The whole image: firmware base, the kernels the models call (their files' code for this
    core), the generated calls, and every model's constants."""
    sizes = kernel_code_bytes(board)
    used = {lay.func for m in models for lay in m.layers if lay.func}
    calls = sum(1 for m in models for lay in m.layers if lay.func)
    code = (FIRMWARE_BASE_FLASH + sum(sizes.get(k, 0) for k in used) + CALL_BYTES * calls
            + (AUDIO_FLASH_BYTES if audio_frontend else 0))
    weights = sum(m.weight_bytes for m in models)
    return FlashEstimate(code, weights, code + weights)


def weights_for_board(compiled: CompiledModel, board: Board, weights: str = "auto") -> CompiledModel:
    """The weight layout for a board. "auto": int8 rows on Helium cores (their vector dot products
    read int8 directly); on other cores with the DSP extension convolution and fully connected
    weights pre-widened to int16 where the wider weights still leave room for the code, else
    those of the layers that save the most within the flash, the rest int8 (widest_within_flash);
    int8 elsewhere (the portable kernels gain nothing from wide weights). Any other value forces
    that layout, for every layer or per layer (compile_options.parse_layout)."""
    if weights != "auto":
        if weights.split(",")[0] not in LAYOUTS:
            raise TinyDeployError(f"unknown weight layout '{weights}'",
                                  f"use one of {', '.join(WEIGHT_LAYOUTS)}, or per layer: "
                                  "int8,L3=int16")
        return compiled.with_layout(weights)
    if board.has_mve:
        return compiled.with_layout("rows")
    if board.has_dsp:
        wide = compiled.with_layout("int16")
        if flash_needed([wide], board).total <= board.flash_size:
            return wide
        return widest_within_flash(compiled, board)
    return compiled.with_layout("int8")


def wide_gain(layer_func: str | None, macs: int) -> float:
    """Instructions per inference a layer saves with int16 weights instead of int8."""
    return WIDE_SAVINGS.get(layer_func or "", 0.0) * macs


def widest_within_flash(compiled: CompiledModel, board: Board) -> CompiledModel:
    """int8 weights, with the set of layers widened to int16 that saves the most instructions
    (wide_gain) within the flash the all-int8 model leaves free (code included, as check_fits
    counts it): a 0/1 knapsack (fill_knapsack). The code is the same whatever the mix, so each
    layer's extra bytes add up exactly. Layers with the most MACs per weight save the most per
    extra byte, but widening them in that order until the next does not fit can leave much of the
    flash unused (ad01 on 512 KB: its last 80 KB layer is left out, where two of 16 KB would do)."""
    narrow = compiled.with_layout("int8")
    spare = board.flash_size - flash_needed([narrow], board).total
    wide = dict(compiled.with_layout("int16").named_layers)
    names, items = [], []
    for name, lay in narrow.named_layers:
        gain = wide_gain(lay.func, lay.macs) if lay.layout is not None else 0.0
        if gain > 0:
            names.append(name)
            items.append((gain, layer_weight_bytes(wide[name]) - layer_weight_bytes(lay)))
    picked = fill_knapsack(items, spare)
    return compiled.with_layout(layout_spec("int8", {names[i]: "int16" for i in picked}))


def fill_knapsack(items: list[tuple[float, int]], capacity: int, cells: int = 4096) -> list[int]:
    """The indices of the items (gain, size) whose sizes fit `capacity` with the greatest total
    gain: dynamic programming over the capacity in at most `cells` units, each size rounded up to
    whole units, so the choice always fits (exact where capacity <= cells; otherwise the best of
    the sets that fit with their sizes so rounded)."""
    if capacity <= 0:
        return []
    unit = -(-capacity // cells)
    n = capacity // unit
    best = np.zeros(n + 1)             # best[c]: the most gain within c units
    took = np.zeros((len(items), n + 1), bool)
    units = [-(-size // unit) for _, size in items]
    for i, ((gain, _), u) in enumerate(zip(items, units)):
        if u > n:
            continue
        with_it = best[:n + 1 - u] + gain  # from the table before item i: each item once
        took[i, u:] = with_it > best[u:]
        best[u:] = np.maximum(best[u:], with_it)
    picked, c = [], n
    for i in reversed(range(len(items))):
        if took[i, c]:
            picked.append(i)
            c -= units[i]
    return sorted(picked)


def check_fits(models: CompiledModel | list[CompiledModel], board: Board,
               audio_frontend: bool = False) -> None:
    """Refuse models that cannot fit the board (code + weights, RAM), before anything is built."""
    ms = [models] if isinstance(models, CompiledModel) else models
    names = "+".join(m.name for m in ms)
    flash = flash_needed(ms, board, audio_frontend)
    if flash.total > board.flash_size:
        raise TinyDeployError(
            f"model '{names}' needs about {flash.total:,} bytes of flash ({flash.weights:,} "
            f"for weights, {flash.code:,} for code), board {board.name} has "
            f"{board.flash_size:,}", "pick a board with more flash or a smaller model")
    ram = ram_needed(ms, audio_frontend)
    if ram > board.ram_size:
        raise TinyDeployError(
            f"model '{names}' needs {ram:,} bytes of RAM (arena "
            f"{max(m.arena_bytes for m in ms):,} + stack and buffers), board {board.name} has "
            f"{board.ram_size:,}", "pick a board with more RAM or a smaller model")


def _prepare_dir(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise TinyDeployError(f"{out} exists and was not made by tinydeploy",
                              "choose an empty or new output folder; nothing was overwritten")
    for sub in ("src", "boards"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("This folder is generated by tinydeploy and may be rewritten.\n")


def models_table(models: list[CompiledModel]) -> tuple[str, str]:
    """td_models.h and td_models.c: the firmware's table of model descriptors and the sizes its
    shared buffers need."""
    offsets, at = [], 0
    for m in models:
        offsets.append(at)
        at += (m.state_bytes + 15) // 16 * 16
    header = "\n".join([
        "/* Generated by tinydeploy: the models in this firmware. */",
        "#ifndef TD_MODELS_H", "#define TD_MODELS_H", '#include "td_runtime.h"', "",
        f"#define TD_NUM_MODELS {len(models)}",
        f"#define TD_ARENA_BYTES {max(m.arena_bytes for m in models)}",
        f"#define TD_STATE_BYTES {at}",
        f"#define TD_DB_BYTES {max(max(m.input_bytes for m in models), 1)}",
        f"#define TD_MAX_LAYERS {max(sum(1 for lay in m.layers if lay.func) for m in models)}",
        "#define TD_ARENA_ATTR __attribute__((aligned(16)))",
        "#define TD_STATE_ATTR __attribute__((aligned(16)))", "",
        "extern const td_descriptor *const td_models[TD_NUM_MODELS];",
        "extern const int32_t td_state_offsets[TD_NUM_MODELS];", "", "#endif", ""])
    source = "\n".join([
        "/* Generated by tinydeploy: the models in this firmware. */", '#include "td_models.h"',
        *[f'#include "{m.prefix}.h"' for m in models], "",
        "const td_descriptor *const td_models[TD_NUM_MODELS] = {"
        + ", ".join(f"&{m.prefix}_desc" for m in models) + "};",
        "const int32_t td_state_offsets[TD_NUM_MODELS] = {"
        + ", ".join(map(str, offsets)) + "};", ""])
    return header, source


def render_project(models: CompiledModel | list[CompiledModel], board: Board,
                   out_dir: str | Path, input_format: str = "int8",
                   audio_frontend: bool = False, batch: bool = False) -> Path:
    """Write the PlatformIO project for `models` on `board` into out_dir; returns out_dir.

    audio_frontend adds the MFCC front end (firmware/dsp) and the td-audio and td-stream
    (always-on keyword spotting) commands, for keyword-spotting models whose int8 input is 49x10
    MFCCs. batch builds the batch runner
    (firmware/src/batch_main.c: test vectors through semihosting files) instead of the protocol,
    for simulated boards."""
    if batch and not board.is_qemu:
        raise TinyDeployError(f"the batch runner needs semihosting; {board.name} is a real board",
                              "run batches on a qemu-* board")
    if input_format not in INPUT_FORMATS:
        raise TinyDeployError(f"unknown input format '{input_format}'",
                              f"use one of {', '.join(INPUT_FORMATS)}")
    ms = firmware_models(models)
    inp = ms[0].input_tensors[0]
    if audio_frontend and (inp.dtype != "int8" or inp.size != 490):
        raise TinyDeployError(f"the audio front end makes 49x10 int8 MFCCs; '{ms[0].name}' "
                              f"takes {list(inp.shape)} {inp.dtype}",
                              "use it only with keyword-spotting models trained on these features")
    check_fits(ms, board, audio_frontend)
    out = Path(out_dir)
    _prepare_dir(out)
    src = out / "src"
    (src / "kernels").mkdir(parents=True)
    (src / "hal").mkdir()
    (out / "boards").mkdir()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    ctx = dict(board=board, model_name="+".join(m.name for m in ms), input_format=input_format,
               audio_frontend=audio_frontend, platform_path=PIO_PLATFORM,
               qemu_command=qemu_command(board), stack_bytes=STACK_BYTES)
    (out / "platformio.ini").write_text(env.get_template("platformio.ini.j2").render(ctx))
    (out / "linker.ld").write_text(env.get_template("linker.ld.j2").render(ctx))
    (out / "boards" / f"{board.pio_board}.json").write_text(
        env.get_template("board.json.j2").render(ctx))
    (src / "board_config.h").write_text(env.get_template("board_config.h.j2").render(ctx))
    for m in ms:
        m.write(src)
    header, source = models_table(ms)
    (src / "td_models.h").write_text(header)
    (src / "td_models.c").write_text(source)
    shutil.copy(FIRMWARE / "src" / ("batch_main.c" if batch else "main.c"), src / "main.c")
    for f in list(KERNELS.glob("*.c")) + list(KERNELS.glob("*.h")):
        shutil.copy(f, src / "kernels" / f.name)
    if audio_frontend:
        (src / "dsp").mkdir()
        for name in ("td_mfcc.c", "td_mfcc.h", "td_stream.c", "td_stream.h"):
            shutil.copy(FIRMWARE / "dsp" / name, src / "dsp" / name)
        (src / "dsp" / "td_mfcc_tables.h").write_text(c_tables())
    hal = FIRMWARE / "hal"
    exit_impl = "exit_semihosting.c" if board.is_qemu else "exit_park.c"
    for name in ("td_hal.h", "startup_cortexm.c", "board_init.c", f"uart_{board.uart_driver}.c",
                 f"timer_{board.timer}.c", exit_impl):
        shutil.copy(hal / name, src / "hal" / name)
    return out
