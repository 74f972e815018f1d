"""Emit the ahead-of-time compiled model as plain C: `<prefix>.h` and `<prefix>.c`.

The C file holds the weights and every precomputed constant in `const` arrays (flash), the kernel
calls of `<prefix>_invoke(arena, state)` with arena offsets baked in, `<prefix>_reset(state)` and a
const descriptor `<prefix>_desc` (td_runtime.h). Nothing is interpreted, allocated or kept in
static memory: the caller owns the arena and the state, so one firmware or host library can hold
many models and a model can run in any RAM region the caller picks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tinydeploy.errors import TinyDeployError
from tinydeploy.memory_plan import MemoryPlan
from tinydeploy.ops.base import (SCRATCH, ConstArg, ConstArray, Granted, Layer, Params, StateArg,
                                 TensorArg, TensorListArg)
from tinydeploy.patch import BandCall, Move, PatchStage, Ref
from tinydeploy.qtype import qtype
from tinydeploy.tflite_reader import Model, Subgraph, Tensor

MAX_RANK = 6  # td_runtime.h: TD_MAX_RANK


@dataclass
class GeneratedC:
    prefix: str
    header: str
    source: str


def _c_value(v: object) -> str:
    if isinstance(v, Granted):
        raise AssertionError("a granted field must be resolved before rendering")
    if v is None:
        return "0"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return float(np.float32(v)).hex() + "f"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_c_value(x) for x in v) + "}"
    return str(int(v))  # type: ignore[call-overload]


def _array(c: ConstArray) -> str:
    vals = c.values.reshape(-1)
    per_line = 24 if c.ctype == "int8_t" else 8
    if c.ctype == "float":
        body_vals = [_c_value(float(v)) for v in vals]
    else:
        body_vals = [str(int(v)) for v in vals]
    lines = ["    " + ", ".join(body_vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line)]
    body = "\n".join(lines) if lines else "    0,"
    return f"static const {c.ctype} {c.name}[{max(len(vals), 1)}] TD_ALIGN = {{\n{body}\n}};\n"


def _params(name: str, p: Params, granted: bool) -> str:
    parts = []
    for f in fields(p):
        v = getattr(p, f.name)
        parts.append(f".{f.name} = {str(int(granted)) if isinstance(v, Granted) else _c_value(v)}")
    return f"static const {p.C_NAME} {name}_p = {{{', '.join(parts)}}};\n"


def _label(layer: Layer) -> str:
    op = layer.op
    return f"S{op.subgraph}L{op.index}" if op.subgraph else f"L{op.index}"


def _pointer(graph: Subgraph, plan: MemoryPlan, t: int, ctype: str) -> str:
    """Where a kernel finds a tensor: the graph's arena region, the state, or (a constant read as
    an activation) its data in flash."""
    if graph.tensors[t].is_constant:
        return f"({ctype})S{graph.index}T{t}"
    region, off = plan.region_offset(t)
    return f"({ctype})({region} + {off})"


def _constant_tensors(graph: Subgraph, layers: list[Layer]) -> list[str]:
    """Constant tensors that kernels read as activations, emitted once each as raw bytes."""
    seen: set[int] = set()
    out = []
    for lay in layers:
        for a in lay.args + ([TensorListArg(tuple(lay.op.inputs))] if lay.control in
                             ("if", "while") else []):
            ts = [a.index] if isinstance(a, TensorArg) else (
                list(a.indices) if isinstance(a, TensorListArg) else [])
            for t in ts:
                tensor = graph.tensors[t]
                if tensor.is_constant and t not in seen and tensor.data is not None:
                    seen.add(t)
                    out.append(_array(ConstArray(f"S{graph.index}T{t}", "uint8_t",
                                                 np.frombuffer(tensor.data, np.uint8))))
    return out


def _call(layer: Layer, step: int, plan: MemoryPlan, graph: Subgraph) -> str:
    assert layer.kernel is not None
    args = []
    for a, ctype in zip(layer.args, layer.kernel.arg_types()):
        if isinstance(a, TensorArg):
            args.append(_pointer(graph, plan, a.index, ctype))
        elif isinstance(a, TensorListArg):
            items = ", ".join(_pointer(graph, plan, t, a.ctype) for t in a.indices)
            args.append(f"({a.ctype}const[]){{{items}}}")
        elif isinstance(a, ConstArg):
            args.append(a.name)
        elif isinstance(a, StateArg):
            args.append(f"({ctype})(state + {plan.named_state[a.name]})")
        elif a is SCRATCH:
            args.append(f"arena + {plan.scratch[step]}" if step in plan.scratch else "0")
        else:
            args.append("0")
    return f"{layer.kernel.name}(&{_label(layer)}_p, {', '.join(args)});"


def _write_ranges(layer: Layer, step: int, plan: MemoryPlan, graph: Subgraph) -> list[str]:
    """{region, offset, bytes} the layer may write: its outputs, its scratch and its state
    buffers, arena offsets counted from the start of the whole arena."""
    out = []
    for t in layer.outputs:
        region, off = plan.region_offset(t)
        base = 0 if region == "state" else plan.base
        out.append(f"{{{int(region == 'state')}, {base + off}, {graph.tensors[t].nbytes}}}")
    if step in plan.scratch:
        size = layer.scratch_bytes + (layer.fast_scratch if step in plan.fast else 0)
        out.append(f"{{0, {plan.base + plan.scratch[step]}, {size}}}")
    for name in layer.state_writes:
        out.append(f"{{1, {plan.named_state[name]}, {plan.named_sizes[name]}}}")
    return out


def _patch_names(patch: PatchStage) -> dict[tuple[int, str], tuple[str, Params]]:
    """A C name for each distinct band parameter struct of the stage, by (member, value)."""
    names: dict[tuple[int, str], tuple[str, Params]] = {}
    for ops in patch.bands:
        for op in ops:
            if isinstance(op, BandCall):
                key = (op.member, repr(op.params))
                if key not in names:
                    label = _label(patch.members[op.member].layer)
                    count = sum(k[0] == op.member for k in names)
                    names[key] = (f"{label}_b{count}", op.params)
    return names


def _band_runs(patch: PatchStage, plan: MemoryPlan, names: dict[tuple[int, str], tuple[str, Params]]
               ) -> list[tuple[list[tuple[object, ...]], list[int], list[int], int]]:
    """The bands as runs of bands that differ only by a fixed step in their offsets, each one C
    loop: (op signatures, offsets of the run's first band, their step per band, bands)."""

    def where(ref: Ref) -> int:
        t, off = ref
        return (plan.scratch[patch.first] if t is None else plan.offsets[t]) + off

    sigs, vecs = [], []
    for ops in patch.bands:
        sig: list[tuple[object, ...]] = []
        vec: list[int] = []
        for op in ops:
            if isinstance(op, Move):
                sig.append(("move", op.nbytes))
                vec += [plan.scratch[patch.first] + op.dst, plan.scratch[patch.first] + op.src]
            else:
                sig.append(("call", op.member, names[(op.member, repr(op.params))][0],
                            op.write_bytes, op.scratch_bytes, op.scratch is None))
                vec += [where(r) for r in op.reads] + [where(op.write)]
                vec.append(0 if op.scratch is None else plan.scratch[patch.first] + op.scratch)
        sigs.append(sig)
        vecs.append(vec)
    runs = []
    k = 0
    while k < len(sigs):
        j, step = k + 1, [0] * len(vecs[k])
        while j < len(sigs) and sigs[j] == sigs[k]:
            d = [a - b for a, b in zip(vecs[j], vecs[j - 1])]
            if j > k + 1 and d != step:
                break
            step, j = d, j + 1
        runs.append((sigs[k], vecs[k], step, j - k))
        k = j
    return runs


def _patch_code(patch: PatchStage, plan: MemoryPlan, names: dict[tuple[int, str],
                                                                 tuple[str, Params]]) -> list[str]:
    """The stage's band program: each run of like bands one loop (`band` counts its bands),
    every call and move write-checked in TD_CHECK_WRITES builds."""
    body = []
    for sig, base, step, count in _band_runs(patch, plan, names):
        loop = count > 1
        pad = "        " if loop else "    "
        offs = iter(zip(base, step))

        def fmt(at: tuple[int, int], add: int = 0) -> str:
            """An offset (plus `add`) that moves on by its step from band to band."""
            v, d = at
            return f"{v + add} + band * {d}" if loop and d else str(v + add)

        if loop:
            body.append(f"    for (int32_t band = 0; band < {count}; ++band) {{")
        for op in sig:
            if op[0] == "move":
                dst, src = next(offs), next(offs)
                body += [f"{pad}TD_BEGIN(arena - {plan.base});",
                         f"{pad}memmove(arena + {fmt(dst)}, arena + {fmt(src)}, {op[1]});",
                         f'{pad}TD_ENDV("patch", {{0, {fmt(dst, plan.base)}, {op[1]}}});']
                continue
            _, i, name, write_bytes, scratch_bytes, no_scratch = op
            m = patch.members[i]
            lay = m.layer
            assert lay.kernel is not None
            reads = [next(offs) for _ in m.sources]
            write, scratch = next(offs), next(offs)
            args = []
            for a, ctype in zip(lay.args, lay.kernel.arg_types()):
                if isinstance(a, TensorArg):
                    off = write if a.index == m.out else reads[m.sources.index(a.index)]
                    args.append(f"({ctype})(arena + {fmt(off)})")
                elif isinstance(a, ConstArg):
                    args.append(a.name)
                elif a is SCRATCH:
                    args.append("0" if no_scratch else f"arena + {fmt(scratch)}")
                else:
                    args.append("0")
            ranges = [f"{{0, {fmt(write, plan.base)}, {write_bytes}}}"]
            if not no_scratch:
                ranges.append(f"{{0, {fmt(scratch, plan.base)}, {scratch_bytes}}}")
            body += [f"{pad}TD_BEGIN(arena - {plan.base});",
                     f"{pad}{lay.kernel.name}(&{name}_p, {', '.join(args)});",
                     f'{pad}TD_ENDV("{lay.op.index}:{lay.op.opcode}", {", ".join(ranges)});']
        if loop:
            body.append("    }")
    return body


def _graph_function(graph: Subgraph, layers: list[Layer], plans: list[MemoryPlan],
                    prefix: str, graphs_of: list[Subgraph]) -> list[str]:
    """The C function that runs one subgraph: kernel calls, write checks, profile marks (entry
    subgraph only) and calls of other subgraphs (CALL_ONCE, IF, WHILE: tensors copied in and out
    of the callee's arena region)."""
    plan = plans[graph.index]
    name = f"{prefix}_invoke" if graph.index == 0 else f"{prefix}_sg{graph.index}"
    static = "" if graph.index == 0 else "static "
    body = [f"{static}void {name}(int8_t *arena, int8_t *state) {{", "    (void)arena;",
            "    (void)state;"]
    mark = 0

    def copy(dst: str, src: str, nbytes: int) -> str:
        return f"memcpy({dst}, {src}, {nbytes});"

    def inner(g: int, t: int) -> str:
        """A tensor of called subgraph g, from this function's arena pointer."""
        region, off = plans[g].region_offset(t)
        return f"state + {off}" if region == "state" else (
            f"arena + {plans[g].base - plan.base + off}")

    def here(t: int) -> str:
        return _pointer(graph, plan, t, "const int8_t *")

    def call(g: int) -> str:
        return f"{prefix}_sg{g}(arena + {plans[g].base - plan.base}, state);"

    patch = plan.patch
    names = _patch_names(patch) if patch else {}
    for step, lay in enumerate(layers):
        if patch and patch.first <= step <= patch.last:
            if step == patch.first:
                body += _patch_code(patch, plan, names)
                # every layer of the stage gets its mark after the stage, so the profile keeps
                # one entry per layer (the stage's time counts as its first layer's)
                for _ in patch.members:
                    if graph.index == 0:
                        body.append(f"    TD_MARK({mark});")
                        mark += 1
            continue
        if lay.control in ("if", "while"):
            ga, gb = (graphs_of[c] for c in lay.calls)
        if lay.control == "if":
            cond, args = lay.op.inputs[0], lay.op.inputs[1:]
            body.append(f"    if (*(const uint8_t *)({here(cond)})) {{")
            for branch, g in ((0, ga), (1, gb)):
                if branch:
                    body.append("    } else {")
                body += [f"        {copy(inner(g.index, d), here(s), g.tensors[d].nbytes)}"
                         for s, d in zip(args, g.inputs)]
                body.append(f"        {call(g.index)}")
                body += [f"        {copy(f'(int8_t *)({here(o)})', inner(g.index, s), g.tensors[s].nbytes)}"
                         for o, s in zip(lay.op.outputs, g.outputs)]
            body.append("    }")
        elif lay.control == "while":
            outs = lay.op.outputs
            body += [f"    {copy(f'(int8_t *)({here(o)})', here(i), graph.tensors[o].nbytes)}"
                     for i, o in zip(lay.op.inputs, outs)]
            body.append("    for (;;) {")
            body += [f"        {copy(inner(ga.index, d), here(o), ga.tensors[d].nbytes)}"
                     for o, d in zip(outs, ga.inputs)]
            body += [f"        {call(ga.index)}",
                     f"        if (!*(const uint8_t *)({inner(ga.index, ga.outputs[0])})) break;"]
            body += [f"        {copy(inner(gb.index, d), here(o), gb.tensors[d].nbytes)}"
                     for o, d in zip(outs, gb.inputs)]
            body.append(f"        {call(gb.index)}")
            body += [f"        {copy(f'(int8_t *)({here(o)})', inner(gb.index, s), gb.tensors[s].nbytes)}"
                     for o, s in zip(outs, gb.outputs)]
            body.append("    }")
        elif lay.control == "call_once":
            callee = lay.calls[0]
            flag = plan.named_state[f"call_once_{callee}"]
            offset = plans[callee].base - plan.base
            body += [f"    if (!state[{flag}]) {{", f"        state[{flag}] = 1;",
                     f"        {prefix}_sg{callee}(arena + {offset}, state);", "    }"]
        elif lay.kernel is not None:
            body += [f"    TD_BEGIN(arena - {plan.base});", f"    {_call(lay, step, plan, graph)}",
                     f"    TD_END(\"{lay.op.index}:{lay.op.opcode}\", W{graph.index}_{step});"]
            if graph.index == 0:
                body.append(f"    TD_MARK({mark});")
                mark += 1
    return body + ["}", ""]


def _io(t: Tensor, plan: MemoryPlan) -> str:
    q = qtype(t.dtype, f"model input/output '{t.name}'")
    if len(t.shape) > MAX_RANK:
        raise TinyDeployError(f"model input/output '{t.name}' has rank {len(t.shape)}",
                              f"the runtime descriptor holds at most {MAX_RANK} dimensions")
    dims = list(t.shape) + [0] * (MAX_RANK - len(t.shape))
    scale = float(t.scale0) if len(t.scale) else 0.0
    return (f"{{{q.code}, {plan.offsets[t.index]}, {t.nbytes}, {t.size}, {_c_value(scale)}, "
            f"{t.zp0}, {len(t.shape)}, {_c_value(dims)}}}")


def _io_defines(macro: str, kind: str, tensors: list[Tensor], plan: MemoryPlan) -> list[str]:
    out = [f"#define {macro}_NUM_{kind}S {len(tensors)}"]
    for i, t in enumerate(tensors):
        p = f"{macro}_{kind}{i}"
        q = qtype(t.dtype, f"model {kind.lower()} '{t.name}'")
        out += [f"#define {p}_OFFSET {plan.offsets[t.index]}",
                f"#define {p}_BYTES {t.nbytes}",
                f"#define {p}_ELEMENTS {t.size}",
                f"#define {p}_TYPE {q.code}",
                f"#define {p}_SCALE {_c_value(float(t.scale0) if len(t.scale) else 0.0)}",
                f"#define {p}_ZERO_POINT {t.zp0}"]
    return out


def _reset(model: Model, plans: list[MemoryPlan]) -> list[str]:
    """Persistent state back to its initial value: int8 variable tensors to their zero point
    (TFLite Micro's ResetVariableTensors), other variable tensors to 0 or their constant data,
    named buffers (resource variables, CALL_ONCE flags) to 0."""
    body = []
    for g in model.subgraphs:
        for t in g.tensors:
            if not t.is_variable:
                continue
            off = plans[g.index].state_offsets[t.index]
            if t.is_constant and t.data:
                body.append(f"    memcpy(state + {off}, S{g.index}init{t.index}, {t.nbytes});")
            else:
                body.append(f"    memset(state + {off}, {t.zp0 if t.dtype == 'int8' else 0}, "
                            f"{t.nbytes});")
    plan = plans[0]
    for name, off in sorted(plan.named_state.items(), key=lambda kv: kv[1]):
        body.append(f"    memset(state + {off}, 0, {plan.named_sizes[name]});  /* {name} */")
    return body


def generate_c(model: Model, graphs: list[list[Layer]], plans: list[MemoryPlan], name: str,
               prefix: str) -> GeneratedC:
    """Render header and source for one compiled model (every subgraph)."""
    plan = plans[0]
    ins = [model.tensors[i] for i in model.inputs]
    outs = [model.tensors[i] for i in model.outputs]
    calls = [lay for lay in graphs[0] if lay.kernel]
    arena_bytes = plans[-1].base + plans[-1].arena_bytes
    macro = prefix.upper()
    name = c_string(name)
    header = "\n".join([
        f"/* Generated by tinydeploy from {name}: do not edit. */",
        f"#ifndef {macro}_H", f"#define {macro}_H", "#include <stdint.h>",
        '#include "td_runtime.h"', "",
        f"#define {macro}_ARENA_BYTES {arena_bytes}",
        f"#define {macro}_STATE_BYTES {plan.state_bytes}",
        f"#define {macro}_NUM_LAYERS {len(calls)}",
        *_io_defines(macro, "INPUT", ins, plan), *_io_defines(macro, "OUTPUT", outs, plan), "",
        "/* Reentrant: the caller owns the arena (ARENA_BYTES, 16-byte aligned) and the state",
        " * (STATE_BYTES); write inputs at arena + INPUTn_OFFSET, call invoke, read outputs at",
        " * arena + OUTPUTn_OFFSET. reset(state) once before the first invoke (td_runtime.h). */",
        f"extern const td_descriptor {prefix}_desc;",
        f"void {prefix}_invoke(int8_t *arena, int8_t *state);",
        f"void {prefix}_reset(int8_t *state);", "",
        "#endif", ""])
    parts = [f"/* Generated by tinydeploy from {name}: do not edit. */",
             "#include <string.h>", f'#include "{prefix}.h"', '#include "td_kernels.h"', "",
             "#if defined(__GNUC__)", "#define TD_ALIGN __attribute__((aligned(16)))", "#else",
             "#define TD_ALIGN", "#endif", "",
             "#ifdef TD_PROFILE", "void td_profile_mark(int layer);",
             "#define TD_MARK(i) td_profile_mark(i)", "#else", "#define TD_MARK(i)", "#endif",
             "#ifdef TD_CHECK_WRITES",
             f"#define TD_BEGIN(whole) td_check_begin(whole, {arena_bytes}, state, "
             f"{plan.state_bytes})",
             "#define TD_END(name, r) td_check_end(name, r, (int32_t)(sizeof r / sizeof r[0]))",
             "#define TD_ENDV(name, ...) do { const td_write_range r_[] = {__VA_ARGS__}; "
             "td_check_end(name, r_, (int32_t)(sizeof r_ / sizeof r_[0])); } while (0)",
             "#else", "#define TD_BEGIN(whole)", "#define TD_END(name, r)",
             "#define TD_ENDV(name, ...)", "#endif", ""]
    for g in model.subgraphs:
        for t in g.tensors:
            if t.is_variable and t.is_constant and t.data:
                parts.append(_array(ConstArray(f"S{g.index}init{t.index}", "uint8_t",
                                               np.frombuffer(t.data, np.uint8))))
    introspect, bands = [], []  # patched layers' whole-tensor parameters; band parameters
    for g, layers in zip(model.subgraphs, graphs):
        parts += _constant_tensors(g, layers)
        patch = plans[g.index].patch
        for step, lay in enumerate(layers):
            if lay.kernel is None:
                continue
            assert lay.params is not None
            for c in lay.consts:
                parts.append(_array(c))
            struct = _params(_label(lay), lay.params, step in plans[g.index].fast)
            (introspect if patch and patch.first <= step <= patch.last else parts).append(struct)
        if patch:
            for name, p in _patch_names(patch).values():
                parts.append(_params(name, p, False))
                bands.append(name)
    names = ", ".join(f'"{lay.op.index}:{lay.op.opcode}"' for lay in calls) or '""'
    labels = [_label(lay) for lay in calls]
    parts += [f"static const char *const layer_names[] = {{{names}}};", "",
              "#ifdef TD_INTROSPECT  /* host builds: each call's parameters, for the tests */",
              *introspect,
              f"const void *const {prefix}_layer_params[] = "
              f"{{{', '.join(f'&{lb}_p' for lb in labels) or '0'}}};",
              f"const void *const {prefix}_band_params[] = "
              f"{{{', '.join(f'&{b}_p' for b in bands) or '0'}}};",
              "#endif", "#ifdef TD_CHECK_WRITES"]
    for g, layers in zip(model.subgraphs, graphs):
        patch = plans[g.index].patch
        for step, lay in enumerate(layers):
            if lay.kernel is not None and not (patch and patch.first <= step <= patch.last):
                ranges = _write_ranges(lay, step, plans[g.index], g) or ["{0, 0, 0}"]
                parts.append(f"static const td_write_range W{g.index}_{step}[] = "
                             f"{{{', '.join(ranges)}}};")
    parts += ["#endif", ""]
    for g in model.subgraphs[1:]:
        parts.append(f"static void {prefix}_sg{g.index}(int8_t *arena, int8_t *state);")
    for g, layers in reversed(list(zip(model.subgraphs, graphs))):
        parts += _graph_function(g, layers, plans, prefix, model.subgraphs)
    parts += [f"void {prefix}_reset(int8_t *state) {{", "    (void)state;",
              *_reset(model, plans), "}", ""]
    parts += [f"static const td_io inputs[] = {{{', '.join(_io(t, plan) for t in ins)}}};",
              f"static const td_io outputs[] = {{{', '.join(_io(t, plan) for t in outs)}}};",
              f"const td_descriptor {prefix}_desc = {{",
              f'    "{name}", {arena_bytes}, {plan.state_bytes}, {len(ins)}, {len(outs)}, '
              f"inputs, outputs, {len(calls)}, layer_names, {prefix}_invoke, {prefix}_reset}};", ""]
    return GeneratedC(prefix, header, "\n".join(parts))


def c_string(text: str) -> str:
    """A model name safe inside a C string literal."""
    return "".join(ch if ch.isalnum() or ch in "-_.:/ " else "_" for ch in text)[:64] or "model"

