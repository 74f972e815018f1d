"""The kernel library compiles for every core at every optimization level a user might pick.

The DSP loops hold up to 14 values in registers; a build that leaves fewer free (-O0, -Og, -Os)
must fall back to the loops that need fewer, not fail."""

import subprocess

import pytest

from tinydeploy.paths import KERNELS, kernel_sources
from tinydeploy.toolchain import require


@pytest.mark.parametrize("core,flags", [
    ("cortex-m4", ["-O0"]), ("cortex-m4", ["-Og"]), ("cortex-m4", ["-Os"]), ("cortex-m4", ["-O1"]),
    ("cortex-m4", ["-O2", "-DTD_LDM_LOOPS"]), ("cortex-m7", ["-O3", "-DTD_LDM_LOOPS"]),
    ("cortex-m4", ["-O2", "-DTD_LDM_LOOPS", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]),
    ("cortex-m7", ["-O2", "-DTD_LDM_LOOPS", "-DTD_DUAL_ISSUE", "-mfloat-abi=hard",
                   "-mfpu=fpv5-d16"]),
    ("cortex-m55", ["-O2", "-DTD_LDM_LOOPS", "-mfloat-abi=hard"]),
    ("cortex-m33", ["-O2", "-DTD_LDM_LOOPS"]), ("cortex-m55", ["-Os"]), ("cortex-m0", ["-Os"]),
    ("cortex-m3", ["-O0"])])
def test_kernels_compile(core, flags, tmp_path):
    gcc = require("arm-none-eabi-gcc")
    for src in kernel_sources():
        r = subprocess.run([gcc, f"-mcpu={core}", "-mthumb", *flags, "-std=c99", "-Wall", "-Werror",
                            "-I", str(KERNELS), "-c", str(src), "-o", str(tmp_path / "k.o")],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{src.name} ({core} {' '.join(flags)}):\n{r.stderr}"
