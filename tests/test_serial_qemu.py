"""The serial line against a real emulator that dies: reported at once, naming the emulator."""

import os
import signal
import time

import numpy as np
import pytest

from tinydeploy.bench import make_firmware
from tinydeploy.boards import get_board
from tinydeploy.compiler import compile_model
from tinydeploy.errors import TinyDeployError
from tinydeploy.targets import QemuTarget


def test_qemu_killed_mid_bench_is_reported_within_3_s(tiny_kws, tmp_path):
    board = get_board("qemu-m4")
    fw = make_firmware(compile_model(tiny_kws), board, tmp_path / "fw")
    x = np.zeros((1, 49, 10, 1), np.int8)
    with QemuTarget(board) as target:
        target.flash(fw.build.elf, fw.project)
        link = target.link(timeout=30)
        link.run_input(x.tobytes())
        os.kill(target.session.proc.pid, signal.SIGKILL)
        t = time.monotonic()
        with pytest.raises(TinyDeployError, match=r"QEMU exited \(status -9\)"):
            link.run_input(x.tobytes())
        assert time.monotonic() - t < 3
        link.close()
