"""The TFLite Micro C array: exact bytes, const, 16-byte aligned, length symbol, op list."""

import ctypes
import re
import subprocess

from tinydeploy.reference import tflm_arena_bytes
from tinydeploy.tflm_array import resolver_method, write_tflm_array


def test_array_round_trips_through_gcc(tiny_kws, tmp_path):
    data = tiny_kws.read_bytes()
    h, c = write_tflm_array(data, tmp_path, arena_bytes=tflm_arena_bytes(data))
    src = c.read_text()
    assert "const unsigned char g_model_data[" in src
    assert "__attribute__((aligned(16)))" in src
    parsed = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", src.split("= {", 1)[1]))
    assert parsed == data
    header = h.read_text()
    assert f"#define G_MODEL_DATA_LEN {len(data)}" in header
    assert f"#define G_MODEL_DATA_ARENA_BYTES {tflm_arena_bytes(data)}" in header
    for op in ("AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddReshape",
               "AddFullyConnected", "AddSoftmax"):
        assert f"resolver.{op}();" in header
    lib = tmp_path / "libmodel.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-I", str(tmp_path), str(c), "-o", str(lib)],
                   check=True)
    so = ctypes.CDLL(str(lib))
    n = ctypes.c_uint.in_dll(so, "g_model_data_len").value
    arr = (ctypes.c_ubyte * n).in_dll(so, "g_model_data")
    assert n == len(data) and bytes(arr) == data
    assert ctypes.addressof(arr) % 16 == 0
    nm = subprocess.run(["nm", str(lib)], capture_output=True, text=True, check=True).stdout
    assert re.search(r" R g_model_data$", nm, re.M), "the array must be in read-only data"


def test_resolver_names():
    assert resolver_method("CONV_2D") == "AddConv2D"
    assert resolver_method("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D"
    assert resolver_method("RELU6") == "AddRelu6"
